package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/examples/actors/canvas"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/internal/bench"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/wsconfig"
)

// unlimited are the WebSocket settings of the servers the tests load:
// a few connections make thousands of calls a second each, over the
// default frame rate.
var unlimited = wsconfig.Settings{MaxFrameRate: -1}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Short runs: the tests check that each mode works and reports sane
// figures, not the figures themselves.
const (
	testDuration = 300 * time.Millisecond
	testWarmup   = 100 * time.Millisecond
)

// quiet keeps the tests' own output short; the progress line is exercised
// by TestCommandProgress.
var quiet = bench.Options{ConnectTimeout: 10 * time.Second, Grace: 10 * time.Second}

// startServer runs the counter actor standalone behind httptest and returns
// its ws:// URL.
func startServer(t *testing.T) string {
	t.Helper()
	return startApp(t, counter.Actor())
}

// startApp runs actors standalone behind httptest and returns the ws:// URL.
func startApp(t *testing.T, actors ...zocket.ActorType) string {
	t.Helper()
	return startAppWith(t, unlimited, actors...)
}

// startAppWith is startApp with the given WebSocket settings.
func startAppWith(t *testing.T, ws wsconfig.Settings, actors ...zocket.ActorType) string {
	t.Helper()
	app, err := zocket.NewApp(actors...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := standalone.New(app, standalone.Config{WebSocket: ws})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/"
}

func checkCalls(t *testing.T, r *bench.Report) {
	t.Helper()
	if r.Calls == 0 || r.Errors != 0 || r.Failures != 0 || r.Unanswered != 0 {
		t.Fatalf("calls %d errors %d failures %d unanswered %d (first error %q)", r.Calls, r.Errors, r.Failures, r.Unanswered, r.FirstError)
	}
	l := r.Latency
	if l.Count != r.Calls || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max || l.Min > l.P50 {
		t.Fatalf("latency %+v for %d calls", l, r.Calls)
	}
	if want := float64(r.Calls) / r.DurationS; r.Throughput != want {
		t.Fatalf("throughput %v, want %v", r.Throughput, want)
	}
	if r.CPU.Cores <= 0 || r.Machine.CPUs < 1 {
		t.Fatalf("cpu %+v machine %+v", r.CPU, r.Machine)
	}
}

func TestRPC(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	for _, shared := range []bool{false, true} {
		r, err := bench.RPC(t.Context(), bench.RPCConfig{
			URL:     url,
			Load:    bench.Load{Clients: 4, Shared: shared, Duration: testDuration, Warmup: testWarmup},
			Options: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkCalls(t, r)
		if r.Mode != "rpc" || r.Clients != 4 || r.Shared != shared || r.Actor != "counter" || r.Method != "increment" || r.FrameBytes < 50 {
			t.Fatalf("report header %+v", r)
		}
	}
}

// With a rate, the loop is open: about rate × duration calls, each one's
// latency measured from its intended send time.
func TestRPCRate(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	r, err := bench.RPC(t.Context(), bench.RPCConfig{
		URL:     url,
		Load:    bench.Load{Clients: 3, Duration: 500 * time.Millisecond, Rate: 200},
		Options: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r)
	if r.Calls < 90 || r.Calls > 101 {
		t.Fatalf("%d calls at 200/s for 500ms, want about 100", r.Calls)
	}
}

// Calls answered with an error are counted, and the run goes on.
func TestRPCErrorAnswers(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	r, err := bench.RPC(t.Context(), bench.RPCConfig{
		URL:     url,
		Load:    bench.Load{Clients: 2, Method: "nope", Duration: testDuration},
		Options: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls == 0 || r.Errors != r.Calls || r.FirstError == "" {
		t.Fatalf("calls %d errors %d first %q: want every call to fail", r.Calls, r.Errors, r.FirstError)
	}
	if r.Failures != 0 || r.Unanswered != 0 {
		t.Fatalf("failures %d unanswered %d", r.Failures, r.Unanswered)
	}
}

func TestFanout(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	r, err := bench.Fanout(t.Context(), bench.FanoutConfig{
		URL: url, Subscribers: 8, Rate: 50, Duration: testDuration, Options: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := r.Fanout
	if f.Writes != 15 || f.WriteErrors != 0 || f.Missed != 0 || f.MissedPatches != 0 || f.OutOfOrder != 0 || r.Failures != 0 {
		t.Fatalf("fanout %+v, failures %d, first error %q", f, r.Failures, r.FirstError)
	}
	if f.Expected != 8*15 || f.Delivered != f.Expected || r.Latency.Count != f.Delivered {
		t.Fatalf("expected %d delivered %d latency count %d", f.Expected, f.Delivered, r.Latency.Count)
	}
	if f.DeliveriesPerSec <= 0 || r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P99 || f.Writer.Count != 15 {
		t.Fatalf("figures %+v latency %+v", f, r.Latency)
	}
}

// A write with input, to an actor whose subscription changes nothing: the
// canvas numbers its strokes, so /nextId counts the writes.
func TestFanoutWithInput(t *testing.T) {
	t.Parallel()
	url := startApp(t, canvas.Actor())
	r, err := bench.Fanout(t.Context(), bench.FanoutConfig{
		URL: url, Subscribers: 5, Rate: 50, Duration: testDuration, Options: quiet,
		Actor: "canvas", Method: "stroke", Path: "/nextId",
		Input: json.RawMessage(`{"points":[[0.5,0.5]],"color":"#336699","width":2}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Fanout; f.Writes != 15 || f.WriteErrors != 0 || f.Missed != 0 || f.Delivered != 5*15 || r.Failures != 0 {
		t.Fatalf("fanout %+v, failures %d, first error %q", f, r.Failures, r.FirstError)
	}

	// Without the input the method refuses every write, and the tool says so.
	short := quiet
	short.Grace = 200 * time.Millisecond // no patch is coming
	r, err = bench.Fanout(t.Context(), bench.FanoutConfig{
		URL: url, Subscribers: 2, Rate: 50, Duration: testDuration, Options: short,
		Actor: "canvas", Method: "stroke", Path: "/nextId",
	})
	if err != nil {
		return // refusing the run is fine too
	}
	if r.Fanout.WriteErrors == 0 || !strings.Contains(r.FirstError, "invalid input") {
		t.Fatalf("writes without input: %+v, first error %q", r.Fanout, r.FirstError)
	}
}

// countingServer serves handler behind its own listener and counts the
// connections by remote IP address.
type countingServer struct {
	url string
	mu  sync.Mutex
	ips map[string]int
}

func (c *countingServer) count() (n int, ips map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ips = map[string]int{}
	for ip, k := range c.ips {
		ips[ip] = k
		n += k
	}
	return n, ips
}

func startCounting(t *testing.T, handler http.Handler) *countingServer {
	t.Helper()
	c := &countingServer{ips: map[string]int{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			c.mu.Lock()
			c.ips[host]++
			c.mu.Unlock()
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c.url = "ws" + strings.TrimPrefix(ts.URL, "http") + "/"
	return c
}

// startShared runs the canvas standalone behind two listeners, as two
// gateways of one deployment would serve one set of instances.
func startShared(t *testing.T) (a, b *countingServer) {
	t.Helper()
	app, err := zocket.NewApp(canvas.Actor())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := standalone.New(app, standalone.Config{WebSocket: unlimited})
	if err != nil {
		t.Fatal(err)
	}
	a, b = startCounting(t, srv.Handler()), startCounting(t, srv.Handler())
	t.Cleanup(func() { // before the listeners close (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return a, b
}

var strokeInput = json.RawMessage(`{"points":[[0.5,0.5]],"color":"#336699","width":2}`)

// Subscribers spread over two endpoints in turn, the writer on the first.
func TestFanoutSubscriberURLs(t *testing.T) {
	t.Parallel()
	a, b := startShared(t)
	r, err := bench.Fanout(t.Context(), bench.FanoutConfig{
		URL: a.url, SubscriberURLs: []string{a.url, b.url}, Subscribers: 5, Rate: 50, Duration: testDuration, Options: quiet,
		Actor: "canvas", Method: "stroke", Path: "/nextId", Input: strokeInput,
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Fanout; f.Missed != 0 || f.Delivered != 5*15 || r.Failures != 0 {
		t.Fatalf("fanout %+v, failures %d, first error %q", f, r.Failures, r.FirstError)
	}
	// Subscribers 0, 2, 4 and the writer on a; 1 and 3 on b.
	if na, _ := a.count(); na != 4 {
		t.Errorf("%d connections to the first URL, want 4 (3 subscribers and the writer)", na)
	}
	if nb, _ := b.count(); nb != 2 {
		t.Errorf("%d connections to the second URL, want 2", nb)
	}
	if !strings.Contains(r.Target, a.url) || !strings.Contains(r.Target, b.url) {
		t.Errorf("target %q does not name both URLs", r.Target)
	}

	// The command takes the list as -url.
	stdout, stderr, err := runCommand(t, "fanout", "-url", a.url+","+b.url, "-subscribers", "4", "-rate", "20", "-duration", "300ms",
		"-actor", "canvas", "-method", "stroke", "-path", "/nextId", "-input", string(strokeInput), "-json", "-q")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Fanout == nil || rep.Fanout.Missed != 0 || rep.Fanout.Delivered != 4*6 {
		t.Fatalf("report %s", stdout)
	}
	if nb, _ := b.count(); nb != 4 {
		t.Errorf("%d connections to the second URL after the command, want 2 more", nb)
	}
}

// With LocalAddrs the connections come from those addresses in turn.
func TestLocalAddrs(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 and 127.0.0.3 are local on Linux only")
	}
	app, err := zocket.NewApp(counter.Actor())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := standalone.New(app, standalone.Config{WebSocket: unlimited})
	if err != nil {
		t.Fatal(err)
	}
	s := startCounting(t, srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	opts := quiet
	opts.LocalAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	r, err := bench.Connect(t.Context(), bench.ConnectConfig{URL: s.url, Sessions: 10, Ramp: 1000, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Connect; c.Succeeded != 10 || c.RPCOK != 10 {
		t.Fatalf("connect %+v: %s", c, r.FirstError)
	}
	// The probe and 10 sessions.
	if n, ips := s.count(); n != 11 || ips["127.0.0.2"] != 6 || ips["127.0.0.3"] != 5 {
		t.Fatalf("%d connections from %v, want 6 from 127.0.0.2 and 5 from 127.0.0.3", n, ips)
	}
	_, stderr, err := runCommand(t, "connect", "-url", s.url, "-sessions", "3", "-ramp", "1000", "-hold", "0s",
		"-local-addrs", "127.0.0.4, 127.0.0.5", "-q", "-json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, ips := s.count(); ips["127.0.0.4"] != 2 || ips["127.0.0.5"] != 2 {
		t.Fatalf("connections by address %v, want 2 from 127.0.0.4 and 2 from 127.0.0.5", ips)
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	opts := quiet
	opts.PIDs = []int{os.Getpid()} // the server runs in this process
	r, err := bench.Connect(t.Context(), bench.ConnectConfig{
		URL: url, Sessions: 30, Ramp: 1000, Hold: 50 * time.Millisecond, Options: opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Connect
	if c.Succeeded != 30 || c.Failed != 0 || c.Dropped != 0 || c.RPCOK != 30 || c.RPCFailed != 0 {
		t.Fatalf("connect %+v (first error %q)", c, r.FirstError)
	}
	if c.Connect.Count != 30 || c.Connect.P50 <= 0 || c.RPC.Count != 30 || c.OpenS <= 0 {
		t.Fatalf("latencies %+v %+v", c.Connect, c.RPC)
	}
	if len(r.Procs) != 1 || r.Procs[0].Err != "" || r.Procs[0].RSSBeforeKiB <= 0 || r.Procs[0].RSSAfterKiB <= 0 {
		t.Fatalf("procs %+v", r.Procs)
	}
}

func TestFloorEcho(t *testing.T) {
	t.Parallel()
	r, err := bench.Floor(t.Context(), bench.FloorConfig{
		Kind:    bench.FloorEcho,
		Load:    bench.Load{Clients: 4, Duration: testDuration, Warmup: testWarmup},
		Options: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r)
	if r.Mode != "floor" || r.Kind != "echo" {
		t.Fatalf("mode %q kind %q", r.Mode, r.Kind)
	}
}

func TestFloorJetStream(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{bench.FloorJetStream, bench.FloorJetStreamCore} {
		t.Run(kind+"/embedded", func(t *testing.T) {
			t.Parallel()
			r, err := bench.Floor(t.Context(), bench.FloorConfig{
				Kind:    kind,
				Load:    bench.Load{Clients: 4, Duration: testDuration, Warmup: testWarmup},
				Options: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkCalls(t, r)
			if r.Mode != "floor" || r.Kind != kind || r.FrameBytes < 50 {
				t.Fatalf("mode %q kind %q frame %d", r.Mode, r.Kind, r.FrameBytes)
			}
		})
		t.Run(kind+"/external", func(t *testing.T) {
			t.Parallel()
			srv := natstest.Run(t)
			js := natstest.JetStream(t, srv)
			const clients = 3
			// While the floor runs, see how its callers read their replies:
			// consumers on its outbound stream, or subscriptions.
			var mu sync.Mutex
			maxConsumers, maxSubs := 0, 0
			stop := make(chan struct{})
			var watcher sync.WaitGroup
			watcher.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					n := 0
					names := js.StreamNames(t.Context())
					for name := range names.Name() {
						if !strings.HasPrefix(name, "BENCH_OUT_") {
							continue
						}
						if st, err := js.Stream(t.Context(), name); err == nil {
							if info, err := st.Info(t.Context()); err == nil {
								n = info.State.Consumers
							}
						}
					}
					subs := int(srv.NATS().NumSubscriptions())
					mu.Lock()
					maxConsumers, maxSubs = max(maxConsumers, n), max(maxSubs, subs)
					mu.Unlock()
				}
			})
			r, err := bench.Floor(t.Context(), bench.FloorConfig{
				Kind:    kind,
				NATSURL: srv.ClientURL(),
				Load:    bench.Load{Clients: clients, Duration: 600 * time.Millisecond},
				Options: quiet,
			})
			close(stop)
			watcher.Wait()
			if err != nil {
				t.Fatal(err)
			}
			checkCalls(t, r)
			if r.Kind != kind || !strings.HasPrefix(r.Target, "nats://") {
				t.Fatalf("kind %q target %q", r.Kind, r.Target)
			}
			mu.Lock()
			defer mu.Unlock()
			switch kind {
			case bench.FloorJetStream:
				if maxConsumers < clients {
					t.Errorf("at most %d consumers on the outbound stream during the run, want one per client (%d)", maxConsumers, clients)
				}
			case bench.FloorJetStreamCore:
				if maxConsumers != 0 || maxSubs < clients {
					t.Errorf("%d consumers on the outbound stream and at most %d subscriptions during the run, want 0 and at least %d",
						maxConsumers, maxSubs, clients)
				}
			}
			// The floor removed its streams.
			names := js.StreamNames(t.Context())
			for n := range names.Name() {
				t.Errorf("stream %s left behind", n)
			}
			if err := names.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	load := bench.Load{Clients: 1, Duration: time.Second}
	url := "ws://127.0.0.1:1/"
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"rpc missing url", func() error { _, err := bench.RPC(ctx, bench.RPCConfig{Load: load}); return err }},
		{"rpc bad scheme", func() error { _, err := bench.RPC(ctx, bench.RPCConfig{URL: "ftp://x/", Load: load}); return err }},
		{"rpc no host", func() error { _, err := bench.RPC(ctx, bench.RPCConfig{URL: "ws:///", Load: load}); return err }},
		{"rpc zero clients", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: bench.Load{Duration: time.Second}})
			return err
		}},
		{"rpc zero duration", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: bench.Load{Clients: 1}})
			return err
		}},
		{"rpc negative duration", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: bench.Load{Clients: 1, Duration: -time.Second}})
			return err
		}},
		{"rpc negative rate", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: bench.Load{Clients: 1, Duration: time.Second, Rate: -1}})
			return err
		}},
		{"rpc bad input", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: bench.Load{Clients: 1, Duration: time.Second, Input: []byte("{")}})
			return err
		}},
		{"floor no kind", func() error { _, err := bench.Floor(ctx, bench.FloorConfig{Load: load}); return err }},
		{"floor bad kind", func() error { _, err := bench.Floor(ctx, bench.FloorConfig{Kind: "tcp", Load: load}); return err }},
		{"fanout missing url", func() error {
			_, err := bench.Fanout(ctx, bench.FanoutConfig{Subscribers: 1, Rate: 1, Duration: time.Second})
			return err
		}},
		{"fanout zero subscribers", func() error {
			_, err := bench.Fanout(ctx, bench.FanoutConfig{URL: url, Rate: 1, Duration: time.Second})
			return err
		}},
		{"fanout zero rate", func() error {
			_, err := bench.Fanout(ctx, bench.FanoutConfig{URL: url, Subscribers: 1, Duration: time.Second})
			return err
		}},
		{"fanout bad input", func() error {
			_, err := bench.Fanout(ctx, bench.FanoutConfig{URL: url, Subscribers: 1, Rate: 1, Duration: time.Second, Input: []byte("[")})
			return err
		}},
		{"fanout zero duration", func() error {
			_, err := bench.Fanout(ctx, bench.FanoutConfig{URL: url, Subscribers: 1, Rate: 1})
			return err
		}},
		{"connect zero sessions", func() error {
			_, err := bench.Connect(ctx, bench.ConnectConfig{URL: url, Ramp: 1})
			return err
		}},
		{"connect zero ramp", func() error {
			_, err := bench.Connect(ctx, bench.ConnectConfig{URL: url, Sessions: 1})
			return err
		}},
		{"connect negative hold", func() error {
			_, err := bench.Connect(ctx, bench.ConnectConfig{URL: url, Sessions: 1, Ramp: 1, Hold: -1})
			return err
		}},
		{"invalid local address", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: load, Options: bench.Options{LocalAddrs: []netip.Addr{{}}}})
			return err
		}},
		{"fanout bad subscriber url", func() error {
			_, err := bench.Fanout(ctx, bench.FanoutConfig{URL: url, SubscriberURLs: []string{url, "ftp://x/"}, Subscribers: 1, Rate: 1, Duration: time.Second})
			return err
		}},
		{"negative timeout", func() error {
			_, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: load, Options: bench.Options{ConnectTimeout: -1}})
			return err
		}},
	} {
		if err := tc.run(); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("%s: error %v, want ErrInvalidOption", tc.name, err)
		}
	}
}

// A server that accepts TCP connections but never answers the handshake:
// every mode gives up after the connect timeout.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	held.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		held.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	silent := "ws://" + ln.Addr().String() + "/"

	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "ws://" + refused.Addr().String() + "/"
	refused.Close()

	opts := bench.Options{ConnectTimeout: 300 * time.Millisecond}
	load := bench.Load{Clients: 2, Duration: time.Hour}
	for _, url := range []string{silent, closedURL} {
		for name, run := range map[string]func() error{
			"rpc": func() error {
				_, err := bench.RPC(t.Context(), bench.RPCConfig{URL: url, Load: load, Options: opts})
				return err
			},
			"fanout": func() error {
				_, err := bench.Fanout(t.Context(), bench.FanoutConfig{URL: url, Subscribers: 2, Rate: 1, Duration: time.Hour, Options: opts})
				return err
			},
			"connect": func() error {
				_, err := bench.Connect(t.Context(), bench.ConnectConfig{URL: url, Sessions: 2, Ramp: 1, Hold: time.Hour, Options: opts})
				return err
			},
		} {
			start := time.Now()
			err := run()
			if !errors.Is(err, bench.ErrUnreachable) {
				t.Errorf("%s %s: error %v, want ErrUnreachable", name, url, err)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("%s %s: gave up after %v, connect timeout is %v", name, url, el, opts.ConnectTimeout)
			}
		}
	}
}

// A server that welcomes clients and then never answers: the run still
// ends by itself after duration + grace, and every call in flight is
// counted as unanswered.
func TestStalledServerStops(t *testing.T) {
	t.Parallel()
	var handlers sync.WaitGroup
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if err := ws.Write(r.Context(), websocket.MessageText, protocol.AppendWelcome(nil, "c")); err != nil {
			return
		}
		for { // read and discard, never answer, until the client hangs up
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		ts.Close()
		handlers.Wait()
	})
	start := time.Now()
	r, err := bench.RPC(t.Context(), bench.RPCConfig{
		URL:     ts.URL,
		Load:    bench.Load{Clients: 3, Duration: 200 * time.Millisecond},
		Options: bench.Options{Grace: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("run took %v for 200ms + 200ms grace", el)
	}
	if r.Calls != 0 || r.Unanswered != 3 || r.Failures != 0 || r.NotSent != 0 {
		t.Fatalf("calls %d unanswered %d failures %d not sent %d (%s), want 0, 3, 0, 0", r.Calls, r.Unanswered, r.Failures, r.NotSent, r.FirstError)
	}

	// In an open loop the calls a stuck client never sent are lost too:
	// 3 clients at 30 calls/s, each every 100 ms for 300 ms, so each sends
	// its first call and never the next two.
	r, err = bench.RPC(t.Context(), bench.RPCConfig{
		URL:     ts.URL,
		Load:    bench.Load{Clients: 3, Duration: 300 * time.Millisecond, Rate: 30},
		Options: bench.Options{Grace: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Calls != 0 || r.Unanswered != 3 || r.NotSent != 6 || r.Lost() != 9 {
		t.Fatalf("calls %d unanswered %d not sent %d lost %d, want 0, 3, 6, 9", r.Calls, r.Unanswered, r.NotSent, r.Lost())
	}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "6 scheduled calls not sent") {
		t.Fatalf("the summary does not report the calls not sent:\n%s", out.String())
	}
}

// Cancelling the context ends a run early with the context's error.
func TestCancel(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	var progress syncBuffer
	opts := quiet
	opts.Progress = &progress
	opts.ProgressInterval = 20 * time.Millisecond
	go func() {
		// Cancel once the run is under way: its first progress line.
		for !progress.has("calls") {
			select {
			case <-progress.wrote:
			case <-time.After(10 * time.Second):
			}
		}
		cancel()
	}()
	start := time.Now()
	r, err := bench.RPC(ctx, bench.RPCConfig{URL: url, Load: bench.Load{Clients: 2, Duration: time.Hour}, Options: opts})
	if !errors.Is(err, context.Canceled) || r == nil {
		t.Fatalf("error %v report %v, want context.Canceled and a report", err, r)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("cancelled run took %v", el)
	}
}

// syncBuffer is a bytes.Buffer for concurrent writers that signals writes.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	once  sync.Once
	wrote chan struct{}
}

func (s *syncBuffer) init() { s.once.Do(func() { s.wrote = make(chan struct{}, 1) }) }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) has(sub string) bool {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Contains(s.b.String(), sub)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCommand(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut syncBuffer
	err = bench.Command().Run(t.Context(), cli.Env{Name: "zocket", Stdout: &out, Stderr: &errOut}, args)
	return out.String(), errOut.String(), err
}

func TestCommandJSON(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	for _, tc := range []struct {
		args  []string
		check func(*bench.Report) bool
	}{
		{[]string{"rpc", "-url", url, "-clients", "2", "-duration", "300ms", "-warmup", "0s", "-compare", "-json", "-q"},
			func(r *bench.Report) bool {
				return r.Mode == "rpc" && r.Calls > 0 && r.Floor != nil && r.Floor.Kind == "echo" && r.Floor.Calls > 0 &&
					r.Ratio != nil && r.Ratio.Throughput > 0 && r.Ratio.P50 > 0
			}},
		{[]string{"floor", "-kind", "echo", "-clients", "2", "-duration", "300ms", "-warmup", "0s", "-json", "-q"},
			func(r *bench.Report) bool { return r.Mode == "floor" && r.Calls > 0 }},
		{[]string{"floor", "-kind", "jetstream-core", "-clients", "2", "-duration", "300ms", "-warmup", "0s", "-json", "-q"},
			func(r *bench.Report) bool { return r.Mode == "floor" && r.Kind == "jetstream-core" && r.Calls > 0 }},
		{[]string{"rpc", "-url", url, "-clients", "2", "-duration", "300ms", "-warmup", "0s", "-compare", "-floor", "jetstream-core", "-json", "-q"},
			func(r *bench.Report) bool {
				return r.Calls > 0 && r.Floor != nil && r.Floor.Kind == "jetstream-core" && r.Floor.Calls > 0 && r.Ratio != nil
			}},
		{[]string{"fanout", "-url", url, "-subscribers", "3", "-rate", "20", "-duration", "300ms", "-json", "-q"},
			func(r *bench.Report) bool {
				return r.Fanout != nil && r.Fanout.Missed == 0 && r.Fanout.Delivered == 3*6
			}},
		{[]string{"connect", "-url", url, "-sessions", "5", "-ramp", "500", "-hold", "0s", "-json", "-q", "-pid", "1"},
			func(r *bench.Report) bool {
				return r.Connect != nil && r.Connect.RPCOK == 5 && len(r.Procs) == 1 && r.Procs[0].PID == 1
			}},
		{[]string{"churn", "-url", url, "-rate", "100", "-duration", "100ms", "-json", "-q"},
			func(r *bench.Report) bool {
				return r.Churn != nil && r.Churn.Sessions == 10 && r.Churn.Answered == 10 && r.Churn.Deaf == 0
			}},
	} {
		stdout, stderr, err := runCommand(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, stderr)
		}
		if stderr != "" {
			t.Errorf("%v: -q but stderr %q", tc.args, stderr)
		}
		var r bench.Report
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%v: output is not one Report: %v\n%s", tc.args, err, stdout)
		}
		if dec.More() {
			t.Fatalf("%v: more than one JSON value:\n%s", tc.args, stdout)
		}
		if !tc.check(&r) {
			t.Errorf("%v: unexpected report\n%s", tc.args, stdout)
		}
	}
}

func TestCommandText(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	stdout, stderr, err := runCommand(t, "rpc", "-url", url, "-clients", "2", "-duration", "1200ms", "-warmup", "0s")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"rpc: 2 clients", "p99 ms", "zocket", "tool cpu", "machine: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "rpc measuring") || !strings.Contains(stderr, "tool cpu") {
		t.Errorf("no progress line on stderr: %q", stderr)
	}
}

func TestCommandUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "Modes:"},
		{[]string{"nope"}, `unknown mode "nope"`},
		{[]string{"rpc"}, "-url is required"},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-duration", "0s"}, "duration must be positive"},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-duration", "-1s"}, "duration must be positive"},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-clients", "0"}, "clients must be at least 1"},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-input", "{"}, "not valid JSON"},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-compare", "-floor", "tcp"}, `-floor "tcp"`},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-pid", "abc"}, `-pid "abc"`},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-connect-timeout", "0s"}, "-connect-timeout must be positive"},
		{[]string{"rpc", "-bogus"}, "flag provided but not defined"},
		{[]string{"rpc", "extra"}, "Usage:"},
		{[]string{"fanout", "-url", "ws://127.0.0.1:1/", "-rate", "0"}, "rate must be a positive"},
		{[]string{"connect", "-url", "ws://127.0.0.1:1/", "-ramp", "0"}, "ramp must be a positive"},
		{[]string{"floor", "-kind", "tcp"}, `floor kind "tcp"`},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/,ws://127.0.0.1:2/"}, "only fanout takes a list"},
		{[]string{"connect", "-url", "ws://127.0.0.1:1/,ws://127.0.0.1:2/"}, "only fanout takes a list"},
		{[]string{"fanout", "-url", "ws://127.0.0.1:1/,ftp://x/"}, "scheme must be"},
		{[]string{"connect", "-url", "ws://127.0.0.1:1/", "-local-addrs", "127.0.0.1,nope"}, `-local-addrs "nope"`},
		{[]string{"churn"}, "-url is required"},
		{[]string{"churn", "-url", "ws://127.0.0.1:1/", "-rate", "0"}, "rate must be a positive"},
		{[]string{"churn", "-url", "ws://127.0.0.1:1/", "-duration", "0s"}, "duration must be positive"},
		{[]string{"churn", "-url", "ws://127.0.0.1:1/", "-concurrency", "0"}, "-concurrency must be at least 1"},
		{[]string{"churn", "-url", "ws://127.0.0.1:1/", "-consumer-wait", "0s"}, "-consumer-wait must be positive"},
	} {
		_, stderr, err := runCommand(t, tc.args...)
		if !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: error %v, want cli.ErrUsage", tc.args, err)
		}
		if !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, tc.msg)
		}
	}
}

func TestCommandUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	start := time.Now()
	_, _, err = runCommand(t, "rpc", "-url", url, "-connect-timeout", "500ms", "-q")
	if !errors.Is(err, bench.ErrUnreachable) || errors.Is(err, cli.ErrUsage) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v", el)
	}
}

// The run's failures make the command fail after printing the report.
func TestCommandFailedRun(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	stdout, _, err := runCommand(t, "rpc", "-url", url, "-method", "nope", "-duration", "200ms", "-warmup", "0s", "-q")
	if !errors.Is(err, bench.ErrFailedRun) {
		t.Fatalf("error %v, want ErrFailedRun", err)
	}
	if !strings.Contains(stdout, "!!!") {
		t.Fatalf("report does not flag the errors:\n%s", stdout)
	}
}

// The echo floor against an echo server running elsewhere (here: started
// by the test, as "zocket bench echo" would in another process).
func TestFloorEchoExternal(t *testing.T) {
	t.Parallel()
	srv, err := bench.StartEchoServer("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	r, err := bench.Floor(t.Context(), bench.FloorConfig{
		Kind:    bench.FloorEcho,
		EchoURL: srv.URL(),
		Load:    bench.Load{Clients: 3, Duration: testDuration},
		Options: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, r)
	if !strings.HasPrefix(r.Target, srv.URL()) {
		t.Fatalf("target %q", r.Target)
	}
}

// A server that pings every few milliseconds and drops clients that do not
// answer: every connection of the tool keeps being read, in every phase
// (the fan-out writer while subscribers join, connect's held sessions).
func TestConnectionsAnswerPings(t *testing.T) {
	t.Parallel()
	app, err := zocket.NewApp(counter.Actor())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := standalone.New(app, standalone.Config{WebSocket: wsconfig.Settings{PingInterval: 5 * time.Millisecond, WriteTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	r, err := bench.Connect(t.Context(), bench.ConnectConfig{URL: ts.URL, Sessions: 10, Ramp: 1000, Hold: 300 * time.Millisecond, Options: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Connect; c.Dropped != 0 || c.RPCOK != 10 {
		t.Fatalf("connect %+v: %s", c, r.FirstError)
	}
	fr, err := bench.Fanout(t.Context(), bench.FanoutConfig{URL: ts.URL, Subscribers: 5, Rate: 20, Duration: 200 * time.Millisecond,
		Settle: 200 * time.Millisecond, Options: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if f := fr.Fanout; f.Missed != 0 || fr.Failures != 0 || !f.Settled || f.SettleS < 0.2 {
		t.Fatalf("fanout %+v failures %d: %s", f, fr.Failures, fr.FirstError)
	}
}

// -flood runs the load alone, then beside a connection that floods a
// server with the default frame rate: the flooder's calls over the rate
// are refused with "rate limit exceeded", the clients' never are, and the
// report holds both runs with their ratios.
func TestRPCFlood(t *testing.T) {
	t.Parallel()
	url := startAppWith(t, wsconfig.Settings{MaxFrameRate: 200}, counter.Actor())
	for _, shared := range []bool{false, true} {
		r, err := bench.RPC(t.Context(), bench.RPCConfig{
			URL:     url,
			Load:    bench.Load{Clients: 2, Shared: shared, Rate: 100, Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond},
			Options: quiet,
			Flood:   1,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkCalls(t, r)
		f := r.Flood
		if f == nil || f.Alone == nil || f.Ratio == nil {
			t.Fatalf("shared=%v: flood figures %+v, want the run alone and the ratios", shared, f)
		}
		checkCalls(t, f.Alone)
		if f.Connections != 1 || f.Shared != shared || f.Dials < 1 || f.Served == 0 || f.RateLimited == 0 || f.OtherErrors != 0 || f.Sent < f.Served+f.RateLimited {
			t.Fatalf("shared=%v: flood figures %+v: want calls served, others refused as rate limited, and no other error", shared, f)
		}
		if want := r.Latency.P99 / f.Alone.Latency.P99; f.Ratio.P99 != want {
			t.Fatalf("p99 ratio %v, want %v", f.Ratio.P99, want)
		}
		var text strings.Builder
		if err := r.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"  alone  ", "ratio", "flood: 1 connections calling", "refused as rate limited"} {
			if !strings.Contains(text.String(), want) {
				t.Fatalf("text report lacks %q:\n%s", want, text.String())
			}
		}
	}
	if _, err := bench.RPC(t.Context(), bench.RPCConfig{URL: url, Flood: -1}); !errors.Is(err, protocol.ErrInvalidOption) {
		t.Fatalf("Flood -1: %v, want ErrInvalidOption", err)
	}
}

// A run refused for speed says why, and how to lift the limit.
func TestRPCRateLimitHint(t *testing.T) {
	t.Parallel()
	url := startAppWith(t, wsconfig.Settings{MaxFrameRate: 50}, counter.Actor())
	r, err := bench.RPC(t.Context(), bench.RPCConfig{URL: url, Options: quiet,
		Load: bench.Load{Clients: 1, Duration: 300 * time.Millisecond, Warmup: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || !strings.Contains(text.String(), "-max-frame-rate -1") {
		t.Fatalf("%d errors; report:\n%s", r.Errors, text.String())
	}
}

// The CPU line splits the machine's CPU into the tool, the -pid servers and
// the rest, which is never shown negative: the tool's share and the
// machine's are sampled a moment apart.
func TestCPULine(t *testing.T) {
	for _, tc := range []struct {
		tool, machine float64
		procs         []float64
		want          string
	}{
		{0.30, 1.90, []float64{1.20}, "tool 0.30, -pid servers 1.20, other processes 0.40,"},
		{1.05, 1.00, nil, "tool 1.05, -pid servers 0.00, other processes 0.00,"},
		{0.30, 1.40, []float64{0.70, 0.50}, "tool 0.30, -pid servers 1.20, other processes 0.00,"},
	} {
		r := &bench.Report{Mode: "rpc", Kind: "zocket", Machine: bench.Machine{CPUs: 2},
			CPU: bench.CPU{Cores: tc.tool}, MachineCPU: bench.CPU{Cores: tc.machine}}
		for _, c := range tc.procs {
			r.Procs = append(r.Procs, bench.Proc{PID: 1, Name: "srv", CPU: bench.CPU{Cores: c}})
		}
		var text strings.Builder
		if err := r.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), tc.want) {
			t.Errorf("tool %.2f, machine %.2f, servers %v: report\n%s\nwant %q", tc.tool, tc.machine, tc.procs, text.String(), tc.want)
		}
	}
}
