package runtime_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// TestSweepExpiresSessionsWithoutConsumer stands in for a gateway that
// died without a word: session A has no consumer on OUTBOUND (as after its
// gateway's consumer expired), session B has one. A is expired, so its
// instance runs OnDisconnect; B never is. A frame from A afterwards is
// served, as from a new connection.
func TestSweepExpiresSessionsWithoutConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) { c.SessionSweep = 20 * time.Millisecond })
	a, b := e.client("A"), e.client("B")
	e.sessionConsumer("B")

	b.subscribe(protocol.TypeStateSub, "counter", "room")
	b.expect(protocol.TypeStateSnapshot) // online 1
	a.call("counter", "room", "add", addInput{N: 1})
	wantOp(t, b.next(), "replace", "/online", "2")
	wantOp(t, b.next(), "replace", "/count", "1")

	wantOp(t, b.next(), "replace", "/online", "1") // A expired
	// The sweep counts and logs the expiry after the engine has queued
	// OnDisconnect, whose patch can arrive first.
	eventually(t, "expiry counted and logged", func() (bool, string) {
		st := h.rt.Stats()
		return st.SessionsExpired == 1 && h.logs.contains("sessions expired"),
			fmt.Sprintf("SessionsExpired = %d, want 1; logs:\n%s", st.SessionsExpired, h.logs.tail(5))
	})

	// A comes back: its call runs and it is connected again...
	if got := string(a.call("counter", "room", "add", addInput{N: 1})); got != "2" {
		t.Fatalf("count after A came back = %s, want 2", got)
	}
	wantOp(t, b.next(), "replace", "/online", "2")
	wantOp(t, b.next(), "replace", "/count", "2")
	// ...and, still without a consumer, expires again two sweeps later,
	// while B, swept as often, stays.
	wantOp(t, b.next(), "replace", "/online", "1")
	eventually(t, "second expiry counted", func() (bool, string) {
		n := h.rt.Stats().SessionsExpired
		return n == 2, fmt.Sprintf("SessionsExpired = %d, want 2 (A twice, B never)", n)
	})
	if got := string(b.call("counter", "room", "add", addInput{N: 0})); got != "2" {
		t.Fatalf("count = %s, want 2", got)
	}
	if n := h.rt.Stats().SessionsExpired; n != 2 {
		t.Errorf("SessionsExpired = %d after more sweeps, want 2 (A twice, B never)", n)
	}
}

// TestSweepSkippedWhenConsumersCannotBeListed: without an answer from
// JetStream, no session is taken for dead.
func TestSweepSkippedWhenConsumersCannotBeListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) { c.SessionSweep = 20 * time.Millisecond })
	a := e.client("A")
	a.call("counter", "room", "add", addInput{N: 1})
	if err := e.js.DeleteStream(ctxT(t), natstransport.OutboundStream); err != nil {
		t.Fatal(err)
	}
	const skipped = "session sweep skipped"
	eventually(t, "three skipped sweeps", func() (bool, string) {
		n := strings.Count(h.logs.String(), skipped)
		return n >= 3, fmt.Sprintf("%d skipped", n)
	})
	if st := h.rt.Stats(); st.SessionsExpired != 0 {
		t.Errorf("SessionsExpired = %d, want 0", st.SessionsExpired)
	}
}
