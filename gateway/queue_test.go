package gateway_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/protocol"
)

// A client that reads gets every answer to a burst of 3,000 subscriptions
// with the default limits (as standalone does, TestSubscriptionBurstAnswered
// there): the send queue is bounded in bytes, not frames.
func TestSubscriptionBurstAnswered(t *testing.T) {
	t.Parallel()
	const burst = 3000
	r := coreRig(t, gateway.Config{})
	c := dial(t, r.url)
	c.welcome()
	snapshots := make(chan string, burst)
	readErr := make(chan error, 1)
	go func() { // reads while the burst is written
		for {
			data, err := c.readRaw()
			if err != nil {
				readErr <- err
				return
			}
			var f struct{ Type, ActorID string }
			if json.Unmarshal(data, &f) == nil && f.Type == protocol.TypeStateSnapshot {
				snapshots <- f.ActorID
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range burst {
		c.send(string(protocol.AppendSubscription(nil, protocol.TypeStateSub, "tally", "burst-"+strconv.Itoa(i))))
	}
	seen := make(map[string]bool, burst)
	for len(seen) < burst {
		select {
		case id := <-snapshots:
			seen[id] = true
		case err := <-readErr:
			t.Fatalf("connection ended after %d snapshots: %v", len(seen), err)
		case <-ctx.Done():
			t.Fatalf("%d snapshots of %d after %v", len(seen), burst, waitTimeout)
		}
	}
	if s := r.gw.Stats(); s.SlowDisconnects != 0 || s.SessionsOpen != 1 {
		t.Fatalf("stats %+v: want the session open and no slow disconnect", s)
	}
	_ = c.ws.CloseNow() // ends the reader
	<-readErr
}

// Two clients watching one instance pipeline 300 calls each: every client
// receives both clients' patches and events and its own results, over a
// thousand frames in a burst, and neither is cut.
func TestPipelinedCallsOnAWatchedInstance(t *testing.T) {
	t.Parallel()
	const calls = 300
	r := coreRig(t, gateway.Config{})
	clients := []*client{dial(t, r.url), dial(t, r.url)}
	for _, c := range clients {
		c.welcome()
		c.send(string(protocol.AppendSubscription(nil, protocol.TypeEventSub, "tally", "piped")))
		c.send(string(protocol.AppendSubscription(nil, protocol.TypeStateSub, "tally", "piped")))
		for f := c.read(); f.Type != protocol.TypeStateSnapshot; f = c.read() {
		}
	}
	for _, c := range clients {
		for i := range calls {
			c.send(rpcFrame("p"+strconv.Itoa(i), "tally", "piped", "inc", ""))
		}
	}
	for n, c := range clients {
		results, last := 0, 0
		for results < calls || last < 2*calls {
			f := c.read()
			switch f.Type {
			case protocol.TypeRPCResult:
				if f.Error != nil {
					t.Fatalf("client %d: call %s failed: %s", n, f.ID, *f.Error)
				}
				results++
			case protocol.TypeEvent:
				if err := json.Unmarshal(f.Payload, &last); err != nil {
					t.Fatalf("client %d: event payload %s: %v", n, f.Payload, err)
				}
			}
		}
	}
	if s := r.gw.Stats(); s.SlowDisconnects != 0 {
		t.Fatalf("SlowDisconnects = %d, want 0", s.SlowDisconnects)
	}
}
