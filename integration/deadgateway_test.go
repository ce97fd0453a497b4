package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/runtime"
)

// aliveSweep is the runtime's session sweep in the tests where a gateway
// names its sessions every 20 ms. A session missing from two sweeps in a
// row expires, so a busy test machine would have to keep the live gateway
// from naming its sessions for more than one sweep to expire them by
// mistake: half a second here, where 100 ms sweeps left it 100 ms.
const aliveSweep = 500 * time.Millisecond

// TestDeadGatewaySessionsExpireCore is TestDeadGatewaySessionsExpire in
// DeliveryCore, where sessions hold no consumer: a live gateway names its
// sessions on session.alive, and the runtime expires those no gateway has
// named for two sweeps. Gateway 0 loses NATS for good; its session expires
// and the watcher on gateway 1, which keeps naming its own, is untouched.
func TestDeadGatewaySessionsExpireCore(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{gateways: 2,
		rtConfig: runtime.Config{SessionSweep: aliveSweep},
		gwConfig: gateway.Config{AliveInterval: 20 * time.Millisecond}})

	watcher, w, _ := deadGatewayClients(t, ctx, d)
	if cs, err := d.sessionConsumers(ctx, ""); err != nil || len(cs) != 0 {
		t.Fatalf("OUTBOUND consumers in core delivery: %v, %v; want none", cs, err)
	}

	d.gateways[0].nc.Close()
	waitState(t, ctx, w, "the dead gateway's session to expire", func(s counterState) bool { return s.Viewers == 1 })
	if st := d.runtime.stats(); st.SessionsExpired != 1 {
		t.Errorf("SessionsExpired = %d, want 1 (only the dead gateway's session)", st.SessionsExpired)
	}
	got, err := client.CallT[counterView](ctx, watcher.Actor("counter", "dead-gw"), "add", addInput{By: 1})
	if err != nil || got.Count != 2 {
		t.Fatalf("call on the live gateway: %+v, %v", got, err)
	}
	waitState(t, ctx, w, "count 2 with 1 viewer", func(s counterState) bool { return s.Count == 2 && s.Viewers == 1 })
}

// TestPresenceAcrossGateways: presence (zocket.TrackPresence) shows the
// clients of every gateway, with the data each set, and drops those of a
// gateway that died once the runtime expires its sessions.
func TestPresenceAcrossGateways(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{gateways: 2,
		rtConfig: runtime.Config{SessionSweep: aliveSweep},
		gwConfig: gateway.Config{AliveInterval: 20 * time.Millisecond}})
	watcher := dial(t, d.gateways[1].url, nil)
	w, err := watcher.Actor("lobby", "main").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	victim := dial(t, d.gateways[0].url, &client.Options{Reconnect: &client.ReconnectPolicy{Disabled: true}})
	if err := victim.Actor("lobby", "main").Call(ctx, zocket.PresenceMethod, map[string]string{"status": "away"}, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w, "both clients present, with the victim's status", func(s lobbyState) bool {
		_, watching := s.Here[watcher.ID()]
		return watching && len(s.Here) == 2 && string(s.Here[victim.ID()].Data) == `{"status":"away"}`
	})
	d.gateways[0].nc.Close()
	waitState(t, ctx, w, "the dead gateway's client gone", func(s lobbyState) bool {
		_, watching := s.Here[watcher.ID()]
		return watching && len(s.Here) == 1
	})
}

// TestDeadGatewaySessionsExpire: a gateway that dies announces nothing, so
// the runtime learns of its sessions' end only from their OUTBOUND
// consumers, which the server drops after their inactive threshold. Here
// gateway 0 loses NATS for good (its connection is closed, so it can
// neither publish the disconnect notice nor delete the consumer) and the
// test deletes the session's consumer as the server would once the
// threshold passed. The runtime's sweep then expires the session:
// OnDisconnect runs and a watcher on the other gateway sees the viewer
// count drop.
func TestDeadGatewaySessionsExpire(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{gateways: 2, rtConfig: runtime.Config{SessionSweep: 50 * time.Millisecond},
		delivery: natstransport.DeliveryConsumer})

	watcher, w, victim := deadGatewayClients(t, ctx, d)

	d.gateways[0].nc.Close()
	consumers, err := d.sessionConsumers(ctx, victim.ID())
	if err != nil || len(consumers) == 0 {
		t.Fatalf("the victim's consumers: %v, %v", consumers, err)
	}
	for _, name := range consumers {
		if err := d.js.DeleteConsumer(ctx, natstransport.OutboundStream, name); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}

	s := waitState(t, ctx, w, "the dead gateway's session to expire", func(s counterState) bool { return s.Viewers == 1 })
	if s.Count != 1 {
		t.Errorf("count %d, want 1", s.Count)
	}
	if st := d.runtime.stats(); st.SessionsExpired != 1 {
		t.Errorf("SessionsExpired = %d, want 1 (only the dead gateway's session)", st.SessionsExpired)
	}
	// The live gateway's session is untouched: it still calls and watches.
	got, err := client.CallT[counterView](ctx, watcher.Actor("counter", "dead-gw"), "add", addInput{By: 1})
	if err != nil || got.Count != 2 {
		t.Fatalf("call on the live gateway: %+v, %v", got, err)
	}
	waitState(t, ctx, w, fmt.Sprintf("count 2 with %d viewer", 1), func(s counterState) bool { return s.Count == 2 && s.Viewers == 1 })
}

// deadGatewayClients connects a watcher of counter "dead-gw" to gateway 1
// and a victim that calls it once to gateway 0, and waits until both
// count as viewers. The watch ends with the test.
func deadGatewayClients(t *testing.T, ctx context.Context, d *deployment) (watcher *client.Client, w *client.StateWatch, victim *client.Client) {
	t.Helper()
	watcher = dial(t, d.gateways[1].url, nil)
	w, err := watcher.Actor("counter", "dead-gw").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	victim = dial(t, d.gateways[0].url, &client.Options{Reconnect: &client.ReconnectPolicy{Disabled: true}})
	if _, err := client.CallT[counterView](ctx, victim.Actor("counter", "dead-gw"), "add", addInput{By: 1}); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w, "two viewers", func(s counterState) bool { return s.Viewers == 2 })
	return watcher, w, victim
}
