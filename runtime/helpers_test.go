package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/syncbuf"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// waitTimeout bounds every wait of a test for a frame or a state.
const waitTimeout = 15 * time.Second

// ctxT returns a context bounded by the test's deadline and waitTimeout.
func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// env is one test's NATS server and the gateway side: a connection that
// publishes inbound envelopes and reads outbound ones.
type env struct {
	t     testing.TB
	srv   *natsembed.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	scope natstransport.Scope
}

var scopeSeq atomic.Int64

// newEnv starts a server for the test. The scope is unique and contains
// characters that subjects must escape, so every test also checks that
// the runtime and the test agree on the encoding.
func newEnv(t testing.TB) *env {
	t.Helper()
	srv := natstest.Run(t)
	n := scopeSeq.Add(1)
	return &env{
		t:     t,
		srv:   srv,
		nc:    natstest.Connect(t, srv),
		js:    natstest.JetStream(t, srv),
		scope: natstransport.Scope{WorkspaceID: fmt.Sprintf("ws.%d", n), ProjectID: "proj " + strconv.FormatInt(n, 10)},
	}
}

// handle is a running runtime.
type handle struct {
	rt     *runtime.Runtime
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
	once   sync.Once
	err    error
	// failOK makes the cleanup accept an error from Run.
	failOK bool
}

// start runs a runtime for app on its own connection and waits until it
// is ready. The test's cleanup stops it.
func (e *env) start(app *zocket.App, mutate func(*runtime.Config)) *handle {
	e.t.Helper()
	h, err := e.startErr(app, mutate)
	if err != nil {
		e.t.Fatalf("runtime did not boot: %v\n%s", err, h.logs)
	}
	return h
}

