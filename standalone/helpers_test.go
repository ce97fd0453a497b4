package standalone_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	jsonpatch "github.com/evanphx/json-patch/v5"
	"go.uber.org/goleak"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// readTimeout bounds every wait for a frame; generous for -race on a busy
// 2-core machine, never reached when things work.
const readTimeout = 20 * time.Second

// counter is the test actor's state.
type counter struct {
	Count   int    `json:"count"`
	Viewers int    `json:"viewers"`
	Closed  bool   `json:"closed,omitempty"`
	Blob    string `json:"blob,omitempty"`
}

type setInput struct {
	Value int `json:"value"`
}

func (in setInput) Validate() error {
	if in.Value < 0 {
		return errors.New("value must not be negative")
	}
	return nil
}

type blobInput struct {
	Size int `json:"size"`
	Seed int `json:"seed"`
}

type noteInput struct {
	Text   string   `json:"text"`
	To     []string `json:"to,omitempty"`
	Except []string `json:"except,omitempty"`
}

var noted = zocket.NewEvent[string]("noted")

// probe records what the actors' hooks saw, per test.
type probe struct {
	mu          sync.Mutex
	deactivated []string
	disconnects atomic.Int64
}

func (p *probe) deactivatedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := slices.Clone(p.deactivated)
	slices.Sort(ids)
	return ids
}

// testApp builds a fresh app whose hooks report to a fresh probe.
// whoami is what the counter's "whoami" method answers: the identity the
// connection was authenticated with.
type whoami struct {
	User string `json:"user"`
	Role any    `json:"role"`
}

func testApp(t testing.TB) (*zocket.App, *probe) {
	t.Helper()
	p := &probe{}
	a := zocket.NewActor("counter", func() counter { return counter{} }, zocket.Emits(noted))
	zocket.Method(a, "increment", func(s *counter, _ *zocket.Call, _ struct{}) (int, error) {
		s.Count++
		return s.Count, nil
	})
	zocket.Method(a, "set", func(s *counter, _ *zocket.Call, in setInput) (int, error) {
		s.Count = in.Value
		return s.Count, nil
	})
	zocket.Method(a, "get", func(s *counter, _ *zocket.Call, _ struct{}) (counter, error) {
		return *s, nil
	})
	zocket.Method(a, "whoami", func(_ *counter, c *zocket.Call, _ struct{}) (whoami, error) {
		return whoami{User: c.UserID(), Role: c.Claims()["role"]}, nil
	})
	zocket.Method(a, "fail", func(s *counter, _ *zocket.Call, _ struct{}) (int, error) {
		s.Count += 100 // must be rolled back
		return 0, zocket.Errorf("nope")
	})
	zocket.Method(a, "panic", func(s *counter, _ *zocket.Call, _ struct{}) (int, error) {
		s.Count += 100 // must be rolled back
		panic("boom")
	})
	zocket.Method(a, "blob", func(s *counter, _ *zocket.Call, in blobInput) (int, error) {
		s.Blob = strings.Repeat(strconv.Itoa(in.Seed%10), in.Size)
		return len(s.Blob), nil
	})
	zocket.Method(a, "note", func(s *counter, c *zocket.Call, in noteInput) (bool, error) {
		var opts []zocket.EmitOption
		if in.To != nil {
			opts = append(opts, zocket.To(in.To...))
		}
		if in.Except != nil {
			opts = append(opts, zocket.Except(in.Except...))
		}
		return true, noted.Emit(c, in.Text, opts...)
	})
	a.OnConnect(func(s *counter, _ *zocket.Call) error {
		s.Viewers++
		return nil
	})
	a.OnDisconnect(func(s *counter, _ *zocket.Call) error {
		s.Viewers--
		p.disconnects.Add(1)
		return nil
	})
	a.OnDeactivate(func(s *counter, c *zocket.Call) error {
		s.Closed = true
		p.mu.Lock()
		p.deactivated = append(p.deactivated, c.ActorID())
		p.mu.Unlock()
		return nil
	})
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	return app, p
}

// harness is a standalone server behind httptest.
type harness struct {
	t     testing.TB
	srv   *standalone.Server
	http  *httptest.Server
	url   string // ws://…/
	probe *probe
}

