package wsconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/wsconfig"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait; generous for -race on a busy machine,
// never reached when things work.
const waitTimeout = 20 * time.Second

type result struct {
	code   websocket.StatusCode
	reason string
}

// rig is a Hub behind an httptest server. Each connection runs the way the
// hosts run theirs, on the handler goroutine: Register, before, Start with
// an echo handler, after, wait for the stop, Close.
type rig struct {
	hub     *wsconn.Hub
	url     string
	stopped chan *wsconn.Conn // each connection, once it has begun to stop
	closed  chan result       // each connection's close code and reason
}

func newRig(t *testing.T, cfg wsconn.Config, before, after func(*wsconn.Conn)) *rig {
	t.Helper()
	r := &rig{hub: wsconn.NewHub(cfg), stopped: make(chan *wsconn.Conn, 8), closed: make(chan result, 8)}
	ws := func(w http.ResponseWriter, req *http.Request) {
		if !r.hub.Track() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer r.hub.Untrack()
		c, err := r.hub.Accept(w, req, "c", slog.New(slog.DiscardHandler))
		if err != nil {
			return
		}
		if !r.hub.Register(c) {
			c.Stop(websocket.StatusGoingAway, "shutting down", true)
		}
		if before != nil {
			before(c)
		}
		c.Start(func(data []byte) { c.Send(data) })
		if after != nil {
			after(c)
		}
		<-c.Stopped()
		r.stopped <- c
		code, reason := c.Close()
		r.closed <- result{code, reason}
	}
	srv := httptest.NewServer(wsconn.Handler(ws, func() bool { return !r.hub.Closing() }, func() string { return "" }, nil))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if first, _ := r.hub.BeginShutdown(ctx); first {
			if err := r.hub.Drain(ctx, websocket.StatusGoingAway, "bye", nil); err != nil {
				t.Errorf("drain: %v", err)
			}
			r.hub.EndShutdown()
		}
		srv.Close()
	})
	r.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return r
}

func (r *rig) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

func (r *rig) result(t *testing.T) result {
	t.Helper()
	select {
	case res := <-r.closed:
		return res
	case <-time.After(waitTimeout):
		t.Fatal("connection not closed")
		return result{}
	}
}

func (r *rig) waitStopped(t *testing.T) *wsconn.Conn {
	t.Helper()
	select {
	case c := <-r.stopped:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("connection not stopped")
		return nil
	}
}

// readUntilClose reads the client's frames until the close frame and
// returns them with the close status.
func readUntilClose(t *testing.T, ws *websocket.Conn) ([]string, result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	var frames []string
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read: %v, want a close frame", err)
			}
			return frames, result{ce.Code, ce.Reason}
		}
		frames = append(frames, string(data))
	}
}

func base() wsconn.Config {
	return wsconn.Config{Settings: wsconfig.Settings{
		MaxFrameBytes:  1 << 20,
		SendQueueBytes: 1 << 20,
		WriteTimeout:   10 * time.Second,
	}}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	r := newRig(t, base(), nil, nil)
	ws := r.dial(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := ws.Read(ctx); err != nil || string(data) != "hi" {
		t.Fatalf("read %q, %v; want the echo", data, err)
	}
	if err := ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatal(err)
	}
	if res := r.result(t); res != (result{websocket.StatusNormalClosure, wsconn.ReasonClosedByClient}) {
		t.Fatalf("close = %v, want 1000 closed by client", res)
	}
	if c := r.hub.Counters(); c.FramesIn.Load() != 1 || c.FramesOut.Load() != 1 || c.Queued.Load() != 0 {
		t.Fatalf("counters in %d out %d queued %d, want 1 1 0", c.FramesIn.Load(), c.FramesOut.Load(), c.Queued.Load())
	}
}

