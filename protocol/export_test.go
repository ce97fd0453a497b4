package protocol

// Exported for tests of the fast path against the checked decoder.
var (
	DecodeFast = decodeFast
	ScanID     = scanID
)

// Exported for the round-trip tests; servers write frames with the Append*
// functions.
var (
	Encode       = encode
	IsServerType = isServerType
)

func DecodeChecked(data []byte) (Frame, error) {
	f, _, err := decodeChecked(data)
	return f, err
}
