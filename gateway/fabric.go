package gateway

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/natstransport"
)

// ReadyPath answers whether the gateway can serve sessions now: 200
// {"ready":true} while its NATS connection is up, the streams were in
// place at the last look and it is not shutting down, 503
// {"ready":false,"reason":...} otherwise, the reason being "draining"
// (shutting down: new sessions are refused with 503 too), "NATS
// disconnected" (a nats-server restarting) or "streams missing" (one that
// came back without its memory streams and has not got them back yet).
// /health, by contrast, says only that the process is alive.
const ReadyPath = "/ready"

// ready returns why the gateway is not ready, or "" when it is.
func (g *Gateway) ready() string {
	switch {
	case g.hub.Closing():
		return wsconn.NotReadyDraining
	case !g.cfg.NATS.IsConnected():
		return wsconn.NotReadyNATS
	case !g.streamsOK.Load():
		return wsconn.NotReadyStreams
	}
	return ""
}

// repairSoon asks watchNATS to ensure the streams again: a publish found
// INBOUND missing.
func (g *Gateway) repairSoon() {
	g.streamsOK.Store(false)
	select {
	case g.repair <- struct{}{}:
	default: // one is pending already
	}
}

// ensureStreams puts the streams back after a NATS restart lost them
// (memory storage) or an operator deleted them, and records the outcome
// for ReadyPath.
func (g *Gateway) ensureStreams(why string) {
	ctx, cancel := context.WithTimeout(g.watchCtx, g.cfg.JetStreamTimeout)
	defer cancel()
	err := natstransport.EnsureStreams(ctx, g.js, g.cfg.Streams)
	if g.watchCtx.Err() != nil {
		return // shutting down
	}
	g.streamsOK.Store(err == nil)
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "ensure streams", slog.String("why", why), slog.Any("err", err))
		return
	}
	g.log.LogAttrs(ctx, slog.LevelDebug, "streams ensured", slog.String("why", why))
}

// streamMissing reports whether a publish failed because its stream is
// gone (as opposed to slow or unreachable).
func streamMissing(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
}
