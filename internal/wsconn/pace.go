package wsconn

import (
	"context"
	"time"
)

// limiter holds one connection to MaxFrameRate. It has two token buckets,
// each of burst frames at once and then rate per second:
//
//   - frames: the connection's budget. A frame that finds a token is
//     served as usual.
//   - refusals: over the budget, an rpc is refused (the host answers it
//     with protocol.ErrRateLimited at once, so the client knows), and each
//     refusal takes a token of this second bucket. Other frames over the
//     budget (subscriptions, unsubscriptions) are not refused: they wait
//     for a token of frames. A client's burst of thousands of
//     subscriptions is normal, and an unsubscribe must never be lost.
//
// When the bucket a frame needs is empty, the reader waits, so TCP pushes
// back on the client: a flooding socket costs the host at most twice the
// rate in frames read, half of them cheap refusals, however fast it sends.
//
// A client that keeps the reader waiting for refusals for more than half
// of a floodWindow (it sends calls at twice the rate or more, for seconds
// on end) is reported as flooding, and the connection closed: it has been
// told, call after call, and does not slow down. Waits of other frames do
// not count: a client that subscribes to 10,000 instances at once is
// paced through them, not disconnected.
//
// Used by the reader goroutine only.
type limiter struct {
	rate     float64 // frames per second; 0 means no limit
	frames   bucket
	refusals bucket

	window      time.Duration // floodWindow; tests shorten it
	windowStart time.Time
	waited      time.Duration // in the current window
}

// floodWindow is the span over which a reader held back more than half
// the time marks a flood.
const floodWindow = 10 * time.Second

func newLimiter(rate, burst int) limiter {
	if rate <= 0 {
		return limiter{}
	}
	b := newBucket(float64(rate), float64(max(burst, 1)))
	return limiter{rate: float64(rate), frames: b, refusals: b, window: floodWindow}
}

// admit decides on one frame: served (true), or, for an rpc over the
// budget, refused (false). It waits first when the bucket the frame needs
// is empty, returning early when ctx ends. It also reports flooding once
// the reader waited for refusals for more than half of a window.
func (l *limiter) admit(ctx context.Context, rpc bool) (served, flooding bool) {
	if l.rate == 0 {
		return true, false
	}
	now := time.Now()
	if l.windowStart.IsZero() || now.Sub(l.windowStart) >= l.window {
		l.windowStart, l.waited = now, 0
	}
	l.frames.refill(now)
	if l.frames.tokens >= 1 || !rpc {
		l.frames.take(ctx, now)
		return true, false
	}
	l.refusals.refill(now)
	l.waited += l.refusals.take(ctx, now)
	return false, l.waited > l.window/2
}

// bucket is a token bucket: burst tokens at most, rate more per second.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate, burst float64) bucket {
	return bucket{rate: rate, burst: burst, tokens: burst}
}

// take takes one token, first waiting for it if needed (unless ctx ends),
// and returns how long it waited. Timers oversleep (by up to a millisecond
// or more), so the tokens are counted from the time that really passed: a
// reader that slept too long takes the next tokens without waiting, and
// the average rate is the configured one whatever the timer granularity.
// The bucket must have been refilled at now.
func (b *bucket) take(ctx context.Context, now time.Time) time.Duration {
	var waited time.Duration
	if b.tokens < 1 {
		d := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		after := time.Now()
		waited = after.Sub(now)
		b.refill(after)
	}
	b.tokens--
	return waited
}

// refill adds the tokens earned since the last look, up to the burst.
func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}
