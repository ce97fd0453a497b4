package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for a frame or a NATS message: generous for
// -race on a busy 2-core machine, never reached when things work.
const waitTimeout = 30 * time.Second

var devScope = natstransport.Scope{WorkspaceID: gateway.DefaultWorkspaceID, ProjectID: gateway.DefaultProjectID}

// rig is one test's NATS server, gateway and HTTP server.
type rig struct {
	t   *testing.T
	srv *natsembed.Server
	nc  *nats.Conn // the gateway's connection
	js  jetstream.JetStream
	gw  *gateway.Gateway
	hs  *httptest.Server
	url string // ws:// URL of the gateway's endpoint
}

// newRig starts a NATS server and a gateway with cfg (NATS is filled in).
func newRig(t *testing.T, cfg gateway.Config) *rig {
	t.Helper()
	srv := natstest.Run(t)
	return newRigOn(t, srv, cfg)
}

// newRigOn starts a gateway with cfg on an existing server.
func newRigOn(t *testing.T, srv *natsembed.Server, cfg gateway.Config) *rig {
	t.Helper()
	nc := natstest.Connect(t, srv)
	cfg.NATS = nc
	if cfg.Delivery == "" {
		// The stand-in runtime below publishes as the seed describes: one
		// unnumbered copy per session. Core delivery is tested with the
		// real runtime (core_test.go, and the integration tests).
		cfg.Delivery = natstransport.DeliveryConsumer
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return &rig{
		t: t, srv: srv, nc: nc, js: natstest.JetStream(t, srv), gw: gw, hs: hs,
		url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/",
	}
}

// outboundConsumers lists the names of OUTBOUND's consumers.
func (r *rig) outboundConsumers() []string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := r.js.Stream(ctx, natstransport.OutboundStream)
	if err != nil {
		r.t.Fatalf("stream OUTBOUND: %v", err)
	}
	var names []string
	lister := s.ConsumerNames(ctx)
	for name := range lister.Name() {
		names = append(names, name)
	}
	if err := lister.Err(); err != nil {
		r.t.Fatalf("list OUTBOUND consumers: %v", err)
	}
	return names
}

// consumersOf returns the OUTBOUND consumers of a session (named
// {sessionId}_{n}).
func (r *rig) consumersOf(sessionID string) []string {
	var out []string
	for _, n := range r.outboundConsumers() {
		if strings.HasPrefix(n, sessionID+"_") {
			out = append(out, n)
		}
	}
	return out
}

// waitConsumersGone waits until OUTBOUND holds no consumer of the session,
// or none at all for "": the gateway deletes a closed session's consumer
// right after it announced the disconnect.
func (r *rig) waitConsumersGone(sessionID string) {
	r.t.Helper()
	r.waitUntil(fmt.Sprintf("OUTBOUND to hold no consumer of session %q", sessionID), func() (bool, string) {
		left := r.outboundConsumers()
		if sessionID != "" {
			left = r.consumersOf(sessionID)
		}
		return len(left) == 0, fmt.Sprintf("%d left: %.5v", len(left), left)
	})
}

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func (r *rig) waitUntil(what string, cond func() (ok bool, state string)) {
	r.t.Helper()
	testwait.For(r.t, waitTimeout, what, cond)
}

func (r *rig) inboundMsgs() uint64 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := r.js.Stream(ctx, natstransport.InboundStream)
	if err != nil {
		r.t.Fatalf("stream INBOUND: %v", err)
	}
	return s.CachedInfo().State.Msgs
}

// waitInboundEmpty waits until INBOUND holds no message: the responder acks
// a request only after publishing its reply, so the reply can arrive first.
func (r *rig) waitInboundEmpty() {
	r.t.Helper()
	r.waitUntil("INBOUND to be empty", func() (bool, string) {
		n := r.inboundMsgs()
		return n == 0, fmt.Sprintf("%d messages", n)
	})
}

// notices subscribes to a core NATS subject and returns its messages.
func notices(t *testing.T, nc *nats.Conn, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

func nextMsg(t *testing.T, ch chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no NATS message within %v", waitTimeout)
		return nil
	}
}

