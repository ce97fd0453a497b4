package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/metricstest"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
)

type metricsState struct{ N int }

func metricsActor() *zocket.Actor[metricsState] {
	a := zocket.NewActor("meter", func() metricsState { return metricsState{} })
	a.Use(func(ctx context.Context, c zocket.CallInfo) (context.Context, error) {
		if c.Method == "guarded" {
			return nil, zocket.Reject("no")
		}
		return ctx, nil
	})
	zocket.Method(a, "inc", func(s *metricsState, c *zocket.Call, n int) (int, error) {
		s.N += n
		return s.N, nil
	})
	zocket.Method(a, "guarded", func(s *metricsState, c *zocket.Call, _ struct{}) (int, error) { return 0, nil })
	zocket.Method(a, "boom", func(s *metricsState, c *zocket.Call, _ struct{}) (int, error) { return 0, errors.New("secret") })
	zocket.Method(a, "panic", func(s *metricsState, c *zocket.Call, _ struct{}) (int, error) { panic("oops") })
	zocket.Method(a, "late", func(s *metricsState, c *zocket.Call, _ struct{}) (int, error) {
		<-c.Context().Done() // CallTimeout
		return 0, nil
	})
	a.OnConnect(func(s *metricsState, c *zocket.Call) error {
		if c.ClientID() == "grumpy" {
			return errors.New("connect hook failed")
		}
		return nil
	})
	return a
}

// The engine's metrics count every rpc by actor type, method and outcome,
// fold what the app does not define into "unknown", count instances,
// activations, evictions and hook failures, and report Stats at scrape.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := metrics.New(reg)
	tt := start(t, mustApp(t, metricsActor()), engine.Config{Metrics: m, IdleTimeout: 50 * time.Millisecond,
		CallTimeout: 50 * time.Millisecond})

	tt.callOK("s", "meter", "a", "inc", 1, nil)
	tt.callOK("s", "meter", "a", "inc", 2, nil)
	tt.callErr("s", "meter", "a", "inc", "not a number")
	tt.callErr("s", "meter", "a", "nope", nil)
	tt.callErr("s", "ghost", "a", "inc", 1)
	tt.callErr("s", "meter", "a", "guarded", nil)
	tt.callErr("s", "meter", "a", "boom", nil)
	tt.callErr("s", "meter", "a", "panic", nil)
	tt.callErr("s", "meter", "a", "late", nil)
	tt.callOK("grumpy", "meter", "a", "inc", 1, nil)

	for _, tc := range []struct {
		actor, method, outcome string
		n                      uint64
	}{
		{"meter", "inc", metrics.OutcomeOK, 3},
		{"meter", "inc", metrics.OutcomeInvalid, 1},
		{"meter", metrics.Unknown, metrics.OutcomeInvalid, 1},
		{metrics.Unknown, metrics.Unknown, metrics.OutcomeInvalid, 1},
		{"meter", "guarded", metrics.OutcomeRejected, 1},
		{"meter", "boom", metrics.OutcomeInternal, 1},
		{"meter", "panic", metrics.OutcomeInternal, 1},
		{"meter", "late", metrics.OutcomeTimeout, 1},
	} {
		if got := metricstest.Count(t, reg, "zocket_rpc_duration_seconds", map[string]string{
			"actor": tc.actor, "method": tc.method, "outcome": tc.outcome}); got != tc.n {
			t.Errorf("%s/%s/%s: %d observations, want %d", tc.actor, tc.method, tc.outcome, got, tc.n)
		}
	}
	if n := testutil.CollectAndCount(m.RPCDuration); n != 8 {
		t.Errorf("%d rpc series, want 8 (one per outcome seen)", n)
	}
	if got := testutil.ToFloat64(m.Instances.WithLabelValues("meter")); got != 1 {
		t.Errorf("instances = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.HookFailures.WithLabelValues("meter", "OnConnect")); got != 1 {
		t.Errorf("OnConnect failures = %v, want 1", got)
	}
	if got := metricstest.Count(t, reg, "zocket_instance_queue_depth", map[string]string{"actor": "meter"}); got != 7 {
		t.Errorf("queue depth observations = %d, want 7 (one per rpc queued)", got)
	}
	if got := metricstest.Value(t, reg, "zocket_engine_sessions", nil); got != 2 {
		t.Errorf("zocket_engine_sessions = %v, want 2", got)
	}

	// Both sessions leave; the instance is evicted once idle.
	tt.e.Disconnect("s")
	tt.e.Disconnect("grumpy")
	deadline := time.Now().Add(waitTimeout)
	for testutil.ToFloat64(m.Instances.WithLabelValues("meter")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("instance not evicted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(m.Evictions.WithLabelValues("meter", "idle")); got != 1 {
		t.Errorf("idle evictions = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Activations.WithLabelValues("meter")); got != 1 {
		t.Errorf("activations = %v, want 1", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// A refused subscription is no rpc: it is counted by the limits alone.
func TestMetricsLimits(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	tt := start(t, mustApp(t, metricsActor()), engine.Config{Metrics: m, MaxInstances: 1})
	tt.send("s", protocol.TypeStateSub, "meter", "a")
	tt.callErr("s", "meter", "b", "inc", 1)
	if got := metricstest.Count(t, reg, "zocket_rpc_duration_seconds", map[string]string{
		"actor": "meter", "method": "inc", "outcome": metrics.OutcomeOverloaded}); got != 1 {
		t.Errorf("overloaded: %d, want 1", got)
	}
	if got := metricstest.Value(t, reg, "zocket_engine_refused_total", map[string]string{"limit": "instances"}); got != 1 {
		t.Errorf("refused for room: %v, want 1", got)
	}
}

// Every line the engine logs about a request names its session, request
// id, actor type, actor id and method.
func TestRequestLogLines(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	tt := start(t, mustApp(t, metricsActor()), engine.Config{Logger: logs.logger()})
	for _, tc := range []struct {
		req  *engine.Request
		line string
	}{
		{&engine.Request{SessionID: "s1", RequestID: "s1-7", Frame: protocol.Frame{
			Type: protocol.TypeRPC, ID: "1", Actor: "meter", ActorID: "a", Method: "boom"}},
			`msg="request failed" actor=meter actor_id=a session_id=s1 request_id=s1-7 method=boom err=secret`},
		{&engine.Request{SessionID: "grumpy", RequestID: "g-1", Frame: protocol.Frame{
			Type: protocol.TypeRPC, ID: "2", Actor: "meter", ActorID: "b", Method: "inc", Input: []byte("1")}},
			`msg="hook failed" actor=meter actor_id=b session_id=grumpy request_id=g-1 method=inc hook=OnConnect`},
		{&engine.Request{SessionID: "s2", RequestID: "s2-1", Frame: protocol.Frame{
			Type: protocol.TypeStateSub, Actor: "meter", ActorID: "c"}},
			``},
		{&engine.Request{SessionID: "s2", RequestID: "s2-2", Frame: protocol.Frame{
			Type: "nonsense", Actor: "meter", ActorID: "c"}},
			`msg="frame refused" session_id=s2 request_id=s2-2 actor=meter actor_id=c type=nonsense`},
	} {
		tt.waitDelivered(tt.dispatch(tc.req))
		if tc.line != "" && !strings.Contains(logs.String(), tc.line) {
			t.Errorf("no line with %s in\n%s", tc.line, logs.String())
		}
	}
}
