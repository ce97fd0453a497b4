package integration

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/runtime"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/wsconfig"
)

// waitTimeout bounds every single wait (a dial, a call, a condition):
// generous for -race on a busy two-core machine, never reached when things
// work. testTimeout bounds a whole test (see waitCtx).
const (
	waitTimeout = 60 * time.Second
	testTimeout = 4 * time.Minute
)

// shapes are the ways to serve an app: standalone, and distributed with
// each delivery mode; the conformance suite runs against all of them.
var shapes = []string{"standalone", "distributed", "distributed-consumer"}

// testScope is the (workspace, project) of the distributed shape. It is not
// the default one, so that the scope really travels through gateway and
// runtime config.
var testScope = natstransport.Scope{WorkspaceID: "acme", ProjectID: "demo"}

// waitCtx returns a context that ends with the test or after testTimeout;
// tests derive their waits from it.
func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// deployment is one running shape.
type deployment struct {
	t     *testing.T
	shape string
	URL   string // WebSocket URL of the (first) front

	// Distributed only.
	nats     natstest.URLer
	streams  natstransport.StreamSettings
	gateways []*gatewayRole
	runtime  *runtimeRole
	js       jetstream.JetStream // an observer connection of its own
	delivery natstransport.Delivery
}

// consumersPerSession is how many OUTBOUND consumers an open session
// holds: one in DeliveryConsumer, none in DeliveryCore.
func (d *deployment) consumersPerSession() int {
	if d.delivery == natstransport.DeliveryConsumer {
		return 1
	}
	return 0
}

// deliveries are the delivery modes the distributed tests run in.
var deliveries = []natstransport.Delivery{natstransport.DeliveryCore, natstransport.DeliveryConsumer}

// forEachDelivery runs test in parallel subtests, one per delivery mode.
func forEachDelivery(t *testing.T, test func(*testing.T, natstransport.Delivery)) {
	t.Parallel()
	for _, d := range deliveries {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			test(t, d)
		})
	}
}

// startShape serves app in the named shape and returns its WebSocket URL
// with handles on its parts. Everything stops when the test ends, in
// reverse order of starting.
func startShape(t *testing.T, shape string, app *zocket.App) *deployment {
	t.Helper()
	return startShapeWS(t, shape, app, wsconfig.Settings{})
}

// startShapeWS is startShape with the client-facing host's WebSocket
// settings (the standalone server's or the gateway's).
func startShapeWS(t *testing.T, shape string, app *zocket.App, ws wsconfig.Settings) *deployment {
	t.Helper()
	switch shape {
	case "standalone":
		return startStandaloneWith(t, app, standalone.Config{WebSocket: ws})
	case "distributed":
		return startDistributed(t, app, distOptions{gwConfig: gateway.Config{WebSocket: ws}})
	case "distributed-consumer":
		return startDistributed(t, app, distOptions{delivery: natstransport.DeliveryConsumer, gwConfig: gateway.Config{WebSocket: ws}})
	}
	t.Fatalf("unknown shape %q", shape)
	return nil
}

func startStandalone(t *testing.T, app *zocket.App) *deployment {
	t.Helper()
	return startStandaloneWith(t, app, standalone.Config{})
}

// startStandaloneWith is startStandalone with cfg (a DrainTimeout of 10 s
// unless it sets one).
func startStandaloneWith(t *testing.T, app *zocket.App, cfg standalone.Config) *deployment {
	t.Helper()
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, 10*time.Second)
	srv, err := standalone.New(app, cfg)
	if err != nil {
		t.Fatalf("standalone.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("standalone Shutdown: %v", err)
		}
		hs.Close()
	})
	return &deployment{t: t, shape: "standalone", URL: wsURL(hs.URL)}
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + "/" }

