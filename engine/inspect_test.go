package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

type inspectState struct {
	Count  int    `json:"count"`
	Secret string `json:"secret"`
}

func inspectActor() *zocket.Actor[inspectState] {
	a := zocket.NewActor("insp", func() inspectState { return inspectState{Secret: "hidden"} })
	zocket.Method(a, "add", func(s *inspectState, c *zocket.Call, n int) (int, error) {
		if n < 0 {
			return 0, zocket.Errorf("negative: %d", n)
		}
		s.Count += n
		return s.Count, nil
	})
	a.View(func(s *inspectState) any { return map[string]int{"count": s.Count} })
	return a
}

// inspectUntil polls Inspect until cond holds: an instance publishes what
// Inspect shows after it delivered a task's frames, so right after a
// result the snapshot may still show the state before it.
func inspectUntil(t *testing.T, e *engine.Engine, what string, cond func(engine.Snapshot) bool) engine.Snapshot {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s := e.Inspect(engine.InspectOptions{})
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last snapshot: %+v", what, s)
		}
		time.Sleep(time.Millisecond)
	}
}

func findInstance(s engine.Snapshot, actor, id string) *engine.InstanceInfo {
	for i := range s.Instances {
		if s.Instances[i].Actor == actor && s.Instances[i].ID == id {
			return &s.Instances[i]
		}
	}
	return nil
}

// TestInspect: a snapshot lists the types, the instance with the state its
// subscribers see (the View: no secret) and its watchers, the session,
// and every call with its outcome and rate.
func TestInspect(t *testing.T) {
	t.Parallel()
	tt := start(t, mustApp(t, inspectActor()), engine.Config{})
	tt.subState("s1", "insp", "a")
	tt.callOK("s1", "insp", "a", "add", 2, nil)
	tt.callOK("s2", "insp", "a", "add", 1, nil)
	if msg := tt.callErr("s1", "insp", "a", "add", -1); msg != "negative: -1" {
		t.Fatalf("error %q", msg)
	}

	if msg := tt.callErr("s2", "insp", "a", "nope", nil); msg == "" {
		t.Fatal("no error for an unknown method")
	}
	s := inspectUntil(t, tt.e, "the state after three calls", func(s engine.Snapshot) bool {
		in := findInstance(s, "insp", "a")
		return in != nil && string(in.State) == `{"count":3}` && in.Clients == 2
	})
	in := findInstance(s, "insp", "a")
	if in.StateSubscribers != 1 || in.EventSubscribers != 0 || in.Queued != 0 || in.StateBytes != len(`{"count":3}`) {
		t.Errorf("instance %+v", *in)
	}
	if len(s.Types) != 1 || s.Types[0].Name != "insp" || s.Types[0].Instances != 1 ||
		len(s.Types[0].Methods) != 1 || s.Types[0].Methods[0] != "add" {
		t.Errorf("types %+v", s.Types)
	}
	if s.InstancesTotal != 1 || s.SessionsTotal != 2 || len(s.Sessions) != 2 || s.Sessions[0].ID != "s1" ||
		s.Sessions[0].Subscriptions != 1 {
		t.Errorf("instances %d, sessions %d %+v", s.InstancesTotal, s.SessionsTotal, s.Sessions)
	}

	if s.CallsTotal != 4 || len(s.Calls) != 4 || s.Calls[3].Method != "nope" || s.Calls[3].Error == "" || s.Calls[3].Latency != 0 {
		t.Fatalf("calls %d %+v", s.CallsTotal, s.Calls)
	}
	for i, want := range []struct{ session, err string }{{"s1", ""}, {"s2", ""}, {"s1", "negative: -1"}} {
		c := s.Calls[i]
		if c.Actor != "insp" || c.ActorID != "a" || c.Method != "add" || c.Session != want.session || c.Error != want.err ||
			c.Latency <= 0 || c.At.IsZero() {
			t.Errorf("call %d: %+v, want session %s, error %q", i, c, want.session, want.err)
		}
	}
	var calls, errs int
	for _, p := range s.Rate {
		calls += p.Calls
		errs += p.Errors
		if p.Calls > 0 && p.P99 <= 0 {
			t.Errorf("rate point %+v without p99", p)
		}
	}
	if len(s.Rate) != engine.RateWindow || calls != 4 || errs != 2 || s.Rate[len(s.Rate)-1].Time != s.At.Unix() {
		t.Errorf("rate: %d points, %d calls, %d errors, last %+v", len(s.Rate), calls, errs, s.Rate[len(s.Rate)-1])
	}

	// Large states are left out, their size reported.
	small := tt.e.Inspect(engine.InspectOptions{MaxStateBytes: 5})
	if in := findInstance(small, "insp", "a"); in == nil || in.State != nil || in.StateBytes != len(`{"count":3}`) {
		t.Errorf("with MaxStateBytes 5: %+v", in)
	}
}

// TestInspectRing: the snapshot keeps the last RecentCalls calls, oldest
// first, and lists at most MaxInstances instances.
func TestInspectRing(t *testing.T) {
	t.Parallel()
	tt := start(t, mustApp(t, inspectActor()), engine.Config{})
	n := engine.RecentCalls + 7
	for i := range n {
		tt.callOK("s", "insp", []string{"a", "b", "c"}[i%3], "add", i, nil)
	}
	s := tt.e.Inspect(engine.InspectOptions{MaxInstances: 2})
	if s.CallsTotal != uint64(n) || len(s.Calls) != engine.RecentCalls {
		t.Fatalf("calls %d, listed %d", s.CallsTotal, len(s.Calls))
	}
	if s.Calls[0].Latency <= 0 || s.Calls[len(s.Calls)-1].ActorID != []string{"a", "b", "c"}[(n-1)%3] {
		t.Errorf("first %+v, last %+v", s.Calls[0], s.Calls[len(s.Calls)-1])
	}
	if s.InstancesTotal != 3 || len(s.Instances) != 2 || s.Types[0].Instances != 3 {
		t.Errorf("instances %d listed of %d, type count %d", len(s.Instances), s.InstancesTotal, s.Types[0].Instances)
	}
}

// TestInspectConcurrent: Inspect while instances work is safe (run with
// -race).
func TestInspectConcurrent(t *testing.T) {
	t.Parallel()
	tt := start(t, mustApp(t, inspectActor()), engine.Config{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = tt.e.Inspect(engine.InspectOptions{})
			}
		}
	}()
	for i := range 200 {
		id := []string{"a", "b"}[i%2]
		if i%50 == 0 {
			tt.send("w", protocol.TypeStateSub, "insp", id)
		}
		tt.callOK("s", "insp", id, "add", 1, nil)
	}
	close(stop)
	wg.Wait()
	inspectUntil(t, tt.e, "both instances at 100", func(s engine.Snapshot) bool {
		a, b := findInstance(s, "insp", "a"), findInstance(s, "insp", "b")
		return a != nil && b != nil && string(a.State) == `{"count":100}` && string(b.State) == `{"count":100}`
	})
}
