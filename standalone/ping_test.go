package standalone_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/wsconfig"
)

// pingCases are the two ways round of the ping deadline, the longer of
// PingInterval and WriteTimeout; the gateway's tests use the same.
var pingCases = []struct {
	name     string
	ws       wsconfig.Settings
	deadline time.Duration // for a pong
}{
	{"interval longer", wsconfig.Settings{PingInterval: 600 * time.Millisecond, WriteTimeout: 50 * time.Millisecond}, 600 * time.Millisecond},
	{"write timeout longer", wsconfig.Settings{PingInterval: 50 * time.Millisecond, WriteTimeout: 600 * time.Millisecond}, 600 * time.Millisecond},
}

// A client that reads but never answers a ping is cut with 1008 "ping
// timeout", and not before its first ping's deadline has passed.
func TestPingUnansweredCutAtTheDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range pingCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, standalone.Config{WebSocket: tc.ws})
			begin := time.Now()
			c := dialURLWith(t, h.url, &websocket.DialOptions{
				OnPingReceived: func(context.Context, []byte) bool { return false }, // no pong
			})
			for {
				if _, err := c.readRaw(); err != nil {
					var ce websocket.CloseError
					if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "ping timeout" {
						t.Fatalf("connection ended with %v, want 1008 ping timeout", err)
					}
					break
				}
			}
			if took, least := time.Since(begin), tc.ws.PingInterval+tc.deadline; took < least {
				t.Fatalf("cut after %v, want no sooner than the first ping and its deadline, %v", took, least)
			}
		})
	}
}

// A client that answers every ping late, past the shorter of PingInterval
// and WriteTimeout but well within the longer, stays connected.
func TestPingAnsweredLateWithinTheDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range pingCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, standalone.Config{WebSocket: tc.ws})
			delay := tc.deadline / 3
			pongs := make(chan struct{}, 1)
			c := dialURLWith(t, h.url, &websocket.DialOptions{
				// Called on the client's reader, so the pong leaves delay late.
				OnPingReceived: func(context.Context, []byte) bool {
					time.Sleep(delay)
					select {
					case pongs <- struct{}{}:
					default:
					}
					return true
				},
			})
			frames := c.stream()
			if f := recv(t, frames); f.Type != protocol.TypeWelcome {
				t.Fatalf("first frame %+v", f)
			}
			for range 3 {
				select {
				case <-pongs:
				case f, ok := <-frames:
					t.Fatalf("frame %+v (connection open: %v), want only pings", f, ok)
				case <-time.After(readTimeout):
					t.Fatal("no ping")
				}
			}
			c.write(string(protocol.AppendRPC(nil, "1", "counter", "late", "increment", nil)))
			if f := recv(t, frames); f.Type != protocol.TypeRPCResult || string(f.Result) != "1" {
				t.Fatalf("after late pongs: %+v, want the rpc result 1", f)
			}
		})
	}
}

// A client that keeps sending calls at several times MaxFrameRate gets
// the calls within the rate served and those over it refused with "rate
// limit exceeded", never more of either than the rate; once it has kept
// the reader waiting for more than half of ten seconds, it is closed with
// 1008 "frame rate exceeded".
func TestSustainedFloodClosed(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{WebSocket: wsconfig.Settings{MaxFrameRate: 200}})
	c := h.dial()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // writes as fast as the socket takes them, until it is closed
		for i := 0; ctx.Err() == nil; i++ {
			if err := c.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"rpc","id":"`+itoa(i)+`","actor":"counter","actorId":"f","method":"increment"}`)); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	served, refused := 0, 0
	for {
		data, err := c.readRaw()
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "frame rate exceeded" {
				t.Fatalf("connection ended with %v after %d results, want 1008 frame rate exceeded", err, served)
			}
			break
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil || f.Type != protocol.TypeRPCResult {
			continue
		}
		switch {
		case f.Error == "":
			served++
		case f.Error == "rate limit exceeded: at most 200 frames a second":
			refused++
		default:
			t.Fatalf("call failed with %q, want served or rate limited", f.Error)
		}
	}
	took := time.Since(start)
	if took < 5*time.Second {
		t.Fatalf("closed after %v, before it had flooded for half of ten seconds", took)
	}
	if limit := int(200*took.Seconds()) + 200 + 50; served > limit || refused > limit { // the rate, a burst and some slack
		t.Fatalf("in %v at 200/s after a burst of 200: %d calls served and %d refused, want at most %d each", took, served, refused, limit)
	}
	if served < 1000 || refused < 1000 {
		t.Fatalf("in %v at 200/s: %d calls served and %d refused, want both near 200/s", took, served, refused)
	}
	if st := h.srv.Stats(); st.RateLimited != int64(refused) {
		t.Errorf("Stats().RateLimited = %d, want the %d refusals read", st.RateLimited, refused)
	}
}

// Subscriptions over MaxFrameRate are paced, never refused, and however
// long the pacing lasts the client is not taken for a flooder: 350 of
// them at 50 a second (a burst of 50, then six seconds of waiting, more
// than half of the ten-second flood window) are all answered, and the
// connection stays open.
func TestSubscriptionsPacedNotClosed(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{WebSocket: wsconfig.Settings{MaxFrameRate: 50}})
	c := h.dial()
	frames := c.stream()
	const subs = 350
	for i := range subs {
		c.write(string(protocol.AppendSubscription(nil, protocol.TypeStateSub, "counter", "paced-"+itoa(i))))
	}
	start := time.Now()
	seen := make(map[string]bool, subs)
	for len(seen) < subs {
		if f := recv(t, frames); f.Type == protocol.TypeStateSnapshot {
			seen[f.ActorID] = true
		}
	}
	if took := time.Since(start); took < 5*time.Second {
		t.Fatalf("%d subscriptions answered in %v at 50 a second: not paced", subs, took)
	}
	// The subscriptions used up the rate: a call now would be refused.
	// The client's pause, part of the scenario: tokens are due every 20 ms.
	time.Sleep(100 * time.Millisecond)
	c.write(`{"type":"rpc","id":"after","actor":"counter","actorId":"paced-0","method":"increment"}`)
	for {
		f := recv(t, frames)
		if f.Type != protocol.TypeRPCResult {
			continue
		}
		if f.ID != "after" || f.Error != "" || string(f.Result) != "1" {
			t.Fatalf("the call after the subscriptions got %+v, want the result 1", f)
		}
		break
	}
	if st := h.srv.Stats(); st.Connections != 1 || st.RateLimited != 0 {
		t.Fatalf("stats %+v: want the client connected and nothing refused", st)
	}
}
