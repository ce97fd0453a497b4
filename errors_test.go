package zocket_test

import (
	"testing"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/protocol"
)

// The errors the engine reports to clients are protocol's, so that
// errors.Is matches an application's zocket.ErrX and a host's protocol.ErrX
// alike.
func TestClientErrorsAreProtocols(t *testing.T) {
	for _, p := range []struct{ root, wire error }{
		{zocket.ErrUnknownActor, protocol.ErrUnknownActor},
		{zocket.ErrUnknownMethod, protocol.ErrUnknownMethod},
		{zocket.ErrInvalidInput, protocol.ErrInvalidInput},
		{zocket.ErrOverloaded, protocol.ErrOverloaded},
		{zocket.ErrTooManyInstances, protocol.ErrTooManyInstances},
		{zocket.ErrTooManyRequests, protocol.ErrTooManyRequests},
		{zocket.ErrTooManySubscriptions, protocol.ErrTooManySubscriptions},
		{zocket.ErrCallTimeout, protocol.ErrCallTimeout},
		{zocket.ErrShuttingDown, protocol.ErrShuttingDown},
		{zocket.ErrInternal, protocol.ErrInternal},
		{zocket.ErrInvalidOption, protocol.ErrInvalidOption}, // not for clients, but shared with the gateway
	} {
		if p.root != p.wire {
			t.Errorf("zocket error %q is not protocol's %q", p.root, p.wire)
		}
	}
}
