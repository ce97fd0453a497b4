package gateway_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	zruntime "github.com/zocket-go/zocket/runtime"
)

// The core-delivery tests run the real runtime behind the gateway, and
// inject faults with gateway.SetDropHook: a dropped live message is what
// NATS does to a slow consumer, and a reconnect to everything in flight.

type tally struct {
	N int `json:"n"`
}

var ticked = zocket.NewEvent[int]("ticked")

// tallyApp: "inc" adds one, emits "ticked" with the new value to every
// event subscriber, and returns it; so every frame names its call.
func tallyApp(t *testing.T) *zocket.App {
	t.Helper()
	a := zocket.NewActor("tally", func() tally { return tally{} }, zocket.Emits(ticked))
	zocket.Method(a, "inc", func(s *tally, c *zocket.Call, _ struct{}) (int, error) {
		s.N++
		return s.N, ticked.Emit(c, s.N)
	})
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// coreRig is a gateway and a real runtime in DeliveryCore on one server.
func coreRig(t *testing.T, gwCfg gateway.Config) *rig {
	t.Helper()
	srv := natstest.Run(t)
	rt, err := zruntime.New(tallyApp(t), zruntime.Config{
		NATS: natstest.Connect(t, srv), Scope: devScope, Delivery: natstransport.DeliveryCore,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runtime: %v", err)
		}
	})
	select {
	case <-rt.Ready():
	case err := <-done:
		t.Fatalf("runtime did not boot: %v", err)
	}
	gwCfg.Delivery = natstransport.DeliveryCore
	if os.Getenv("ZOCKET_TEST_LOG") != "" {
		gwCfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return newRigOn(t, srv, gwCfg)
}

// droppingRig is a coreRig whose gateway drops what d's rule chooses, and a
// welcomed client.
func droppingRig(t *testing.T, cfg gateway.Config) (*rig, *dropper, *client) {
	t.Helper()
	r := coreRig(t, cfg)
	d := &dropper{}
	gateway.SetDropHook(r.gw, d.hook)
	c := dial(t, r.url)
	c.welcome()
	return r, d, c
}

// setRule replaces the dropper's rule.
func (d *dropper) setRule(rule func(m *nats.Msg, seq natstransport.Seq) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rule = rule
}

// dropper drops the live messages chosen by its rule, and counts them.
type dropper struct {
	mu      sync.Mutex
	rule    func(m *nats.Msg, seq natstransport.Seq) bool
	dropped []string
}

func (d *dropper) hook(m *nats.Msg) bool {
	seq, err := natstransport.ParseSeq(m.Header.Get(natstransport.HeaderSeq))
	if err != nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rule != nil && d.rule(m, seq) {
		d.dropped = append(d.dropped, m.Subject+" "+seq.String())
		return true
	}
	return false
}

func (d *dropper) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.dropped)
}

// expectCalls reads the frames of n pipelined inc calls made after the
// state reached from: for each call k, the patch to from+k (if watching
// state), the event from+k (if watching events), then its result, in
// exactly this order, each once.
func expectCalls(t *testing.T, c *client, from, n int, state, events bool) {
	t.Helper()
	for k := from + 1; k <= from+n; k++ {
		if state {
			f := c.read()
			var ops []struct {
				Op, Path string
				Value    int
			}
			if f.Type != "state:patch" || json.Unmarshal(f.Patches, &ops) != nil || len(ops) != 1 || ops[0].Value != k {
				t.Fatalf("call %d: got %s %s, want the patch to n=%d", k, f.Type, f.raw, k)
			}
		}
		if events {
			f := c.read()
			if f.Type != "event" || string(f.Payload) != strconv.Itoa(k) {
				t.Fatalf("call %d: got %s, want event ticked %d", k, f.raw, k)
			}
		}
		f := c.read()
		if f.Type != "rpc:result" || f.ID != "c"+strconv.Itoa(k) || string(f.Result) != strconv.Itoa(k) {
			t.Fatalf("call %d: got %s, want its result %d", k, f.raw, k)
		}
	}
}

func sendCalls(c *client, from, n int) {
	for k := from + 1; k <= from+n; k++ {
		c.send(rpcFrame("c"+strconv.Itoa(k), "tally", "t", "inc", "null"))
	}
}

