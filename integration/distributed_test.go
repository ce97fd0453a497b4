package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// TestTwoGateways: clients on different gateways of one runtime see each
// other's state patches and events.
func TestTwoGateways(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{gateways: 2})
	c1 := dial(t, d.gateways[0].url, nil)
	c2 := dial(t, d.gateways[1].url, nil)
	if c1.ID() == c2.ID() {
		t.Fatalf("both gateways gave session id %q", c1.ID())
	}

	w1, err := c1.Actor("counter", "shared").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Close()
	w2, err := c2.Actor("counter", "shared").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if _, err := client.CallT[counterView](ctx, c1.Actor("counter", "shared"), "add", addInput{By: 3}); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w2, "gateway 2 to see gateway 1's add", func(s counterState) bool { return s.Count == 3 })
	if _, err := client.CallT[counterView](ctx, c2.Actor("counter", "shared"), "add", addInput{By: 4}); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w1, "gateway 1 to see gateway 2's add", func(s counterState) bool { return s.Count == 7 && s.Viewers == 2 })
	waitState(t, ctx, w2, "gateway 2 to see its own add", func(s counterState) bool { return s.Count == 7 })
	if !jsonEqual(t, w1.State(), w2.State()) {
		t.Fatalf("watches differ: %s vs %s", w1.State(), w2.State())
	}

	// 100 concurrent calls through each gateway: both watchers end equal
	// to the server's state.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for _, c := range []*client.Client{c1, c2} {
		for i := range 100 {
			wg.Go(func() {
				if _, err := client.CallT[counterView](ctx, c.Actor("counter", "shared"), "add", addInput{By: i%5 + 1}); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent add: %v", err)
	}
	server, err := client.CallT[json.RawMessage](ctx, c1.Actor("counter", "shared"), "get", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []*client.StateWatch{w1, w2} {
		waitState(t, ctx, w, fmt.Sprintf("watcher on gateway %d to equal the server", i+1), func(v json.RawMessage) bool {
			return jsonEqual(t, v, server)
		})
	}

	// Events across gateways, with targets.
	events := [2]chan string{make(chan string, 16), make(chan string, 16)}
	for i, c := range []*client.Client{c1, c2} {
		unsub := c.Actor("chat", "lobby").OnEvent("said", func(p json.RawMessage) {
			var e saidEvent
			_ = json.Unmarshal(p, &e)
			events[i] <- e.Text
		})
		defer unsub()
		if err := c.Actor("chat", "lobby").Call(ctx, "ping", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []sayInput{
		{Text: "to-2", To: []string{c2.ID()}},
		{Text: "except-2", Except: []string{c2.ID()}},
		{Text: "all"},
	} {
		if err := c1.Actor("chat", "lobby").Call(ctx, "say", in, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range [][]string{{"except-2", "all"}, {"to-2", "all"}} {
		var got []string
		for len(got) < len(want) {
			select {
			case s := <-events[i]:
				got = append(got, s)
			case <-ctx.Done():
				t.Fatalf("client %d: events %q, want %q: %v", i+1, got, want, ctx.Err())
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("client %d: events %q, want %q", i+1, got, want)
		}
	}
}

// TestOrderUnderConcurrency: two instances of one type run at once (each
// handler blocks on a barrier that only both together reach), while 200
// calls pipelined on one connection to each of two other instances are
// processed in order.
func TestOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, fx := newApp(t)
	d := startDistributed(t, app, distOptions{})

	c := dial(t, d.URL, nil)
	var wg sync.WaitGroup
	barrierErrs := make([]error, 2)
	for i, id := range []string{"b1", "b2"} {
		wg.Go(func() {
			got, err := client.CallT[string](ctx, c.Actor("barrier", id), "wait", nil)
			if err == nil && got != id {
				err = fmt.Errorf("answered by %q", got)
			}
			barrierErrs[i] = err
		})
	}

	// 200 calls to each of o1 and o2, interleaved, written without waiting
	// for answers, while b1 and b2 may still be blocked.
	const n = 200
	ws, _, err := websocket.Dial(ctx, d.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	if f := readFrame(t, ctx, ws); f.Type != protocol.TypeWelcome {
		t.Fatalf("first frame %+v", f)
	}
	for i := range n {
		for _, id := range []string{"o1", "o2"} {
			in, _ := json.Marshal(appendInput{N: i})
			frame := protocol.AppendRPC(nil, id+"/"+strconv.Itoa(i), "counter", id, "append", in)
			if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := map[string]int{"o1": 0, "o2": 0}
	for got := 0; got < 2*n; got++ {
		f := readFrame(t, ctx, ws)
		if f.Type != protocol.TypeRPCResult {
			t.Fatalf("unexpected frame %+v", f)
		}
		if f.HasError {
			t.Fatalf("call %s failed: %s", f.ID, f.Error)
		}
		var id string
		var i int
		if _, err := fmt.Sscanf(f.ID, "o%d/%d", new(int), &i); err != nil {
			t.Fatalf("result id %q: %v", f.ID, err)
		}
		id = f.ID[:2]
		if i != next[id] || string(f.Result) != strconv.Itoa(i+1) {
			t.Fatalf("instance %s: result %s for call %d, want call %d first with log length %d", id, f.Result, i, next[id], next[id]+1)
		}
		next[id]++
	}
	for _, id := range []string{"o1", "o2"} {
		st, err := client.CallT[counterState](ctx, c.Actor("counter", id), "get", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range st.Log {
			if v != i {
				t.Fatalf("%s log[%d] = %d: calls ran out of order", id, i, v)
			}
		}
		if len(st.Log) != n {
			t.Fatalf("%s log has %d entries, want %d", id, len(st.Log), n)
		}
	}

	wg.Wait()
	for i, err := range barrierErrs {
		if err != nil {
			t.Errorf("barrier call %d: %v (instances of one type did not run concurrently)", i+1, err)
		}
	}
	fx.mu.Lock()
	arrived := maps2str(fx.arrived)
	fx.mu.Unlock()
	if arrived != "b1:1 b2:1" {
		t.Errorf("barrier arrivals %s, want one per instance", arrived)
	}
}

func maps2str(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s:%d", k, m[k])
	}
	return s
}

func readFrame(t *testing.T, ctx context.Context, ws *websocket.Conn) protocol.Frame {
	t.Helper()
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return f
}

// TestRuntimeRestart: calls made while no runtime runs wait in INBOUND and
// are answered once a runtime is back; calls in flight while the runtime
// stops are finished or redelivered. No call whose publish JetStream
// acknowledged goes unanswered.
func TestRuntimeRestart(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, fx := newApp(t)
	d := startDistributed(t, app, distOptions{})
	clients := []*client.Client{dial(t, d.URL, nil), dial(t, d.URL, nil)}

	type result struct {
		key string
		err error
	}
	call := func(c *client.Client, key string, out chan<- result) {
		got, err := client.CallT[string](ctx, c.Actor("counter", "r-"+key[len(key)-1:]), "record", recordInput{Key: key})
		if err == nil && got != key {
			err = fmt.Errorf("answered %q", got)
		}
		out <- result{key, err}
	}
	collect := func(phase string, out <-chan result, n int) {
		t.Helper()
		for range n {
			select {
			case r := <-out:
				if r.err != nil {
					t.Errorf("%s: call %s: %v", phase, r.key, r.err)
				} else if fx.recordedCount(r.key) == 0 {
					t.Errorf("%s: call %s answered but never processed", phase, r.key)
				}
			case <-ctx.Done():
				t.Fatalf("%s: calls unanswered: %v", phase, ctx.Err())
			}
		}
	}

	// Phase 1: a runtime is up.
	out := make(chan result, 1000)
	for i := range 20 {
		go call(clients[i%2], fmt.Sprintf("pre-%d", i), out)
	}
	collect("before the stop", out, 20)

	// Phase 2: no runtime; calls are published and wait.
	d.runtime.stop()
	start := time.Now()
	const down = 50
	for i := range down {
		go call(clients[i%2], fmt.Sprintf("down-%d", i), out)
	}
	eventually(t, ctx, "the calls made while down to wait in INBOUND", func() (bool, string) {
		s, err := d.js.Stream(ctx, natstransport.InboundStream)
		if err != nil {
			return false, err.Error()
		}
		n := s.CachedInfo().State.Msgs
		return n == down, fmt.Sprintf("%d messages", n)
	})
	select {
	case r := <-out:
		t.Fatalf("call %s answered (%v) with no runtime running", r.key, r.err)
	default:
	}
	d.runtime.start()
	collect("while down", out, down)
	t.Logf("%d calls made with no runtime answered %v after the stop", down, time.Since(start).Round(time.Millisecond))

	// Phase 3: the runtime stops and restarts while calls flow.
	const flight = 200
	for i := range flight {
		go call(clients[i%2], fmt.Sprintf("flight-%d", i), out)
	}
	eventually(t, ctx, "some in-flight calls to be processed", func() (bool, string) {
		n := 0
		for i := range flight {
			if fx.recordedCount(fmt.Sprintf("flight-%d", i)) > 0 {
				n++
			}
		}
		return n >= flight/10, fmt.Sprintf("%d processed", n)
	})
	d.runtime.stop()
	d.runtime.start()
	collect("across the restart", out, flight)
	dup := 0
	for i := range flight {
		if fx.recordedCount(fmt.Sprintf("flight-%d", i)) > 1 {
			dup++
		}
	}
	t.Logf("%d calls across a restart: all answered, %d processed twice (at least once delivery); runtime stats %+v", flight, dup, d.runtime.stats())
}

// TestSessionClose: closing a socket reaches the runtime (OnDisconnect runs
// and patches the viewer count) and removes the session's OUTBOUND
// consumer from the server.
func TestSessionClose(t *testing.T) { forEachDelivery(t, testSessionClose) }

func testSessionClose(t *testing.T, delivery natstransport.Delivery) {
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{delivery: delivery})
	nc := natstest.Connect(t, d.nats)
	subj, err := natstransport.SessionDisconnectedSubject(testScope)
	if err != nil {
		t.Fatal(err)
	}
	notices, err := nc.SubscribeSync(subj)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	watcher := dial(t, d.URL, nil)
	w, err := watcher.Actor("counter", "room").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	guest := dial(t, d.URL, nil)
	id := guest.ID()
	if err := guest.Actor("counter", "room").Call(ctx, "id", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w, "2 viewers", func(s counterState) bool { return s.Viewers == 2 })
	if cs, err := d.sessionConsumers(ctx, id); err != nil || len(cs) != d.consumersPerSession() {
		t.Fatalf("OUTBOUND consumers of open session %s: %v, %v; want %d", id, cs, err, d.consumersPerSession())
	}

	if err := guest.Close(); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := notices.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatalf("no session.disconnected for %s: %v", id, err)
		}
		n, err := natstransport.DecodeSessionDisconnected(m.Data)
		if err != nil {
			t.Fatalf("notice %s: %v", m.Data, err)
		}
		if n.SessionID == id {
			if n.Scope != testScope {
				t.Errorf("notice scope %+v, want %+v", n.Scope, testScope)
			}
			break
		}
	}
	waitState(t, ctx, w, "OnDisconnect in the runtime", func(s counterState) bool { return s.Viewers == 1 })
	eventually(t, ctx, "the closed session's OUTBOUND consumer to be deleted", func() (bool, string) {
		cs, err := d.sessionConsumers(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return len(cs) == 0, fmt.Sprintf("consumers %v", cs)
	})
	// Only the watcher's consumer is left.
	if cs, err := d.sessionConsumers(ctx, ""); err != nil || len(cs) != d.consumersPerSession() {
		t.Fatalf("OUTBOUND consumers %v, %v; want only the watcher's (%d)", cs, err, d.consumersPerSession())
	}
	for i, g := range d.gateways {
		if s := g.gw.Stats(); s.SessionsOpen != 1 || s.ConsumerLeftovers != 0 {
			t.Errorf("gateway %d stats %+v", i, s)
		}
	}
}

// TestRuntimeCrash: a runtime whose NATS connection dies in the middle of
// a call (after its handler outlived the ack wait, kept alive by
// in-progress acks) loses nothing: a new runtime gets the message again
// and the client gets its answer.
func TestRuntimeCrash(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, fx := newApp(t)
	const ackWait = 2 * time.Second
	d := startDistributed(t, app, distOptions{rtConfig: runtime.Config{AckWait: ackWait}})
	c := dial(t, d.URL, nil)

	res := make(chan error, 1)
	go func() {
		got, err := client.CallT[string](ctx, c.Actor("barrier", "h"), "hold", recordInput{Key: "k"})
		if err == nil && got != "k" {
			err = fmt.Errorf("answered %q", got)
		}
		res <- err
	}()
	eventually(t, ctx, "the handler to outlive the ack wait without a redelivery", func() (bool, string) {
		s := d.runtime.stats()
		return fx.recordedCount("started:k") == 1 && s.InProgress >= 2 && s.Redelivered == 0,
			fmt.Sprintf("started %d times, stats %+v", fx.recordedCount("started:k"), s)
	})
	if fx.recordedCount("started:k") != 1 {
		t.Fatalf("handler started %d times before the crash, want once (in-progress acks must prevent redelivery)", fx.recordedCount("started:k"))
	}
	start := time.Now()
	old := d.runtime.crash(d)
	d.runtime.start()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("call across the crash: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("call across the crash unanswered: %v", ctx.Err())
	}
	took := time.Since(start)
	close(fx.release) // the crashed runtime's handler returns; its frames go nowhere
	select {
	case err := <-old:
		if err == nil {
			t.Errorf("crashed runtime's Run returned nil, want the reason it stopped")
		}
		t.Logf("crashed runtime's Run: %v", err)
	case <-ctx.Done():
		t.Fatalf("crashed runtime's Run did not return: %v", ctx.Err())
	}
	if n := fx.recordedCount("started:k"); n != 2 {
		t.Errorf("handler started %d times, want 2 (once before the crash, once redelivered)", n)
	}
	if n := fx.recordedCount("k"); n != 2 {
		t.Errorf("handler finished %d times, want 2 (the redelivered call and the released one)", n)
	}
	if s := d.runtime.stats(); s.Reclaimed != 1 {
		t.Errorf("new runtime's stats %+v, want one message reclaimed", s)
	}
	t.Logf("answered %v after the crash (ack wait %v)", took.Round(time.Millisecond), ackWait)
}

// TestOrderAcrossCrash: calls a crashed runtime received and never acked
// run on the next runtime at once (not after the ack wait) and before the
// calls sent after the crash, in the order they were accepted.
func TestOrderAcrossCrash(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, fx := newApp(t)
	d := startDistributed(t, app, distOptions{}) // the default ack wait: 30 s
	c := dial(t, d.URL, nil)
	h := c.Actor("barrier", "h")

	answers := make(chan string, 16)
	call := func(method, key string) {
		go func() {
			got, err := client.CallT[string](ctx, h, method, recordInput{Key: key})
			if err != nil {
				got = key + ": " + err.Error()
			}
			answers <- got
		}()
	}
	call("hold", "k") // blocks the instance until the crash
	eventually(t, ctx, "the held call to start", func() (bool, string) {
		return fx.recordedCount("started:k") == 1, ""
	})
	for i := 1; i <= 5; i++ {
		call("note", fmt.Sprintf("n%d", i))
		// One at a time, so that the accepted order is known.
		eventually(t, ctx, "the note to reach the runtime", func() (bool, string) {
			s := d.runtime.stats()
			return s.InFlight == int64(1+i), fmt.Sprintf("in flight %d", s.InFlight)
		})
	}
	start := time.Now()
	old := d.runtime.crash(d)
	call("note", "n6") // accepted while no runtime runs
	eventually(t, ctx, "n6 to be stored", func() (bool, string) {
		return d.inboundMsgs() == 7, fmt.Sprintf("%d messages in INBOUND", d.inboundMsgs())
	})
	d.runtime.start()
	call("note", "n7")
	for range 8 { // hold and n1 to n7
		select {
		case a := <-answers:
			if strings.Contains(a, ":") {
				t.Errorf("call failed: %s", a)
			}
		case <-ctx.Done():
			t.Fatalf("calls unanswered after the crash: %v (noted %v)", ctx.Err(), fx.notes())
		}
	}
	took := time.Since(start)
	want := []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"}
	if got := fx.notes(); !slices.Equal(got, want) {
		t.Errorf("notes ran in the order %v, want %v", got, want)
	}
	if took >= runtime.DefaultAckWait {
		t.Errorf("answered %v after the crash, not before the ack wait (%v)", took, runtime.DefaultAckWait)
	}
	close(fx.release) // the crashed runtime's handler returns; what it produces goes nowhere
	<-old
	t.Logf("8 calls answered %v after the crash; reclaimed %d", took.Round(time.Millisecond), d.runtime.stats().Reclaimed)
}

// TestGatewayShutdown: a gateway shut down gracefully announces its
// sessions' disconnects, so the runtime runs OnDisconnect for them, seen
// by a client on the other gateway; that client is not disturbed.
func TestGatewayShutdown(t *testing.T) { forEachDelivery(t, testGatewayShutdown) }

func testGatewayShutdown(t *testing.T, delivery natstransport.Delivery) {
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{delivery: delivery, gateways: 2})
	watcher := dial(t, d.gateways[0].url, nil)
	w, err := watcher.Actor("counter", "g").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	guests := make([]*client.Client, 3)
	for i := range guests {
		guests[i] = dial(t, d.gateways[1].url, &client.Options{Reconnect: &client.ReconnectPolicy{Disabled: true}})
		if err := guests[i].Actor("counter", "g").Call(ctx, "id", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, ctx, w, "4 viewers", func(s counterState) bool { return s.Viewers == 4 })
	if err := d.gateways[1].gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, g := range guests {
		select {
		case <-g.Done():
		case <-ctx.Done():
			t.Fatalf("guest %d still connected after its gateway shut down", i)
		}
	}
	waitState(t, ctx, w, "OnDisconnect of the shut down gateway's sessions", func(s counterState) bool { return s.Viewers == 1 })
	if v, err := client.CallT[counterView](ctx, watcher.Actor("counter", "g"), "add", addInput{By: 1}); err != nil || v.Count != 1 {
		t.Fatalf("call on the remaining gateway: %+v, %v", v, err)
	}
	eventually(t, ctx, "the closed sessions' OUTBOUND consumers to be deleted", func() (bool, string) {
		cs, err := d.sessionConsumers(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		return len(cs) == d.consumersPerSession(), fmt.Sprintf("consumers %v", cs)
	})
}

// TestInboundSubjects watches INBOUND's subjects on core NATS while
// hostile ids are used: every frame lands on exactly
// inbound.{ws}.{proj}.{type}.{escaped id}, which decodes back to the id,
// and the roles' NATS connections survive.
func TestInboundSubjects(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{})
	nc := natstest.Connect(t, d.nats)
	sub, err := nc.SubscribeSync("inbound.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, d.URL, nil)
	ids := []string{"a.b", "a b", "*", ">", "a.>", "user@example.com", "x\x00y", "ünï", "%2E", "..", "\t"}
	for _, id := range ids {
		if err := c.Actor("counter", id).Call(ctx, "id", nil, nil); err != nil {
			t.Fatalf("id %q: %v", id, err)
		}
	}
	for _, id := range ids {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatalf("no inbound message for %q: %v", id, err)
		}
		want, err := natstransport.InboundSubject(testScope, "counter", id)
		if err != nil || m.Subject != want {
			t.Errorf("id %q published on %q, want %q (%v)", id, m.Subject, want, err)
		}
	}
	if !d.gateways[0].nc.IsConnected() || !d.runtime.cfg.NATS.IsConnected() {
		t.Errorf("a role lost its NATS connection")
	}
}

// TestSubscriptionsSurviveRuntimeRestart: a client that watches an
// instance and listens to its events, and stays connected to its gateway
// while the runtime restarts, must not be left with a silently stale copy.
// The restarted runtime knows nothing of the old subscriptions, so it
// announces runtime.ready and the gateway sends each session's
// subscriptions again: the watcher gets a fresh snapshot and events flow,
// on the same session.
func TestSubscriptionsSurviveRuntimeRestart(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startDistributed(t, app, distOptions{})
	c := dial(t, d.URL, nil)
	w, err := c.Actor("counter", "x").WatchState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	events := make(chan string, 16)
	defer c.Actor("chat", "r").OnEvent("said", func(p json.RawMessage) {
		var e saidEvent
		_ = json.Unmarshal(p, &e)
		events <- e.Text
	})()
	if _, err := client.CallT[counterView](ctx, c.Actor("counter", "x"), "add", addInput{By: 5}); err != nil {
		t.Fatal(err)
	}
	if err := c.Actor("chat", "r").Call(ctx, "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w, "count 5", func(s counterState) bool { return s.Count == 5 })

	before := c.ID()
	d.runtime.stop()
	d.runtime.start()

	other := dial(t, d.URL, nil)
	if _, err := client.CallT[counterView](ctx, other.Actor("counter", "x"), "add", addInput{By: 1}); err != nil {
		t.Fatal(err)
	}
	server, err := client.CallT[json.RawMessage](ctx, other.Actor("counter", "x"), "get", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, w, "the watcher to match the server after the restart "+string(server), func(v json.RawMessage) bool {
		return jsonEqual(t, v, server)
	})
	// The event subscription is replayed independently of the state one:
	// say until an event arrives.
	for got := false; !got; {
		if err := other.Actor("chat", "r").Call(ctx, "say", sayInput{Text: "after"}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-events:
			got = true
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("no event after the restart: %v", ctx.Err())
		}
	}
	if c.ID() != before {
		t.Fatalf("client id changed from %s to %s: the session should have survived", before, c.ID())
	}
}
