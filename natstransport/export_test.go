package natstransport

// Exported for tests of the fast paths.
var DecodeInboundFast = decodeInboundFast

// Exported for the round-trip and rejection tests of subjects, tokens and
// notices; nothing outside this package needs to parse them.
var (
	DecodeToken            = decodeToken
	ParseInboundSubject    = parseInboundSubject
	ParseOutboundSubject   = parseOutboundSubject
	ParseInboundFilter     = parseInboundFilter
	ParseLeaseKey          = parseLeaseKey
	DecodeSessionConnected = decodeSessionConnected
)
