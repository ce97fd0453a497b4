package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
)

// TestClusterFailover runs the distributed shape on a three-node NATS
// cluster with both streams at three replicas, then shuts one node down:
// first a node neither the gateway nor the runtime is connected to, then
// (on a fresh cluster) the node leading INBOUND. Calls may fail while a
// leader is elected; they are retried under a deadline, and service must
// resume.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	for _, victim := range []string{"unconnected node", "INBOUND leader"} {
		t.Run(victim, func(t *testing.T) {
			t.Parallel()
			ctx := waitCtx(t)
			start := time.Now()
			cl := natstest.RunCluster(t, 3)
			app, fx := newApp(t)
			d := startDistributed(t, app, distOptions{cluster: cl, streams: natstransport.StreamSettings{Replicas: 3}})
			t.Logf("cluster and roles up in %v", time.Since(start).Round(time.Millisecond))
			c := dial(t, d.URL, &client.Options{Reconnect: &client.ReconnectPolicy{MinDelay: 50 * time.Millisecond, MaxDelay: time.Second}})
			w, err := c.Actor("counter", "ha").WatchState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()

			for i := range 10 {
				if err := recordOnce(ctx, c, fmt.Sprintf("before-%d", i)); err != nil {
					t.Fatalf("call %d before the failover: %v", i, err)
				}
			}

			gwNode := d.gateways[0].nc.ConnectedServerName()
			rtNode := d.runtime.cfg.NATS.ConnectedServerName()
			leader := streamLeader(t, ctx, d, natstransport.InboundStream)
			outLeader := streamLeader(t, ctx, d, natstransport.OutboundStream)
			var node *natsembed.Server
			for _, s := range cl.Servers() {
				name := s.NATS().Name()
				if (victim == "INBOUND leader" && name == leader) ||
					(victim == "unconnected node" && name != gwNode && name != rtNode && node == nil) {
					node = s
				}
			}
			if node == nil {
				t.Fatalf("no node to shut down: gateway on %s, runtime on %s, INBOUND leader %s", gwNode, rtNode, leader)
			}
			name := node.NATS().Name()
			t.Logf("shutting down %s (gateway on %s, runtime on %s, INBOUND leader %s, OUTBOUND leader %s)",
				name, gwNode, rtNode, leader, outLeader)
			down := time.Now()
			node.Shutdown()

			// Every call is retried until it succeeds; the first success
			// after the shutdown marks recovery.
			const after = 30
			failures := 0
			var recovered time.Duration
			for i := range after {
				key := fmt.Sprintf("after-%d", i)
				for attempt := 0; ; attempt++ {
					err := recordOnce(ctx, c, key)
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						t.Fatalf("call %s: no success after %d attempts within the deadline; last error: %v", key, attempt+1, err)
					}
					failures++
					t.Logf("call %s attempt %d: %v", key, attempt+1, err)
				}
				if i == 0 {
					recovered = time.Since(down)
				}
			}
			for i := range after {
				if fx.recordedCount(fmt.Sprintf("after-%d", i)) == 0 {
					t.Errorf("call after-%d answered but never processed", i)
				}
			}
			// State still syncs: the watcher (possibly resubscribed after a
			// reconnect) catches up with the server.
			st, err := client.CallT[counterState](ctx, c.Actor("counter", "ha"), "get", nil)
			if err != nil {
				t.Fatal(err)
			}
			waitState(t, ctx, w, "the watcher to catch up after the failover", func(s counterState) bool { return s.Count == st.Count })
			newLeader := streamLeader(t, ctx, d, natstransport.InboundStream)
			t.Logf("first call after the shutdown answered after %v; %d calls, %d failed attempts; INBOUND leader now %s; gateway on %s, runtime on %s; %d handler runs for %d calls",
				recovered.Round(time.Millisecond), after, failures, newLeader,
				d.gateways[0].nc.ConnectedServerName(), d.runtime.cfg.NATS.ConnectedServerName(), st.Count, 10+after)
			if newLeader == name {
				t.Errorf("INBOUND still led by the stopped node %s", name)
			}
		})
	}
}

// recordOnce makes one "record" call with a bound of its own (20 s: after
// a node goes down, the gateway's ordered OUTBOUND consumer recovers only
// after two missed 5 s heartbeats, so answers can take 10 s), so that a
// call lost in a failover is retried instead of waiting for the test's
// deadline.
func recordOnce(ctx context.Context, c *client.Client, key string) error {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := client.CallT[string](cctx, c.Actor("counter", "ha"), "record", recordInput{Key: key})
	if err == nil && got != key {
		err = fmt.Errorf("answered %q", got)
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("no answer within 20 s: %w", err)
	}
	return err
}

// streamLeader returns the name of the server leading stream.
func streamLeader(t *testing.T, ctx context.Context, d *deployment, stream string) string {
	t.Helper()
	var leader string
	eventually(t, ctx, "a leader of "+stream, func() (bool, string) {
		s, err := d.js.Stream(ctx, stream)
		if err != nil {
			return false, err.Error()
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return false, "no leader"
		}
		var peers []string
		for _, p := range info.Cluster.Replicas {
			peers = append(peers, p.Name)
		}
		leader = info.Cluster.Leader
		return !slices.Contains(peers, leader), ""
	})
	return leader
}