// waitDisconnected waits for the session.disconnected notice of id.
func waitDisconnected(t *testing.T, ch chan *nats.Msg, id string) natstransport.SessionDisconnected {
	t.Helper()
	for {
		m := nextMsg(t, ch)
		d, err := natstransport.DecodeSessionDisconnected(m.Data)
		if err != nil {
			t.Fatalf("decode disconnected notice: %v", err)
		}
		if d.SessionID == id {
			return d
		}
	}
}

// client is a test WebSocket client speaking raw JSON frames.
type client struct {
	t  testing.TB
	ws *websocket.Conn
}

func dial(t testing.TB, url string) *client {
	t.Helper()
	c, err := tryDial(t, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

func tryDial(t testing.TB, url string) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, &dialError{status: resp.StatusCode, err: err}
		}
		return nil, err
	}
	ws.SetReadLimit(4 << 20)
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return c, nil
}

type dialError struct {
	status int
	err    error
}

func (e *dialError) Error() string { return fmt.Sprintf("status %d: %v", e.status, e.err) }

func dialStatus(err error) int {
	var de *dialError
	if errors.As(err, &de) {
		return de.status
	}
	return 0
}

func (c *client) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readRaw returns the next frame, or the read error.
func (c *client) readRaw() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	return data, err
}

// frame is a decoded server frame with the fields tests look at.
type frame struct {
	Type     string          `json:"type"`
	ID       string          `json:"id"`
	ClientID string          `json:"clientId"`
	Result   json.RawMessage `json:"result"`
	Error    *string         `json:"error"`
	Event    string          `json:"event"`
	Payload  json.RawMessage `json:"payload"`
	State    json.RawMessage `json:"state"`
	Patches  json.RawMessage `json:"patches"`
	raw      []byte
}

func (c *client) read() frame {
	c.t.Helper()
	data, err := c.readRaw()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("decode %s: %v", data, err)
	}
	f.raw = data
	return f
}

// welcome reads the welcome frame and returns the session id.
func (c *client) welcome() string {
	c.t.Helper()
	f := c.read()
	if f.Type != "welcome" || f.ClientID == "" {
		c.t.Fatalf("first frame is %+v, want welcome", f)
	}
	return f.ClientID
}

// result reads frames up to the rpc:result of id.
func (c *client) result(id string) frame {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == "rpc:result" && f.ID == id {
			return f
		}
	}
}

// call sends an rpc and returns its rpc:result.
func (c *client) call(id, actor, actorID, method, input string) frame {
	c.t.Helper()
	c.send(rpcFrame(id, actor, actorID, method, input))
	return c.result(id)
}

func rpcFrame(id, actor, actorID, method, input string) string {
	var in json.RawMessage
	if input != "" {
		in = json.RawMessage(input)
	}
	return string(protocol.AppendRPC(nil, id, actor, actorID, method, in))
}

// closeStatus reads until the socket closes and returns the close error.
func (c *client) closeStatus() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.readRaw()
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			c.t.Fatalf("socket ended without a close frame: %v", err)
		}
	}
}

func (c *client) close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "bye")
}

// received is one inbound message as the test runtime saw it.
type received struct {
	subject string
	header  nats.Header
	raw     []byte
	env     natstransport.InboundEnvelope
}

// runtime stands in for the runtime package: a pull consumer per actor type
// on INBOUND (created as a runtime creates it), which answers rpc frames
// through OUTBOUND, copying the call number (natstransport.HeaderCall) onto
// rpc:results as the runtime does. Methods: "silent" never answers; "twice"
// answers 1 and then 2; "echo" answers {"actor","actorId","subject",
// "input"}; "burst" with input n publishes n events (payload seq) and then
// answers n.
type runtime struct {
	t      *testing.T
	js     jetstream.JetStream
	record bool
	got    chan received
	mu     sync.Mutex
	ccs    []jetstream.ConsumeContext
}

func startRuntime(t *testing.T, srv *natsembed.Server, scope natstransport.Scope, record bool, actorTypes ...string) *runtime {
	t.Helper()
	rt := &runtime{t: t, js: natstest.JetStream(t, srv), record: record, got: make(chan received, 4096)}
	t.Cleanup(rt.stop)
	for _, typ := range actorTypes {
		rt.serve(scope, typ)
	}
	return rt
}

