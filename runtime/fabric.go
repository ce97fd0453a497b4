package runtime

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
)

// fabricCheckInterval is how often the runtime checks that its streams and
// consumers still exist.
const fabricCheckInterval = 2 * time.Second

// ensureTimeout bounds re-ensuring the streams after they were found missing.
const ensureTimeout = 10 * time.Second

// watchFabric keeps the streams and the durable consumers in place until
// ctx is cancelled. A nats-server restarted with memory storage comes back
// without them, and an operator may delete them: nats.go then keeps
// pulling from a consumer that is gone, reporting missed heartbeats
// forever. So, every fabricCheckInterval and whenever the connection comes
// back, the runtime asks for each consumer; one that is missing (or whose
// stream is) makes it ensure both streams and restart that consumption,
// which re-creates the consumer (consumeLoop.supervise). Whether the last
// check passed is part of what /ready reports.
func (rt *Runtime) watchFabric(ctx context.Context, s *runState) {
	status := rt.cfg.NATS.StatusChanged(nats.CONNECTED)
	defer rt.cfg.NATS.RemoveStatusListener(status)
	tick := time.NewTicker(fabricCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-status:
		}
		rt.fabricOK.Store(rt.checkFabric(ctx, s))
	}
}

// checkFabric checks every consumer once, repairing what is missing, and
// reports whether all were in place.
func (rt *Runtime) checkFabric(ctx context.Context, s *runState) bool {
	if !rt.cfg.NATS.IsConnected() {
		return false
	}
	ok := true
	ensured := false
	for _, l := range s.loops {
		cctx, cancel := context.WithTimeout(ctx, infoTimeout)
		info, err := l.consumer().Info(cctx)
		cancel()
		switch {
		case err == nil:
			l.t.report(info)
			continue
		case ctx.Err() != nil:
			return false
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			ok = false
			if !ensured {
				ensured = true
				rt.log.LogAttrs(ctx, slog.LevelWarn, "consumer or stream missing (NATS restarted with memory storage?): ensuring streams",
					slog.String("durable", l.t.consumer.Durable), slog.Any("err", err))
				ectx, cancel := context.WithTimeout(ctx, ensureTimeout)
				err := natstransport.EnsureStreams(ectx, rt.js, rt.cfg.Streams)
				cancel()
				if err != nil {
					rt.log.LogAttrs(ctx, slog.LevelError, "ensure streams", slog.Any("err", err))
					return false
				}
			}
			l.current().Stop() // supervise re-creates the consumer and consumes again
		default:
			ok = false
			rt.log.LogAttrs(ctx, slog.LevelDebug, "consumer check", slog.String("durable", l.t.consumer.Durable),
				slog.Any("err", err))
		}
	}
	return ok
}

// report sets the consumer's pending counts in Config.Metrics from info,
// as watchFabric last read them.
func (t *actorType) report(info *jetstream.ConsumerInfo) {
	if t.pending == nil {
		return
	}
	t.pending.Set(float64(info.NumPending))
	t.ackPending.Set(float64(info.NumAckPending))
}

// unreport clears the consumer's pending counts once the runtime stopped
// serving: a standby's would be stale.
func (t *actorType) unreport() {
	if t.pending == nil {
		return
	}
	t.pending.Set(0)
	t.ackPending.Set(0)
}
