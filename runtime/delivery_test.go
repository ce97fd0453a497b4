package runtime_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// TestOrderAndConcurrency shows that two instances of one type run at the
// same time (each call waits at a barrier only both can pass) while 200
// calls to a third instance keep their order.
func TestOrderAndConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	app := newApp(t, counterActor(func(a *zocket.Actor[counterState]) {
		zocket.Method(a, "meet", func(_ *counterState, c *zocket.Call, _ struct{}) (string, error) {
			mu.Lock()
			if arrived++; arrived == 2 {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
				return "met", nil
			case <-time.After(waitTimeout):
				return "", zocket.Errorf("alone at the barrier: instances did not run concurrently")
			}
		})
	}))
	e.start(app, nil)
	a, b, o := e.client("a"), e.client("b"), e.client("o")

	ida := a.rpc("counter", "left", "meet", nil)
	idb := b.rpc("counter", "right", "meet", nil)

	// 200 ordered calls, published back to back without waiting for each
	// result.
	subject, _ := natstransport.InboundSubject(e.scope, "counter", "ordered")
	var futs []jetstream.PubAckFuture
	for i := range 200 {
		frame := protocol.AppendRPC(nil, "o-"+strconv.Itoa(i), "counter", "ordered", "append", json.RawMessage(strconv.Itoa(i)))
		frame = []byte(strings.Replace(string(frame), `"input":`+strconv.Itoa(i), `"input":{"i":`+strconv.Itoa(i)+`}`, 1))
		f, err := e.js.PublishAsync(subject, o.envelope(frame))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctxT(t).Done():
			t.Fatal("publish not acked")
		}
	}
	for i := range 200 {
		f := o.result("o-" + strconv.Itoa(i))
		if string(f.Result) != strconv.Itoa(i+1) {
			t.Fatalf("call %d returned %s, want %d", i, f.Result, i+1)
		}
	}
	var log []int
	o.subscribe(protocol.TypeStateSub, "counter", "ordered")
	var st counterState
	if err := json.Unmarshal(o.expect(protocol.TypeStateSnapshot).State, &st); err != nil {
		t.Fatal(err)
	}
	log = st.Log
	for i, v := range log {
		if v != i {
			t.Fatalf("state log out of order at %d: %v", i, log)
		}
	}
	if len(log) != 200 {
		t.Fatalf("state log has %d entries", len(log))
	}

	for _, r := range []struct {
		c  *client
		id string
	}{{a, ida}, {b, idb}} {
		if f := r.c.result(r.id); f.HasError || string(f.Result) != `"met"` {
			t.Fatalf("meet: %+v", f)
		}
	}
	e.waitDrained("counter")
}

// TestFanOut makes one call whose patch goes to 500 subscribed sessions:
// every session gets it, through JetStream, and the call is acked.
func TestFanOut(t *testing.T) {
	t.Parallel()
	const n = 500
	e := newEnv(t)
	board := zocket.NewActor("board", func() counterState { return counterState{Log: []int{}} })
	zocket.Method(board, "add", func(s *counterState, _ *zocket.Call, in addInput) (int, error) {
		s.Count += in.N
		return s.Count, nil
	})
	h := e.start(newApp(t, board), nil)

	all, err := natstransport.OutboundSubject(e.scope, "x")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.nc.SubscribeSync(strings.TrimSuffix(all, "x") + ">")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	subject, _ := natstransport.InboundSubject(e.scope, "board", "fan")
	var futs []jetstream.PubAckFuture
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = &client{e: e, id: fmt.Sprintf("s%03d", i)}
		f, err := e.js.PublishAsync(subject, clients[i].envelope(protocol.AppendSubscription(nil, protocol.TypeStateSub, "board", "fan")))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	type counts struct{ snapshots, patches, results int }
	got := make(map[string]*counts, n)
	read := func(k int) {
		t.Helper()
		ctx := ctxT(t)
		for range k {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				t.Fatalf("after %d sessions: %v", len(got), err)
			}
			env, err := natstransport.DecodeOutbound(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			f, err := protocol.Decode(env.Message)
			if err != nil {
				t.Fatal(err)
			}
			c := got[env.SessionID]
			if c == nil {
				c = &counts{}
				got[env.SessionID] = c
			}
			switch f.Type {
			case protocol.TypeStateSnapshot:
				c.snapshots++
			case protocol.TypeStatePatch:
				c.patches++
			case protocol.TypeRPCResult:
				c.results++
			}
		}
	}
	read(n)
	clients[0].rpc("board", "fan", "add", addInput{N: 1})
	read(n + 1)
	if len(got) != n {
		t.Fatalf("%d sessions got frames, want %d", len(got), n)
	}
	for id, c := range got {
		if c.snapshots != 1 || c.patches != 1 || c.results != map[bool]int{true: 1}[id == "s000"] {
			t.Fatalf("session %s got %+v", id, *c)
		}
	}
	e.waitDrained("board")
	eventually(t, "acks counted", func() (bool, string) {
		st := h.rt.Stats()
		return st.Acked == n+1 && st.InFlight == 0, fmt.Sprintf("%+v", st)
	})
	st := h.rt.Stats()
	if want := int64(n + n + 1); st.Published != want || st.PublishFailures != 0 {
		t.Fatalf("stats %+v, want %d published", st, want)
	}
}

