package wsconn

import (
	"context"
	"testing"
	"time"
)

// Frames that are not rpcs are never refused: past a burst they wait, so
// 110 of them at 1,000/s after a burst of 10 take at least 100 ms.
func TestLimiterHoldsTheRate(t *testing.T) {
	l := newLimiter(1000, 10)
	start := time.Now()
	for range 10 {
		if served, _ := l.admit(context.Background(), false); !served {
			t.Fatal("a subscription within the burst was refused")
		}
	}
	burst := time.Since(start)
	for range 100 {
		if served, _ := l.admit(context.Background(), false); !served {
			t.Fatal("a subscription over the rate was refused, want it delayed")
		}
	}
	if took := time.Since(start); took < 99*time.Millisecond {
		t.Fatalf("110 frames took %v at 1,000/s after a burst of 10, want at least 100 ms", took)
	}
	if burst > 50*time.Millisecond {
		t.Errorf("the burst of 10 took %v, want no wait", burst)
	}
}

// Past the burst, an rpc is refused at once rather than delayed, until the
// refusals' own bucket is empty too; then refusals wait. Over 200 ms at
// 1,000/s a client sending rpcs as fast as it can gets about 200 served
// and as many refused: never more than twice the rate read.
func TestLimiterRefusesRPCs(t *testing.T) {
	l := newLimiter(1000, 10)
	ctx := context.Background()
	for range 10 {
		if served, _ := l.admit(ctx, true); !served {
			t.Fatal("an rpc within the burst was refused")
		}
	}
	if served, _ := l.admit(ctx, true); served {
		t.Fatal("an rpc past the burst was served, want it refused")
	}
	served, refused := 0, 0
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		if ok, _ := l.admit(ctx, true); ok {
			served++
		} else {
			refused++
		}
	}
	took := time.Since(start).Seconds()
	if limit := int(1000*took) + 20; served > limit || refused > limit {
		t.Fatalf("in %.3fs at 1,000/s: %d served and %d refused, want at most %d each", took, served, refused, limit)
	}
	if served < 100 || refused < 100 {
		t.Fatalf("in %.3fs at 1,000/s: %d served and %d refused, want both near the rate", took, served, refused)
	}
}

// No rate means no wait and no refusal, and a cancelled context ends a
// wait at once.
func TestLimiterOff(t *testing.T) {
	l := newLimiter(0, 0)
	for range 100000 {
		if served, _ := l.admit(context.Background(), true); !served {
			t.Fatal("refused with no limit")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newLimiter(1, 1)
	slow.admit(ctx, false) // the burst
	start := time.Now()
	slow.admit(ctx, false) // would wait a second
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("wait with a cancelled context took %v", took)
	}
}

// A reader held back by refusals for more than half of the flood window
// reports a flood; one that sends calls at the rate, or bursts now and
// then, does not, nor one held back by other frames however long.
func TestLimiterReportsFloods(t *testing.T) {
	ctx := context.Background()
	flood := newLimiter(1000, 10)
	flood.window = 200 * time.Millisecond
	start, reported := time.Now(), false
	for !reported && time.Since(start) < 5*time.Second {
		_, reported = flood.admit(ctx, true) // as fast as it lets us: all waiting
	}
	if !reported {
		t.Fatal("a client held back all the time was never reported")
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("reported after %v, before half a window", took)
	}

	subs := newLimiter(1000, 10)
	subs.window = 200 * time.Millisecond
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		if served, flooding := subs.admit(ctx, false); !served || flooding {
			t.Fatalf("subscriptions over the rate were refused (%v) or reported (%v), want them paced", !served, flooding)
		}
	}

	calm := newLimiter(1000, 100)
	calm.window = 200 * time.Millisecond
	for range 5 { // bursts within the bucket, then quiet
		for range 50 {
			if served, flooding := calm.admit(ctx, true); !served || flooding {
				t.Fatalf("a client within its burst was refused (%v) or reported (%v)", !served, flooding)
			}
		}
		time.Sleep(60 * time.Millisecond) // the client's idle time, part of the scenario
	}
}