// TestSendQuiet: frames queued with SendQuiet go out, in order, once the
// writer is woken; once the connection stops, SendQuiet refuses (and
// counts the frame dropped) so that nobody waits for its wake-up.
func TestSendQuiet(t *testing.T) {
	t.Parallel()
	const n = 100
	refused := make(chan bool, 1)
	r := newRig(t, base(), nil, func(c *wsconn.Conn) {
		for i := range n {
			if !c.SendQuiet([]byte(strconv.Itoa(i))) {
				t.Errorf("SendQuiet refused frame %d of a live connection", i)
			}
		}
		c.Wake()
		c.Stop(websocket.StatusNormalClosure, "done", true)
		refused <- !c.SendQuiet([]byte("late"))
	})
	frames, got := readUntilClose(t, r.dial(t))
	if len(frames) != n || got != (result{websocket.StatusNormalClosure, "done"}) {
		t.Fatalf("client got %d frames and %v, want %d and 1000 done", len(frames), got, n)
	}
	for i, f := range frames {
		if f != strconv.Itoa(i) {
			t.Fatalf("frame %d is %q: out of order", i, f)
		}
	}
	if !<-refused {
		t.Fatal("SendQuiet queued a frame on a stopped connection")
	}
	if d := r.hub.Counters().Dropped.Load(); d != 1 {
		t.Fatalf("dropped %d, want the late frame", d)
	}
}

// The queue bound is checked with the writer not started yet, so that
// nothing drains the queue while it fills.
func TestQueueBounds(t *testing.T) {
	t.Parallel()
	const cost = 6 + wsconn.FrameOverhead // what one "frame!" counts
	for _, tc := range []struct {
		name   string
		frames int // frames accepted
		bytes  int // SendQueueBytes
		first  int // size of the first frame
	}{
		{name: "bytes", frames: 4, bytes: 4 * cost, first: 6},
		{name: "overhead counts", frames: 2, bytes: 2*cost + wsconn.FrameOverhead - 1, first: 6},
		{name: "lone frame over the budget", frames: 1, bytes: 4 * cost, first: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			cfg.SendQueueBytes = tc.bytes
			r := newRig(t, cfg, func(c *wsconn.Conn) {
				c.Send(make([]byte, tc.first))
				for range tc.frames - 1 {
					c.Send([]byte("frame!"))
				}
				if c.IsStopped() {
					t.Errorf("stopped after %d frames, want room for them", tc.frames)
				}
				c.Send([]byte("frame!")) // one too many
				if !c.IsStopped() {
					t.Errorf("not stopped by frame %d", tc.frames+1)
				}
				c.Send([]byte("after")) // dropped
			}, nil)
			ws := r.dial(t)
			frames, got := readUntilClose(t, ws)
			if len(frames) != 0 || got != (result{websocket.StatusPolicyViolation, wsconn.ReasonSlow}) {
				t.Fatalf("client got %d frames and %v, want none and 1008 send queue full", len(frames), got)
			}
			r.result(t)
			c := r.hub.Counters()
			if c.Slow.Load() != 1 || c.Dropped.Load() != int64(tc.frames+2) || c.Queued.Load() != 0 {
				t.Fatalf("slow %d dropped %d queued %d, want 1 %d 0", c.Slow.Load(), c.Dropped.Load(), c.Queued.Load(), tc.frames+2)
			}
		})
	}
}

// A burst of thousands of small frames fits a budget of a few MiB: a
// client that reads gets them all, however far the writer falls behind
// (here it has not even started).
func TestBurstOfSmallFrames(t *testing.T) {
	t.Parallel()
	const n = 10_000
	cfg := base()
	cfg.SendQueueBytes = 4 << 20
	r := newRig(t, cfg, func(c *wsconn.Conn) {
		for i := range n {
			c.Send([]byte(strconv.Itoa(i)))
		}
		if c.IsStopped() {
			t.Errorf("stopped by a burst of %d small frames", n)
		}
		c.Stop(websocket.StatusNormalClosure, "done", true)
	}, nil)
	ws := r.dial(t)
	frames, got := readUntilClose(t, ws)
	if len(frames) != n || got != (result{websocket.StatusNormalClosure, "done"}) {
		t.Fatalf("client got %d frames and %v, want %d and 1000 done", len(frames), got, n)
	}
	for i, f := range frames {
		if f != strconv.Itoa(i) {
			t.Fatalf("frame %d is %q: out of order", i, f)
		}
	}
	c := r.hub.Counters()
	if c.Slow.Load() != 0 || c.Queued.Load() != 0 || c.FramesOut.Load() != n {
		t.Fatalf("slow %d queued %d out %d, want 0 0 %d", c.Slow.Load(), c.Queued.Load(), c.FramesOut.Load(), n)
	}
	// The backlog went out in batches: thousands of these frames fit in
	// one write.
	if w := c.Writes.Load(); w < 1 || w > n/100 {
		t.Fatalf("%d frames took %d writes, want at most %d", n, w, n/100)
	}
}

