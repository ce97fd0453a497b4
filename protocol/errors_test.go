package protocol_test

import (
	"testing"

	"github.com/zocket-go/zocket/protocol"
)

// The texts clients read (and may compare): changing one changes the wire.
func TestClientErrorTexts(t *testing.T) {
	for err, want := range map[error]string{
		protocol.ErrUnknownActor:         "unknown actor type",
		protocol.ErrUnknownMethod:        "unknown method",
		protocol.ErrInvalidInput:         "invalid input",
		protocol.ErrInvalidFrame:         "invalid frame",
		protocol.ErrOverloaded:           "actor overloaded",
		protocol.ErrTooManyInstances:     "too many actor instances",
		protocol.ErrTooManyRequests:      "too many requests in flight",
		protocol.ErrTooManySubscriptions: "too many subscriptions",
		protocol.ErrShuttingDown:         "server shutting down",
		protocol.ErrInternal:             "internal error",
		protocol.ErrUnavailable:          "service unavailable",
		protocol.ErrNotDelivered:         "call not delivered",
		protocol.ErrCallTimeout:          "call timed out",
		protocol.ErrTooBig:               "frame too big",
		protocol.ErrResultTooLarge:       "result too large",
	} {
		if err.Error() != want {
			t.Errorf("error text %q, want %q", err, want)
		}
	}
}
