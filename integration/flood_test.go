package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/wsconfig"
)

// TestFloodDoesNotStarveOthers: one socket floods the server the way an
// attacker would (unsubscribes to ever new actor ids, and calls on the
// instance another client uses, sent without waiting for answers), while
// another client makes calls on that instance one at a time. The flood
// must neither grow the server without bound nor stall the other client:
// its calls are all answered, and its latency is logged beside the same
// client's latency without the flood (speed is reported, not asserted,
// beyond a bound that only a starved client would break).
func TestFloodDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	for _, shape := range shapes[:2] { // consumer delivery changes nothing here
		t.Run(shape, func(t *testing.T) { // one at a time: the figures are CPU-bound
			ctx := waitCtx(t)
			app, _ := newApp(t)
			d := startShape(t, shape, app)
			c := dial(t, d.URL, nil)
			shared := c.Actor("counter", "shared")
			// Open loop: a call every 5 ms for 2 s, so that the flood's
			// opening burst (MaxFrameRate frames) weighs as it would.
			const calls = 400
			measure := func() []time.Duration {
				lat := make([]time.Duration, 0, calls)
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for range calls {
					<-tick.C
					start := time.Now()
					if _, err := client.CallT[counterView](ctx, shared, "add", addInput{By: 1}); err != nil {
						t.Fatalf("call: %v", err)
					}
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				return lat
			}
			quiet := measure()

			fctx, stopFlood := context.WithCancel(ctx)
			var wg sync.WaitGroup
			sent, answered := flood(t, fctx, d.URL, &wg)
			opening := measure() // the flood's first 2 s, its opening burst included
			steady := measure()  // the next 2 s: the flooder held to the rate
			stopFlood()
			wg.Wait()

			r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
			q50, q99 := quiet[len(quiet)/2], quiet[len(quiet)*99/100]
			o50, o99 := opening[len(opening)/2], opening[len(opening)*99/100]
			s50, s99 := steady[len(steady)/2], steady[len(steady)*99/100]
			t.Logf("%s: other client's calls p50/p99 %v/%v alone; during a flood of %d frames written (%d rpc:results read, most of them refusals): %v/%v over its first 2 s, %v/%v over the next 2 s",
				shape, r(q50), r(q99), sent(), answered(), r(o50), r(o99), r(s50), r(s99))
			// Starved, the client would wait behind thousands of queued
			// calls (seconds); a second is far above any honest p99 here.
			if l99 := max(o99, s99); l99 > q99+time.Second {
				t.Errorf("p99 %v during the flood, %v without: the other client starves", l99, q99)
			}
		})
	}
}

// flood opens a socket that, until ctx ends, sends unsubscribes to new
// actor ids and calls on the shared counter without waiting for their
// answers, reading whatever comes back. It returns counters of the frames
// sent and the rpc:results read.
func flood(t *testing.T, ctx context.Context, url string, wg *sync.WaitGroup) (sent, answered func() int64) {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	var mu sync.Mutex
	var nSent, nAnswered int64
	wg.Go(func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if len(data) > 20 && string(data[:20]) == `{"type":"rpc:result"` {
				mu.Lock()
				nAnswered++
				mu.Unlock()
			}
		}
	})
	wg.Go(func() {
		defer ws.CloseNow()
		for i := 0; ctx.Err() == nil; i++ {
			frame := fmt.Sprintf(`{"type":"state:unsub","actor":"counter","actorId":"flood-%d"}`, i)
			if i%2 == 1 {
				frame = fmt.Sprintf(`{"type":"rpc","id":"f%d","actor":"counter","actorId":"shared","method":"add","input":{"by":1}}`, i)
			}
			if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
				return
			}
			mu.Lock()
			nSent++
			mu.Unlock()
		}
	})
	get := func(p *int64) func() int64 {
		return func() int64 {
			mu.Lock()
			defer mu.Unlock()
			return *p
		}
	}
	return get(&nSent), get(&nAnswered)
}