// fill sends big frames to a client that does not read until the
// connection stops or n frames are queued.
func fill(c *wsconn.Conn, n int) {
	big := make([]byte, 256<<10)
	for i := 0; i < n && !c.IsStopped(); i++ {
		c.Send(big)
	}
}

func TestSlowReaderDisconnected(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.SendQueueBytes = 64 << 20
	// With the writer running, send until the queue overflows: the client
	// does not read, so the writer blocks once the socket buffers are full.
	r := newRig(t, cfg, nil, func(c *wsconn.Conn) { fill(c, 1<<20) })
	ws := r.dial(t)
	r.waitStopped(t)
	_, got := readUntilClose(t, ws)
	if got != (result{websocket.StatusPolicyViolation, wsconn.ReasonSlow}) {
		t.Fatalf("client got %v, want 1008 send queue full", got)
	}
	if res := r.result(t); res != got {
		t.Fatalf("server closed with %v", res)
	}
	if s := r.hub.Counters().Slow.Load(); s != 1 {
		t.Fatalf("Slow = %d, want 1", s)
	}
}

func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	for _, watch := range []bool{false, true} {
		want := wsconn.ReasonWriteFailed // the socket deadline fails the write
		if watch {
			want = wsconn.ReasonWriteTimeout // the watchdog severs the socket
		}
		t.Run(want, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			cfg.SendQueueBytes = 128 << 20
			cfg.WriteTimeout, cfg.WatchWrites = 100*time.Millisecond, watch
			// 64 MiB, far more than the socket buffers: a write blocks.
			r := newRig(t, cfg, func(c *wsconn.Conn) { fill(c, 256) }, nil)
			r.dial(t) // never reads
			if res := r.result(t); res != (result{websocket.StatusAbnormalClosure, want}) {
				t.Fatalf("close = %v, want 1006 %s", res, want)
			}
			if c := r.hub.Counters(); c.Slow.Load() != 0 || c.Queued.Load() != 0 {
				t.Fatalf("slow %d queued %d, want 0 0 (dropped by the timeout, not the queue)", c.Slow.Load(), c.Queued.Load())
			}
		})
	}
}

func TestPingTimeout(t *testing.T) {
	t.Parallel()
	cfg := base()
	// A ping is due every 10 ms and must be answered within 50 ms, the
	// longer of PingInterval and WriteTimeout.
	cfg.PingInterval, cfg.WriteTimeout = 10*time.Millisecond, 50*time.Millisecond
	r := newRig(t, cfg, nil, nil)
	ws := r.dial(t) // does not read, so it answers no ping
	r.waitStopped(t)
	if _, got := readUntilClose(t, ws); got != (result{websocket.StatusPolicyViolation, wsconn.ReasonPing}) {
		t.Fatalf("client got %v, want 1008 ping timeout", got)
	}
	r.result(t)
}