func subscribe(t *testing.T, c *client, state, events bool) {
	t.Helper()
	if events {
		c.send(`{"type":"event:sub","actor":"tally","actorId":"t"}`)
	}
	if state {
		c.send(`{"type":"state:sub","actor":"tally","actorId":"t"}`)
		if f := c.read(); f.Type != "state:snapshot" {
			t.Fatalf("after state:sub: %s", f.raw)
		}
	}
}

// TestCoreOrderWithoutFaults: with nothing lost, a caller that watches the
// instance gets each call's patch and event before its result, and no
// OUTBOUND consumer exists.
func TestCoreOrderWithoutFaults(t *testing.T) {
	t.Parallel()
	r := coreRig(t, gateway.Config{})
	c := dial(t, r.url)
	c.welcome()
	subscribe(t, c, true, true)
	// The event:sub has no answer frame: a call after it proves it was
	// processed (the instance runs frames in order).
	sendCalls(c, 0, 50)
	expectCalls(t, c, 0, 50, true, true)
	if cs := r.outboundConsumers(); len(cs) != 0 {
		t.Errorf("OUTBOUND consumers %v in core delivery", cs)
	}
	if s := r.gw.Stats(); s.Gaps != 0 || s.FramesLost != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestCoreGapRecoveredFromOutbound drops instance-subject messages (two
// patches and an event) in the middle of a burst: the gateway sees the gap,
// reads them back from OUTBOUND and delivers everything in order, once.
// A retried publish (the same message again) is dropped.
func TestCoreGapRecoveredFromOutbound(t *testing.T) {
	t.Parallel()
	r, d, c := droppingRig(t, gateway.Config{})
	subscribe(t, c, true, true)
	sendCalls(c, 0, 1)
	expectCalls(t, c, 0, 1, true, true)

	// Call k produces the instance's messages 2k-1 (its patch) and 2k
	// (its event): lose calls 5 and 7's patches and call 5's event.
	d.setRule(func(m *nats.Msg, seq natstransport.Seq) bool {
		return isInstance(m.Subject) && (seq.N == 9 || seq.N == 10 || seq.N == 13)
	})
	sendCalls(c, 1, 20)
	expectCalls(t, c, 1, 20, true, true)
	if d.count() != 3 {
		t.Fatalf("dropped %v, want 3 messages", d.dropped)
	}
	s := r.gw.Stats()
	if s.Gaps == 0 || s.Recovered < 3 || s.FramesLost != 0 {
		t.Errorf("stats %+v: want gaps, 3+ recovered, none lost", s)
	}

	// A retried publish reaches core subscribers again: the copy of an
	// earlier patch must not reach the client.
	copies, err := r.nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	defer copies.Unsubscribe()
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	sendCalls(c, 21, 1)
	expectCalls(t, c, 21, 1, true, true)
	var patch *nats.Msg
	for patch == nil {
		m, err := copies.NextMsg(waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if isInstance(m.Subject) && m.Header.Get(natstransport.HeaderSeq) != "" {
			patch = m
		}
	}
	dup := nats.NewMsg(patch.Subject)
	dup.Header, dup.Data = patch.Header, patch.Data
	if err := r.nc.PublishMsg(dup); err != nil {
		t.Fatal(err)
	}
	sendCalls(c, 22, 1)
	expectCalls(t, c, 22, 1, true, true)
	if s := r.gw.Stats(); s.Duplicates == 0 {
		t.Errorf("stats %+v: the copy was not counted as a duplicate", s)
	}
}

// isInstance tells an instance subject (5 tokens after "outbound") from a
// session subject (3 tokens).
func isInstance(subject string) bool {
	n := 0
	for i := range len(subject) {
		if subject[i] == '.' {
			n++
		}
	}
	return len(subject) > 9 && subject[:9] == "outbound." && n == 4
}

// TestCoreLastResultRecovered drops the last frame of a burst, an
// rpc:result on the session subject: no later number reveals the gap, but
// NATS reports the slow consumer, and the gateway reads the subject's tail
// from OUTBOUND.
func TestCoreLastResultRecovered(t *testing.T) {
	t.Parallel()
	r, d, c := droppingRig(t, gateway.Config{})
	d.setRule(func(m *nats.Msg, seq natstransport.Seq) bool { return !isInstance(m.Subject) && seq.N == 5 })
	sendCalls(c, 0, 5)
	expectCalls(t, c, 0, 5, false, false)
	if d.count() != 1 {
		t.Fatalf("dropped %v, want the last result", d.dropped)
	}
	if s := r.gw.Stats(); s.Recovered != 1 || s.FramesLost != 0 {
		t.Errorf("stats %+v: want 1 recovered", s)
	}
}

// TestCoreUnrecoverableGap: a frame lost from the live path and gone from
// OUTBOUND too. A lost patch: the state watcher gets a fresh snapshot and
// the patches after it, never a patch that does not apply, and the event
// listener notices nothing. A lost event: the listener, whose event cannot
// be rebuilt, is closed with protocol.CloseFramesLost; the watcher notices nothing.
func TestCoreUnrecoverableGap(t *testing.T) {
	t.Parallel()
	r, d, watcher := droppingRig(t, gateway.Config{RecoveryTimeout: 300 * time.Millisecond})
	subscribe(t, watcher, true, false)
	listener := dial(t, r.url)
	listener.welcome()
	subscribe(t, listener, false, true)
	sendCalls(listener, 0, 1) // proves the event:sub was processed
	expectCalls(t, listener, 0, 1, false, true)
	if f := watcher.read(); f.Type != "state:patch" {
		t.Fatalf("watcher: %s", f.raw)
	}
	caller := dial(t, r.url)
	caller.welcome()

	// loseForGood drops the instance's message number n and purges the
	// instance's messages from OUTBOUND, as if they had aged out.
	loseForGood := func(n uint64) {
		d.setRule(func(m *nats.Msg, seq natstransport.Seq) bool {
			if !isInstance(m.Subject) || seq.N != n {
				return false
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			stream, err := r.js.Stream(ctx, natstransport.OutboundStream)
			if err == nil {
				err = stream.Purge(ctx, jetstream.WithPurgeSubject(m.Subject))
			}
			if err != nil {
				t.Errorf("purge %s: %v", m.Subject, err)
			}
			return true
		})
	}

	loseForGood(3) // call 2's patch
	sendCalls(caller, 1, 1)
	expectCalls(t, caller, 1, 1, false, false)
	for {
		f := watcher.read()
		if f.Type == "state:patch" {
			t.Fatalf("watcher got a patch %s before its fresh snapshot", f.raw)
		}
		if f.Type == "state:snapshot" {
			var st tally
			if err := json.Unmarshal(f.State, &st); err != nil || st.N != 2 {
				t.Fatalf("fresh snapshot %s, want n=2", f.raw)
			}
			break
		}
	}
	if f := listener.read(); f.Type != "event" || string(f.Payload) != "2" {
		t.Fatalf("listener after the lost patch: %s", f.raw)
	}

	// Call 3's event; the loss shows when call 4's patch arrives.
	loseForGood(6)
	sendCalls(caller, 2, 2)
	expectCalls(t, caller, 2, 2, false, false)
	code, reason := listener.closeStatus()
	if code != websocket.StatusCode(protocol.CloseFramesLost) {
		t.Errorf("listener closed with %d %q, want %d", code, reason, protocol.CloseFramesLost)
	}
	for _, n := range []int{3, 4} {
		f := watcher.read()
		var ops []struct{ Value int }
		if f.Type != "state:patch" || json.Unmarshal(f.Patches, &ops) != nil || len(ops) != 1 || ops[0].Value != n {
			t.Fatalf("watcher: %s, want the patch to n=%d", f.raw, n)
		}
	}
	if s := r.gw.Stats(); s.FramesLost != 1 {
		t.Errorf("stats %+v: want one session closed for lost frames", s)
	}
}

// TestCoreFirstFrameRecovered drops a session's very first frame, the
// snapshot that answers its state:sub, with nothing after it: the probe of
// the subject NATS reported finds it in OUTBOUND.
func TestCoreFirstFrameRecovered(t *testing.T) {
	t.Parallel()
	_, d, c := droppingRig(t, gateway.Config{})
	d.setRule(func(m *nats.Msg, seq natstransport.Seq) bool { return !isInstance(m.Subject) && seq.N == 1 })
	subscribe(t, c, true, false)
	if d.count() != 1 {
		t.Fatalf("dropped %v, want the snapshot", d.dropped)
	}
	sendCalls(c, 0, 2)
	expectCalls(t, c, 0, 2, true, false)
}
