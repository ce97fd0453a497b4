package gateway

import "github.com/zocket-go/zocket/protocol"

// The errors the gateway reports to clients in rpc:result.error are
// protocol's (protocol.ErrUnknownActor, ErrUnavailable, ErrNotDelivered,
// ErrCallTimeout, ErrTooBig, ErrInvalidFrame), each followed by ": " and a
// detail, as the runtime's are.

// Close codes and reasons the gateway sends, besides those every connection
// sends on its own (wsconn: 1008 "send queue full" and "ping timeout", 1009
// "frame too big").
const (
	reasonNoConsumer   = "outbound consumer unavailable" // 1013: could not be created
	reasonConsumerLost = "outbound consumer lost"        // 1013: failed after creation
	reasonNATSClosed   = "NATS connection closed"        // 1011
	reasonFramesLost   = protocol.ReasonFramesLost       // protocol.CloseFramesLost
	reasonAuthExpired  = protocol.ReasonAuthExpired      // protocol.CloseAuthExpired
)

// reasonShutdown closes every connection (1001) and refuses upgrades (503)
// at shutdown, in the standalone server's words.
var reasonShutdown = protocol.ErrShuttingDown.Error()