func TestPingsAnswered(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.PingInterval, cfg.WriteTimeout = time.Millisecond, waitTimeout // each pong due within waitTimeout
	pinged := make(chan struct{}, 1)
	r := newRig(t, cfg, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.CloseRead(ctx) // reads, so answers pings
	for range 5 {
		select {
		case <-pinged:
		case <-r.stopped:
			t.Fatal("stopped while answering pings")
		case <-ctx.Done():
			t.Fatal("no ping")
		}
	}
}

func TestFrameTooBig(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.MaxFrameBytes = 10
	r := newRig(t, cfg, nil, nil)
	ws := r.dial(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, make([]byte, 11))
	if _, got := readUntilClose(t, ws); got.code != websocket.StatusMessageTooBig {
		t.Fatalf("client got %v, want 1009", got) // the reason is coder/websocket's
	}
	if res := r.result(t); res != (result{websocket.StatusMessageTooBig, wsconn.ReasonFrameTooBig}) {
		t.Fatalf("close = %v, want 1009 frame too big", res)
	}
}

// Drain flushes the queued frames, closes with the code given and waits
// for the handlers; afterwards the Hub refuses connections.
func TestGracefulClose(t *testing.T) {
	t.Parallel()
	registered := make(chan struct{})
	r := newRig(t, base(), func(c *wsconn.Conn) {
		c.Send([]byte("1"))
		c.Send([]byte("2"))
		close(registered)
	}, nil)
	ws := r.dial(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	select {
	case <-registered:
	case <-ctx.Done():
		t.Fatal("connection not registered")
	}
	if first, err := r.hub.BeginShutdown(ctx); !first || err != nil {
		t.Fatalf("BeginShutdown = %v, %v", first, err)
	}
	drained := make(chan error, 1)
	go func() { drained <- r.hub.Drain(ctx, websocket.StatusGoingAway, "server shutting down", nil) }()
	frames, got := readUntilClose(t, ws)
	if strings.Join(frames, ",") != "1,2" || got != (result{websocket.StatusGoingAway, "server shutting down"}) {
		t.Fatalf("client got %q and %v, want 1,2 and 1001", frames, got)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	r.hub.EndShutdown()
	if first, err := r.hub.BeginShutdown(ctx); first || err != nil {
		t.Fatalf("second BeginShutdown = %v, %v, want false, nil", first, err)
	}
	if _, resp, err := websocket.Dial(ctx, r.url, nil); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v, want 503", err)
	}
}

// A Drain that runs out of time severs the sockets and still waits for the
// handlers.
func TestDrainTimeout(t *testing.T) {
	t.Parallel()
	cfg := base()
	cfg.SendQueueBytes = 128 << 20
	filled := make(chan struct{})
	r := newRig(t, cfg, nil, func(c *wsconn.Conn) {
		fill(c, 256) // blocks the writer
		close(filled)
	})
	r.dial(t) // never reads
	select {
	case <-filled:
	case <-time.After(waitTimeout):
		t.Fatal("connection not filled")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if first, err := r.hub.BeginShutdown(ctx); !first || err != nil {
		t.Fatalf("BeginShutdown = %v, %v", first, err)
	}
	expired := false
	err := r.hub.Drain(ctx, websocket.StatusGoingAway, "server shutting down", func() { expired = true })
	if !errors.Is(err, context.DeadlineExceeded) || !expired {
		t.Fatalf("Drain = %v (expired %v), want the deadline", err, expired)
	}
	r.hub.EndShutdown()
	if res := r.result(t); res != (result{websocket.StatusGoingAway, "server shutting down"}) {
		t.Fatalf("close = %v, want the shutdown's 1001", res)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	healthy := true
	pages := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) })
	ws := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }
	for _, tc := range []struct {
		method, path string
		upgrade      bool
		healthy      bool
		pages        http.Handler
		want         int
	}{
		{"GET", "/health", false, true, nil, http.StatusOK},
		{"HEAD", "/health", false, true, nil, http.StatusOK},
		{"GET", "/health", false, false, nil, http.StatusServiceUnavailable},
		{"POST", "/health", false, true, nil, http.StatusMethodNotAllowed},
		{"GET", "/ready", false, true, nil, http.StatusOK},
		{"GET", "/ready", false, false, nil, http.StatusServiceUnavailable},
		{"POST", "/ready", false, true, nil, http.StatusMethodNotAllowed},
		{"GET", "/", true, true, nil, http.StatusTeapot},
		{"GET", "/", false, true, nil, http.StatusUpgradeRequired},
		{"GET", "/x", false, true, nil, http.StatusNotFound},
		{"GET", "/x", false, true, pages, http.StatusOK},
	} {
		healthy = tc.healthy
		ready := func() string {
			if healthy {
				return ""
			}
			return "not \"ready\""
		}
		h := wsconn.Handler(ws, func() bool { return healthy }, ready, tc.pages)
		body := map[string]string{"/health": `{"ok":%t}`, "/ready": `{"ready":%t}`}[tc.path]
		if tc.path == "/ready" && !tc.healthy {
			body = `{"ready":%t,"reason":"not \"ready\""}`
		}
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.upgrade {
			req.Header.Set("Connection", "keep-alive, Upgrade")
			req.Header.Set("Upgrade", "WebSocket")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s (upgrade %v, healthy %v): %d, want %d", tc.method, tc.path, tc.upgrade, tc.healthy, rec.Code, tc.want)
		}
		if body != "" && tc.method == "GET" && rec.Code != http.StatusMethodNotAllowed {
			if want := fmt.Sprintf(body, tc.healthy); rec.Body.String() != want {
				t.Errorf("GET %s (healthy %v): body %s, want %s", tc.path, tc.healthy, rec.Body, want)
			}
		}
	}
}

