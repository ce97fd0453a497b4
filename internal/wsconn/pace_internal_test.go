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
