package protocol

// Exported for tests of the fast path against the checked decoder.
var (
	DecodeFast    = decodeFast
	DecodeChecked = decodeChecked
)
