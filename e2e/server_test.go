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
	// start begins serving on ln (taking it over).
	start func(t *testing.T, ln net.Listener) *deployment
}

// A deployment is what a shape started.
type deployment struct {
	// stop stops everything the shape started, releasing the listener's
	// port, and returns only after its goroutines have.
	stop func()
	// restartFront, when not nil, restarts only the process that holds the
	// browsers' sockets (the gateway), on the same port, while the actors
	// keep running. Standalone has no such part.
	restartFront func(t *testing.T)
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
	addr  string      // host:port, kept across restarts
	URL   string      // http://addr
	dep   *deployment // nil while stopped
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
	s.dep = sh.start(t, ln)
	t.Cleanup(s.Stop)
	return s
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

// Start starts a new server of the same shape on the same address, after
// Stop.
func (s *server) Start() {
	s.t.Helper()
	if s.dep != nil {
		s.t.Fatal("server: Start while running")
	}
	ln := listenAgain(s.t, s.addr)
	s.dep = s.shape.start(s.t, ln)
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
func startStandalone(t *testing.T, ln net.Listener) *deployment {
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
	return &deployment{stop: func() {
		cancel()
		waitRole(t, "standalone", done)
	}}
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
