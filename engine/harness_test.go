package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

// waitTimeout bounds every wait in these tests. Inside a synctest bubble it
// is fake time, so a stuck engine fails fast instead of hanging.
const waitTimeout = 20 * time.Second

// testHost is an engine.Host that decodes every outgoing frame and files it
// in a per-session inbox. It checks the Host contract as it goes: each
// request is delivered exactly once, every frame decodes, hook deliveries
// are never empty. Tests wait on it with waitUntil; there are no sleeps.
type testHost struct {
	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every Deliver
	inbox     map[string][]protocol.Frame
	cursor    map[string]int
	delivered map[*engine.Request]int
	hookCalls int
	problems  []string
}

func newTestHost() *testHost {
	return &testHost{
		changed:   make(chan struct{}),
		inbox:     make(map[string][]protocol.Frame),
		cursor:    make(map[string]int),
		delivered: make(map[*engine.Request]int),
	}
}

func (h *testHost) Deliver(req *engine.Request, out []engine.Outgoing) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req != nil {
		h.delivered[req]++
		if n := h.delivered[req]; n > 1 {
			h.problems = append(h.problems, fmt.Sprintf("request %s %q delivered %d times", req.Frame.Type, req.Frame.ID, n))
		}
	} else {
		h.hookCalls++
		if len(out) == 0 {
			h.problems = append(h.problems, "hook delivery without frames")
		}
	}
	for _, o := range out {
		f, err := protocol.Decode(o.Frame)
		if err != nil {
			h.problems = append(h.problems, fmt.Sprintf("undecodable frame %s: %v", o.Frame, err))
			continue
		}
		if protocol.IsClientType(f.Type) {
			h.problems = append(h.problems, fmt.Sprintf("not a server frame: %s", o.Frame))
		}
		h.inbox[o.SessionID] = append(h.inbox[o.SessionID], f)
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// waitUntil waits until cond (called with h.mu held) is true.
func (h *testHost) waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		ok := cond()
		ch := h.changed
		h.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// wait is waitUntil for goroutines other than the test's: it reports
// false on timeout instead of failing.
func (h *testHost) wait(cond func() bool) bool {
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		ok := cond()
		ch := h.changed
		h.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// next returns the session's next unread frame, waiting for it.
func (h *testHost) next(t testing.TB, session string) protocol.Frame {
	t.Helper()
	h.waitUntil(t, "a frame for "+session, func() bool { return h.cursor[session] < len(h.inbox[session]) })
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.inbox[session][h.cursor[session]]
	h.cursor[session]++
	return f
}

// unread returns and consumes the session's unread frames without waiting.
func (h *testHost) unread(session string) []protocol.Frame {
	h.mu.Lock()
	defer h.mu.Unlock()
	fs := h.inbox[session][h.cursor[session]:]
	h.cursor[session] = len(h.inbox[session])
	return fs
}

// result reads the session's frames up to the rpc:result with the given id
// and returns it with the frames that came before it.
func (h *testHost) result(t testing.TB, session, id string) (before []protocol.Frame, res protocol.Frame) {
	t.Helper()
	for {
		f := h.next(t, session)
		if f.Type == protocol.TypeRPCResult && f.ID == id {
			return before, f
		}
		before = append(before, f)
	}
}

func (h *testHost) deliveredCount(req *engine.Request) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delivered[req]
}

// tester drives one Engine through a testHost.
type tester struct {
	t    testing.TB
	h    *testHost
	e    *engine.Engine
	seq  atomic.Int64
	mu   sync.Mutex
	reqs []*engine.Request
}

// start runs app on a new engine whose Host is a testHost. Cleanup closes
// the engine and checks that every dispatched request was delivered once.
func start(t testing.TB, app *zocket.App, cfg engine.Config) *tester {
	t.Helper()
	h := newTestHost()
	cfg.Host = h
	tt := &tester{t: t, h: h, e: engine.New(app, cfg)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := tt.e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		tt.check()
	})
	return tt
}

