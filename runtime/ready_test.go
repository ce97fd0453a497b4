package runtime_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/runtime"
)

// TestReadyAfterAnnounced: Ready is closed only once nats-server has the
// runtime.ready notice. A gateway started after Ready must not get the
// notice late and take this boot for a restart (it would send every
// session's subscriptions again, and clients would get second snapshots).
func TestReadyAfterAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var conn *nats.Conn
	e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) { conn = c.NATS })

	subj, err := natstransport.RuntimeReadySubject(e.scope)
	if err != nil {
		t.Fatal(err)
	}
	notices, marker := make(chan *nats.Msg, 4), make(chan *nats.Msg, 1)
	for subject, ch := range map[string]chan *nats.Msg{subj: notices, "test.marker": marker} {
		sub, err := e.nc.ChanSubscribe(subject, ch)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// On the runtime's own connection, so after the notice if that were
	// still on its way: nats-server keeps one connection's order.
	if err := conn.Publish("test.marker", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-marker:
	case <-time.After(waitTimeout):
		t.Fatal("the marker never arrived")
	}
	select {
	case m := <-notices:
		t.Fatalf("runtime.ready reached a subscriber that came after Ready: %s", m.Data)
	default:
	}
}