// A peer that does not answer the close handshake is severed when the
// drain runs out of time, and that is no failure: it got its 1001.
func TestDrainDoesNotWaitForUnansweredClose(t *testing.T) {
	t.Parallel()
	registered := make(chan struct{})
	r := newRig(t, base(), func(*wsconn.Conn) { close(registered) }, nil)
	ws := r.dial(t) // reads nothing until the drain is over
	select {
	case <-registered:
	case <-time.After(waitTimeout):
		t.Fatal("connection not registered")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if first, err := r.hub.BeginShutdown(ctx); !first || err != nil {
		t.Fatalf("BeginShutdown = %v, %v", first, err)
	}
	if err := r.hub.Drain(ctx, websocket.StatusGoingAway, "server shutting down", nil); err != nil {
		t.Fatalf("Drain = %v, want nil: the close frame went out", err)
	}
	r.hub.EndShutdown()
	if _, got := readUntilClose(t, ws); got != (result{websocket.StatusGoingAway, "server shutting down"}) {
		t.Fatalf("client got %v, want 1001", got)
	}
}

// serve runs a Server for handler on a loopback listener with drain, and
// returns its address and a function that cancels it and returns Serve's
// error.
func serve(t *testing.T, handler http.Handler, drain time.Duration) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &wsconn.Server{Name: "test", Handler: handler, Logger: slog.New(slog.DiscardHandler), DrainTimeout: drain,
		Shutdown: func(context.Context) error { return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(waitTimeout):
			t.Error("Serve did not return")
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}

// A connection that never sent a request (a browser's spare connection)
// does not hold the shutdown: net/http would wait until it is 5 s old.
func TestServeClosesUnusedConnections(t *testing.T) {
	t.Parallel()
	const drain = 3 * time.Second
	addr, stop := serve(t, http.NotFoundHandler(), drain)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A request on another connection proves the server accepted nc's.
	if resp, err := http.Get("http://" + addr + "/x"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
	if took := time.Since(start); took >= drain {
		t.Fatalf("shutdown took %v, the whole drain timeout", took)
	}
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the unused connection is still open")
	}
}

// A request still running when the drain runs out is cut, and that is
// reported; Serve returns on time all the same.
func TestServeCutsRequestsAtTheDeadline(t *testing.T) {
	t.Parallel()
	const drain = 200 * time.Millisecond
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	addr, stop := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(started)
		<-release
	}), drain)
	go func() {
		if resp, err := http.Get("http://" + addr + "/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("request not started")
	}
	start := time.Now()
	err := stop()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 requests cut short") {
		t.Fatalf("Serve = %v, want 1 request cut at the deadline", err)
	}
	if took := time.Since(start); took > drain+2*time.Second {
		t.Fatalf("shutdown took %v with a drain timeout of %v", took, drain)
	}
}