// check reports Host contract violations seen so far.
func (tt *tester) check() {
	tt.t.Helper()
	tt.mu.Lock()
	reqs := tt.reqs
	tt.mu.Unlock()
	tt.h.mu.Lock()
	defer tt.h.mu.Unlock()
	for _, p := range tt.h.problems {
		tt.t.Errorf("host: %s", p)
	}
	tt.h.problems = nil
	for _, r := range reqs {
		if n := tt.h.delivered[r]; n != 1 {
			tt.t.Errorf("request %s %q (session %s) delivered %d times, want 1", r.Frame.Type, r.Frame.ID, r.SessionID, n)
		}
	}
}

func mustApp(t testing.TB, actors ...zocket.ActorType) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(actors...)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	return app
}

// dispatch sends a request and remembers it for the delivery check.
func (tt *tester) dispatch(req *engine.Request) *engine.Request {
	tt.mu.Lock()
	tt.reqs = append(tt.reqs, req)
	tt.mu.Unlock()
	tt.e.Dispatch(req)
	return req
}

// rpc dispatches an rpc frame with a fresh id; input is encoded as JSON
// unless it is nil (absent) or already a json.RawMessage.
func (tt *tester) rpc(session, actor, actorID, method string, input any) *engine.Request {
	var raw json.RawMessage
	switch v := input.(type) {
	case nil:
	case json.RawMessage:
		raw = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		raw = b
	}
	id := fmt.Sprintf("r%d", tt.seq.Add(1))
	return tt.dispatch(&engine.Request{SessionID: session, Frame: protocol.Frame{
		Type: protocol.TypeRPC, ID: id, Actor: actor, ActorID: actorID, Method: method, Input: raw,
	}})
}

// call makes an rpc and waits for its result, returning the frames the
// session received before it.
func (tt *tester) call(session, actor, actorID, method string, input any) (before []protocol.Frame, res protocol.Frame) {
	tt.t.Helper()
	req := tt.rpc(session, actor, actorID, method, input)
	return tt.h.result(tt.t, session, req.Frame.ID)
}

// callOK makes an rpc that must succeed and decodes its result into out
// (if not nil).
func (tt *tester) callOK(session, actor, actorID, method string, input, out any) []protocol.Frame {
	tt.t.Helper()
	before, res := tt.call(session, actor, actorID, method, input)
	if res.HasError {
		tt.t.Fatalf("%s.%s(%v) failed: %s", actor, method, input, res.Error)
	}
	if out != nil {
		if err := json.Unmarshal(res.Result, out); err != nil {
			tt.t.Fatalf("%s.%s: decode result %s: %v", actor, method, res.Result, err)
		}
	}
	return before
}

// callErr makes an rpc that must fail and returns its error message.
func (tt *tester) callErr(session, actor, actorID, method string, input any) string {
	tt.t.Helper()
	_, res := tt.call(session, actor, actorID, method, input)
	if !res.HasError {
		tt.t.Fatalf("%s.%s(%v) = %s, want an error", actor, method, input, res.Result)
	}
	return res.Error
}

// send dispatches a subscription frame (or any frame without an id) and
// waits until the engine delivered it.
func (tt *tester) send(session, typ, actor, actorID string) {
	tt.t.Helper()
	req := tt.dispatch(&engine.Request{SessionID: session, Frame: protocol.Frame{Type: typ, Actor: actor, ActorID: actorID}})
	tt.waitDelivered(req)
}

func (tt *tester) waitDelivered(req *engine.Request) {
	tt.t.Helper()
	tt.h.waitUntil(tt.t, "delivery of "+req.Frame.Type+" "+req.Frame.ID, func() bool { return tt.h.delivered[req] > 0 })
}

// subState subscribes session to the instance's state and returns the
// snapshot.
func (tt *tester) subState(session, actor, actorID string) json.RawMessage {
	tt.t.Helper()
	tt.send(session, protocol.TypeStateSub, actor, actorID)
	for _, f := range tt.h.unread(session) {
		if f.Type == protocol.TypeStateSnapshot && f.Actor == actor && f.ActorID == actorID {
			return f.State
		}
	}
	tt.t.Fatalf("no snapshot after state:sub %s/%s", actor, actorID)
	return nil
}

func wantContains(t testing.TB, got string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(got, s) {
			t.Errorf("%q does not contain %q", got, s)
		}
	}
}

func types(fs []protocol.Frame) []string {
	var ts []string
	for _, f := range fs {
		ts = append(ts, f.Type)
	}
	return ts
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
