package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
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
// and the WebSocket endpoint, both at "/" of one HTTP listener. Every
// browser test runs once per shape.
type shape struct {
	name string
	// start begins serving on ln (taking it over) and returns the function
	// that stops everything it started, releasing ln's port, and returns
	// only after its goroutines have.
	start func(t *testing.T, ln net.Listener) (stop func())
}

// shapes lists the server shapes the browser tests run against.
var shapes = []shape{
	{name: "standalone", start: startStandalone},
}

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

// server is a running demo server of one shape.
type server struct {
	t     *testing.T
	shape shape
	addr  string // host:port, kept across restarts
	URL   string // http://addr
	stop  func() // nil while stopped
}

// startServer serves the demo app in the given shape on a random loopback
// port; the server stops when the test ends.
func startServer(t *testing.T, sh shape) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &server{t: t, shape: sh, addr: ln.Addr().String()}
	s.URL = "http://" + s.addr
	s.stop = sh.start(t, ln)
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server; pages see their sockets close. It is a no-op when
// the server is stopped.
func (s *server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Start starts a new server of the same shape on the same address, after
// Stop.
func (s *server) Start() {
	s.t.Helper()
	if s.stop != nil {
		s.t.Fatal("server: Start while running")
	}
	ln := listenAgain(s.t, s.addr)
	s.stop = s.shape.start(s.t, ln)
}

// listenAgain listens on addr again. The port was ours a moment ago; the
// kernel may need a moment before it can be bound again, so retry briefly.
func listenAgain(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // a retry interval, not synchronization
	}
}

// startStandalone serves the demo app with package standalone.
func startStandalone(t *testing.T, ln net.Listener) func() {
	t.Helper()
	srv, err := standalone.New(demoApp(t), standalone.Config{
		Pages:        web.Handler(),
		DrainTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("standalone.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	waitHealthy(t, "http://"+ln.Addr().String())
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("standalone: serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("standalone: Serve did not return within 15s of cancel")
		}
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
