package wsconn

import (
	"context"
	"testing"
	"time"
)

// The pacer lets a burst through at once and then holds the reader to its
// rate: 110 frames at 1,000/s after a burst of 10 take at least 100 ms.
func TestPacerHoldsTheRate(t *testing.T) {
	p := newPacer(1000, 10)
	start := time.Now()
	for range 10 {
		p.wait(context.Background())
	}
	burst := time.Since(start)
	for range 100 {
		p.wait(context.Background())
	}
	if took := time.Since(start); took < 99*time.Millisecond {
		t.Fatalf("110 frames took %v at 1,000/s after a burst of 10, want at least 100 ms", took)
	}
	if burst > 50*time.Millisecond {
		t.Errorf("the burst of 10 took %v, want no wait", burst)
	}
}

// No rate means no wait, and a cancelled context ends a wait at once.
func TestPacerOff(t *testing.T) {
	p := newPacer(0, 0)
	for range 100000 {
		p.wait(context.Background())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newPacer(1, 1)
	slow.wait(ctx) // the burst
	start := time.Now()
	slow.wait(ctx) // would wait a second
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("wait with a cancelled context took %v", took)
	}
}

// A reader held back for more than half of the flood window reports a
// flood; one that sends at the rate, or bursts now and then, does not.
func TestPacerReportsFloods(t *testing.T) {
	ctx := context.Background()
	flood := newPacer(1000, 10)
	flood.window = 200 * time.Millisecond
	start, reported := time.Now(), false
	for !reported && time.Since(start) < 5*time.Second {
		reported = flood.wait(ctx) // as fast as it lets us: all waiting
	}
	if !reported {
		t.Fatal("a client held back all the time was never reported")
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("reported after %v, before half a window", took)
	}

	calm := newPacer(1000, 100)
	calm.window = 200 * time.Millisecond
	for range 5 { // bursts within the bucket, then quiet
		for range 50 {
			if calm.wait(ctx) {
				t.Fatal("a client within its burst was reported")
			}
		}
		time.Sleep(60 * time.Millisecond) // the client's idle time, part of the scenario
	}
}
