package standalone_test

import (
	"strconv"
	"testing"

	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
)

// burst is how many subscriptions a client sends at once: each is answered
// with a snapshot, far more frames than the 256 a send queue once held.
const burst = 3000

// A client that reads gets every answer to a burst of subscriptions with
// the default limits: the send queue is bounded in bytes, not frames.
func TestSubscriptionBurstAnswered(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	c := h.dial()
	frames := c.stream() // reads while the burst is written
	for i := range burst {
		c.write(string(protocol.AppendSubscription(nil, protocol.TypeStateSub, "counter", "burst-"+strconv.Itoa(i))))
	}
	seen := make(map[string]bool, burst)
	for len(seen) < burst {
		f := recv(t, frames)
		if f.Type == protocol.TypeStateSnapshot {
			seen[f.ActorID] = true
		}
	}
	if st := h.srv.Stats(); st.SlowDisconnects != 0 || st.Connections != 1 {
		t.Fatalf("stats %+v: want the client connected and no slow disconnect", st)
	}
}
