package standalone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket"
)

// Server hosts a [zocket.App] in one process and serves it over WebSockets.
// Create it with [New], serve it with [Server.Run] or mount [Server.Handler],
// and stop it with [Server.Shutdown]. A Server runs once: after Shutdown it
// refuses new connections for good. All methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *zocket.Engine
	accept *websocket.AcceptOptions
	h      http.Handler

	conns sync.Map // client id → *conn; read on every delivered frame

	mu       sync.Mutex // guards closing, watchdog and wg.Add against Shutdown's wg.Wait
	closing  bool
	wg       sync.WaitGroup // one per WebSocket handler goroutine
	down     chan struct{}  // closed when Shutdown has finished
	watchdog chan struct{}  // closed to stop the watchdog; nil until the first connection
	dogDone  chan struct{}  // closed when the watchdog has returned
	epoch    time.Time      // origin of clock

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
}

type stats struct {
	conns, connsTotal, framesIn, framesOut, badFrames, queued, dropped, slow atomic.Int64
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
		cfg:    cfg,
		log:    cfg.Logger.With(slog.String("component", "standalone")),
		accept: &websocket.AcceptOptions{OriginPatterns: cfg.OriginPatterns},
		down:   make(chan struct{}),
		epoch:  time.Now(),
	}
	if len(cfg.OriginPatterns) == 1 && cfg.OriginPatterns[0] == "*" {
		s.accept = &websocket.AcceptOptions{InsecureSkipVerify: true}
	}
	s.engine = zocket.NewEngine(app, zocket.EngineConfig{
		Host:        zocket.HostFunc(s.deliver),
		IdleTimeout: cfg.IdleTimeout,
		MaxQueue:    cfg.MaxQueue,
		Logger:      cfg.Logger,
	})
	s.h = http.HandlerFunc(s.serveHTTP)
	return s, nil
}

// Handler returns the server's HTTP handler: the WebSocket endpoint at "/",
// GET /health answering 200 {"ok":true} (503 {"ok":false} once shutting
// down), and [Config.Pages] (or 426 at "/" and 404 elsewhere) for other
// plain requests. Mount it in any mux, under a
// prefix with http.StripPrefix. WebSocket connections outlive the request:
// stop them with [Server.Shutdown].
func (s *Server) Handler() http.Handler { return s.h }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:      s.stats.conns.Load(),
		ConnectionsTotal: s.stats.connsTotal.Load(),
		FramesIn:         s.stats.framesIn.Load(),
		FramesOut:        s.stats.framesOut.Load(),
		BadFrames:        s.stats.badFrames.Load(),
		Queued:           s.stats.queued.Load(),
		Dropped:          s.stats.dropped.Load(),
		SlowDisconnects:  s.stats.slow.Load(),
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if s.isClosing() { // tell load balancers to stop sending clients here
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"ok":false}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	case r.URL.Path == "/" && isWebSocketUpgrade(r):
		s.serveWebSocket(w, r)
	case s.cfg.Pages != nil:
		s.cfg.Pages.ServeHTTP(w, r)
	case r.URL.Path == "/":
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a Zocket WebSocket endpoint: connect with a WebSocket client", http.StatusUpgradeRequired)
	default:
		http.NotFound(w, r)
	}
}

// isWebSocketUpgrade reports whether r asks for a WebSocket upgrade. Accept
// checks the rest of the handshake.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// deliver is the engine's Host: it routes each frame to its connection's
// send queue without blocking. Frames for connections that are gone are
// dropped.
func (s *Server) deliver(_ *zocket.Request, out []zocket.Outgoing) {
	var (
		lastID string
		last   *conn
	)
	for i := range out {
		o := &out[i]
		if last == nil || o.SessionID != lastID {
			lastID, last = o.SessionID, nil
			if v, ok := s.conns.Load(o.SessionID); ok {
				last = v.(*conn)
			}
		}
		if last == nil {
			s.stats.dropped.Add(1)
			continue
		}
		last.send(o.Frame)
	}
}

// register adds c to the live connections, or reports false when the
// server is shutting down.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns.Store(c.id, c)
	return true
}

// track counts one handler goroutine, or reports false when the server is
// shutting down.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.watchdog == nil {
		s.watchdog, s.dogDone = make(chan struct{}), make(chan struct{})
		go s.watch(s.watchdog, s.dogDone)
	}
	s.wg.Add(1)
	return true
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// clock returns the time since New, monotonic and never 0 in practice.
func (s *Server) clock() time.Duration { return time.Since(s.epoch) }

// watch severs connections whose current write has outlived WriteTimeout,
// checking every quarter of it, until stop is closed.
func (s *Server) watch(stop, done chan struct{}) {
	defer close(done)
	limit := s.cfg.WriteTimeout
	t := time.NewTicker(max(limit/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := s.clock()
		s.conns.Range(func(_, v any) bool {
			c := v.(*conn)
			if since := c.writing.Load(); since != 0 && now-time.Duration(since) > limit {
				c.log.LogAttrs(context.Background(), slog.LevelInfo, "write timed out; dropping client",
					slog.Duration("timeout", limit))
				c.stop(websocket.StatusAbnormalClosure, "write timeout", false)
				c.sever()
			}
			return true
		})
	}
}

// Run listens on addr (":3000" when empty) and serves [Server.Handler]
// until ctx is cancelled, then shuts down gracefully within
// [Config.DrainTimeout] (see [Server.Shutdown]). It returns after every
// goroutine it started has returned: nil after a clean shutdown, or the
// listen or serve error.
func (s *Server) Run(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":3000"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("standalone: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is [Server.Run] on a listener it takes over (and closes).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "serving", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		errc = nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	// http.Server.Shutdown closes the listener and waits for plain requests;
	// hijacked WebSocket connections are ours to close.
	httpErr := hs.Shutdown(dctx)
	shutErr := s.Shutdown(dctx)
	if errc != nil {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	if serveErr != nil {
		return fmt.Errorf("standalone: serve: %w", serveErr)
	}
	if httpErr != nil {
		return fmt.Errorf("standalone: shutdown http: %w", httpErr)
	}
	return shutErr
}

// Shutdown stops the server gracefully: it refuses new connections (503),
// lets the engine finish queued calls and run OnDeactivate on every live
// instance (their frames still reach the clients, and frames arriving
// meanwhile are answered "server shutting down"), flushes each connection's
// send queue and closes it with close code 1001 (going away). When ctx
// expires first, remaining sockets are closed at once and Shutdown returns
// ctx's error after their goroutines have returned. Calling Shutdown again
// waits for the first call.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing
	s.closing = true
	s.mu.Unlock()
	if !first {
		select {
		case <-s.down:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(s.down)
	s.log.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Int64("connections", s.stats.conns.Load()))

	engineErr := s.engine.Close(ctx)
	if engineErr != nil {
		engineErr = fmt.Errorf("standalone: drain actors: %w", engineErr)
	}
	s.conns.Range(func(_, v any) bool {
		v.(*conn).stop(websocket.StatusGoingAway, "server shutting down", true)
		return true
	})

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
		err = engineErr
	case <-ctx.Done():
		// Out of time: sever every socket; that unblocks all their
		// goroutines.
		s.conns.Range(func(_, v any) bool {
			v.(*conn).sever()
			return true
		})
		<-done
		err = errors.Join(engineErr, fmt.Errorf("standalone: close connections: %w", ctx.Err()))
	}
	// No handler can start the watchdog any more (closing is set).
	if s.watchdog != nil {
		close(s.watchdog)
		<-s.dogDone
	}
	return err
}
