package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/internal/syncbuf"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/wsconfig"
)

func TestHealthAndPlainRequests(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	code, body, hdr := get(t, r.hs.URL+"/health")
	if code != http.StatusOK || body != `{"ok":true}` || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /health = %d %q (%s), want 200 {\"ok\":true}", code, body, hdr.Get("Content-Type"))
	}
	if code, _, hdr := get(t, r.hs.URL+"/"); code != http.StatusUpgradeRequired || hdr.Get("Upgrade") != "websocket" {
		t.Fatalf("plain GET / = %d (Upgrade %q), want 426", code, hdr.Get("Upgrade"))
	}
	if code, _, _ := get(t, r.hs.URL+"/elsewhere"); code != http.StatusNotFound {
		t.Fatalf("GET /elsewhere = %d, want 404", code)
	}

	pages := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = w.Write([]byte("page " + req.URL.Path))
	})
	p := newRigOn(t, r.srv, gateway.Config{Pages: pages})
	if code, body, _ := get(t, p.hs.URL+"/"); code != http.StatusOK || body != "page /" {
		t.Fatalf("with Pages, GET / = %d %q, want the page", code, body)
	}
	if code, body, _ := get(t, p.hs.URL+"/health"); code != http.StatusOK || body != `{"ok":true}` {
		t.Fatalf("with Pages, GET /health = %d %q", code, body)
	}
	c := dial(t, p.url) // the same path still upgrades
	c.welcome()
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	nc := natstest.Connect(t, srv)
	tests := []struct {
		name string
		cfg  gateway.Config
	}{
		{"no NATS", gateway.Config{}},
		{"negative queue", gateway.Config{NATS: nc, WebSocket: wsconfig.Settings{SendQueueBytes: -1}}},
		{"negative write timeout", gateway.Config{NATS: nc, WebSocket: wsconfig.Settings{WriteTimeout: -1}}},
		{"negative timeout", gateway.Config{NATS: nc, PublishTimeout: -time.Second}},
		{"frame limit at max payload", gateway.Config{NATS: nc, WebSocket: wsconfig.Settings{MaxFrameBytes: nc.MaxPayload()}}},
		{"bad control plane URL", gateway.Config{NATS: nc, ControlPlaneURL: "cp.example.com"}},
		{"half a scope", gateway.Config{NATS: nc, Scope: natstransport.Scope{WorkspaceID: "ws"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := gateway.New(tt.cfg); !errors.Is(err, zocket.ErrInvalidOption) {
				t.Fatalf("New: err = %v, want ErrInvalidOption", err)
			}
		})
	}
	// Streams that cannot be set up fail New with EnsureStreams' error.
	bad := gateway.Config{NATS: nc, Streams: natstransport.StreamSettings{Replicas: 9}}
	if _, err := gateway.New(bad); !errors.Is(err, zocket.ErrInvalidOption) || !strings.Contains(err.Error(), "natstransport: ") {
		t.Fatalf("New with replicas 9: err = %v, want natstransport's ErrInvalidOption", err)
	}
}

func TestNewEnsuresStreams(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{Streams: natstransport.StreamSettings{OutboundMaxConsumers: 1234}})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, name := range []string{natstransport.InboundStream, natstransport.OutboundStream} {
		s, err := r.js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if name == natstransport.OutboundStream && s.CachedInfo().Config.MaxConsumers != 1234 {
			t.Fatalf("OUTBOUND max_consumers = %d, want 1234", s.CachedInfo().Config.MaxConsumers)
		}
	}
}