// TestSlowHandlerKeptAlive runs a call three times as long as the ack wait:
// in-progress acks keep JetStream from redelivering it mid-call.
func TestSlowHandlerKeptAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var calls atomic.Int32
	app := newApp(t, counterActor(func(a *zocket.Actor[counterState]) {
		zocket.Method(a, "slow", func(*counterState, *zocket.Call, struct{}) (int32, error) {
			n := calls.Add(1)
			time.Sleep(3 * time.Second) // the work: longer than the ack wait
			return n, nil
		})
	}))
	h := e.start(app, func(c *runtime.Config) { c.AckWait = time.Second })
	c := e.client("s1")
	if got := string(c.call("counter", "x", "slow", nil)); got != "1" {
		t.Fatalf("slow = %s", got)
	}
	e.waitDrained("counter")
	if info := e.consumerInfo("counter"); info.NumRedelivered != 0 {
		t.Fatalf("consumer redelivered %d messages", info.NumRedelivered)
	}
	st := h.rt.Stats()
	if calls.Load() != 1 || st.Redelivered != 0 || st.InProgress == 0 {
		t.Fatalf("%d calls, stats %+v", calls.Load(), st)
	}
}

// TestSessionDisconnected announces a session's end on core NATS: the
// instance runs OnDisconnect, which another subscriber sees as a patch.
// A malformed notice changes nothing.
func TestSessionDisconnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.start(newApp(t, counterActor(nil)), nil)
	a, b := e.client("A"), e.client("B")
	a.subscribe(protocol.TypeStateSub, "counter", "room")
	a.expect(protocol.TypeStateSnapshot)
	b.subscribe(protocol.TypeStateSub, "counter", "room")
	wantOp(t, a.next(), "replace", "/online", "2")
	b.expect(protocol.TypeStateSnapshot)

	subject, err := natstransport.SessionDisconnectedSubject(e.scope)
	if err != nil {
		t.Fatal(err)
	}
	other := natstransport.Scope{WorkspaceID: "other", ProjectID: e.scope.ProjectID}
	for _, body := range []string{
		`not json`,
		`{"scope":{"workspaceId":"` + other.WorkspaceID + `","projectId":"` + other.ProjectID + `"},"sessionId":"A","disconnectedAt":1}`,
	} {
		if err := e.nc.Publish(subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	notice, err := json.Marshal(natstransport.SessionDisconnected{Scope: e.scope, SessionID: "A", DisconnectedAt: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Publish(subject, notice); err != nil {
		t.Fatal(err)
	}
	wantOp(t, b.next(), "replace", "/online", "1")
	if !h.logs.contains("malformed session.disconnected notice") || !h.logs.contains("notice for another scope") {
		t.Errorf("bad notices not logged:\n%s", h.logs)
	}

	// A frame the gone session sent late is acked and ignored.
	a.rpc("counter", "room", "add", addInput{N: 1})
	if got := string(b.call("counter", "room", "add", addInput{N: 0})); got != "0" {
		t.Fatalf("count %s: the gone session's call ran", got)
	}
	e.waitDrained("counter")
}

// TestMalformedInbound publishes broken messages to the consumer's
// subjects: each is acked (never redelivered), answered when it is an rpc
// with an id, and the runtime keeps serving.
func TestMalformedInbound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.start(newApp(t, counterActor(nil)), nil)
	c := e.client("s1")
	env := func(scope natstransport.Scope, session, message string) []byte {
		return []byte(`{"scope":{"workspaceId":"` + scope.WorkspaceID + `","projectId":"` + scope.ProjectID +
			`"},"sessionId":"` + session + `","userId":null,"claims":{},"message":` + message + `}`)
	}
	foreign := natstransport.Scope{WorkspaceID: "else", ProjectID: "where"}
	dropped := [][]byte{
		[]byte("not json"),
		[]byte(`{}`),
		[]byte(`[1,2]`),
		env(e.scope, "", `{"type":"rpc","id":"d1","actor":"counter","actorId":"x","method":"add"}`),
		env(foreign, "s1", `{"type":"rpc","id":"d2","actor":"counter","actorId":"x","method":"add"}`),
		env(e.scope, strings.Repeat("s", 300), `{"type":"rpc","id":"d3","actor":"counter","actorId":"x","method":"add"}`),
		[]byte(`{"scope":{"workspaceId":"` + e.scope.WorkspaceID + `","projectId":"` + e.scope.ProjectID + `"},"sessionId":"s1"}`),
	}
	for _, d := range dropped {
		e.publish("counter", "x", d)
	}
	ignored := []string{`42`, `"rpc"`, `{"type":"nope"}`, `{"type":"state:sub","actor":"counter"}`}
	for _, m := range ignored {
		e.publish("counter", "x", env(e.scope, "s1", m))
	}
	answered := []struct{ message, id, want string }{
		{`{"type":"rpc","id":"m1","actor":"counter","actorId":"x"}`, "m1", `invalid frame: missing field "method"`},
		{`{"type":"rpc:result","id":"m2","result":1}`, "m2", `is not a client frame`},
		{`{"type":"rpc","id":"m3","actor":"counter","actorId":"y","method":"add"}`, "m3", "do not match the message subject"},
		{`{"type":"rpc","id":"m4","actor":"other","actorId":"x","method":"add"}`, "m4", "do not match the message subject"},
	}
	for _, a := range answered {
		e.publish("counter", "x", env(e.scope, "s1", a.message))
	}
	for _, a := range answered {
		f := c.result(a.id)
		if !f.HasError || !strings.Contains(f.Error, a.want) {
			t.Errorf("%s: error %q, want it to contain %q", a.id, f.Error, a.want)
		}
	}
	if got := string(c.call("counter", "x", "add", addInput{N: 3})); got != "3" {
		t.Fatalf("add after bad messages = %s", got)
	}
	e.waitDrained("counter")
	st := h.rt.Stats()
	if st.Malformed != int64(len(dropped)) || st.BadFrames != int64(len(ignored)+len(answered)) || st.Redelivered != 0 {
		t.Fatalf("stats %+v; want %d malformed, %d bad frames", st, len(dropped), len(ignored)+len(answered))
	}
	if info := e.consumerInfo("counter"); info.NumRedelivered != 0 {
		t.Fatalf("%d redelivered", info.NumRedelivered)
	}
}

// TestRestartRedelivers covers unacked work across runtimes: messages
// published while no runtime runs, and a call blocked when its runtime
// stops with a short drain timeout, are processed by the next runtime; no
// answered rpc is lost or left unanswered.
func TestRestartRedelivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := natstransport.EnsureStreams(ctxT(t), e.js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	c := e.client("s1")
	var early []string
	for range 5 {
		early = append(early, c.rpc("counter", "early", "add", addInput{N: 1}))
	}

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	entered := make(chan struct{}, 1)
	var blocking atomic.Bool
	blocking.Store(true)
	var blockCalls atomic.Int32
	app := newApp(t, counterActor(func(a *zocket.Actor[counterState]) {
		zocket.Method(a, "block", func(s *counterState, _ *zocket.Call, _ struct{}) (int, error) {
			blockCalls.Add(1)
			if blocking.Load() {
				entered <- struct{}{}
				<-release
			}
			s.Count += 100
			return s.Count, nil
		})
	}))

	// First runtime: it finds the early calls waiting.
	h1 := e.start(app, func(c *runtime.Config) { c.DrainTimeout = 300 * time.Millisecond })
	for i, id := range early {
		if got := string(c.result(id).Result); got != strconv.Itoa(i+1) {
			t.Fatalf("early call %d = %s", i, got)
		}
	}
	blocked := c.rpc("counter", "stuck", "block", nil)
	<-entered
	queued := c.rpc("counter", "stuck", "add", addInput{N: 1}) // behind the blocked call
	done := c.rpc("counter", "free", "add", addInput{N: 7})    // another instance: unaffected
	if got := string(c.result(done).Result); got != "7" {
		t.Fatalf("free add = %s", got)
	}
	start := time.Now()
	if err := h1.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v to return with a drain timeout of 300ms", took)
	}
	if !h1.logs.contains("nak'd for redelivery") {
		t.Errorf("abandoned work not reported:\n%s", h1.logs)
	}

	// Second runtime: the blocked call and the one queued behind it run
	// again, in order.
	blocking.Store(false)
	h2 := e.start(app, nil)
	if got := string(c.result(blocked).Result); got != "100" {
		t.Fatalf("redelivered block = %s", got)
	}
	if got := string(c.result(queued).Result); got != "101" {
		t.Fatalf("redelivered add = %s", got)
	}
	if got := string(c.call("counter", "free", "add", addInput{N: 0})); got != "0" {
		t.Fatalf("free = %s (new runtime, new instance)", got)
	}
	e.waitDrained("counter")
	// Nak'd messages may still count as pending acks when the second
	// runtime boots: it then takes them over (Reclaimed) rather than wait
	// for their redelivery.
	if st := h2.rt.Stats(); st.Redelivered+st.Reclaimed != 2 {
		t.Errorf("second runtime saw %d redeliveries and reclaimed %d messages, want 2 in all", st.Redelivered, st.Reclaimed)
	}
}

// TestGracefulShutdown cancels Run while a call runs: the call finishes,
// its result is published and its message acked, and OnDeactivate runs,
// its patch reaching a subscriber.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	entered := make(chan struct{})
	app := newApp(t, counterActor(func(a *zocket.Actor[counterState]) {
		zocket.Method(a, "block", func(s *counterState, _ *zocket.Call, _ struct{}) (int, error) {
			close(entered)
			<-release
			s.Count++
			return s.Count, nil
		})
		a.OnDeactivate(func(s *counterState, _ *zocket.Call) error { s.Count = -1; return nil })
	}))
	h := e.start(app, nil)
	w := e.client("watcher")
	w.subscribe(protocol.TypeStateSub, "counter", "x")
	w.expect(protocol.TypeStateSnapshot)
	c := e.client("caller")
	id := c.rpc("counter", "x", "block", nil)
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	eventually(t, "shutdown started", func() (bool, string) {
		return h.logs.contains("draining"), "not draining"
	})
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := string(c.result(id).Result); got != "1" {
		t.Fatalf("block = %s", got)
	}
	wantOp(t, w.next(), "replace", "/online", "2") // OnConnect of the caller
	wantOp(t, w.next(), "replace", "/count", "1")
	wantOp(t, w.next(), "replace", "/count", "-1") // OnDeactivate
	e.waitDrained("counter")
	if st := h.rt.Stats(); st.Nacked != 0 || st.InFlight != 0 {
		t.Fatalf("stats after a clean shutdown: %+v", st)
	}
	if !h.logs.contains("clean=true") {
		t.Errorf("shutdown not clean:\n%s", h.logs)
	}
}