func (e *env) startErr(app *zocket.App, mutate func(*runtime.Config)) (*handle, error) {
	t := e.t
	t.Helper()
	logs := &logBuffer{}
	cfg := runtime.Config{
		NATS:  natstest.Connect(t, e.srv),
		Scope: e.scope,
		// These tests read a session's frames from its subject, one copy
		// per session, as the seed describes; core delivery is tested in
		// core_test.go.
		Delivery: natstransport.DeliveryConsumer,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rt, err := runtime.New(app, cfg)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	return e.run(rt, logs)
}

// run runs rt until the test's cleanup and waits until it is ready or
// failed to boot.
func (e *env) run(rt *runtime.Runtime, logs *logBuffer) (*handle, error) {
	t := e.t
	t.Helper()
	if logs == nil {
		logs = &logBuffer{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &handle{rt: rt, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { h.done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		if err := h.stop(); err != nil && !h.failOK {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("runtime logs (last lines):\n%s", logs.tail(60))
		}
	})
	select {
	case <-rt.Ready():
		return h, nil
	case err := <-h.done:
		h.once.Do(func() { h.err = err })
		return h, err
	case <-time.After(waitTimeout):
		t.Fatalf("runtime not ready after %v", waitTimeout)
		return nil, nil
	}
}

// stop cancels Run and waits for it to return; it fails the test if Run
// takes longer than waitTimeout.
func (h *handle) stop() error {
	h.once.Do(func() {
		h.cancel()
		select {
		case h.err = <-h.done:
		case <-time.After(waitTimeout):
			h.err = errors.New("Run did not return after cancellation")
		}
	})
	return h.err
}

// logBuffer collects logs written by many goroutines.
type logBuffer struct{ syncbuf.Buffer }

// tail returns the last n lines.
func (l *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (l *logBuffer) contains(s string) bool { return strings.Contains(l.String(), s) }

// client is a session as a gateway sees it: it publishes the session's
// frames to INBOUND and reads its outbound subject with a core
// subscription.
type client struct {
	e      *env
	id     string
	user   *string
	claims map[string]any
	sub    *nats.Subscription
	seq    int
}

func (e *env) client(id string) *client {
	e.t.Helper()
	subject, err := natstransport.OutboundSubject(e.scope, id)
	if err != nil {
		e.t.Fatal(err)
	}
	sub, err := e.nc.SubscribeSync(subject)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &client{e: e, id: id, sub: sub}
}

// sessionConsumer opens the ordered consumer a gateway would make for
// session: it reads what JetStream stored on the session's OUTBOUND subject.
func (e *env) sessionConsumer(session string) jetstream.Consumer {
	e.t.Helper()
	cfg, err := natstransport.OutboundConsumerConfig(e.scope, session)
	if err != nil {
		e.t.Fatal(err)
	}
	oc, err := e.js.OrderedConsumer(ctxT(e.t), natstransport.OutboundStream, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return oc
}

// envelope wraps frame in the session's inbound envelope.
func (c *client) envelope(frame []byte) []byte {
	c.e.t.Helper()
	b, err := natstransport.AppendInbound(nil, natstransport.InboundEnvelope{
		Scope: c.e.scope, SessionID: c.id, UserID: c.user, Claims: c.claims, Message: frame,
	})
	if err != nil {
		c.e.t.Fatal(err)
	}
	return b
}

// publish sends data to the inbound subject of (actor, actorID) and waits
// for JetStream to store it.
func (e *env) publish(actor, actorID string, data []byte) {
	e.t.Helper()
	subject, err := natstransport.InboundSubject(e.scope, actor, actorID)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.js.Publish(ctxT(e.t), subject, data); err != nil {
		e.t.Fatalf("publish to %s: %v", subject, err)
	}
}

func (c *client) send(actor, actorID string, frame []byte) {
	c.e.t.Helper()
	c.e.publish(actor, actorID, c.envelope(frame))
}

// rpc sends an rpc frame and returns its id.
func (c *client) rpc(actor, actorID, method string, input any) string {
	c.e.t.Helper()
	c.seq++
	id := fmt.Sprintf("%s-%d", c.id, c.seq)
	var raw json.RawMessage
	if input != nil {
		b, err := json.Marshal(input)
		if err != nil {
			c.e.t.Fatal(err)
		}
		raw = b
	}
	c.send(actor, actorID, protocol.AppendRPC(nil, id, actor, actorID, method, raw))
	return id
}

func (c *client) subscribe(typ, actor, actorID string) {
	c.e.t.Helper()
	c.send(actor, actorID, protocol.AppendSubscription(nil, typ, actor, actorID))
}

// next returns the session's next server frame.
func (c *client) next() protocol.Frame {
	c.e.t.Helper()
	m, err := c.sub.NextMsgWithContext(ctxT(c.e.t))
	if err != nil {
		c.e.t.Fatalf("session %s: no frame: %v", c.id, err)
	}
	env, err := natstransport.DecodeOutbound(m.Data)
	if err != nil {
		c.e.t.Fatalf("session %s: %v: %s", c.id, err, m.Data)
	}
	if env.Scope != c.e.scope || env.SessionID != c.id {
		c.e.t.Fatalf("session %s: envelope for %+v/%q", c.id, env.Scope, env.SessionID)
	}
	f, err := protocol.Decode(env.Message)
	if err != nil {
		c.e.t.Fatalf("session %s: %v: %s", c.id, err, env.Message)
	}
	return f
}

// result reads the next frame and checks it is the rpc:result for id.
func (c *client) result(id string) protocol.Frame {
	c.e.t.Helper()
	f := c.next()
	if f.Type != protocol.TypeRPCResult || f.ID != id {
		c.e.t.Fatalf("session %s: got %s %q (error %q, result %s), want rpc:result %q", c.id, f.Type, f.ID, f.Error, f.Result, id)
	}
	return f
}

// call makes an rpc and returns its successful result.
func (c *client) call(actor, actorID, method string, input any) json.RawMessage {
	c.e.t.Helper()
	f := c.result(c.rpc(actor, actorID, method, input))
	if f.HasError {
		c.e.t.Fatalf("%s.%s: error %q", actor, method, f.Error)
	}
	return f.Result
}

// callErr makes an rpc and returns its error message.
func (c *client) callErr(actor, actorID, method string, input any) string {
	c.e.t.Helper()
	f := c.result(c.rpc(actor, actorID, method, input))
	if !f.HasError {
		c.e.t.Fatalf("%s.%s: result %s, want an error", actor, method, f.Result)
	}
	return f.Error
}

// expect reads the next frame and checks its type.
func (c *client) expect(typ string) protocol.Frame {
	c.e.t.Helper()
	f := c.next()
	if f.Type != typ {
		c.e.t.Fatalf("session %s: got %s frame %+v, want %s", c.id, f.Type, f, typ)
	}
	return f
}

// eventually polls cond until it holds or the test's wait times out. It is
// for server-side state (consumer info) that changes after the frames a
// test can wait for.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	testwait.For(t, waitTimeout, what, cond)
}

// consumerInfo reads the durable consumer of actor from the server.
func (e *env) consumerInfo(actor string) *jetstream.ConsumerInfo {
	e.t.Helper()
	durable, err := natstransport.DurableName(e.scope, actor)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.js.Consumer(ctxT(e.t), natstransport.InboundStream, durable)
	if err != nil {
		e.t.Fatalf("consumer %s: %v", durable, err)
	}
	info, err := c.Info(ctxT(e.t))
	if err != nil {
		e.t.Fatalf("consumer %s info: %v", durable, err)
	}
	return info
}

// waitDrained waits until actor's consumer has nothing pending and nothing
// unacked.
func (e *env) waitDrained(actor string) {
	e.t.Helper()
	eventually(e.t, "consumer "+actor+" drained", func() (bool, string) {
		info := e.consumerInfo(actor)
		return info.NumAckPending == 0 && info.NumPending == 0,
			fmt.Sprintf("ack pending %d, pending %d", info.NumAckPending, info.NumPending)
	})
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func decodePatch(t testing.TB, f protocol.Frame) []patchOp {
	t.Helper()
	var ops []patchOp
	if err := json.Unmarshal(f.Patches, &ops); err != nil {
		t.Fatalf("patches %s: %v", f.Patches, err)
	}
	return ops
}

// wantOp checks that f is a state:patch holding exactly one operation op
// at path with value.
func wantOp(t testing.TB, f protocol.Frame, op, path, value string) {
	t.Helper()
	if f.Type != protocol.TypeStatePatch {
		t.Fatalf("got %s frame, want state:patch", f.Type)
	}
	ops := decodePatch(t, f)
	if len(ops) != 1 || ops[0].Op != op || ops[0].Path != path || string(ops[0].Value) != value {
		t.Fatalf("patch %s, want [%s %s %s]", f.Patches, op, path, value)
	}
}

func jsonEq(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("decode want %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("got %s, want %s", gb, wb)
	}
}

// ---- test actors ----

type counterState struct {
	Count  int   `json:"count"`
	Online int   `json:"online"`
	Log    []int `json:"log"`
}

type addInput struct {
	N int `json:"n"`
}

func (in addInput) Validate() error {
	if in.N > 1000 {
		return zocket.Errorf("n must be at most 1000")
	}
	return nil
}

type appendInput struct {
	I int `json:"i"`
}

type whoami struct {
	Client string `json:"client"`
	User   string `json:"user"`
	Role   any    `json:"role"`
}

// counterActor is the workhorse of the tests. hooks, when set, receives
// extra methods.
func counterActor(extra func(a *zocket.Actor[counterState])) *zocket.Actor[counterState] {
	a := zocket.NewActor("counter", func() counterState { return counterState{Log: []int{}} })
	zocket.Method(a, "add", func(s *counterState, _ *zocket.Call, in addInput) (int, error) {
		s.Count += in.N
		return s.Count, nil
	})
	zocket.Method(a, "append", func(s *counterState, _ *zocket.Call, in appendInput) (int, error) {
		s.Log = append(s.Log, in.I)
		return len(s.Log), nil
	})
	zocket.Method(a, "whoami", func(_ *counterState, c *zocket.Call, _ struct{}) (whoami, error) {
		return whoami{Client: c.ClientID(), User: c.UserID(), Role: c.Claims()["role"]}, nil
	})
	zocket.Method(a, "fail", func(*counterState, *zocket.Call, struct{}) (int, error) {
		return 0, zocket.Errorf("nope")
	})
	zocket.Method(a, "secret", func(*counterState, *zocket.Call, struct{}) (string, error) {
		return "42", nil
	})
	a.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		if info.Method == "secret" && info.Claims["role"] != "admin" {
			return nil, zocket.Reject("forbidden")
		}
		return ctx, nil
	})
	a.OnConnect(func(s *counterState, _ *zocket.Call) error { s.Online++; return nil })
	a.OnDisconnect(func(s *counterState, _ *zocket.Call) error { s.Online--; return nil })
	if extra != nil {
		extra(a)
	}
	return a
}

func newApp(t testing.TB, actors ...zocket.ActorType) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(actors...)
	if err != nil {
		t.Fatal(err)
	}
	return app
}
