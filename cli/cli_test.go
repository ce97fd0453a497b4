package cli_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/natsembed/natstest"
)

func counterApp(t *testing.T) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(counter.Actor())
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// started runs a command in the background and returns the first stdout
// line matching re (its first group), and a function that stops the
// command and returns its error.
func started(t *testing.T, app *zocket.App, env map[string]string, re *regexp.Regexp, args ...string) (string, func() error) {
	t.Helper()
	found, stop := startedAll(t, app, env, []*regexp.Regexp{re}, args...)
	return found[0], stop
}

// startedAll is started for several lines: it returns the first group of
// the first line matching each of res, waiting for all of them.
func startedAll(t *testing.T, app *zocket.App, env map[string]string, res []*regexp.Regexp, args ...string) ([]string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := cli.Run(ctx, app, args, cli.Env{Stdout: pw, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}, nil)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	type match struct {
		i int
		s string
	}
	found := make(chan match, len(res))
	go func() { // drains stdout for as long as the command runs
		seen := make([]bool, len(res))
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			for i, re := range res {
				if m := re.FindStringSubmatch(sc.Text()); m != nil && !seen[i] {
					seen[i] = true
					found <- match{i, m[1]}
				}
			}
		}
	}()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("command did not stop within 30s")
		}
	}
	out := make([]string, len(res))
	deadline := time.After(30 * time.Second)
	for range res {
		select {
		case m := <-found:
			out[m.i] = m.s
		case err := <-done:
			t.Fatalf("%v exited early: %v", args, err)
		case <-deadline:
			t.Fatalf("%v printed no lines matching all of %v", args, res)
		}
	}
	return out, stop
}

var wsLine = regexp.MustCompile(`(ws://[^/\s]+/)`)

func increment(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	n, err := client.CallT[int](ctx, c.Actor("counter", "cli-test"), "increment", nil)
	if err != nil {
		t.Fatalf("increment: %v", err)
	}
	return n
}

