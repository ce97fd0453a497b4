package protocol

// Exported for tests of the fast path against the checked decoder.
var (
	DecodeFast = decodeFast
	ScanID     = scanID
)

func DecodeChecked(data []byte) (Frame, error) {
	f, _, err := decodeChecked(data)
	return f, err
}
