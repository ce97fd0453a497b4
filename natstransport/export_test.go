package natstransport

// Exported for tests of the fast paths.
var DecodeInboundFast = decodeInboundFast
