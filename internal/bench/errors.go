package bench

import "errors"

// Errors returned by the bench functions, wrapped with details; match them
// with errors.Is. A missing or out-of-range setting wraps
// protocol.ErrInvalidOption ("bench: invalid option: ...").
var (
	// ErrUnreachable reports that the server could not be reached, or did not
	// complete the WebSocket handshake and welcome within the connect timeout.
	ErrUnreachable = errors.New("bench: server unreachable")
	// ErrProtocol reports a server that does not speak the Zocket protocol
	// as the tool expects (no welcome, an unexpected rpc:result, a snapshot
	// without the watched number).
	ErrProtocol = errors.New("bench: protocol error")
)
