package wsconn

import (
	"context"
	"time"
)

// pacer is a token bucket over the frames one connection reads: burst
// frames at once, then rate per second. When it is empty the reader waits
// before it reads the next frame, so a client that sends faster than the
// rate is slowed by TCP backpressure instead of costing the host CPU
// without bound; a client under the rate never waits. Used by the reader
// goroutine only.
//
// Pacing alone would let a client flood for ever at no cost to it, holding
// a reader and a socket; a client that keeps the reader waiting for more
// than half of a floodWindow (it sends at twice the rate or more, for
// seconds on end) is reported as flooding, and the connection closed.
type pacer struct {
	rate   float64 // frames per second; 0 means no limit
	burst  float64
	tokens float64
	last   time.Time

	window      time.Duration // floodWindow; tests shorten it
	windowStart time.Time
	waited      time.Duration // in the current window
}

// floodWindow is the span over which a reader held back more than half
// the time marks a flood.
const floodWindow = 10 * time.Second

func newPacer(rate, burst int) pacer {
	if rate <= 0 {
		return pacer{}
	}
	burst = max(burst, 1)
	return pacer{rate: float64(rate), burst: float64(burst), tokens: float64(burst), window: floodWindow}
}

// wait takes one token, first waiting for it if needed; it returns early
// when ctx ends. Timers oversleep (by up to a millisecond or more), so the
// tokens are counted from the time that really passed: a reader that slept
// too long reads the next frames without waiting, and the average rate is
// the configured one whatever the timer granularity.
//
// It reports flooding once the reader was held back for more than half of
// a window.
func (p *pacer) wait(ctx context.Context) (flooding bool) {
	if p.rate == 0 {
		return false
	}
	now := time.Now()
	p.refill(now)
	if p.windowStart.IsZero() || now.Sub(p.windowStart) >= p.window {
		p.windowStart, p.waited = now, 0
	}
	if p.tokens < 1 {
		d := time.Duration((1 - p.tokens) / p.rate * float64(time.Second))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		after := time.Now()
		p.waited += after.Sub(now)
		p.refill(after)
	}
	p.tokens--
	return p.waited > p.window/2
}

// refill adds the tokens earned since the last look, up to the burst.
func (p *pacer) refill(now time.Time) {
	if !p.last.IsZero() {
		p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
}
