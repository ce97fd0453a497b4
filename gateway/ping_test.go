package gateway_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/wsconfig"
)

// pingCases are the two ways round of the ping deadline, the longer of
// PingInterval and WriteTimeout: the standalone server's tests use the
// same, since both hosts must behave alike.
var pingCases = []struct {
	name     string
	ws       wsconfig.Settings
	deadline time.Duration // for a pong
}{
	{"interval longer", wsconfig.Settings{PingInterval: 600 * time.Millisecond, WriteTimeout: 50 * time.Millisecond}, 600 * time.Millisecond},
	{"write timeout longer", wsconfig.Settings{PingInterval: 50 * time.Millisecond, WriteTimeout: 600 * time.Millisecond}, 600 * time.Millisecond},
}

// dialPinged dials url with onPing as the client's ping callback (return
// false to send no pong).
func dialPinged(t *testing.T, url string, onPing func(context.Context, []byte) bool) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{OnPingReceived: onPing})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}
}

// A client that reads but never answers a ping is cut with 1008 "ping
// timeout", and not before its first ping's deadline has passed.
func TestPingUnansweredCutAtTheDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range pingCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, gateway.Config{WebSocket: tc.ws})
			begin := time.Now()
			c := dialPinged(t, r.url, func(context.Context, []byte) bool { return false })
			if code, reason := c.closeStatus(); code != websocket.StatusPolicyViolation || reason != "ping timeout" {
				t.Fatalf("close = %v %q, want 1008 ping timeout", code, reason)
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
			r := newRig(t, gateway.Config{WebSocket: tc.ws})
			startRuntime(t, r.srv, devScope, false, "echo")
			delay := tc.deadline / 3
			pongs := make(chan struct{}, 1)
			// Called on the client's reader, so the pong leaves delay late.
			c := dialPinged(t, r.url, func(context.Context, []byte) bool {
				time.Sleep(delay)
				select {
				case pongs <- struct{}{}:
				default:
				}
				return true
			})
			c.welcome()
			frames := make(chan []byte, 16)
			errc := make(chan error, 1)
			go func() {
				for {
					data, err := c.readRaw()
					if err != nil {
						errc <- err
						return
					}
					frames <- data
				}
			}()
			for range 3 {
				select {
				case <-pongs:
				case data := <-frames:
					t.Fatalf("frame %s, want only pings", data)
				case err := <-errc:
					t.Fatalf("client dropped: %v", err)
				case <-time.After(waitTimeout):
					t.Fatal("no ping")
				}
			}
			c.send(rpcFrame("1", "echo", "a", "m", ""))
			select {
			case data := <-frames:
				if !bytes.Contains(data, []byte(`"id":"1"`)) {
					t.Fatalf("after late pongs: %s, want the rpc result 1", data)
				}
			case err := <-errc:
				t.Fatalf("client dropped: %v", err)
			case <-time.After(waitTimeout):
				t.Fatal("no rpc result")
			}
			c.close()
			<-errc
		})
	}
}
