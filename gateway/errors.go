package gateway

import "errors"

// Errors the gateway reports to clients in rpc:result.error, as the
// sentinel's text followed by ": " and a detail. They are exported so that
// callers and tests can recognize the texts; the gateway never returns them
// from its own methods.
var (
	// ErrUnknownActor: no runtime serves the actor type (its durable
	// consumer does not exist on INBOUND). The frame was not published.
	ErrUnknownActor = errors.New("unknown actor type")
	// ErrNotDelivered: JetStream did not acknowledge the frame in time (or
	// refused it), so the call may not have reached a runtime.
	ErrNotDelivered = errors.New("call not delivered")
	// ErrUnavailable: the gateway could not check the actor type, because
	// JetStream did not answer.
	ErrUnavailable = errors.New("service unavailable")
	// ErrCallTimeout: no rpc:result came within Config.CallTimeout. The
	// call may or may not have run; a result that arrives later is
	// dropped.
	ErrCallTimeout = errors.New("call timed out")
	// ErrTooBig: the frame, wrapped in its inbound envelope, exceeds the
	// NATS server's max payload (possible only with very large claims).
	ErrTooBig = errors.New("frame too big")
)

// Close codes and reasons the gateway sends, besides those every connection
// sends on its own (wsconn: 1008 "send queue full" and "ping timeout", 1009
// "frame too big").
const (
	reasonShutdown     = "server shutting down"          // 1001
	reasonNoConsumer   = "outbound consumer unavailable" // 1013: could not be created
	reasonConsumerLost = "outbound consumer lost"        // 1013: failed after creation
	reasonNATSClosed   = "NATS connection closed"        // 1011
	reasonFramesLost   = "frames lost"                   // protocol.CloseFramesLost
	reasonAuthExpired  = "credential expired"            // protocol.CloseAuthExpired
)