func TestWelcomeFirstAndConnectedNotice(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	subj, _ := natstransport.SessionConnectedSubject(devScope)
	connected := notices(t, r.nc, subj)
	startRuntime(t, r.srv, devScope, false, "echo")

	before := time.Now().UnixMilli()
	c := dial(t, r.url)
	id := c.welcome() // nothing sent yet: the welcome comes unasked
	after := time.Now().UnixMilli()
	if len(id) != 26 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("session id %q is not 26 base32 characters", id)
	}
	m := nextMsg(t, connected)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		t.Fatalf("decode notice %s: %v", m.Data, err)
	}
	if len(raw) != 4 || string(raw["scope"]) != `{"workspaceId":"local-workspace","projectId":"local-project"}` ||
		string(raw["sessionId"]) != `"`+id+`"` || string(raw["userId"]) != "null" {
		t.Fatalf("session.connected = %s, want scope, sessionId %s, userId null, connectedAt", m.Data, id)
	}
	var at int64
	if err := json.Unmarshal(raw["connectedAt"], &at); err != nil || at < before || at > after {
		t.Fatalf("connectedAt = %s, want ms between %d and %d", raw["connectedAt"], before, after)
	}

	// A client that writes before reading still gets the welcome first.
	c2 := dial(t, r.url)
	c2.send(rpcFrame("1", "echo", "a", "m", ""))
	id2 := c2.welcome()
	if id2 == id {
		t.Fatal("two sessions share an id")
	}
	if f := c2.result("1"); f.Error != nil {
		t.Fatalf("rpc sent before the welcome was read: %s", *f.Error)
	}
}