func TestServe(t *testing.T) {
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0"}, wsLine, "serve")
	if n := increment(t, url); n != 1 {
		t.Fatalf("increment = %d, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
}

// TestServeLimits: -max-instances reaches the engine (MAX_INSTANCES from
// the environment works the same): with one instance allowed and a client
// holding it, a second instance is refused.
func TestServeLimits(t *testing.T) {
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0", "MAX_FRAME_RATE": "-1"}, wsLine,
		"serve", "-max-instances", "1")
	defer stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := c.Actor("counter", "one").WatchState(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Close()
	_, err = client.CallT[int](ctx, c.Actor("counter", "two"), "increment", nil)
	if err == nil || !strings.Contains(err.Error(), "too many actor instances") {
		t.Fatalf("second instance: err = %v, want too many actor instances", err)
	}
}

// TestServeSubscriptionCap: -max-subscriptions reaches the engine: with
// one allowed, a client's second watch is refused at once.
func TestServeSubscriptionCap(t *testing.T) {
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0"}, wsLine, "serve", "-max-subscriptions", "1")
	defer stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := c.Actor("counter", "one").WatchState(ctx)
	if err != nil {
		t.Fatalf("first watch: %v", err)
	}
	defer w.Close()
	var se *client.SubError
	if _, err := c.Actor("counter", "two").WatchState(ctx); !errors.As(err, &se) || !strings.Contains(se.Message, "too many subscriptions") {
		t.Fatalf("second watch: %v, want too many subscriptions", err)
	}
}

// TestServeJWT: -auth jwt with JWT_SECRET from the environment refuses a
// client without a token and admits one with a valid token.
func TestServeJWT(t *testing.T) {
	secret := "cli test secret"
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0", "JWT_SECRET": secret}, wsLine,
		"serve", "-auth", "jwt", "-jwt-issuer", "cli-test")
	defer stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, url, nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("dial without a token: %v, want a 401 refusal", err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ada", "iss": "cli-test"}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if n := increment(t, url+"?token="+tok); n != 1 {
		t.Fatalf("increment = %d, want 1", n)
	}
}

// TestDev is the README's main command: gateway, runtime and NATS in one
// process, with the seed's streams and consumers visible on NATS.
func TestDev(t *testing.T) {
	url, stop := started(t, counterApp(t), nil, wsLine, "dev", "-port", "0", "-nats-port", "0")
	if n := increment(t, url); n != 1 {
		t.Fatalf("increment = %d, want 1", n)
	}
	if n := increment(t, url); n != 2 {
		t.Fatalf("second increment = %d, want 2", n)
	}
	httpURL := "http" + strings.TrimPrefix(url, "ws")
	for _, path := range []string{"health", "runtime/health"} {
		resp, err := http.Get(httpURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: %s", path, resp.Status)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("dev returned %v after cancel", err)
	}
}

// TestDevWithNATSURL uses an existing server, as production does, and
// checks what `nats stream ls` and `nats consumer ls INBOUND` would show.
func TestDevWithNATSURL(t *testing.T) {
	srv := natstest.Run(t)
	url, stop := started(t, counterApp(t), map[string]string{"NATS_URL": srv.ClientURL(), "PORT": "0"}, wsLine, "dev")
	if n := increment(t, url); n != 1 {
		t.Fatalf("increment = %d, want 1", n)
	}
	js := natstest.JetStream(t, srv)
	ctx := t.Context()
	var streams []string
	for name := range js.StreamNames(ctx).Name() {
		streams = append(streams, name)
	}
	slices.Sort(streams)
	// KV_RUNTIME_LEASES is the key-value bucket in which the serving
	// runtime holds its project's lease.
	if !slices.Equal(streams, []string{"INBOUND", "KV_RUNTIME_LEASES", "OUTBOUND"}) {
		t.Errorf("streams = %v, want INBOUND, KV_RUNTIME_LEASES and OUTBOUND", streams)
	}
	in, err := js.Stream(ctx, "INBOUND")
	if err != nil {
		t.Fatal(err)
	}
	var consumers []string
	for name := range in.ConsumerNames(ctx).Name() {
		consumers = append(consumers, name)
	}
	if !slices.Equal(consumers, []string{"rt-local-workspace-local-project-counter"}) {
		t.Errorf("INBOUND consumers = %v", consumers)
	}
	info, err := in.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Retention != jetstream.WorkQueuePolicy || info.Config.Storage != jetstream.MemoryStorage || info.Config.MaxAge != time.Minute {
		t.Errorf("INBOUND config = %+v", info.Config)
	}
	if err := stop(); err != nil {
		t.Fatalf("dev returned %v after cancel", err)
	}
	// The session's consumer went with its socket.
	out, err := js.Stream(ctx, "OUTBOUND")
	if err != nil {
		t.Fatal(err)
	}
	for name := range out.ConsumerNames(ctx).Name() {
		t.Errorf("OUTBOUND still has consumer %s after shutdown", name)
	}
}

func TestUsageErrors(t *testing.T) {
	app := counterApp(t)
	for _, args := range [][]string{
		nil,
		{"nope"},
		{"serve", "-no-such-flag"},
		{"serve", "extra-arg"},
		{"dev", "-stream-storage", "tape"},
		{"runtime", "-stream-replicas", "many"},
		{"runtime", "-session-sweep", "often"},
		{"runtime", "-session-sweep", "-5s"},
		{"runtime", "-lease-ttl", "soon"},
		{"runtime", "-lease-ttl", "1ms"},
		{"runtime", "-lease-ttl", "1h"},
		{"gateway", "-log-level", "loud", "-nats", "nats://127.0.0.1:1"},
		{"gateway", "-call-timeout", "later", "-nats", "nats://127.0.0.1:1"},
		{"gateway", "-call-timeout", "-1s", "-nats", "nats://127.0.0.1:1"},
		{"gateway", "-max-frame-rate", "fast", "-nats", "nats://127.0.0.1:1"},
		{"runtime", "-max-instances", "many", "-nats", "nats://127.0.0.1:1"},
		{"serve", "-max-instances", "1.5"},
		{"dev", "-max-frame-rate", "1e3"},
		{"serve", "-auth", "magic"},
		{"serve", "-auth", "jwt"}, // no key
		{"serve", "-auth", "control-plane"},
		{"serve", "-jwks-url", "https://keys.example/jwks.json"}, // JWT flags without -auth jwt
		{"serve", "-auth", "jwt", "-jwt-public-key", "/no/such/file.pem"},
		{"serve", "-auth", "jwt", "-jwks-url", "http://keys.example/jwks.json"}, // plain http off loopback
		{"gateway", "-auth", "control-plane", "-nats", "nats://127.0.0.1:1"},
		{"serve", "-tls-cert", "cert.pem"}, // no key
		{"serve", "-otlp-endpoint", "::not a url::"},
		{"serve", "-handler-timeout", "soon"},
		{"serve", "-gogc", "lots"},
		{"runtime", "-gogc", "0", "-nats", "nats://127.0.0.1:1"},
		{"runtime", "-max-subscriptions", "many", "-nats", "nats://127.0.0.1:1"},
		{"serve", "-tls-cert", "/no/such/cert.pem", "-tls-key", "/no/such/key.pem"},
	} {
		err := cli.Run(t.Context(), app, args, cli.Env{Getenv: func(string) string { return "" }}, nil)
		if !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%q: err = %v, want ErrUsage", args, err)
		}
	}
}

func TestUnreachableNATS(t *testing.T) {
	// Valid flags (both forms of -session-sweep and -call-timeout among
	// them) get as far as connecting.
	for _, args := range [][]string{
		{"runtime", "-nats", "nats://127.0.0.1:1", "-api-port", "0", "-session-sweep", "0", "-lease-ttl", "2s"},
		{"runtime", "-nats", "nats://127.0.0.1:1", "-api-port", "0", "-session-sweep", "1m", "-lease-ttl", "2s"},
		{"runtime", "-nats", "nats://127.0.0.1:1", "-api-port", "0", "-api-host", "127.0.0.1", "-max-instances", "-1"},
		{"gateway", "-nats", "nats://127.0.0.1:1", "-port", "0", "-max-frame-rate", "500"},
		{"gateway", "-nats", "nats://127.0.0.1:1", "-port", "0", "-call-timeout", "0"},
		{"gateway", "-nats", "nats://127.0.0.1:1", "-port", "0", "-call-timeout", "5s"},
	} {
		err := cli.Run(t.Context(), counterApp(t), args, cli.Env{Getenv: func(string) string { return "" }}, nil)
		if err == nil || !strings.Contains(err.Error(), "connect to NATS") {
			t.Fatalf("%q: err = %v, want a NATS connection error", args, err)
		}
	}
}

// A flag value that parses but is out of range is a usage error that says
// which flag, once, on stderr, in serve as in the distributed roles.
func TestUsageErrorsPrinted(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "-gogc", "lots"},
		{"serve", "-max-frame-rate", "fast"},
		{"runtime", "-gogc", "0", "-nats", "nats://127.0.0.1:1"},
		{"runtime", "-max-instances", "many", "-nats", "nats://127.0.0.1:1"},
		{"gateway", "-max-frame-rate", "fast", "-nats", "nats://127.0.0.1:1"},
		{"gateway", "-call-timeout", "later", "-nats", "nats://127.0.0.1:1"},
		{"dev", "-max-frame-rate", "1e3"},
		{"dev", "-stream-storage", "tape"},
	} {
		var stderr strings.Builder
		err := cli.Run(t.Context(), counterApp(t), args, cli.Env{Stderr: &stderr, Getenv: func(string) string { return "" }}, nil)
		if !errors.Is(err, cli.ErrUsage) || strings.Count(stderr.String(), args[1]) != 1 {
			t.Errorf("%q: err = %v, stderr %q: want a usage error naming %s once", args, err, stderr.String(), args[1])
		}
	}
}
