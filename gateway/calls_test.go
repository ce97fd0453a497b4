package gateway_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/protocol"
)

// The stand-in runtime speaks consumer delivery (the rig's default); core
// delivery gets the same checks with the real runtime in package integration.

// A call that a runtime answers twice (JetStream redelivered it) reaches
// the client once; the next call on the session still gets its answer.
func TestSecondAnswerDropped(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()

	res := c.call("r1", "echo", "a", "twice", "")
	if res.Error != nil || string(res.Result) != "1" {
		t.Fatalf("first answer = %s, want result 1", res.raw)
	}
	// Reusing the id is allowed once answered: the late "2" of the
	// first call must not pass for the answer of this one.
	res = c.call("r1", "echo", "a", "echo", `"second"`)
	if e := decodeEcho(t, res); string(e.Input) != `"second"` {
		t.Fatalf("second call's answer = %s", res.raw)
	}
	r.waitUntil("the duplicate answer counted", func() (bool, string) {
		st := r.gw.Stats()
		return st.AnswersDropped == 1, fmt.Sprintf("AnswersDropped=%d", st.AnswersDropped)
	})
}

// A call nobody answers gets ErrCallTimeout after CallTimeout, saying it
// may or may not have run; the session stays usable.
func TestCallTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{CallTimeout: 300 * time.Millisecond})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()

	start := time.Now()
	res := c.call("lost", "echo", "a", "silent", "")
	if res.Error == nil || !strings.HasPrefix(*res.Error, protocol.ErrCallTimeout.Error()) ||
		!strings.Contains(*res.Error, "may or may not have run") {
		t.Fatalf("answer = %s, want a %q error", res.raw, protocol.ErrCallTimeout)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("timed out after %v, before CallTimeout", waited)
	}
	decodeEcho(t, c.call("next", "echo", "a", "echo", `1`))
	if st := r.gw.Stats(); st.CallTimeouts != 1 {
		t.Fatalf("CallTimeouts = %d, want 1", st.CallTimeouts)
	}
}

// One timer serves a session's calls: it fires at the oldest call's
// deadline and is re-armed for the next, so every call times out after
// CallTimeout counted from its own start, never before, and a session
// whose calls all ended arms it afresh.
func TestCallTimeoutsEachFromItsStart(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	r := newRig(t, gateway.Config{CallTimeout: timeout})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()

	sent := map[string]time.Time{}
	send := func(id string) {
		sent[id] = time.Now()
		c.send(rpcFrame(id, "echo", "a", "silent", ""))
	}
	send("first")
	// The second call starts while the first is pending; the answer to a
	// quick call in between spaces them.
	decodeEcho(t, c.call("between", "echo", "a", "echo", `1`))
	send("second")
	for answered := 0; answered < 2; {
		f := c.read()
		if f.Type != "rpc:result" {
			continue
		}
		answered++
		if f.Error == nil || !strings.HasPrefix(*f.Error, protocol.ErrCallTimeout.Error()) {
			t.Fatalf("%s answered %s, want a timeout", f.ID, f.raw)
		}
		if waited := time.Since(sent[f.ID]); waited < timeout {
			t.Fatalf("%s timed out after %v, before CallTimeout", f.ID, waited)
		}
	}
	// All calls ended: the next one arms the timer again.
	start := time.Now()
	if res := c.call("later", "echo", "a", "silent", ""); res.Error == nil ||
		!strings.HasPrefix(*res.Error, protocol.ErrCallTimeout.Error()) {
		t.Fatalf("later answered %s, want a timeout", res.raw)
	}
	if waited := time.Since(start); waited < timeout {
		t.Fatalf("later timed out after %v, before CallTimeout", waited)
	}
	if st := r.gw.Stats(); st.CallTimeouts != 3 {
		t.Fatalf("CallTimeouts = %d, want 3", st.CallTimeouts)
	}
}

// MaxCallsInFlight is a window: with that many calls unanswered, the next
// one waits (the socket is not read) until an answer or a timeout frees a
// place; it is then published and answered, never refused.
func TestCallWindow(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{MaxCallsInFlight: 2, CallTimeout: 500 * time.Millisecond})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	c.send(rpcFrame("s1", "echo", "a", "silent", ""))
	c.send(rpcFrame("s2", "echo", "a", "silent", ""))
	c.send(rpcFrame("e3", "echo", "a", "echo", "3"))
	// e3 waits for s1's place: the timeouts of s1 and s2 come first.
	var order []string
	for len(order) < 3 {
		f := c.read()
		if f.Type != "rpc:result" {
			continue
		}
		order = append(order, f.ID)
		if f.ID == "e3" {
			decodeEcho(t, f)
		} else if f.Error == nil || !strings.HasPrefix(*f.Error, protocol.ErrCallTimeout.Error()) {
			t.Fatalf("%s answered %s, want a timeout", f.ID, f.raw)
		}
	}
	if order[2] != "e3" && order[1] != "e3" {
		t.Fatalf("answers in the order %v: e3 did not wait for a place", order)
	}
	if st := r.gw.Stats(); st.WindowWaits != 1 {
		t.Fatalf("WindowWaits = %d, want 1", st.WindowWaits)
	}

	// Another session has its own window.
	c2 := dial(t, r.url)
	c2.welcome()
	decodeEcho(t, c2.call("x", "echo", "a", "echo", `1`))
}

// An unsubscribe that ends nothing the session holds is not published (a
// flood of them to new ids would cost two JetStream messages each); one
// that ends a subscription is.
func TestUnsubscribeWithoutSubscription(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	rt := startRuntime(t, r.srv, devScope, true, "echo")
	c := dial(t, r.url)
	c.welcome()
	c.send(`{"type":"state:unsub","actor":"echo","actorId":"never"}`)
	c.send(`{"type":"event:unsub","actor":"echo","actorId":"never"}`)
	c.send(`{"type":"state:sub","actor":"echo","actorId":"a"}`)
	c.send(`{"type":"state:unsub","actor":"echo","actorId":"a"}`)
	decodeEcho(t, c.call("r1", "echo", "a", "echo", "1"))
	var got []string
	for range 3 {
		m := rt.next()
		f, err := protocol.Decode(m.env.Message)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Type+" "+f.ActorID)
	}
	want := []string{"state:sub a", "state:unsub a", "rpc a"}
	if !slices.Equal(got, want) {
		t.Fatalf("the runtime received %q, want %q", got, want)
	}
}
