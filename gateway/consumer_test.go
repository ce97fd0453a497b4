package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
)

func TestConsumerCreationFailureClosesSession(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{Streams: natstransport.StreamSettings{OutboundMaxConsumers: 1}})
	startRuntime(t, r.srv, devScope, false, "echo")
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)

	first := dial(t, r.url)
	firstID := first.welcome()
	decodeEcho(t, first.call("1", "echo", "a", "m", "")) // holds the only consumer slot

	second := dial(t, r.url)
	id := second.welcome() // sent at once, before the consumer is tried
	if code, reason := second.closeStatus(); code != websocket.StatusTryAgainLater || reason != "outbound consumer unavailable" {
		t.Fatalf("close = %v %q, want 1013 outbound consumer unavailable", code, reason)
	}
	waitDisconnected(t, disconnected, id)
	if s := r.gw.Stats(); s.ConsumerFailures != 1 {
		t.Fatalf("ConsumerFailures = %d, want 1", s.ConsumerFailures)
	}
	decodeEcho(t, first.call("2", "echo", "a", "m", "")) // the first session is unharmed

	// Once the slot is free, new sessions work again. The gateway deletes
	// the consumer right after announcing the disconnect, so wait for both.
	first.close()
	waitDisconnected(t, disconnected, firstID)
	r.waitConsumersGone(firstID)
	third := dial(t, r.url)
	third.welcome()
	decodeEcho(t, third.call("3", "echo", "a", "m", ""))
}

// A consumer that nats.go cannot re-create (after it was deleted on the
// server, here by hand) closes the session instead of leaving it deaf.
func TestConsumerLostClosesSession(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{Streams: natstransport.StreamSettings{OutboundMaxConsumers: 2}})
	startRuntime(t, r.srv, devScope, false, "echo")
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)
	a, b := dial(t, r.url), dial(t, r.url)
	idA := a.welcome()
	b.welcome()
	decodeEcho(t, a.call("1", "echo", "a", "m", ""))
	decodeEcho(t, b.call("1", "echo", "a", "m", ""))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// Lower the limit below the open consumers, then delete A's: nats.go
	// tries to re-create it, and OUTBOUND refuses.
	s, err := r.js.Stream(ctx, natstransport.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxConsumers = 1
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("lower max_consumers: %v", err)
	}
	names := r.consumersOf(idA)
	if len(names) != 1 {
		t.Fatalf("consumers of A: %v", names)
	}
	if err := r.js.DeleteConsumer(ctx, natstransport.OutboundStream, names[0]); err != nil {
		t.Fatalf("delete A's consumer: %v", err)
	}
	if code, reason := a.closeStatus(); code != websocket.StatusTryAgainLater || reason != "outbound consumer lost" {
		t.Fatalf("close = %v %q, want 1013 outbound consumer lost", code, reason)
	}
	waitDisconnected(t, disconnected, idA)
	if st := r.gw.Stats(); st.ConsumerFailures != 1 {
		t.Fatalf("ConsumerFailures = %d, want 1", st.ConsumerFailures)
	}
	r.waitConsumersGone(idA)
	decodeEcho(t, b.call("2", "echo", "a", "m", "")) // B keeps working
}

// A consumer deleted on the server while the limit allows another is
// re-created by nats.go, and the session keeps receiving.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	id := c.welcome()
	decodeEcho(t, c.call("1", "echo", "a", "m", ""))
	names := r.consumersOf(id)
	if len(names) != 1 {
		t.Fatalf("consumers: %v", names)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.js.DeleteConsumer(ctx, natstransport.OutboundStream, names[0]); err != nil {
		t.Fatal(err)
	}
	decodeEcho(t, c.call("2", "echo", "a", "m", ""))
	if s := r.gw.Stats(); s.ConsumerFailures != 0 {
		t.Fatalf("ConsumerFailures = %d", s.ConsumerFailures)
	}
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)
	c.close()
	waitDisconnected(t, disconnected, id)
	r.waitConsumersGone(id) // the re-created one is deleted too
}

// When the caller closes the gateway's NATS connection, sessions are
// closed rather than left deaf, and new ones are refused the same way.
func TestNATSConnectionClosed(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{JetStreamTimeout: 2 * time.Second})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	decodeEcho(t, c.call("1", "echo", "a", "m", ""))
	r.nc.Close()
	if code, reason := c.closeStatus(); code != websocket.StatusInternalError || reason != "NATS connection closed" {
		t.Fatalf("close = %v %q, want 1011 NATS connection closed", code, reason)
	}
	c2 := dial(t, r.url)
	c2.welcome()
	if code, _ := c2.closeStatus(); code != websocket.StatusTryAgainLater {
		t.Fatalf("new session: close = %v, want 1013", code)
	}
}