func start(t testing.TB, cfg standalone.Config) *harness {
	t.Helper()
	return startWith(t, cfg, false)
}

// startWith starts a harness; with tinySockets, the server's accepted
// sockets get small kernel send buffers, so that a client that stops reading
// backs up into the server's send queue after kilobytes instead of the
// megabytes loopback autotuning allows.
func startWith(t testing.TB, cfg standalone.Config, tinySockets bool) *harness {
	t.Helper()
	app, p := testApp(t)
	srv, err := standalone.New(app, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	if tinySockets {
		ts.Listener = tinyListener{ts.Listener}
	}
	ts.Start()
	t.Cleanup(func() {
		// t.Context() is already cancelled here.
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	return &harness{t: t, srv: srv, http: ts, url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/", probe: p}
}

type tinyListener struct{ net.Listener }

func (l tinyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(8 << 10); err != nil {
			return nil, err
		}
	}
	return c, err
}

// client is a raw protocol client on a real socket. Its methods must be
// called from the test goroutine unless stated otherwise.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	id   string
	next int // rpc ids
}

// dial connects and reads the welcome frame.
func (h *harness) dial() *client {
	h.t.Helper()
	c := dialURL(h.t, h.url)
	f := c.read()
	if f.Type != protocol.TypeWelcome || f.ClientID == "" {
		h.t.Fatalf("first frame = %+v, want welcome with a client id", f)
	}
	c.id = f.ClientID
	return c
}

// dialTiny is dial with a small kernel receive buffer on the client's
// socket (see startWith).
func (h *harness) dialTiny() *client {
	h.t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			if err := tc.SetReadBuffer(8 << 10); err != nil {
				_ = c.Close()
				return nil, err
			}
		}
		return c, err
	}}
	h.t.Cleanup(tr.CloseIdleConnections)
	c := dialURLWith(h.t, h.url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	f := c.read()
	if f.Type != protocol.TypeWelcome || f.ClientID == "" {
		h.t.Fatalf("first frame = %+v, want welcome with a client id", f)
	}
	c.id = f.ClientID
	return c
}

func dialURL(t testing.TB, url string) *client {
	t.Helper()
	return dialURLWith(t, url, nil)
}

func dialURLWith(t testing.TB, url string, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), readTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(-1) // snapshots and patches may be big
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) write(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), readTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write %.80s: %v", frame, err)
	}
}

// readRaw returns the next frame's bytes or the read error.
func (c *client) readRaw() ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), readTimeout)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	return data, err
}

// read returns the next server frame, decoded and checked by the protocol
// package.
func (c *client) read() protocol.Frame {
	c.t.Helper()
	data, err := c.readRaw()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		c.t.Fatalf("server sent an invalid frame %.200s: %v", data, err)
	}
	if protocol.IsClientType(f.Type) {
		c.t.Fatalf("server sent a %q frame", f.Type)
	}
	return f
}