func TestRPCRoundTripEnvelope(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	rt := startRuntime(t, r.srv, devScope, true, "counter")
	c := dial(t, r.url)
	id := c.welcome()

	sent := ` {"type":"rpc","id":"r1","actor":"counter","actorId":"room.1","method":"add","input":{"n":[1,2,{"x":null}]}}`
	c.send(sent)
	res := decodeEcho(t, c.result("r1"))
	if res.ActorID != "room.1" || string(res.Input) != `{"n":[1,2,{"x":null}]}` {
		t.Fatalf("echo = %+v", res)
	}
	got := rt.next()
	if got.subject != "inbound.local-workspace.local-project.counter.room%2E1" {
		t.Fatalf("subject = %q", got.subject)
	}
	if rid := got.header.Get(natstransport.HeaderRequest); rid != id+"-1" {
		t.Errorf("%s = %q, want %q", natstransport.HeaderRequest, rid, id+"-1")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(got.raw, &raw); err != nil {
		t.Fatalf("decode envelope: %v", err)
	}
	want := map[string]string{
		"scope":     `{"workspaceId":"local-workspace","projectId":"local-project"}`,
		"sessionId": `"` + id + `"`,
		"userId":    `null`,
		"claims":    `{}`,
		"message":   strings.TrimSpace(sent),
	}
	if !bytes.Contains(got.raw, []byte(`"message":`+sent+`}`)) { // the frame's bytes, as sent
		t.Errorf("envelope %s does not carry the frame as sent", got.raw)
	}
	if len(raw) != len(want) {
		t.Fatalf("envelope %s has fields %v, want exactly %v", got.raw, keys(raw), want)
	}
	for k, v := range want {
		if string(raw[k]) != v {
			t.Errorf("envelope %s = %s, want %s", k, raw[k], v)
		}
	}

	// Subscription frames travel the same way (no answer expected).
	c.send(`{"type":"state:sub","actor":"counter","actorId":"room.1"}`)
	got = rt.next()
	if string(got.env.Message) != `{"type":"state:sub","actor":"counter","actorId":"room.1"}` {
		t.Fatalf("state:sub arrived as %s", got.env.Message)
	}
	if rid := got.header.Get(natstransport.HeaderRequest); rid != id+"-2" {
		t.Errorf("%s of the state:sub = %q, want %q", natstransport.HeaderRequest, rid, id+"-2")
	}
	// FramesOut counts the welcome once its write has returned, which can be
	// after the client read it.
	r.waitUntil("2 frames in, 1+ out, 1 session open", func() (bool, string) {
		s := r.gw.Stats()
		return s.FramesIn == 2 && s.FramesOut >= 1 && s.SocketWrites >= 1 && s.SocketWrites <= s.FramesOut && s.SessionsOpen == 1, fmt.Sprintf("%+v", s)
	})
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestOutboundOrder(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "burst")
	c := dial(t, r.url)
	c.welcome()
	const n = 200
	c.send(rpcFrame("b", "burst", "x", "burst", "200"))
	for i := range n {
		f := c.read()
		if f.Type != "event" || string(f.Payload) != itoa(i) {
			t.Fatalf("frame %d = %+v, want event with payload %d", i, f, i)
		}
	}
	if f := c.read(); f.Type != "rpc:result" || string(f.Result) != "200" {
		t.Fatalf("after the events: %+v, want the rpc:result", f)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestUnknownActorType(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()

	start := time.Now()
	f := c.call("1", "ghost", "a", "m", "")
	if f.Error == nil || *f.Error != `unknown actor type: "ghost"` {
		t.Fatalf("rpc to an unserved type = %+v, want unknown actor type error", f)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answer took %v", d)
	}
	c.send(`{"type":"state:sub","id":"w1","actor":"ghost","actorId":"a"}`)
	if f := c.read(); f.Type != "sub:error" || f.ID != "w1" || f.Error == nil || *f.Error != `unknown actor type: "ghost"` {
		t.Fatalf("state:sub to an unserved type answered %s, want a sub:error", f.raw)
	}
	// The same socket keeps working, and nothing is stranded in INBOUND.
	decodeEcho(t, c.call("2", "echo", "a", "m", ""))
	r.waitInboundEmpty()
	if s := r.gw.Stats(); s.UnknownActor != 2 {
		t.Fatalf("UnknownActor = %d, want 2", s.UnknownActor)
	}
	// The type of another scope does not count.
	startRuntime(t, r.srv, natstransport.Scope{WorkspaceID: "other", ProjectID: "local-project"}, false, "other")
	if f := c.call("3", "other", "a", "m", ""); f.Error == nil {
		t.Fatalf("rpc to another scope's type answered %s", f.Result)
	}
}

func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	for _, bad := range []string{`hello`, `[1,2]`, `{"type":"rpc"`, `{"type":"nope"}`, `{"type":"rpc","actor":"echo","actorId":"a","method":"m"}`} {
		c.send(bad) // no id: ignored
	}
	tests := []struct{ frame, id, want string }{
		{`{"type":"nope","id":"u"}`, "u", "unknown frame type"},
		{`{"type":"rpc:result","id":"s","result":1}`, "s", "unknown frame type"},
		{`{"type":"rpc","id":"m","actor":"echo","actorId":"a"}`, "m", `missing field "method"`},
		{`{"type":"rpc","id":"e","actor":"","actorId":"a","method":"m"}`, "e", `missing field "actor"`},
		{`{"type":"rpc","id":"o","actor":"echo","actorId":{},"method":"m"}`, "o", `wrong field type "actorId"`},
	}
	for _, tt := range tests {
		c.send(tt.frame)
		f := c.result(tt.id)
		if f.Error == nil || !strings.Contains(*f.Error, tt.want) {
			t.Errorf("%s: answer %+v, want error containing %q", tt.frame, f, tt.want)
		}
	}
	decodeEcho(t, c.call("ok", "echo", "a", "m", "")) // the connection keeps working
	if s := r.gw.Stats(); s.BadFrames != 10 {
		t.Fatalf("BadFrames = %d, want 10", s.BadFrames)
	}
	r.waitInboundEmpty()
}

func TestOversizeFrame(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{WebSocket: wsconfig.Settings{MaxFrameBytes: 1024}})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	decodeEcho(t, c.call("1", "echo", "a", "m", `"`+strings.Repeat("x", 900)+`"`))
	c.send(rpcFrame("2", "echo", "a", "m", `"`+strings.Repeat("x", 1100)+`"`))
	if code, _ := c.closeStatus(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code = %v, want 1009", code)
	}
}

func TestDefaultFrameLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	limit := r.nc.MaxPayload() - gateway.EnvelopeReserve
	c := dial(t, r.url)
	c.welcome()
	// Just under the limit: delivered (the echo carries it back).
	in := `"` + strings.Repeat("y", int(limit)/2) + `"`
	if res := decodeEcho(t, c.call("1", "echo", "a", "m", in)); len(res.Input) != len(in) {
		t.Fatalf("echo returned %d bytes of input, want %d", len(res.Input), len(in))
	}
	// Over the limit (still under the NATS max payload): 1009.
	c.send(rpcFrame("2", "echo", "a", "m", `"`+strings.Repeat("z", int(limit))+`"`))
	if code, _ := c.closeStatus(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code = %v, want 1009", code)
	}
}

