package standalone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/wsconn"
)

// Server hosts a [zocket.App] in one process and serves it over WebSockets.
// Create it with [New], serve it with [Server.Run] or mount [Server.Handler],
// and stop it with [Server.Shutdown]. A Server runs once: after Shutdown it
// refuses new connections for good. All methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *engine.Engine
	hub    *wsconn.Hub // the live connections, the write watchdog
	h      http.Handler
	srv    *wsconn.Server

	stats stats
}

// Stats is a snapshot of a server's counters.
type Stats struct {
	Connections      int64 // open WebSocket connections
	ConnectionsTotal int64 // connections accepted since New
	FramesIn         int64 // client frames read
	FramesOut        int64 // server frames written to sockets
	BadFrames        int64 // client frames refused by the protocol decoder
	Queued           int64 // frames waiting in send queues now
	Dropped          int64 // frames for connections that had already gone
	SlowDisconnects  int64 // connections closed because their send queue was full
	AuthRefused      int64 // upgrades refused by the Authenticator
}

// stats are the server's own counters; the connections' are the hub's.
type stats struct {
	conns, connsTotal atomic.Int64
	refused           atomic.Int64
}

// New returns a server for app. It fails, wrapping zocket.ErrInvalidOption,
// when a Config field is out of range.
func New(app *zocket.App, cfg Config) (*Server, error) {
	if app == nil {
		return nil, fmt.Errorf("standalone: %w: nil app", zocket.ErrInvalidOption)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg,
		log: cfg.Logger.With(slog.String("component", "standalone")),
		hub: wsconn.NewHub(wsconn.Config{
			Settings: cfg.WebSocket,
			// One watchdog per server: a socket deadline set and cleared
			// around every frame cost about 3% of CPU in the round-trip
			// benchmark.
			WatchWrites: true,
		}),
	}
	s.engine = engine.New(app, engine.Config{
		Host:             engine.HostFunc(s.deliver),
		IdleTimeout:      cfg.IdleTimeout,
		MaxQueue:         cfg.MaxQueue,
		MaxSessionQueue:  cfg.MaxSessionQueue,
		MaxSubscriptions: cfg.MaxSubscriptions,
		CallTimeout:      cfg.CallTimeout,
		MaxInstances:     cfg.MaxInstances,
		Logger:           cfg.Logger,
	})
	open := func() bool { return !s.hub.Closing() }
	admission := wsconn.NewAdmission(cfg.Authenticator, cfg.WebSocket, s.log, func(error) { s.stats.refused.Add(1) })
	s.h = wsconn.Handler(admission.Wrap(s.serveWebSocket), open, open, cfg.Pages)
	s.srv = &wsconn.Server{
		Name: "standalone", Handler: s.h, Logger: s.log, DrainTimeout: cfg.DrainTimeout, Shutdown: s.Shutdown,
	}
	return s, nil
}

// Handler returns the server's HTTP handler: the WebSocket endpoint at "/",
// GET /health answering 200 {"ok":true} (503 {"ok":false} once shutting
// down), GET /ready the same as {"ready":...}, and [Config.Pages] (or 426 at "/" and 404 elsewhere) for other
// plain requests. Mount it in any mux, under a
// prefix with http.StripPrefix. WebSocket connections outlive the request:
// stop them with [Server.Shutdown].
func (s *Server) Handler() http.Handler { return s.h }

// Engine returns the engine that runs the server's actors, for read-only
// uses such as package inspect.
func (s *Server) Engine() *engine.Engine { return s.engine }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	hc := s.hub.Counters()
	return Stats{
		Connections:      s.stats.conns.Load(),
		ConnectionsTotal: s.stats.connsTotal.Load(),
		FramesIn:         hc.FramesIn.Load(),
		FramesOut:        hc.FramesOut.Load(),
		BadFrames:        hc.BadFrames.Load(),
		Queued:           hc.Queued.Load(),
		Dropped:          hc.Dropped.Load(),
		SlowDisconnects:  hc.Slow.Load(),
		AuthRefused:      s.stats.refused.Load(),
	}
}

// deliver is the engine's Host: it routes each frame to its connection's
// send queue without blocking. Frames for connections that are gone are
// dropped.
func (s *Server) deliver(_ *engine.Request, out []engine.Outgoing) {
	var (
		lastID string
		last   *wsconn.Conn
	)
	for i := range out {
		o := &out[i]
		if last == nil || o.SessionID != lastID {
			lastID, last = o.SessionID, s.hub.Get(o.SessionID)
		}
		if last == nil {
			s.hub.Counters().Dropped.Add(1)
			continue
		}
		last.Send(o.Frame)
	}
}

// Run listens on addr (":3000" when empty) and serves [Server.Handler]
// until ctx is cancelled, then shuts down gracefully within
// [Config.DrainTimeout] (see [Server.Shutdown]). It returns after every
// goroutine it started has returned: nil after a clean shutdown, or the
// listen or serve error.
func (s *Server) Run(ctx context.Context, addr string) error { return s.srv.Run(ctx, addr) }

// Serve is [Server.Run] on a listener it takes over (and closes).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error { return s.srv.Serve(ctx, ln) }

// Shutdown stops the server gracefully: it refuses new connections (503),
// lets the engine finish queued calls and run OnDeactivate on every live
// instance (their frames still reach the clients, and frames arriving
// meanwhile are answered "server shutting down"), flushes each connection's
// send queue and closes it with close code 1001 (going away). When ctx
// expires first, remaining sockets are closed at once and Shutdown returns
// ctx's error after their goroutines have returned. Calling Shutdown again
// waits for the first call.
func (s *Server) Shutdown(ctx context.Context) error {
	if first, err := s.hub.BeginShutdown(ctx); !first {
		return err
	}
	defer s.hub.EndShutdown()
	s.log.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Int64("connections", s.stats.conns.Load()))

	engineErr := s.engine.Close(ctx)
	if engineErr != nil {
		engineErr = fmt.Errorf("standalone: drain actors: %w", engineErr)
	}
	if err := s.hub.Drain(ctx, websocket.StatusGoingAway, "server shutting down", nil); err != nil {
		return errors.Join(engineErr, fmt.Errorf("standalone: close connections: %w", err))
	}
	return engineErr
}
