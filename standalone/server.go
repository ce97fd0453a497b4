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
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
)

// Server hosts a [zocket.App] in one process and serves it over WebSockets.
// Create it with [New], serve it with [Server.Run] or mount [Server.Handler],
// and stop it with [Server.Shutdown]. A Server runs once: after Shutdown it
// refuses new connections for good. All methods are safe for concurrent use.
type Server struct {
	tracer trace.Tracer // Config.TracerProvider's; nil: tracing off
	cfg    Config
	log    *slog.Logger
	engine *engine.Engine
	hub    *wsconn.Hub // the live connections, the write watchdog
	h      http.Handler
	srv    *wsconn.Server
	admit  *wsconn.Admission

	stats         stats
	detachMetrics func()
}

// Stats is a snapshot of a server's counters. With Config.Metrics, every
// scrape reads the fields with a metric tag (docs/METRICS.md).
type Stats struct {
	Connections      int64 `metric:"zocket_connections"`               // open WebSocket connections
	ConnectionsTotal int64 `metric:"zocket_connections_opened_total"`  // connections accepted since New
	FramesIn         int64 `metric:"zocket_frames_received_total"`     // client frames read
	FramesOut        int64 `metric:"zocket_frames_sent_total"`         // server frames written to sockets
	SocketWrites     int64 `metric:"zocket_socket_writes_total"`       // socket writes of those frames (a backlog goes out in one)
	BytesIn          int64 `metric:"zocket_bytes_received_total"`      // bytes of the client frames read
	BytesOut         int64 `metric:"zocket_bytes_sent_total"`          // bytes of the server frames written
	BadFrames        int64 `metric:"zocket_frames_refused_total"`      // client frames refused by the protocol decoder
	RateLimited      int64 `metric:"zocket_rate_limited_total"`        // rpcs refused for going over the frame rate (wsconfig.Settings.MaxFrameRate)
	Queued           int64 `metric:"zocket_send_queue_frames"`         // frames waiting in send queues now
	Dropped          int64 `metric:"zocket_frames_dropped_total"`      // frames for connections that had already gone
	SlowDisconnects  int64 `metric:"zocket_slow_clients_closed_total"` // connections closed because their send queue was full
	// Upgrades by what authentication made of them (all zero without an
	// Authenticator, except ConnLimited).
	AuthOK          int64 `metric:"zocket_auth_total,result=ok"`          // admitted by the Authenticator
	AuthRefused     int64 `metric:"zocket_auth_total,result=refused"`     // refused by the Authenticator (401)
	AuthUnavailable int64 `metric:"zocket_auth_total,result=unavailable"` // the Authenticator could not decide (503)
	AuthThrottled   int64 `metric:"zocket_auth_total,result=throttled"`   // refused at once: the address was refused too often lately (429)
	ConnLimited     int64 `metric:"zocket_auth_total,result=over_limit"`  // refused: too many connections from the address or user (429)
}

// stats are the server's own counters; the connections' are the hub's,
// authentication's the admission's.
type stats struct {
	conns, connsTotal atomic.Int64
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
		tracer: tracing.Tracer(cfg.TracerProvider),
		cfg:    cfg,
		log:    cfg.Logger.With(slog.String("component", "standalone")),
		hub: wsconn.NewHub(wsconn.Config{
			Settings: cfg.WebSocket,
			// One watchdog per server: a socket deadline set and cleared
			// around every frame cost about 3% of CPU in the round-trip
			// benchmark.
			WatchWrites: true,
			Metrics:     cfg.Metrics,
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
		Logger:           s.log,
		Metrics:          cfg.Metrics,
		TracerProvider:   cfg.TracerProvider,
	})
	open := func() bool { return !s.hub.Closing() }
	ready := func() string {
		if s.hub.Closing() {
			return wsconn.NotReadyDraining
		}
		return ""
	}
	s.admit = wsconn.NewAdmission(cfg.Authenticator, cfg.WebSocket, s.log)
	s.h = wsconn.Handler(s.admit.Wrap(s.serveWebSocket), open, ready, cfg.Pages)
	s.detachMetrics = metrics.Attach(cfg.Metrics, s.Stats)
	s.srv = &wsconn.Server{
		Name: "standalone", Handler: s.h, Logger: s.log, DrainTimeout: cfg.DrainTimeout, Shutdown: s.Shutdown,
	}
	return s, nil
}

// Handler returns the server's HTTP handler: the WebSocket endpoint at "/",
// GET /health answering 200 {"ok":true} (503 {"ok":false} once shutting
// down), GET /ready the same as {"ready":...} (with "reason":"draining"
// when shutting down), and [Config.Pages] (or 426 at "/" and 404 elsewhere) for other
// plain requests. Mount it in any mux, under a
// prefix with http.StripPrefix. WebSocket connections outlive the request:
// stop them with [Server.Shutdown].
func (s *Server) Handler() http.Handler { return s.h }

// Engine returns the engine that runs the server's actors, for read-only
// uses such as package inspect.
func (s *Server) Engine() *engine.Engine { return s.engine }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	hc, ac := s.hub.Counters(), s.admit.Counts()
	return Stats{
		Connections:      s.stats.conns.Load(),
		ConnectionsTotal: s.stats.connsTotal.Load(),
		FramesIn:         hc.FramesIn.Load(),
		FramesOut:        hc.FramesOut.Load(),
		SocketWrites:     hc.Writes.Load(),
		BytesIn:          hc.BytesIn.Load(),
		BytesOut:         hc.BytesOut.Load(),
		BadFrames:        hc.BadFrames.Load(),
		RateLimited:      hc.RateLimited.Load(),
		Queued:           hc.Queued.Load(),
		Dropped:          hc.Dropped.Load(),
		SlowDisconnects:  hc.Slow.Load(),
		AuthOK:           ac.OK,
		AuthRefused:      ac.Refused,
		AuthUnavailable:  ac.Unavailable,
		AuthThrottled:    ac.Throttled,
		ConnLimited:      ac.OverLimit,
	}
}

// deliver is the engine's Host: it routes each frame to its connection's
// send queue without blocking. Frames for connections that are gone are
// dropped.
func (s *Server) deliver(req *engine.Request, out []engine.Outgoing) {
	if s.tracer != nil && req != nil && req.Frame.Type == protocol.TypeRPC && req.Context != nil {
		defer trace.SpanFromContext(req.Context).End() // handle's span: the rpc:result is queued below
	}
	var (
		lastID string
		last   *wsconn.Conn
		few    [8]*wsconn.Conn
		woken  = few[:0] // a fan-out's writers, woken once all is queued
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
		if len(out) == 1 {
			last.Send(o.Frame)
		} else if last.SendQuiet(o.Frame) && (len(woken) == 0 || woken[len(woken)-1] != last) {
			// Woken one by one, thousands of writers would take the CPU
			// from this fan-out before it is done (the gateway's router
			// does the same).
			woken = append(woken, last)
		}
	}
	for _, c := range woken {
		c.Wake()
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
	defer s.detachMetrics()
	s.log.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Int64("connections", s.stats.conns.Load()))

	engineErr := s.engine.Close(ctx)
	if engineErr != nil {
		engineErr = fmt.Errorf("standalone: drain actors: %w", engineErr)
	}
	if err := s.hub.Drain(ctx, websocket.StatusGoingAway, protocol.ErrShuttingDown.Error(), nil); err != nil {
		return errors.Join(engineErr, fmt.Errorf("standalone: close connections: %w", err))
	}
	return engineErr
}