func TestSessionCloseDeletesConsumer(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)

	c := dial(t, r.url)
	id := c.welcome()
	decodeEcho(t, c.call("1", "echo", "a", "m", "")) // the reply came through the consumer
	names := r.consumersOf(id)
	if len(names) != 1 {
		t.Fatalf("consumers of the open session: %v, want one", names)
	}
	// Ephemeral, ordered (no acks, memory, one replica), filtered to exactly
	// the session's subject, delivering all of it: a reply published before
	// the consumer existed is not lost.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cons, err := r.js.Consumer(ctx, natstransport.OutboundStream, names[0])
	if err != nil {
		t.Fatal(err)
	}
	outSubj, _ := natstransport.OutboundSubject(devScope, id)
	cfg := cons.CachedInfo().Config
	if cfg.Durable != "" || cfg.FilterSubject != outSubj || len(cfg.FilterSubjects) != 0 ||
		cfg.DeliverPolicy != jetstream.DeliverAllPolicy || cfg.AckPolicy != jetstream.AckNonePolicy ||
		!cfg.MemoryStorage || cfg.Replicas != 1 || cfg.InactiveThreshold != natstransport.DefaultOutboundInactiveThreshold {
		t.Fatalf("session consumer config = %+v", cfg)
	}
	before := time.Now().UnixMilli()
	c.close()
	m := nextMsg(t, disconnected)
	after := time.Now().UnixMilli()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		t.Fatalf("decode %s: %v", m.Data, err)
	}
	if len(raw) != 3 || string(raw["scope"]) != `{"workspaceId":"local-workspace","projectId":"local-project"}` ||
		string(raw["sessionId"]) != `"`+id+`"` {
		t.Fatalf("session.disconnected = %s", m.Data)
	}
	var at int64
	if err := json.Unmarshal(raw["disconnectedAt"], &at); err != nil || at < before || at > after {
		t.Fatalf("disconnectedAt = %s, want ms between %d and %d", raw["disconnectedAt"], before, after)
	}
	// The consumer is deleted on the server right after the notice.
	r.waitConsumersGone(id)
	if s := r.gw.Stats(); s.SessionsOpen != 0 || s.SessionsTotal != 1 || s.ConsumerLeftovers != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestMalformedOutboundSkipped(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	c := dial(t, r.url)
	id := c.welcome()
	subj, _ := natstransport.OutboundSubject(devScope, id)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, body := range [][]byte{
		[]byte(`not json`),
		[]byte(`{"scope":{"workspaceId":"local-workspace","projectId":"local-project"},"sessionId":"` + id + `"}`),
		natstransport.AppendOutbound(nil, devScope, id, []byte(`{"type":"event","actor":"a","actorId":"b","event":"e","payload":1}`)),
	} {
		if _, err := r.js.Publish(ctx, subj, body); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if f := c.read(); f.Type != "event" || string(f.Payload) != "1" {
		t.Fatalf("got %+v, want only the valid event", f)
	}
	if s := r.gw.Stats(); s.BadOutbound != 2 {
		t.Fatalf("BadOutbound = %d, want 2", s.BadOutbound)
	}
}

func TestPublishFailureAnswersRPC(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{ActorCheckTTL: time.Hour, PublishTimeout: 2 * time.Second})
	rt := startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	decodeEcho(t, c.call("1", "echo", "a", "m", "")) // caches "echo is served"
	rt.stop()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.js.DeleteStream(ctx, natstransport.InboundStream); err != nil {
		t.Fatalf("delete INBOUND: %v", err)
	}
	f := c.call("2", "echo", "a", "m", "")
	if f.Error == nil || !strings.HasPrefix(*f.Error, protocol.ErrNotDelivered.Error()) {
		t.Fatalf("rpc after INBOUND was deleted = %+v, want %q error", f, protocol.ErrNotDelivered)
	}
	if s := r.gw.Stats(); s.PublishFailures != 1 {
		t.Fatalf("PublishFailures = %d, want 1", s.PublishFailures)
	}
	if !r.nc.IsConnected() {
		t.Fatal("the gateway's NATS connection broke")
	}
}

