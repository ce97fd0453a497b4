package gateway_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// consumingSession starts a gateway with a recording runtime behind it
// and opens a session, returning once the session's consumer exists: a
// session whose consumer cannot be created is closed, and a NATS reconnect
// while it is being created is such a failure.
func consumingSession(t *testing.T) (*rig, *runtime, *client, string) {
	t.Helper()
	r := newRig(t, gateway.Config{})
	rt := startRuntime(t, r.srv, devScope, true, "echo")
	c := dial(t, r.url)
	id := c.welcome()
	r.waitUntil("the session's consumer", func() (bool, string) {
		cs := r.consumersOf(id)
		return len(cs) == 1, fmt.Sprint(cs)
	})
	return r, rt, c, id
}

// resentAfterReconnect cuts the gateway's NATS connection, waits until it
// has sent subscriptions again, and returns what the runtime got until the
// client's next call, with how many times it got each frame.
func resentAfterReconnect(t *testing.T, r *rig, rt *runtime, c *client) map[string]int {
	t.Helper()
	if err := r.nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	r.waitUntil("the resubscription to be counted", func() (bool, string) {
		s := r.gw.Stats()
		return s.Resubscribed >= 1, fmt.Sprintf("Resubscribed %d", s.Resubscribed)
	})
	decodeEcho(t, c.call("1", "echo", "a", "m", ""))
	got := map[string]int{}
	for {
		f := string(rt.next().env.Message)
		if f == rpcFrame("1", "echo", "a", "m", "") {
			return got
		}
		got[f]++
	}
}

// TestSubscriptionsSentAgainAfterNATSReconnect: when the gateway's NATS
// connection comes back, each open session's current subscriptions reach
// the runtime again (runtimes may have expired the sessions meanwhile);
// subscriptions the client ended are not.
func TestSubscriptionsSentAgainAfterNATSReconnect(t *testing.T) {
	t.Parallel()
	r, rt, c, _ := consumingSession(t)
	for _, f := range []string{
		`{"type":"state:sub","actor":"echo","actorId":"a"}`,
		`{"type":"event:sub","actor":"echo","actorId":"a"}`,
		`{"type":"event:unsub","actor":"echo","actorId":"a"}`,
	} {
		c.send(f)
		if got := string(rt.next().env.Message); got != f {
			t.Fatalf("runtime got %s, want %s", got, f)
		}
	}

	// The runtime gets the state:sub again (once per reconnect: nats.go
	// may reconnect more than once), never the event:sub the client ended.
	got := resentAfterReconnect(t, r, rt, c)
	sub := `{"type":"state:sub","actor":"echo","actorId":"a"}`
	resent := got[sub]
	if resent == 0 || len(got) != 1 {
		t.Fatalf("after the reconnect the runtime got %v, want only the state:sub", got)
	}
	// A resubscription is counted once its publish is acked, which can
	// be after the runtime got it.
	r.waitUntil("every resubscription the runtime got to be counted", func() (bool, string) {
		n := r.gw.Stats().Resubscribed
		return int64(resent) <= n, fmt.Sprintf("runtime got the state:sub %d times, gateway counts %d resubscriptions", resent, n)
	})
}

