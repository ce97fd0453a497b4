package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/protocol"
)

// scriptServer is a WebSocket server whose connections the test drives
// frame by frame: it sends welcome, hands each connection to the test, and
// records the frames the client sends.
type scriptServer struct {
	srv    *httptest.Server
	conns  chan *serverConn
	nextID atomic.Int64

	refuse atomic.Bool // refuse handshakes with 503

	closing chan struct{} // closed at cleanup

	mu      sync.Mutex
	all     []*serverConn
	welcome func(id string) []byte                                // first frame; nil: a welcome
	noRead  func(n int64) bool                                    // connection n (from 1) is never read
	onFrame func(sc *serverConn, f protocol.Frame) (handled bool) // answers frames itself
}

// The set* methods change the server's hooks, also while it runs.

func (s *scriptServer) setOnFrame(fn func(sc *serverConn, f protocol.Frame) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onFrame = fn
}

func (s *scriptServer) setWelcome(fn func(id string) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.welcome = fn
}

func (s *scriptServer) setNoRead(fn func(n int64) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRead = fn
}

type serverConn struct {
	ws       *websocket.Conn
	id       string
	req      *http.Request
	frames   chan protocol.Frame
	done     chan struct{} // the connection ended
	closeErr error         // why, once done is closed
}

func newScriptServer(t *testing.T) *scriptServer {
	t.Helper()
	s := &scriptServer{conns: make(chan *serverConn, 64), closing: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(func() {
		close(s.closing)
		s.mu.Lock()
		all := s.all
		s.mu.Unlock()
		for _, sc := range all {
			_ = sc.ws.CloseNow()
		}
		s.srv.Close()
	})
	return s
}

func (s *scriptServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

func (s *scriptServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.refuse.Load() {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(-1)
	n := s.nextID.Add(1)
	sc := &serverConn{
		ws:     ws,
		id:     fmt.Sprintf("c%d", n),
		req:    r,
		frames: make(chan protocol.Frame, 4096),
		done:   make(chan struct{}),
	}
	s.mu.Lock()
	s.all = append(s.all, sc)
	welcome, noRead := s.welcome, s.noRead
	s.mu.Unlock()
	first := protocol.AppendWelcome(nil, sc.id)
	if welcome != nil {
		first = welcome(sc.id)
	}
	if first != nil {
		_ = ws.Write(context.Background(), websocket.MessageText, first)
	}
	s.conns <- sc
	if noRead != nil && noRead(n) {
		<-s.closing
		_ = ws.CloseNow()
		sc.closeErr = errors.New("not read")
		close(sc.done)
		return
	}
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			sc.closeErr = err
			close(sc.done)
			return
		}
		f, err := protocol.Decode(data)
		if err != nil {
			panic(fmt.Sprintf("client sent an invalid frame %s: %v", data, err))
		}
		s.mu.Lock()
		onFrame := s.onFrame
		s.mu.Unlock()
		if onFrame != nil && onFrame(sc, f) {
			continue
		}
		sc.frames <- f
	}
}

// testCtx returns a context that ends well before the test's deadline.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// accept returns the next connection the server accepted.
func (s *scriptServer) accept(t *testing.T) *serverConn {
	t.Helper()
	select {
	case sc := <-s.conns:
		return sc
	case <-testCtx(t).Done():
		t.Fatal("no connection accepted")
		return nil
	}
}

// next returns the next frame the client sent on this connection.
func (sc *serverConn) next(t *testing.T) protocol.Frame {
	t.Helper()
	select {
	case f := <-sc.frames:
		return f
	case <-testCtx(t).Done():
		t.Fatal("no frame received")
		return protocol.Frame{}
	}
}

// expect returns the next frame, which must have type typ.
func (sc *serverConn) expect(t *testing.T, typ string) protocol.Frame {
	t.Helper()
	f := sc.next(t)
	if f.Type != typ {
		t.Fatalf("got a %q frame %+v, want %q", f.Type, f, typ)
	}
	return f
}

// expectNone checks that no frame is waiting (frames the client sent before
// a later, already received frame would be there).
func (sc *serverConn) expectNone(t *testing.T) {
	t.Helper()
	select {
	case f := <-sc.frames:
		t.Fatalf("unexpected frame %+v", f)
	default:
	}
}

func (sc *serverConn) send(t *testing.T, frame []byte) {
	t.Helper()
	if err := sc.ws.Write(testCtx(t), websocket.MessageText, frame); err != nil {
		t.Fatalf("server write: %v", err)
	}
}

func (sc *serverConn) sendJSON(t *testing.T, s string) { sc.send(t, []byte(s)) }

// drop ends the connection abruptly, as a crashed server would.
func (sc *serverConn) drop() { _ = sc.ws.CloseNow() }

// waitDone waits for the connection to end and returns why.
func (sc *serverConn) waitDone(t *testing.T) error {
	t.Helper()
	select {
	case <-sc.done:
		return sc.closeErr
	case <-testCtx(t).Done():
		t.Fatal("connection did not end")
		return nil
	}
}

// fastReconnect is a policy for tests: quick, still with jitter.
var fastReconnect = &client.ReconnectPolicy{MinDelay: 5 * time.Millisecond, MaxDelay: 40 * time.Millisecond}

// dial connects a client (closed at cleanup) with fast reconnects unless
// opts says otherwise.
func dial(t *testing.T, url string, opts *client.Options) *client.Client {
	t.Helper()
	if opts == nil {
		opts = &client.Options{}
	}
	if opts.Reconnect == nil {
		opts.Reconnect = fastReconnect
	}
	c, err := client.Dial(testCtx(t), url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// statusRecorder collects StatusEvents.
type statusRecorder struct {
	ch chan client.StatusEvent
}

func newStatusRecorder() *statusRecorder {
	return &statusRecorder{ch: make(chan client.StatusEvent, 256)}
}

func (r *statusRecorder) record(ev client.StatusEvent) { r.ch <- ev }

// wait returns the next status event, which must have status s.
func (r *statusRecorder) wait(t *testing.T, s client.Status) client.StatusEvent {
	t.Helper()
	select {
	case ev := <-r.ch:
		if ev.Status != s {
			t.Fatalf("got status %v (%+v), want %v", ev.Status, ev, s)
		}
		return ev
	case <-testCtx(t).Done():
		t.Fatalf("no status event, want %v", s)
		return client.StatusEvent{}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the test context ends; for
// conditions with no event to wait on (none of the tests' own
// synchronization relies on it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// recv receives from ch, failing the test if nothing arrives in time.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-testCtx(t).Done():
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}

// waitClosed waits for ch to be closed, discarding values.
func waitClosed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	ctx := testCtx(t)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-ctx.Done():
			t.Fatal("channel not closed")
		}
	}
}