func TestShutdownClosesSessions(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	startRuntime(t, r.srv, devScope, false, "echo")
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)
	var clients []*client
	ids := map[string]bool{}
	for range 3 {
		c := dial(t, r.url)
		ids[c.welcome()] = true
		decodeEcho(t, c.call("1", "echo", "a", "m", ""))
		clients = append(clients, c)
	}
	// The clients keep reading, as live clients do, so each answers the
	// close handshake at once.
	type closed struct {
		code   websocket.StatusCode
		reason string
	}
	closes := make(chan closed, len(clients))
	for _, c := range clients {
		go func() {
			for {
				if _, err := c.readRaw(); err != nil {
					var ce websocket.CloseError
					errors.As(err, &ce)
					closes <- closed{ce.Code, ce.Reason}
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range clients {
		if c := <-closes; c.code != websocket.StatusGoingAway || c.reason != "server shutting down" {
			t.Fatalf("close = %v %q, want 1001 server shutting down", c.code, c.reason)
		}
	}
	for range 3 { // Shutdown returned: every notice is already out
		d, err := natstransport.DecodeSessionDisconnected(nextMsg(t, disconnected).Data)
		if err != nil || !ids[d.SessionID] {
			t.Fatalf("disconnect notice %+v (%v) is not of a closed session", d, err)
		}
		delete(ids, d.SessionID)
	}
	if names := r.outboundConsumers(); len(names) != 0 {
		t.Fatalf("OUTBOUND consumers after Shutdown: %v", names)
	}
	if _, err := tryDial(t, r.url); dialStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown: %v, want 503", err)
	}
	if s := r.gw.Stats(); s.SessionsOpen != 0 {
		t.Fatalf("SessionsOpen = %d after Shutdown", s.SessionsOpen)
	}
}

func TestSlowReaderDisconnected(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{WebSocket: wsconfig.Settings{SendQueueBytes: 1 << 20, WriteTimeout: time.Minute}})
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)
	// A client socket with a small fixed receive buffer (no autotuning), so
	// that what the kernels hold does not depend on the machine's settings.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return errors.Join(err, serr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.url, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &client{t: t, ws: ws}
	id := c.welcome()
	// The client stops reading; the runtime keeps sending far more than the
	// socket buffers (a few MiB at most) and the queue hold.
	out, _ := natstransport.OutboundSubject(devScope, id)
	payload := `"` + strings.Repeat("p", 256<<10) + `"`
	frame := []byte(`{"type":"event","actor":"a","actorId":"b","event":"e","payload":` + payload + `}`)
	for range 64 { // 16 MiB
		if _, err := r.js.Publish(ctx, out, natstransport.AppendOutbound(nil, devScope, id, frame)); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	waitDisconnected(t, disconnected, id)
	if code, reason := c.closeStatus(); code != websocket.StatusPolicyViolation || reason != "send queue full" {
		t.Fatalf("close = %v %q, want 1008 send queue full", code, reason)
	}
	if s := r.gw.Stats(); s.SlowDisconnects != 1 {
		t.Fatalf("SlowDisconnects = %d, want 1", s.SlowDisconnects)
	}
}

func TestPingTimeout(t *testing.T) {
	t.Parallel()
	// Each ping is due within 100 ms, the longer of the two.
	r := newRig(t, gateway.Config{WebSocket: wsconfig.Settings{PingInterval: 50 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}})
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)
	c := dial(t, r.url)
	// The client does not read, so it never answers a ping.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m := nextMsg(t, disconnected)
	if !bytes.Contains(m.Data, []byte(`"sessionId"`)) {
		t.Fatalf("notice %s", m.Data)
	}
	_, data, err := c.ws.Read(ctx)
	if err != nil || !bytes.Contains(data, []byte(`"welcome"`)) {
		t.Fatalf("first frame %s (%v), want the welcome", data, err)
	}
	if code, reason := c.closeStatus(); code != websocket.StatusPolicyViolation || reason != "ping timeout" {
		t.Fatalf("close = %v %q, want 1008 ping timeout", code, reason)
	}
}