// TestSubscriptionsSentAgainWhenConsumerRecreated: the server loses a
// session's consumer (here deleted, as the server does after the inactive
// threshold when the gateway was frozen); nats.go re-creates it, and the
// gateway sends the session's subscriptions again, since runtimes may
// have expired the session in between. The session keeps working.
func TestSubscriptionsSentAgainWhenConsumerRecreated(t *testing.T) {
	t.Parallel()
	r, rt, c, id := consumingSession(t)
	first := r.consumersOf(id)
	sub := `{"type":"state:sub","actor":"echo","actorId":"a"}`
	c.send(sub)
	if got := string(rt.next().env.Message); got != sub {
		t.Fatalf("runtime got %s, want %s", got, sub)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.js.DeleteConsumer(ctx, natstransport.OutboundStream, first[0]); err != nil {
		t.Fatal(err)
	}
	if got := string(rt.next().env.Message); got != sub {
		t.Fatalf("after the consumer was re-created the runtime got %s, want the state:sub again", got)
	}
	if cs := r.consumersOf(id); len(cs) != 1 || cs[0] == first[0] {
		t.Errorf("consumers %v, want one other than %s", cs, first[0])
	}
	// Frames flow through the new consumer.
	decodeEcho(t, c.call("1", "echo", "a", "m", ""))
	r.waitUntil("the resubscription to be counted", func() (bool, string) {
		s := r.gw.Stats()
		return s.Resubscribed == 1, fmt.Sprintf("Resubscribed %d, want 1", s.Resubscribed)
	})
	if s := r.gw.Stats(); s.ConsumerFailures != 0 {
		t.Errorf("stats %+v, want no consumer failure", s)
	}
}

// TestSessionsOpenedAcrossNATSReconnect: a reconnect that cuts the
// requests creating sessions' consumers does not close those sessions;
// the creation is tried again once NATS is back.
func TestSessionsOpenedAcrossNATSReconnect(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	const n = 20
	clients := make(chan *client, n)
	go func() {
		for range n {
			c, err := tryDial(t, r.url)
			if err != nil {
				t.Errorf("dial: %v", err)
				clients <- nil
				continue
			}
			clients <- c
		}
	}()
	for i := range n {
		c := <-clients
		if c == nil {
			continue
		}
		c.welcome()
		if i%5 == 4 { // four reconnects while sessions open
			if err := r.nc.ForceReconnect(); err != nil {
				t.Fatal(err)
			}
		}
		decodeEcho(t, c.call("1", "echo", "a", "m", ""))
	}
	if s := r.gw.Stats(); s.ConsumerFailures != 0 || s.SessionsOpen != n {
		t.Errorf("stats %+v, want no consumer failures and %d sessions open", s, n)
	}
}

// TestRefusedSubscriptionsNotSentAgain: with consumer delivery the session
// reads its frames itself; a subscription the runtime refused (sub:error)
// is forgotten, so a resubscription after a NATS reconnect does not ask
// for it again, while one asked for again before the refusal arrived, and
// one granted, are sent again.
func TestRefusedSubscriptionsNotSentAgain(t *testing.T) {
	t.Parallel()
	r, rt, c, id := consumingSession(t)
	subs := map[string]string{}
	for _, actorID := range []string{"refused", "asked-twice", "granted"} {
		subs[actorID] = fmt.Sprintf(`{"type":"state:sub","actor":"echo","actorId":%q}`, actorID)
	}
	for _, actorID := range []string{"refused", "asked-twice", "asked-twice", "granted"} {
		c.send(subs[actorID])
		if got := string(rt.next().env.Message); got != subs[actorID] {
			t.Fatalf("runtime got %s, want %s", got, subs[actorID])
		}
	}
	// The runtime refuses "refused" and the first ask for "asked-twice".
	subj, err := natstransport.OutboundSubject(devScope, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, actorID := range []string{"refused", "asked-twice"} {
		frame := protocol.AppendSubError(nil, "", "echo", actorID, protocol.TypeStateSub, "not allowed")
		if _, err := r.js.Publish(ctx, subj, natstransport.AppendOutbound(nil, devScope, id, frame)); err != nil {
			t.Fatal(err)
		}
		if f, err := protocol.Decode(c.read().raw); err != nil || f.Type != protocol.TypeSubError || f.ActorID != actorID {
			t.Fatalf("client got %+v (%v), want the sub:error for %s", f, err, actorID)
		}
	}

	resent := resentAfterReconnect(t, r, rt, c)
	if resent[subs["refused"]] > 0 || resent[subs["asked-twice"]] == 0 || resent[subs["granted"]] == 0 || len(resent) != 2 {
		t.Fatalf("after the reconnect the runtime got %v, want the state:subs of asked-twice and granted only", resent)
	}
}