// distOptions varies the distributed shape.
type distOptions struct {
	gateways int                          // zero means 1
	cluster  *natsembed.Cluster           // nil means a single natstest.Run server
	streams  natstransport.StreamSettings // zero means the seed's table
	gwConfig gateway.Config               // template: NATS, Scope and Streams are filled in
	rtConfig runtime.Config               // template: NATS, Scope and Streams are filled in
	delivery natstransport.Delivery       // both roles' Delivery; empty means the default (core)
	nats     natstest.URLer               // the server to use; nil means a new natstest.Run server
}

// startDistributed starts an embedded nats-server (or uses opts.cluster),
// the runtime (waiting for Ready) and the gateways, each role with a NATS
// connection of its own. When the test ends it checks the fabric (streams
// and INBOUND consumers), then stops the gateways, the runtime, the
// connections and the server, in that order.
func startDistributed(t *testing.T, app *zocket.App, opts distOptions) *deployment {
	t.Helper()
	var ns natstest.URLer
	if opts.cluster != nil {
		ns = opts.cluster
	} else if opts.nats != nil {
		ns = opts.nats
	} else {
		ns = natstest.Run(t)
	}
	d := &deployment{t: t, shape: "distributed", nats: ns, streams: opts.streams, delivery: opts.delivery}
	d.js = natstest.JetStream(t, ns)

	rtCfg := opts.rtConfig
	rtCfg.NATS = natstest.Connect(t, ns, nats.Name(t.Name()+"/runtime"))
	rtCfg.Scope = testScope
	rtCfg.Streams = opts.streams
	if opts.delivery != "" {
		rtCfg.Delivery = opts.delivery
		opts.gwConfig.Delivery = opts.delivery
	}
	if rtCfg.DrainTimeout == 0 {
		rtCfg.DrainTimeout = 10 * time.Second
	}
	if rtCfg.ActorMaxAckPending == nil {
		rtCfg.ActorMaxAckPending = actorMaxAckPending
	}
	d.runtime = &runtimeRole{t: t, app: app, cfg: rtCfg}
	d.runtime.start()
	t.Cleanup(d.runtime.close)

	n := max(opts.gateways, 1)
	for range n {
		d.gateways = append(d.gateways, d.startGateway(opts.gwConfig))
	}
	d.URL = d.gateways[0].url
	t.Cleanup(func() {
		if !t.Failed() {
			d.checkFabric(app)
		}
	})
	return d
}

// gatewayRole is one gateway behind its own httptest server.
type gatewayRole struct {
	gw  *gateway.Gateway
	nc  *nats.Conn
	url string
}

func (d *deployment) startGateway(cfg gateway.Config) *gatewayRole {
	t := d.t
	t.Helper()
	// nats.go's default handler prints every slow-consumer notice, which
	// the fault tests cause on purpose; the gateway counts what it loses.
	nc := natstest.Connect(t, d.nats, nats.Name(t.Name()+"/gateway"),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if os.Getenv("ZOCKET_TEST_LOG") != "" && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg.NATS = nc
	cfg.Scope = testScope
	cfg.Streams = d.streams
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("gateway Shutdown: %v", err)
		}
		hs.Close()
	})
	return &gatewayRole{gw: gw, nc: nc, url: wsURL(hs.URL)}
}

// runtimeRole runs a runtime that the test can stop and start again (a new
// runtime.Runtime on the same NATS connection each time, as a restarted
// process would be).
type runtimeRole struct {
	t   *testing.T
	app *zocket.App
	cfg runtime.Config

	mu     sync.Mutex
	rt     *runtime.Runtime
	cancel context.CancelFunc
	done   chan error
	conns  []*nats.Conn // opened by crash
}

// start boots a runtime and waits until it is ready.
func (r *runtimeRole) start() {
	r.t.Helper()
	rt, err := runtime.New(r.app, r.cfg)
	if err != nil {
		r.t.Fatalf("runtime.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	r.mu.Lock()
	r.rt, r.cancel, r.done = rt, cancel, done
	r.mu.Unlock()
	select {
	case <-rt.Ready():
	case err := <-done:
		done <- err // for stop
		r.t.Fatalf("runtime Run returned before Ready: %v", err)
	case <-time.After(waitTimeout):
		r.t.Fatalf("runtime not ready within %v", waitTimeout)
	}
}

// stop cancels the running runtime and waits for Run to return. It does
// nothing when no runtime runs.
func (r *runtimeRole) stop() {
	r.t.Helper()
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel, r.done = nil, nil
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			r.t.Errorf("runtime Run: %v", err)
		}
	case <-time.After(waitTimeout):
		r.t.Errorf("runtime did not stop within %v", waitTimeout)
	}
}

