package runtime

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/natstransport"
)

// sweepTimeout bounds one listing of OUTBOUND's consumers.
const sweepTimeout = 30 * time.Second

// sweepSessions expires, every Config.SessionSweep until ctx ends, the
// sessions whose gateway went away without announcing their disconnect: a
// gateway that crashes or loses NATS for good never publishes
// session.disconnected, and a notice can be lost (core NATS delivers at
// most once). Without this, OnDisconnect would never run for them and
// their instances would never be evicted.
//
// The signal is the session's consumer on OUTBOUND, which a live gateway
// keeps and the server drops once nobody has pulled from it for its
// inactive threshold. A session must be missing from two listings in a row
// before it is expired, so that a consumer being created (the first frames
// can reach the runtime first) or re-created by nats.go is not mistaken for
// a dead one. Expiring, unlike a disconnect notice, lets a session that was
// alive after all (a partition that healed) connect again with its next
// frame.
func (rt *Runtime) sweepSessions(ctx context.Context) {
	tick := time.NewTicker(rt.cfg.SessionSweep)
	defer tick.Stop()
	var missed map[string]struct{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		missed = rt.sweep(ctx, missed)
	}
}

// sweep runs one check. missedBefore holds the sessions the previous check
// found without a consumer; it returns those this one found.
func (rt *Runtime) sweep(ctx context.Context, missedBefore map[string]struct{}) map[string]struct{} {
	known := rt.engine.Sessions()
	if len(known) == 0 {
		return nil
	}
	// A frame that arrives from here on proves its session alive, whatever
	// the listing says: its consumer may have been re-created after the
	// server listed the consumers, and the frame a resubscription.
	listed := rt.engine.Mark()
	live, err := rt.liveSessions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			rt.log.LogAttrs(ctx, slog.LevelWarn, "session sweep skipped: OUTBOUND consumers not listed", slog.Any("err", err))
		}
		return missedBefore // an incomplete listing proves nothing either way
	}
	missed := make(map[string]struct{})
	expired := 0
	for _, id := range known {
		if _, ok := live[id]; ok {
			continue
		}
		if _, ok := missedBefore[id]; !ok {
			missed[id] = struct{}{}
			continue
		}
		if !rt.engine.Expire(id, listed) {
			continue
		}
		rt.pub.forget(id)
		expired++
		rt.stats.expired.Add(1)
		rt.log.LogAttrs(ctx, slog.LevelDebug, "session expired", slog.String("session_id", id))
	}
	if expired > 0 {
		rt.log.LogAttrs(ctx, slog.LevelWarn, "sessions expired: no gateway holds them, but no disconnect notice came",
			slog.Int("count", expired))
	}
	return missed
}

// liveSessions returns the sessions a gateway holds: in DeliveryConsumer
// those with a consumer on OUTBOUND, in DeliveryCore those named on
// session.alive since the previous call.
func (rt *Runtime) liveSessions(ctx context.Context) (map[string]struct{}, error) {
	if rt.cfg.Delivery == natstransport.DeliveryCore {
		rt.aliveMu.Lock()
		defer rt.aliveMu.Unlock()
		live := rt.alive
		rt.alive = make(map[string]struct{}, len(live))
		return live, nil
	}
	lctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	return natstransport.ConsumedSessions(lctx, rt.js, rt.cfg.Scope)
}

// onAlive records the sessions a gateway names on session.alive.
func (rt *Runtime) onAlive(m *nats.Msg) {
	n, err := natstransport.DecodeSessionAlive(m.Data)
	if err != nil || n.Scope != rt.cfg.Scope {
		rt.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed session.alive notice ignored",
			slog.String("subject", m.Subject), slog.Any("err", err))
		return
	}
	rt.aliveMu.Lock()
	defer rt.aliveMu.Unlock()
	for _, id := range n.SessionIDs {
		rt.alive[id] = struct{}{}
	}
}