func TestServeAndRun(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	nc := natstest.Connect(t, srv)
	gw, err := gateway.New(gateway.Config{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	if code, body, _ := get(t, base+"/health"); code != http.StatusOK || body != `{"ok":true}` {
		t.Fatalf("GET /health = %d %q", code, body)
	}
	c := dial(t, "ws://"+ln.Addr().String()+"/")
	c.welcome()
	cancel()
	if code, _ := c.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("close = %v, want 1001", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return")
	}

	// Run reports a listen error.
	gw2, err := gateway.New(gateway.Config{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gw2.Shutdown(context.Background()) }() // what New started
	if err := gw2.Run(context.Background(), "256.0.0.1:99999"); err == nil {
		t.Fatal("Run on a bad address returned nil")
	}
}

func TestShutdownOutOfTime(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{WebSocket: wsconfig.Settings{WriteTimeout: time.Minute}})
	c := dial(t, r.url)
	c.welcome()
	// The client stops reading, so it never answers the close handshake:
	// Shutdown stops waiting for that on time, and it is no failure, since
	// the client was told 1001 (TestShutdownSeversAStuckClient has one that
	// cannot be told).
	sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer scancel()
	start := time.Now()
	if err := r.gw.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v past its deadline", d)
	}
	if s := r.gw.Stats(); s.SessionsOpen != 0 {
		t.Fatalf("SessionsOpen = %d after Shutdown returned", s.SessionsOpen)
	}
	if code, _ := c.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("close = %v, want 1001", code)
	}
}

func TestLogAttributes(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRig(t, gateway.Config{Logger: log})
	c := dial(t, r.url)
	id := c.welcome()
	c.send(`not json`) // logged as a warning
	c.send(`{"type":"nope","id":"1"}`)
	c.result("1")
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(line, "bad frame ignored") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["component"] != "gateway" || rec["ws"] != "local-workspace" || rec["proj"] != "local-project" || rec["session_id"] != id {
			t.Fatalf("log record %s lacks the session's attributes", line)
		}
		return
	}
	t.Fatalf("no \"bad frame ignored\" record in:\n%s", buf.String())
}

// syncBuffer collects logs written by many goroutines.
type syncBuffer = syncbuf.Buffer

// A client that reads (and so answers pings) stays connected across many
// ping intervals, also when each ping comes long after the last frame's
// write deadline.
func TestPingKeepsReadingClient(t *testing.T) {
	t.Parallel()
	const every = 100 * time.Millisecond
	r := newRig(t, gateway.Config{WebSocket: wsconfig.Settings{PingInterval: every, WriteTimeout: 20 * time.Millisecond}})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	decodeEcho(t, c.call("1", "echo", "a", "m", "")) // sets, then clears, a write deadline
	frames := make(chan []byte, 16)
	errc := make(chan error, 1)
	go func() {
		for {
			data, err := c.readRaw()
			if err != nil {
				errc <- err
				return
			}
			frames <- data
		}
	}()
	// The passage of time is what is tested: eight ping intervals.
	select {
	case err := <-errc:
		t.Fatalf("client dropped: %v", err)
	case <-time.After(8 * every):
	}
	c.send(rpcFrame("2", "echo", "a", "m", ""))
	select {
	case data := <-frames:
		if !bytes.Contains(data, []byte(`"id":"2"`)) {
			t.Fatalf("got %s", data)
		}
	case err := <-errc:
		t.Fatalf("client dropped: %v", err)
	}
	c.close()
	<-errc
}
