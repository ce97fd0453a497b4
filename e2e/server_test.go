package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/examples/actors/canvas"
	"github.com/zocket-go/zocket/examples/actors/chat"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/web"
)

// A shape is one way of serving the demo app: the demo pages (web.Handler)
// and the WebSocket endpoint, both at "/" of one HTTP port. Every browser
// test runs once per shape.
type shape struct {
	name string
	// start serves the demo app on a loopback port: a free one when port
	// is 0, else that port again (after a stop).
	start func(t *testing.T, port int) *deployment
}

// A deployment is what a shape started.
type deployment struct {
	url  string // base URL of the pages, e.g. http://127.0.0.1:41234
	addr string // host:port of url
	port int
	// stop stops everything the shape started, releasing the port, and
	// returns only after its goroutines have.
	stop func()
	// restartFront, when not nil, restarts only the process that holds the
	// browsers' sockets (the gateway), on the same port, while the actors
	// keep running. Standalone has no such part.
	restartFront func(t *testing.T)
}

// shapes lists the server shapes the browser tests run against:
// standalone, and the distributed shape as "zocket dev" runs it. (The
// hand-wired distributed shape, whose gateway can restart alone, runs only
// the gateway-restart test, to keep the package's runtime down.)
var shapes = []shape{standaloneShape, dev}

// standaloneShape is package standalone serving the demo app.
var standaloneShape = shape{name: "standalone", start: startStandalone}

// forEachShape runs f as a parallel subtest per shape.
func forEachShape(t *testing.T, f func(t *testing.T, sh shape)) {
	t.Helper()
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			f(t, sh)
		})
	}
}

// demoApp returns a fresh app with the three demo actor types.
func demoApp(t *testing.T) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(counter.Actor(), chat.Actor(), canvas.Actor())
	if err != nil {
		t.Fatalf("demo app: %v", err)
	}
	return app
}

// server is a demo server of one shape, on one port across restarts.
type server struct {
	t     *testing.T
	shape shape
	URL   string      // base URL of the pages, no trailing slash
	addr  string      // host:port of URL
	port  int         // kept across restarts
	dep   *deployment // nil while stopped
}

// startServer serves the demo app in the given shape on a free loopback
// port; the server stops when the test ends.
func startServer(t *testing.T, sh shape) *server {
	t.Helper()
	browser(t) // without a browser, skip (or fail) before starting anything
	s := &server{t: t, shape: sh}
	s.use(sh.start(t, 0))
	t.Cleanup(s.Stop)
	return s
}

func (s *server) use(d *deployment) {
	s.dep, s.URL, s.addr, s.port = d, d.url, d.addr, d.port
}

// Stop stops the whole server (every process of its shape, with their
// state); pages see their sockets close. It is a no-op when the server is
// stopped.
func (s *server) Stop() {
	if s.dep != nil {
		s.dep.stop()
		s.dep = nil
	}
}

// Start starts a new server of the same shape on the same port, after
// Stop.
func (s *server) Start() {
	s.t.Helper()
	if s.dep != nil {
		s.t.Fatal("server: Start while running")
	}
	d := s.shape.start(s.t, s.port)
	if d.url != s.URL {
		d.stop()
		s.t.Fatalf("server restarted at %s, want %s", d.url, s.URL)
	}
	s.use(d)
}

// hasFront reports whether the shape has a front (gateway) that restarts
// on its own.
func (s *server) hasFront() bool { return s.dep != nil && s.dep.restartFront != nil }

// RestartFront restarts the gateway alone, on the same port.
func (s *server) RestartFront() {
	s.t.Helper()
	if !s.hasFront() {
		s.t.Fatalf("server: shape %s has no separate front to restart", s.shape.name)
	}
	s.dep.restartFront(s.t)
}

// listenLoopback listens on 127.0.0.1:port (any free port for 0). A port
// that was ours a moment ago may need a moment before it can be bound
// again, so it retries briefly.
func listenLoopback(t *testing.T, port int) net.Listener {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if port == 0 || time.Now().After(deadline) {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // a retry interval, not synchronization
	}
}

// listenerDeployment fills in the addresses of a deployment serving on ln.
func listenerDeployment(ln net.Listener) *deployment {
	a := ln.Addr().(*net.TCPAddr)
	return &deployment{url: "http://" + a.String(), addr: a.String(), port: a.Port}
}

// startStandalone serves the demo app with package standalone.
func startStandalone(t *testing.T, port int) *deployment {
	t.Helper()
	ln := listenLoopback(t, port)
	d := listenerDeployment(ln)
	srv, err := standalone.New(demoApp(t), standalone.Config{
		Pages:        web.Handler(),
		DrainTimeout: 5 * time.Second,
	})
	if err != nil {
		_ = ln.Close()
		t.Fatalf("standalone.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	d.onStop(t, func() {
		cancel()
		waitRole(t, "standalone", done)
	})
	waitHealthy(t, d.url)
	return d
}

// onStop makes f the deployment's stop function, run once: by the test
// (server.Stop) or at the latest when the test ends, also when it failed
// while starting.
func (d *deployment) onStop(t *testing.T, f func()) {
	d.stop = sync.OnceFunc(f)
	t.Cleanup(d.stop)
}

// waitRole waits for a role's Run or Serve to return after its context was
// cancelled, and reports an error it returns.
func waitRole(t *testing.T, role string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", role, err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not return within 15s of cancel", role)
	}
}

// waitHealthy waits until GET /health answers 200.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s/health not ready: %v (last error %v)", base, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