// TestRateLimitedCallsAnswered: a client that sends more calls at once than
// its frame rate allows (50 a second here, after a burst of 50) gets every
// call answered: those within the rate with their results, the others at
// once with "rate limit exceeded", the same text in every shape, and none
// of the refused ones run.
func TestRateLimitedCallsAnswered(t *testing.T) {
	t.Parallel()
	for _, shape := range shapes {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			ctx := waitCtx(t)
			app, _ := newApp(t)
			d := startShapeWS(t, shape, app, wsconfig.Settings{MaxFrameRate: 50})
			ws, _, err := websocket.Dial(ctx, d.URL, nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer ws.CloseNow()
			const calls = 500
			start := time.Now()
			var frame []byte
			for i := range calls {
				frame = fmt.Appendf(frame[:0], `{"type":"rpc","id":"%d","actor":"counter","actorId":"limited","method":"add","input":{"by":1}}`, i)
				if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			served, refused, last := 0, 0, 0
			for served+refused < calls {
				_, data, err := ws.Read(ctx)
				if err != nil {
					t.Fatalf("after %d served and %d refused: %v", served, refused, err)
				}
				var f struct {
					Type, ID, Error string
					Result          struct{ Count int }
				}
				if err := json.Unmarshal(data, &f); err != nil || f.Type != "rpc:result" {
					continue
				}
				switch f.Error {
				case "":
					served++
					last = max(last, f.Result.Count)
				case "rate limit exceeded: at most 50 frames a second":
					refused++
				default:
					t.Fatalf("call %s failed with %q", f.ID, f.Error)
				}
			}
			// The burst, then 50 a second for as long as the calls took
			// to read (the refusals are held to the same rate).
			took := time.Since(start).Seconds()
			if limit := 50 + int(50*took) + 5; served < 50 || served > limit || refused == 0 {
				t.Fatalf("%d calls served and %d refused in %.2fs, want the burst of 50 served, at most %d in all, and the rest refused",
					served, refused, took, limit)
			}
			if last != served {
				t.Fatalf("the counter reached %d after %d calls served: refused calls ran", last, served)
			}
		})
	}
}

// TestRefusedSubscriptionsHoldNothing: subscriptions the runtime refuses
// leave no instance subject subscribed at the gateway, however many a
// client sends without unsubscribing (as the JavaScript client keeps a
// refused subscription to ask again after a reconnect), and a refused
// instance can still be watched once allowed.
func TestRefusedSubscriptionsHoldNothing(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	d := startShape(t, "distributed", app)
	nc := d.gateways[0].nc
	before := nc.NumSubscriptions()
	ws, _, err := websocket.Dial(ctx, d.URL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.CloseNow()
	const vaults = 50 // unclaimed: nobody may watch them
	for i := range vaults {
		for _, typ := range []string{"state:sub", "event:sub"} {
			frame := fmt.Sprintf(`{"type":%q,"actor":"vault","actorId":"nobody-%d"}`, typ, i)
			if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
	}
	for refusals := 0; refusals < 2*vaults; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("after %d refusals: %v", refusals, err)
		}
		var f struct{ Type, Error string }
		if json.Unmarshal(data, &f) == nil && f.Type == "sub:error" {
			if f.Error != "only the vault's owner may watch it" {
				t.Fatalf("refused with %q", f.Error)
			}
			refusals++
		}
	}
	// The gateway handles a refusal before it passes the frame on.
	if after := nc.NumSubscriptions(); after > before+1 { // +1: the session's own subject
		t.Fatalf("the gateway holds %d NATS subscriptions after %d refused ones, %d before the session", after, 2*vaults, before)
	}

	// Refused, then allowed: the watch works.
	c := dial(t, d.URL, nil)
	if ok, err := client.CallT[bool](ctx, c.Actor("vault", "nobody-0"), "claim", nil); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	var se *client.SubError
	if _, err := c.Actor("vault", "nobody-1").WatchState(ctx); !errors.As(err, &se) {
		t.Fatalf("watch of an unclaimed vault: %v, want a refusal", err)
	}
	w, err := c.Actor("vault", "nobody-0").WatchState(ctx)
	if err != nil {
		t.Fatalf("watch after the claim: %v", err)
	}
	defer w.Close()
	if err := c.Actor("vault", "nobody-0").Call(ctx, "store", vaultState{Note: "kept"}, nil); err != nil {
		t.Fatalf("store: %v", err)
	}
	waitState(t, ctx, w, "the stored note", func(v vaultView) bool { return v.Note == "kept" })
}
