package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
)

// TestSessionChurn drives sessions through the whole distributed stack:
// 1,500 opened and closed one after another, then 1,200 open at once (more
// than nats-server's default cap of 1,000 consumers per stream). Every
// session gets its welcome and an rpc answer; afterwards OUTBOUND holds no
// consumer of a closed session and the runtime ran OnDisconnect for every
// session. -short runs 150 and 120.
func TestSessionChurn(t *testing.T) { forEachDelivery(t, testSessionChurn) }

func testSessionChurn(t *testing.T, delivery natstransport.Delivery) {
	sequential, concurrent := 1500, 1200
	if testing.Short() {
		sequential, concurrent = 150, 120
	}
	const instances = 7
	ctx := waitCtx(t)
	app, _ := newApp(t)
	// Generous JetStream timeouts: the machine running the test may be
	// busy; what is checked is that every session works and nothing is
	// left over.
	d := startDistributed(t, app, distOptions{delivery: delivery,
		gwConfig: gateway.Config{JetStreamTimeout: waitTimeout, PublishTimeout: waitTimeout},
	})
	opts := &client.Options{
		Reconnect:    &client.ReconnectPolicy{Disabled: true},
		DialTimeout:  waitTimeout,
		PingInterval: -1,
	}
	// session dials (the welcome arrives before Dial returns) and makes one
	// call; it reports errors instead of failing, to run on any goroutine.
	session := func(i int) (*client.Client, error) {
		ctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		c, err := client.Dial(ctx, d.URL, opts)
		if err != nil {
			return nil, fmt.Errorf("session %d: dial: %w", i, err)
		}
		id := fmt.Sprintf("churn-%d", i%instances)
		v, err := client.CallT[counterView](ctx, c.Actor("counter", id), "add", addInput{By: 1})
		if err == nil && (v.ActorID != id || v.ClientID != c.ID()) {
			err = fmt.Errorf("answered %+v", v)
		}
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("session %d: rpc: %w", i, err)
		}
		return c, nil
	}
	noConsumersLeft := func(phase string) {
		t.Helper()
		eventually(t, ctx, "OUTBOUND to hold no consumer after "+phase, func() (bool, string) {
			cs, err := d.sessionConsumers(ctx, "")
			if err != nil {
				return false, err.Error()
			}
			return len(cs) == 0, fmt.Sprintf("%d consumers left", len(cs))
		})
	}

	start := time.Now()
	for i := range sequential {
		c, err := session(i)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	seqTook := time.Since(start)
	noConsumersLeft("the sequential sessions")
	seqClean := time.Since(start)

	start = time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		conns = make([]*client.Client, concurrent)
	)
	// All of them end up open at once, but at most 64 are opening at any
	// moment, so that each session's deadline starts when it dials and a
	// slow machine does not time out the last of a thundering herd.
	dialing := make(chan struct{}, 64)
	for i := range concurrent {
		wg.Go(func() {
			dialing <- struct{}{}
			c, err := session(sequential + i)
			<-dialing
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	openTook := time.Since(start)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent sessions failed; first: %v", len(errs), concurrent, errs[0])
	}
	if s := d.gateways[0].gw.Stats(); s.SessionsOpen != int64(concurrent) {
		t.Errorf("gateway has %d sessions open, want %d", s.SessionsOpen, concurrent)
	}
	if cs, err := d.sessionConsumers(ctx, ""); err != nil || len(cs) != concurrent*d.consumersPerSession() {
		t.Errorf("OUTBOUND has %d consumers (%v) with %d sessions open", len(cs), err, concurrent)
	}
	closeStart := time.Now()
	for _, c := range conns {
		wg.Go(func() { _ = c.Close() })
	}
	wg.Wait()
	noConsumersLeft("the concurrent sessions")
	closeTook := time.Since(closeStart)

	// Every session's disconnect reached the runtime: only the checker
	// is left as a viewer, and every call was counted once.
	checker := dial(t, d.URL, nil)
	total := 0
	for k := range instances {
		a := checker.Actor("counter", fmt.Sprintf("churn-%d", k))
		var st counterState
		eventually(t, ctx, fmt.Sprintf("OnDisconnect of every session on churn-%d", k), func() (bool, string) {
			var err error
			st, err = client.CallT[counterState](ctx, a, "get", nil)
			if err != nil {
				return false, err.Error()
			}
			return st.Viewers == 1, fmt.Sprintf("%d viewers", st.Viewers)
		})
		total += st.Count
	}
	if total != sequential+concurrent {
		t.Errorf("instances counted %d calls, want %d", total, sequential+concurrent)
	}
	s := d.gateways[0].gw.Stats()
	if s.ConsumerFailures != 0 || s.PublishFailures != 0 || s.ConsumerLeftovers != 0 || s.SessionsTotal != int64(sequential+concurrent+1) {
		t.Errorf("gateway stats %+v", s)
	}
	t.Logf("%d sequential sessions in %v (%v each, OUTBOUND clean after %v); %d concurrent opened and answered in %v, closed and cleaned up in %v",
		sequential, seqTook.Round(time.Millisecond), (seqTook / time.Duration(sequential)).Round(time.Microsecond),
		seqClean.Round(time.Millisecond), concurrent, openTook.Round(time.Millisecond), closeTook.Round(time.Millisecond))
}
