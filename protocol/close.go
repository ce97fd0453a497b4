package protocol

// WebSocket close codes of this protocol, in the 4000–4999 range that RFC
// 6455 leaves to applications. Servers also use the standard codes: 1001
// (going away: shutdown), 1008 (policy violation: a slow or flooding client,
// a missed pong), 1009 (frame too big), 1011 and 1013 (server trouble; try
// again). Clients reconnect after any of them, except where said.
const (
	// CloseFramesLost closes a session (distributed shape, core delivery)
	// that missed frames the gateway could not recover in time: an
	// rpc:result or an event. The client reconnects and subscribes again,
	// as after any drop. (A state subscriber that missed only patches gets
	// a fresh snapshot instead.)
	CloseFramesLost = 4001
	// CloseAuthExpired closes a connection when the credential it was
	// opened with expires (a JWT's "exp"). The client should reconnect
	// with a fresh token; reconnecting with the same one is refused (401).
	CloseAuthExpired = 4002
)

// Close reasons that go with the codes above, the same from every host.
// The reason of the close that ends every connection at shutdown (1001)
// is ErrShuttingDown's text.
const (
	ReasonFramesLost  = "frames lost"        // CloseFramesLost
	ReasonAuthExpired = "credential expired" // CloseAuthExpired
)