// expect reads the next frame and checks its type.
func (c *client) expect(typ string) protocol.Frame {
	c.t.Helper()
	f := c.read()
	if f.Type != typ {
		c.t.Fatalf("got %s frame %+v, want %s", f.Type, f, typ)
	}
	return f
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// rpc sends an rpc frame and returns its id.
func (c *client) rpc(actorID, method string, input any) string {
	c.t.Helper()
	c.next++
	id := "r" + strconv.Itoa(c.next)
	c.write(string(protocol.AppendRPC(nil, id, "counter", actorID, method, mustJSON(c.t, input))))
	return id
}

// result reads the next frame and checks that it is the rpc:result for id.
func (c *client) result(id string) protocol.Frame {
	c.t.Helper()
	f := c.expect(protocol.TypeRPCResult)
	if f.ID != id {
		c.t.Fatalf("rpc:result for %q, want %q", f.ID, id)
	}
	return f
}

// call does one rpc and expects its result as the very next frame; it
// returns the result, failing on an error.
func (c *client) call(actorID, method string, input any) json.RawMessage {
	c.t.Helper()
	f := c.result(c.rpc(actorID, method, input))
	if f.HasError {
		c.t.Fatalf("%s on %s: error %q", method, actorID, f.Error)
	}
	return f.Result
}

// callErr does one rpc that must fail and returns the error text.
func (c *client) callErr(actor, actorID, method string, input any) string {
	c.t.Helper()
	c.next++
	id := "r" + strconv.Itoa(c.next)
	c.write(string(protocol.AppendRPC(nil, id, actor, actorID, method, mustJSON(c.t, input))))
	f := c.result(id)
	if !f.HasError {
		c.t.Fatalf("%s.%s on %s: result %s, want an error", actor, method, actorID, f.Result)
	}
	return f.Error
}

// sub sends a subscription frame and waits until the instance processed
// it (frames of one client to one instance are handled in order).
func (c *client) sub(typ, actorID string) {
	c.t.Helper()
	c.write(string(protocol.AppendSubscription(nil, typ, "counter", actorID)))
	if typ == protocol.TypeStateSub {
		return // the snapshot is the acknowledgement; the caller reads it
	}
	c.call(actorID, "get", nil)
}

// state reads the instance's state with a get call.
func (c *client) state(actorID string) counter {
	c.t.Helper()
	var s counter
	if err := json.Unmarshal(c.call(actorID, "get", nil), &s); err != nil {
		c.t.Fatalf("decode state: %v", err)
	}
	return s
}

// stream reads frames in the background until the connection ends, so that
// the client answers pings at all times. After stream, use only the channel.
func (c *client) stream() <-chan protocol.Frame {
	frames := make(chan protocol.Frame, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(frames)
		for {
			_, data, err := c.ws.Read(context.Background()) // ends when the cleanup closes the socket
			if err != nil {
				return
			}
			f, err := protocol.Decode(data)
			if err != nil {
				c.t.Errorf("server sent an invalid frame %.200s: %v", data, err)
				return
			}
			select {
			case frames <- f:
			case <-c.t.Context().Done():
				return
			}
		}
	}()
	c.t.Cleanup(func() {
		_ = c.ws.CloseNow()
		<-done
	})
	return frames
}

// recv returns the next frame from a stream, failing when the connection
// ended or no frame came in time.
func recv(t testing.TB, frames <-chan protocol.Frame) protocol.Frame {
	t.Helper()
	select {
	case f, ok := <-frames:
		if !ok {
			t.Fatal("connection ended")
		}
		return f
	case <-time.After(readTimeout):
		t.Fatal("no frame")
	}
	panic("unreachable")
}

// closeStatus reads until the connection ends and returns the close code
// (-1 when it ended without a close frame) and how many frames came first.
func (c *client) closeStatus() (websocket.StatusCode, int) {
	c.t.Helper()
	n := 0
	for {
		_, err := c.readRaw()
		if err != nil {
			return websocket.CloseStatus(err), n
		}
		n++
	}
}

// mirror is a client-side copy of an instance's state kept from a snapshot
// and patches, as a real client keeps it.
type mirror struct {
	t   testing.TB
	doc []byte
}

func newMirror(t testing.TB, snap protocol.Frame) *mirror {
	t.Helper()
	if snap.Type != protocol.TypeStateSnapshot {
		t.Fatalf("got %s, want state:snapshot", snap.Type)
	}
	return &mirror{t: t, doc: snap.State}
}

func (m *mirror) apply(f protocol.Frame) {
	m.t.Helper()
	if f.Type != protocol.TypeStatePatch {
		m.t.Fatalf("got %s frame %+v, want state:patch", f.Type, f)
	}
	p, err := jsonpatch.DecodePatch(f.Patches)
	if err != nil {
		m.t.Fatalf("decode patch %s: %v", f.Patches, err)
	}
	doc, err := p.Apply(m.doc)
	if err != nil {
		m.t.Fatalf("apply patch %s to %s: %v", f.Patches, m.doc, err)
	}
	m.doc = doc
}

func (m *mirror) value() counter {
	m.t.Helper()
	var s counter
	if err := json.Unmarshal(m.doc, &s); err != nil {
		m.t.Fatalf("decode mirror %s: %v", m.doc, err)
	}
	return s
}

// equalJSON compares two JSON documents after normalization.
func equalJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	na, _ := json.Marshal(va)
	nb, _ := json.Marshal(vb)
	return string(na) == string(nb)
}

func itoa(n int) string { return fmt.Sprint(n) }