// crash closes the runtime's NATS connection under it, as if its process
// died, and gives the next start a new connection. It does not wait for
// the old Run to return (a dead process is not waited for): the returned
// channel yields Run's error once it has.
func (r *runtimeRole) crash(d *deployment) <-chan error {
	r.t.Helper()
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel, r.done = nil, nil
	r.mu.Unlock()
	if cancel == nil {
		r.t.Fatal("crash: no runtime running")
	}
	r.cfg.NATS.Close()
	nc, err := nats.Connect(d.nats.ClientURL(), nats.Name(r.t.Name()+"/runtime"), nats.MaxReconnects(-1))
	if err != nil {
		r.t.Fatalf("connect: %v", err)
	}
	r.cfg.NATS = nc
	r.mu.Lock()
	r.conns = append(r.conns, nc)
	r.mu.Unlock()
	old := make(chan error, 1)
	go func() {
		defer cancel()
		old <- <-done
	}()
	return old
}

// close stops the runtime and closes the connections crash opened.
func (r *runtimeRole) close() {
	r.stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, nc := range r.conns {
		nc.Close()
	}
}

// stats returns the counters of the current (or last) runtime.
func (r *runtimeRole) stats() runtime.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rt.Stats()
}

// dial connects a Go client to url; it is closed when the test ends.
func dial(t testing.TB, url string, opts *client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rpcMessage returns the server's error message of a failed call, failing
// the test when the call did not fail with an *client.RPCError.
func rpcMessage(t testing.TB, err error) string {
	t.Helper()
	var re *client.RPCError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not an *client.RPCError", err, err)
	}
	return re.Message
}

// waitState waits until the watch's state decoded as T satisfies ok, and
// returns that state.
func waitState[T any](t testing.TB, ctx context.Context, w *client.StateWatch, what string, ok func(T) bool) T {
	t.Helper()
	for {
		var v T
		if err := w.Decode(&v); err != nil {
			t.Fatalf("decode watched state: %v", err)
		}
		if ok(v) {
			return v
		}
		select {
		case _, open := <-w.Changed():
			if !open {
				t.Fatalf("watch closed while waiting for %s; last state %s", what, w.State())
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last state %s", what, ctx.Err(), w.State())
		}
	}
}

// eventually polls cond every 20 ms until it returns true or ctx ends. It is
// for server-side facts that have no notification (consumer lists, stream
// state).
func eventually(t testing.TB, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	testwait.Until(t, ctx, what, cond)
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// consumerNames lists the consumers of a stream.
func (d *deployment) consumerNames(ctx context.Context, stream string) ([]string, error) {
	s, err := d.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	var names []string
	l := s.ConsumerNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	return names, l.Err()
}

// sessionConsumers returns the OUTBOUND consumers of session id (the
// gateway names them {sessionId}_{n}), or of every session when id is "".
func (d *deployment) sessionConsumers(ctx context.Context, id string) ([]string, error) {
	names, err := d.consumerNames(ctx, natstransport.OutboundStream)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if id == "" || strings.HasPrefix(n, id+"_") {
			out = append(out, n)
		}
	}
	return out, nil
}

// inboundMsgs returns how many messages INBOUND holds: calls accepted and
// not yet acked by a runtime.
func (d *deployment) inboundMsgs() uint64 {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := d.js.Stream(ctx, natstransport.InboundStream)
	if err != nil {
		d.t.Fatalf("INBOUND: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		d.t.Fatalf("INBOUND info: %v", err)
	}
	return info.State.Msgs
}
