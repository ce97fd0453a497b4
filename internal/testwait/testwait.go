// Package testwait lets tests wait for conditions that send no
// notification, such as server-side consumer lists, by polling them with a
// deadline instead of sleeping.
package testwait

import (
	"context"
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 10 * time.Millisecond

// Until checks cond every Interval until it holds. If ctx ends first, it
// fails the test with what and cond's last description of the state.
func Until(t testing.TB, ctx context.Context, what string, cond func() (ok bool, state string)) {
	t.Helper()
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last state: %s)", what, context.Cause(ctx), state)
			return
		}
	}
}

// For is Until with a timeout instead of a context.
func For(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	Until(t, ctx, what, cond)
}
