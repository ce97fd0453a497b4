package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/web"
)

// dev is the distributed shape as users run it: "zocket dev" (package
// cli's dev command: embedded NATS with JetStream, runtime and gateway in
// one process), run in-process with the demo pages, and reached at the URL
// it prints.
var dev = shape{name: "dev", start: startDev}

// openLine is the line of the dev command's banner with the URL to open.
var openLine = regexp.MustCompile(`(?m)^\s*open\s+(http://\S+?)/?\s`)

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startDev runs "zocket dev -port N -nats-port 0" until the deployment
// stops, with an empty environment (PORT or NATS_URL set for CI must not
// leak in).
func startDev(t *testing.T, port int) *deployment {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		d, err := tryDev(t, port)
		if err == nil {
			return d
		}
		// The port of a stopped server can take a moment to be free again.
		if port == 0 || time.Now().After(deadline) {
			t.Fatalf("zocket dev: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // a retry interval, not synchronization
	}
}

// tryDev starts the dev command once and waits until it serves the URL it
// printed. It returns an error when the command exits before that.
func tryDev(t *testing.T, port int) (*deployment, error) {
	t.Helper()
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := []string{"dev", "-port", strconv.Itoa(port), "-nats-port", "0"}
	go func() {
		done <- cli.Run(ctx, demoApp(t), args,
			cli.Env{Name: "zocket", Stdout: out, Stderr: io.Discard, Getenv: func(string) string { return "" }},
			&cli.Options{Pages: web.Handler()})
	}()
	d := &deployment{}
	stopped := false
	d.onStop(t, func() {
		cancel()
		if !stopped {
			waitRole(t, "zocket dev", done)
		}
	})

	// Wait for the banner.
	timeout := time.After(waitTimeout)
	for {
		if m := openLine.FindStringSubmatch(out.String()); m != nil {
			d.url = m[1]
			break
		}
		select {
		case err := <-done:
			stopped = true
			d.stop()
			return nil, fmt.Errorf("exited before printing its URL: %v\n%s", err, out)
		case <-timeout:
			t.Fatalf("zocket dev printed no URL within %v:\n%s", waitTimeout, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	u, err := url.Parse(d.url)
	if err != nil {
		t.Fatalf("zocket dev printed a bad URL %q: %v", d.url, err)
	}
	d.addr = u.Host
	_, p, err := net.SplitHostPort(u.Host)
	if err == nil {
		d.port, err = strconv.Atoi(p)
	}
	if err != nil || (port != 0 && d.port != port) {
		t.Fatalf("zocket dev printed %s, want a URL with port %d", d.url, port)
	}
	waitHealthy(t, d.url)
	return d, nil
}
