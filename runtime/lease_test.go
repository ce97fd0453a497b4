package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// launch runs a runtime for app without waiting for it to serve: a
// second runtime of a scope waits as a standby. The test's cleanup stops
// it. The returned connection is the runtime's own, for tests that cut it.
func (e *env) launch(app *zocket.App, mutate func(*runtime.Config)) (*handle, *nats.Conn) {
	e.t.Helper()
	logs := &logBuffer{}
	nc := natstest.Connect(e.t, e.srv)
	cfg := runtime.Config{
		NATS:     nc,
		Scope:    e.scope,
		Delivery: natstransport.DeliveryConsumer,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rt, err := runtime.New(app, cfg)
	if err != nil {
		e.t.Fatalf("runtime.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &handle{rt: rt, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { h.done <- rt.Run(ctx) }()
	e.t.Cleanup(func() {
		if err := h.stop(); err != nil && !h.failOK {
			e.t.Errorf("Run: %v", err)
		}
		if e.t.Failed() {
			e.t.Logf("runtime logs (last lines):\n%s", logs.tail(40))
		}
	})
	return h, nc
}

// waitRole waits until h's runtime reports role.
func waitRole(t testing.TB, h *handle, role runtime.Role) {
	t.Helper()
	eventually(t, "role "+string(role), func() (bool, string) {
		r := h.rt.Role()
		return r == role, string(r)
	})
}

// waitReady waits until h's runtime serves and returns when it did.
func waitReady(t testing.TB, h *handle) time.Time {
	t.Helper()
	select {
	case <-h.rt.Ready():
		return time.Now()
	case err := <-h.done:
		h.once.Do(func() { h.err = err })
		t.Fatalf("Run returned before serving: %v\n%s", err, h.logs.tail(30))
	case <-time.After(waitTimeout):
		t.Fatalf("runtime not serving after %v\n%s", waitTimeout, h.logs.tail(30))
	}
	return time.Time{}
}

// httpGet returns the status and body of path on h's API.
func httpGet(t testing.TB, h *handle, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.rt.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	b, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return rec.Code, body
}

// leaseKV opens the lease bucket the runtimes made.
func (e *env) leaseKV() (jetstream.KeyValue, string) {
	e.t.Helper()
	kv, err := e.js.KeyValue(ctxT(e.t), natstransport.LeaseBucket)
	if err != nil {
		e.t.Fatalf("lease bucket: %v", err)
	}
	key, err := natstransport.LeaseKey(e.scope)
	if err != nil {
		e.t.Fatal(err)
	}
	return kv, key
}

// TestLeaseOneOwner starts two runtimes for one scope: only the first
// consumes, so 200 increments of one counter return 1 to 200 in order and
// the second runtime receives nothing. /health and /ready tell them apart.
func TestLeaseOneOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	a, _ := e.launch(app, func(c *runtime.Config) { c.DeploymentID = "dep-a" })
	waitReady(t, a)
	b, _ := e.launch(app, func(c *runtime.Config) { c.DeploymentID = "dep-b" })
	waitRole(t, b, runtime.RoleStandby)
	eventually(t, "the standby to log the holder", func() (bool, string) {
		return b.logs.contains("standing by: another runtime serves this scope") && b.logs.contains("holder_deployment=dep-a"), b.logs.tail(5)
	})

	for _, tc := range []struct {
		h       *handle
		role    string
		serving bool
		ready   int
	}{{a, "active", true, http.StatusOK}, {b, "standby", false, http.StatusServiceUnavailable}} {
		if code, body := httpGet(t, tc.h, "/health"); code != http.StatusOK || body["role"] != tc.role || body["serving"] != tc.serving {
			t.Errorf("/health of the %s runtime: %d %v", tc.role, code, body)
		}
		if code, body := httpGet(t, tc.h, "/ready"); code != tc.ready || body["role"] != tc.role {
			t.Errorf("/ready of the %s runtime: %d %v, want %d", tc.role, code, body, tc.ready)
		}
	}

	// The lease names its holder and its TTL.
	kv, key := e.leaseKV()
	entry, err := kv.Get(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(entry.Value(), &v); err != nil || v["deploymentId"] != "dep-a" || v["ttlMs"] != float64(5000) || v["runtimeId"] == "" {
		t.Errorf("lease value %s, %v", entry.Value(), err)
	}

	c := e.client("s1")
	const n = 200
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.rpc("counter", "x", "add", addInput{N: 1})
	}
	for i, id := range ids {
		if got := string(c.result(id).Result); got != fmt.Sprint(i+1) {
			t.Fatalf("increment %d returned %s, want %d", i, got, i+1)
		}
	}
	if st := b.rt.Stats(); st.Received != 0 {
		t.Errorf("the standby received %d messages, want none: %+v", st.Received, st)
	}
}

// loadRun makes calls on several counters from one session, one every
// few milliseconds, until stopped, and records every answer. A call
// counts as sent once JetStream stored it.
type loadRun struct {
	t    testing.TB
	e    *env
	c    *client
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	sent    []string
	answers map[string]int
	firstAt map[string]time.Time // when each call was first answered
	read    chan struct{}        // closed when the reader returned
}

func (e *env) startLoad(session string) *loadRun {
	e.t.Helper()
	l := &loadRun{t: e.t, e: e, c: e.client(session), stop: make(chan struct{}), done: make(chan struct{}),
		answers: map[string]int{}, firstAt: map[string]time.Time{}, read: make(chan struct{})}
	go l.reader()
	go l.writer()
	e.t.Cleanup(func() { l.halt(); _ = l.c.sub.Unsubscribe(); <-l.read })
	return l
}

func (l *loadRun) writer() {
	defer close(l.done)
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	subjects := make([]string, 8)
	for k := range subjects {
		subjects[k], _ = natstransport.InboundSubject(l.e.scope, "counter", fmt.Sprint("k", k))
	}
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		id := fmt.Sprintf("%s-%d", l.c.id, i)
		frame := protocol.AppendRPC(nil, id, "counter", fmt.Sprint("k", i%8), "add", json.RawMessage(`{"n":1}`))
		env, err := natstransport.AppendInbound(nil, natstransport.InboundEnvelope{Scope: l.e.scope, SessionID: l.c.id, Message: frame})
		if err != nil {
			l.t.Errorf("envelope: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = l.e.js.Publish(ctx, subjects[i%8], env)
		cancel()
		if err != nil {
			l.t.Logf("call %s not stored: %v", id, err)
			continue
		}
		l.mu.Lock()
		l.sent = append(l.sent, id)
		l.mu.Unlock()
	}
}

func (l *loadRun) reader() {
	defer close(l.read)
	for {
		m, err := l.c.sub.NextMsg(time.Minute)
		if err != nil {
			return // unsubscribed by the cleanup
		}
		env, err := natstransport.DecodeOutbound(m.Data)
		if err != nil {
			l.t.Errorf("outbound: %v", err)
			continue
		}
		f, err := protocol.Decode(env.Message)
		if err != nil || f.Type != protocol.TypeRPCResult {
			continue
		}
		if f.HasError {
			l.t.Errorf("call %s answered with error %q", f.ID, f.Error)
		}
		l.mu.Lock()
		if l.answers[f.ID] == 0 {
			l.firstAt[f.ID] = time.Now()
		}
		l.answers[f.ID]++
		l.mu.Unlock()
	}
}

func (l *loadRun) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// answered returns how many distinct calls were answered.
func (l *loadRun) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.answers)
}

// firstAnswerAfter returns when the first call sent after t0 was answered.
func (l *loadRun) firstAnswerAfter(t0 time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, at := range l.firstAt {
		if at.After(t0) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// settle waits until every sent call is answered and returns how many
// were sent and how many answered more than once.
func (l *loadRun) settle() (sent, twice int) {
	l.t.Helper()
	eventually(l.t, "every stored call to be answered", func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		var missing []string
		for _, id := range l.sent {
			if l.answers[id] == 0 {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d unanswered, e.g. %v", len(missing), len(l.sent), missing[:min(len(missing), 5)])
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.answers {
		if n > 1 {
			twice++
		}
	}
	return len(l.sent), twice
}

// TestLeaseTakeoverAfterCrash kills the active runtime under load (its
// NATS connection is closed: no drain, no release). The standby takes
// over once the lease expires, and every call JetStream stored is
// answered: the crashed runtime's unacked calls are run again.
func TestLeaseTakeoverAfterCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	const ttl = time.Second
	cfg := func(c *runtime.Config) { c.LeaseTTL, c.AckWait = ttl, 2*time.Second }
	a, anc := e.launch(app, cfg)
	a.failOK = true
	waitReady(t, a)
	b, _ := e.launch(app, cfg)
	waitRole(t, b, runtime.RoleStandby)

	l := e.startLoad("s1")
	eventually(t, "calls answered before the crash", func() (bool, string) {
		return l.answered() >= 100, fmt.Sprint(l.answered())
	})
	crash := time.Now()
	anc.Close()
	readyAt := waitReady(t, b)
	took := readyAt.Sub(crash)
	eventually(t, "calls answered after the takeover", func() (bool, string) {
		return b.rt.Stats().Acked >= 100, fmt.Sprintf("%+v", b.rt.Stats())
	})
	gap := l.firstAnswerAfter(readyAt).Sub(crash)
	l.halt()
	sent, twice := l.settle()
	select {
	case err := <-a.done:
		a.once.Do(func() { a.err = err })
		if err == nil {
			t.Error("the crashed runtime's Run returned nil")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the crashed runtime's Run did not return")
	}
	st := b.rt.Stats()
	t.Logf("standby serving %v after the crash, first answer from it after %v (lease TTL %v); %d calls stored, none lost, %d answered twice; new runtime: %d received, %d redelivered",
		took.Round(time.Millisecond), gap.Round(time.Millisecond), ttl, sent, twice, st.Received, st.Redelivered)
	if took > 3*ttl {
		t.Errorf("takeover took %v, want about the lease TTL (%v)", took, ttl)
	}
	if !b.logs.contains("lease taken over from a silent holder") {
		t.Errorf("takeover not logged:\n%s", b.logs.tail(20))
	}
}

// TestLeaseGracefulHandover stops the active runtime gracefully under
// load: it drains, releases the lease, and the standby serves at once,
// long before the lease would expire. No call is lost or run twice.
func TestLeaseGracefulHandover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	a, _ := e.launch(app, nil) // the default TTL, 5 s
	waitReady(t, a)
	b, _ := e.launch(app, nil)
	waitRole(t, b, runtime.RoleStandby)

	l := e.startLoad("s1")
	eventually(t, "calls answered before the stop", func() (bool, string) {
		return l.answered() >= 100, fmt.Sprint(l.answered())
	})
	stop := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- a.stop() }()
	readyAt := waitReady(t, b)
	if err := <-stopped; err != nil {
		t.Fatalf("Run of the stopped runtime: %v", err)
	}
	eventually(t, "calls answered after the handover", func() (bool, string) {
		return b.rt.Stats().Acked >= 100, fmt.Sprintf("%+v", b.rt.Stats())
	})
	l.halt()
	sent, twice := l.settle()
	took := readyAt.Sub(stop)
	t.Logf("standby serving %v after the stop began (lease TTL %v); %d calls stored, none lost, %d answered twice",
		took.Round(time.Millisecond), runtime.DefaultLeaseTTL, sent, twice)
	if took > runtime.DefaultLeaseTTL/2 {
		t.Errorf("handover took %v: the standby waited for the lease to expire instead of taking the released one", took)
	}
	if twice > 0 {
		t.Errorf("%d calls answered twice across a graceful handover, want none", twice)
	}
	if a.rt.Role() != runtime.RoleStopped {
		t.Errorf("stopped runtime's role %q", a.rt.Role())
	}
}

// TestLeaseLostStopsConsuming overwrites the active runtime's lease, as
// another runtime would after a partition: the old holder stops pulling
// at once and stands by, and serves again (with fresh instances) once the
// other holder's lease is gone.
func TestLeaseLostStopsConsuming(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	a, _ := e.launch(app, func(c *runtime.Config) { c.LeaseTTL = time.Second })
	waitReady(t, a)
	c := e.client("s1")
	for i := range 3 {
		if got := string(c.call("counter", "x", "add", addInput{N: 1})); got != fmt.Sprint(i+1) {
			t.Fatalf("add = %s", got)
		}
	}
	e.waitDrained("counter")

	kv, key := e.leaseKV()
	intruder := []byte(`{"runtimeId":"intruder","deploymentId":"elsewhere","ttlMs":60000}`)
	if _, err := kv.Put(ctxT(t), key, intruder); err != nil {
		t.Fatal(err)
	}
	waitRole(t, a, runtime.RoleStandby)
	if !a.logs.contains("lease lost") || !a.logs.contains(`lease taken by runtime \"intruder\"`) {
		t.Errorf("loss not logged:\n%s", a.logs.tail(20))
	}
	// Nobody pulls: once the server has dropped the old pull requests, a
	// call stays in INBOUND.
	eventually(t, "no pull request left", func() (bool, string) {
		info := e.consumerInfo("counter")
		return info.NumWaiting == 0, fmt.Sprintf("%d waiting", info.NumWaiting)
	})
	received := a.rt.Stats().Received
	id := c.rpc("counter", "x", "add", addInput{N: 1})
	if info := e.consumerInfo("counter"); info.NumPending != 1 || info.NumAckPending != 0 || info.NumWaiting != 0 {
		t.Fatalf("consumer after the loss: pending %d, ack pending %d, waiting %d; want the call pending and nobody pulling",
			info.NumPending, info.NumAckPending, info.NumWaiting)
	}
	if got := a.rt.Stats().Received; got != received {
		t.Fatalf("the runtime received %d messages after losing its lease", got-received)
	}

	// The intruder goes away: the runtime takes the lease again, with a
	// fresh engine, and answers the call that waited.
	if err := kv.Delete(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	if got := string(c.result(id).Result); got != "1" {
		t.Fatalf("add after the new term = %s, want 1 (a fresh instance)", got)
	}
	if a.rt.Role() != runtime.RoleActive {
		t.Errorf("role %q, want active", a.rt.Role())
	}
}

// TestLeaseUnconfirmedStopsConsuming deletes the lease bucket under the
// active runtime, so that its refreshes fail without telling whether
// another runtime took over: it stops consuming before its lease would
// have expired, then makes the bucket again and serves again.
func TestLeaseUnconfirmedStopsConsuming(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	const ttl = time.Second
	a, _ := e.launch(app, func(c *runtime.Config) { c.LeaseTTL = ttl })
	waitReady(t, a)
	c := e.client("s1")
	c.call("counter", "x", "add", addInput{N: 5})
	if err := e.js.DeleteKeyValue(ctxT(t), natstransport.LeaseBucket); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the loss to be logged", func() (bool, string) {
		return a.logs.contains("lease not confirmed for"), a.logs.tail(5)
	})
	eventually(t, "the runtime to serve again", func() (bool, string) {
		return a.rt.Role() == runtime.RoleActive && a.logs.contains("standing by again"), string(a.rt.Role())
	})
	if got := string(c.call("counter", "x", "add", addInput{N: 1})); got != "1" {
		t.Fatalf("add after the new term = %s, want 1 (a fresh instance)", got)
	}
	if !a.logs.contains("lease refresh failed") {
		t.Errorf("failed refresh not logged:\n%s", a.logs.tail(20))
	}
}

// TestDurableClashRefusesBoot: scopes (a-b, c) and (a, b-c) spell the same
// durable name for an actor type. The second runtime refuses to boot,
// naming the scope whose consumer holds the name, and the first keeps
// its consumer.
func TestDurableClashRefusesBoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ledger := zocket.NewActor("ledger", func() int { return 0 })
	zocket.Method(ledger, "add", func(s *int, _ *zocket.Call, in addInput) (int, error) { *s += in.N; return *s, nil })
	app := newApp(t, ledger)
	first := natstransport.Scope{WorkspaceID: "a-b", ProjectID: "c"}
	e.start(app, func(c *runtime.Config) { c.Scope = first })

	h, err := e.startErr(app, func(c *runtime.Config) { c.Scope = natstransport.Scope{WorkspaceID: "a", ProjectID: "b-c"} })
	if err == nil {
		t.Fatal("the second scope's runtime booted on the first one's durable")
	}
	h.failOK = true
	var clash *natstransport.DurableClashError
	if !errors.As(err, &clash) {
		t.Fatalf("boot error %v, want a DurableClashError", err)
	}
	for _, want := range []string{
		`rt-a-b-c-ledger already serves workspace "a-b", project "c", actor type "ledger"`,
		`cannot serve workspace "a", project "b-c"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("boot error %q does not say %q", err, want)
		}
	}
	if !h.logs.contains("boot failed") {
		t.Errorf("boot failure not logged:\n%s", h.logs)
	}
	e.scope = first
	if f := e.consumerInfo("ledger").Config.FilterSubject; f != "inbound.a-b.c.ledger.>" {
		t.Errorf("the first scope's consumer was re-pointed to %q", f)
	}
}

// TestLeaseTTLBounds checks the LeaseTTL validation.
func TestLeaseTTLBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	for _, ttl := range []time.Duration{-time.Second, runtime.MinLeaseTTL / 2, runtime.MaxLeaseTTL + time.Second} {
		if _, err := runtime.New(app, runtime.Config{NATS: e.nc, LeaseTTL: ttl}); !errors.Is(err, zocket.ErrInvalidOption) {
			t.Errorf("LeaseTTL %v: %v, want ErrInvalidOption", ttl, err)
		}
	}
	for _, ttl := range []time.Duration{0, runtime.MinLeaseTTL, runtime.MaxLeaseTTL} {
		if _, err := runtime.New(app, runtime.Config{NATS: e.nc, LeaseTTL: ttl}); err != nil {
			t.Errorf("LeaseTTL %v: %v", ttl, err)
		}
	}
}

// TestLeaseSurvivesNATSRestart restarts nats-server (memory streams, as by
// default) under the active runtime: the lease bucket is on disk, so the
// runtime confirms its lease once it reconnects and keeps serving with the
// same instances, instead of losing the lease with the server's memory.
func TestLeaseSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := natsembed.Options{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, StoreDir: t.TempDir()}
	ln.Close()
	srv, err := natsembed.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); srv.Shutdown() })
	n := scopeSeq.Add(1)
	e := &env{t: t, srv: srv, nc: natstest.Connect(t, srv),
		scope: natstransport.Scope{WorkspaceID: fmt.Sprint("ws.", n), ProjectID: fmt.Sprint("proj ", n)}}
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	a, _ := e.launch(newApp(t, counterActor(nil)), func(c *runtime.Config) { c.LeaseTTL = 10 * time.Second })
	waitReady(t, a)
	c := e.client("s1")
	if got := string(c.call("counter", "x", "add", addInput{N: 1})); got != "1" {
		t.Fatalf("add = %s", got)
	}
	kv, key := e.leaseKV()
	before, err := kv.Get(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	srv.Shutdown()
	srv, err = natsembed.Run(opts)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// Each attempt has its own short deadline: one made while the client
	// reconnects may go unanswered.
	attempt := func() context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	eventually(t, "a refresh of the lease after the restart", func() (bool, string) {
		e, err := kv.Get(attempt(), key)
		if err != nil {
			return false, err.Error()
		}
		return e.Revision() > before.Revision() && string(e.Value()) == string(before.Value()), fmt.Sprintf("revision %d", e.Revision())
	})
	// The streams come back (the runtime puts them back); the call goes
	// through once INBOUND is there again.
	subject, err := natstransport.InboundSubject(e.scope, "counter", "x")
	if err != nil {
		t.Fatal(err)
	}
	c.seq++
	id := fmt.Sprintf("%s-%d", c.id, c.seq)
	data := c.envelope(protocol.AppendRPC(nil, id, "counter", "x", "add", json.RawMessage(`{"n":1}`)))
	eventually(t, "INBOUND to take a call again", func() (bool, string) {
		_, err := e.js.Publish(attempt(), subject, data)
		return err == nil, fmt.Sprint(err)
	})
	if got := string(c.result(id).Result); got != "2" {
		t.Fatalf("add after the restart = %s, want 2 (the same instance)", got)
	}
	if a.rt.Role() != runtime.RoleActive || a.logs.contains("lease lost") {
		t.Errorf("role %q after the restart; logs:\n%s", a.rt.Role(), a.logs.tail(20))
	}
}