func (rt *runtime) serve(scope natstransport.Scope, actorType string) {
	t := rt.t
	t.Helper()
	cfg, err := natstransport.RuntimeConsumerConfig(scope, actorType, 0)
	if err != nil {
		t.Fatalf("RuntimeConsumerConfig(%q): %v", actorType, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cons, err := natstransport.EnsureConsumer(ctx, rt.js, natstransport.InboundStream, cfg)
	if err != nil {
		t.Fatalf("EnsureConsumer(%q): %v", actorType, err)
	}
	cc, err := cons.Consume(rt.handle, jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	if err != nil {
		t.Fatalf("consume %q: %v", actorType, err)
	}
	rt.mu.Lock()
	rt.ccs = append(rt.ccs, cc)
	rt.mu.Unlock()
}

func (rt *runtime) stop() {
	rt.mu.Lock()
	ccs := rt.ccs
	rt.ccs = nil
	rt.mu.Unlock()
	for _, cc := range ccs {
		cc.Stop()
		<-cc.Closed()
	}
}

func (rt *runtime) handle(msg jetstream.Msg) {
	defer func() { _ = msg.Ack() }()
	env, err := natstransport.DecodeInbound(msg.Data())
	if err != nil {
		rt.t.Errorf("runtime: bad envelope on %s: %v", msg.Subject(), err)
		return
	}
	if rt.record {
		select {
		case rt.got <- received{subject: msg.Subject(), header: msg.Headers(), raw: append([]byte(nil), msg.Data()...), env: env}:
		default:
			rt.t.Errorf("runtime: record buffer full")
		}
	}
	f, err := protocol.Decode(env.Message)
	if err != nil {
		rt.t.Errorf("runtime: bad frame %s: %v", env.Message, err)
		return
	}
	if f.Type != protocol.TypeRPC {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	subj, err := natstransport.OutboundSubject(env.Scope, env.SessionID)
	if err != nil {
		rt.t.Errorf("runtime: outbound subject: %v", err)
		return
	}
	reply := func(frame []byte) {
		out := &nats.Msg{Subject: subj, Data: natstransport.AppendOutbound(nil, env.Scope, env.SessionID, frame)}
		if strings.HasPrefix(string(frame), `{"type":"rpc:result"`) {
			out.Header = nats.Header{natstransport.HeaderCall: {msg.Headers().Get(natstransport.HeaderCall)}}
		}
		if _, err := rt.js.PublishMsg(ctx, out); err != nil {
			rt.t.Errorf("runtime: publish reply: %v", err)
		}
	}
	switch f.Method {
	case "silent": // never answers, as a call lost with its runtime
	case "twice": // answers twice, as a call JetStream redelivered after a crash
		reply(protocol.AppendRPCResult(nil, f.ID, json.RawMessage(`1`)))
		reply(protocol.AppendRPCResult(nil, f.ID, json.RawMessage(`2`)))
	case "burst":
		n, _ := strconv.Atoi(string(f.Input))
		for i := range n {
			reply(protocol.AppendEvent(nil, f.Actor, f.ActorID, "seq", json.RawMessage(strconv.Itoa(i))))
		}
		reply(protocol.AppendRPCResult(nil, f.ID, json.RawMessage(strconv.Itoa(n))))
	default:
		result, _ := json.Marshal(map[string]any{
			"actor": f.Actor, "actorId": f.ActorID, "subject": msg.Subject(), "input": f.Input,
		})
		reply(protocol.AppendRPCResult(nil, f.ID, result))
	}
}

func (rt *runtime) next() received {
	rt.t.Helper()
	select {
	case r := <-rt.got:
		return r
	case <-time.After(waitTimeout):
		rt.t.Fatalf("runtime received nothing within %v", waitTimeout)
		return received{}
	}
}

// echoResult is the result of the test runtime's echo method.
type echoResult struct {
	Actor   string          `json:"actor"`
	ActorID string          `json:"actorId"`
	Subject string          `json:"subject"`
	Input   json.RawMessage `json:"input"`
}

func decodeEcho(t testing.TB, f frame) echoResult {
	t.Helper()
	if f.Error != nil {
		t.Fatalf("rpc %s failed: %s", f.ID, *f.Error)
	}
	var r echoResult
	if err := json.Unmarshal(f.Result, &r); err != nil {
		t.Fatalf("decode echo result %s: %v", f.Result, err)
	}
	return r
}

// get performs a plain HTTP request.
func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), resp.Header
}
