package gateway

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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
)

// Gateway terminates WebSockets and joins them to the NATS fabric. Create it
// with [New], serve it with [Gateway.Run] or mount [Gateway.Handler], and
// stop it with [Gateway.Shutdown]. A Gateway runs once: after Shutdown it
// refuses new sessions for good. All methods are safe for concurrent use.
type Gateway struct {
	cfg        Config
	log        *slog.Logger
	js         jetstream.JetStream
	actors     *actorCache
	accept     *websocket.AcceptOptions
	authURL    string
	maxPayload int64
	h          http.Handler

	sessions sync.Map // session id → *session

	mu      sync.Mutex // guards closing and wg.Add against Shutdown's wg.Wait
	closing bool
	wg      sync.WaitGroup // one per WebSocket handler goroutine
	down    chan struct{}  // closed when the first Shutdown has finished
	// abortCtx is cancelled when Shutdown runs out of time: sessions then
	// skip deleting their consumers.
	abortCtx context.Context
	abort    context.CancelFunc

	stats stats
}

// Stats is a snapshot of a gateway's counters.
type Stats struct {
	SessionsOpen      int64 // sessions whose socket is open now
	SessionsTotal     int64 // sessions accepted since New
	AuthRefused       int64 // upgrades refused with 401 (control plane said no)
	AuthUnavailable   int64 // upgrades refused with 503 (control plane unreachable, slow or nonsensical)
	ConsumerFailures  int64 // sessions closed because their OUTBOUND consumer could not be created or failed
	ConsumerLeftovers int64 // consumers of closed sessions the gateway could not delete (they expire on their own)
	PublishFailures   int64 // client frames JetStream did not acknowledge
	UnknownActor      int64 // client frames for actor types no runtime serves
	SlowDisconnects   int64 // sessions closed because their send queue was full
	FramesIn          int64 // client frames read
	FramesOut         int64 // server frames written to sockets
	BadFrames         int64 // client frames refused by the protocol decoder
	BadOutbound       int64 // malformed outbound envelopes skipped
}

type stats struct {
	open, total, authRefused, authUnavailable, consumerFailures, leftovers,
	publishFailures, unknownActor, slow, framesIn, framesOut, badFrames, badOutbound atomic.Int64
}

// New returns a gateway for cfg after ensuring the INBOUND and OUTBOUND
// streams (natstransport.EnsureStreams with cfg.Streams, bounded by
// cfg.BootTimeout). It fails, wrapping [ErrInvalidConfig], when a Config
// field is out of range, or with the EnsureStreams error (for example a
// *natstransport.MismatchError) when the streams cannot be set up.
func New(cfg Config) (*Gateway, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.NATS)
	if err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.BootTimeout)
	defer cancel()
	if err := natstransport.EnsureStreams(ctx, js, cfg.Streams); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{
		cfg:        cfg,
		log:        cfg.Logger.With(slog.String("component", "gateway")),
		js:         js,
		actors:     newActorCache(js, cfg.ActorCheckTTL, cfg.JetStreamTimeout),
		accept:     &websocket.AcceptOptions{OriginPatterns: cfg.OriginPatterns},
		maxPayload: cfg.NATS.MaxPayload(),
		down:       make(chan struct{}),
	}
	g.abortCtx, g.abort = context.WithCancel(context.Background())
	if len(cfg.OriginPatterns) == 1 && cfg.OriginPatterns[0] == "*" {
		g.accept = &websocket.AcceptOptions{InsecureSkipVerify: true}
	}
	if cfg.ControlPlaneURL != "" {
		g.authURL = strings.TrimSuffix(cfg.ControlPlaneURL, "/") + AuthorizePath
	}
	g.h = http.HandlerFunc(g.serveHTTP)
	return g, nil
}

// Handler returns the gateway's HTTP handler:
//
//   - GET /health answers 200 {"ok":true};
//   - a WebSocket upgrade at "/" opens a session: it is authorized first (no
//     control plane: Config.Scope, user id null, claims {}; with one: POST
//     {ControlPlaneURL}/api/registry/authorize with the bearer token and
//     {"host","token"}, where a non-2xx answer refuses the upgrade with 401
//     and a control plane that cannot be reached within AuthTimeout, or
//     answers with an unusable scope, with 503);
//   - any other plain request goes to Config.Pages, or gets 426 Upgrade
//     Required at "/" and 404 elsewhere when Pages is nil.
//
// A session gets a welcome frame at once, then the server frames of its
// OUTBOUND subject in order. Its socket is closed with 1001 on shutdown,
// 1008 when the client does not read ("send queue full") or answer pings,
// 1009 for a frame over MaxFrameBytes, 1013 when its OUTBOUND consumer
// cannot be created or fails, and 1011 when the NATS connection is closed.
// Sessions outlive the HTTP request: stop them with [Gateway.Shutdown].
func (g *Gateway) Handler() http.Handler { return g.h }

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	s := &g.stats
	return Stats{
		SessionsOpen:      s.open.Load(),
		SessionsTotal:     s.total.Load(),
		AuthRefused:       s.authRefused.Load(),
		AuthUnavailable:   s.authUnavailable.Load(),
		ConsumerFailures:  s.consumerFailures.Load(),
		ConsumerLeftovers: s.leftovers.Load(),
		PublishFailures:   s.publishFailures.Load(),
		UnknownActor:      s.unknownActor.Load(),
		SlowDisconnects:   s.slow.Load(),
		FramesIn:          s.framesIn.Load(),
		FramesOut:         s.framesOut.Load(),
		BadFrames:         s.badFrames.Load(),
		BadOutbound:       s.badOutbound.Load(),
	}
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"ok":true}`))
	case r.URL.Path == "/" && isUpgrade(r):
		g.serveSession(w, r)
	case g.cfg.Pages != nil:
		g.cfg.Pages.ServeHTTP(w, r)
	case r.URL.Path == "/":
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a Zocket WebSocket endpoint: connect with a WebSocket client", http.StatusUpgradeRequired)
	default:
		http.NotFound(w, r)
	}
}

// isUpgrade reports whether r asks for a WebSocket upgrade; Accept checks
// the rest of the handshake.
func isUpgrade(r *http.Request) bool {
	return hasToken(r.Header, "Connection", "upgrade") && hasToken(r.Header, "Upgrade", "websocket")
}

func hasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// track counts one session handler, or reports false once shutting down.
func (g *Gateway) track() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	return true
}

// register adds s to the live sessions, or reports false once shutting
// down (Shutdown has already taken its list).
func (g *Gateway) register(s *session) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.sessions.Store(s.id, s)
	return true
}

// Run listens on addr (":3000" when empty) and serves [Gateway.Handler]
// until ctx is cancelled, then shuts down gracefully within
// Config.DrainTimeout (see [Gateway.Shutdown]). It returns after every
// goroutine it started has returned: nil after a clean shutdown, otherwise
// the listen, serve or shutdown error.
func (g *Gateway) Run(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":3000"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return g.Serve(ctx, ln)
}

// Serve is [Gateway.Run] on a listener it takes over and closes.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           g.h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	g.log.LogAttrs(ctx, slog.LevelInfo, "serving", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		errc = nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.DrainTimeout)
	defer cancel()
	// http.Server.Shutdown closes the listener and waits for plain
	// requests, including upgrades still being authorized; hijacked
	// sockets are ours to close.
	httpErr := hs.Shutdown(dctx)
	shutErr := g.Shutdown(dctx)
	if errc != nil {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	switch {
	case serveErr != nil:
		return fmt.Errorf("gateway: serve: %w", serveErr)
	case httpErr != nil:
		return fmt.Errorf("gateway: shutdown http: %w", httpErr)
	}
	return shutErr
}

// Shutdown stops the gateway gracefully: new upgrades get 503; every
// session stops consuming OUTBOUND, has the frames already queued written,
// and is closed with code 1001 ("server shutting down"); its consumer is
// deleted and its session.disconnected notice published. Shutdown then
// flushes the NATS connection (it does not close it) and returns once every
// session goroutine has returned. When ctx expires first, the remaining
// sockets are severed and their consumers left to expire; Shutdown still
// waits for the goroutines (each step is bounded by the Config timeouts)
// and returns ctx's error. Calling it again waits for the first call.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	first := !g.closing
	g.closing = true
	g.mu.Unlock()
	if !first {
		select {
		case <-g.down:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(g.down)
	defer g.abort() // releases abortCtx
	g.log.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Int64("sessions", g.stats.open.Load()))
	g.sessions.Range(func(_, v any) bool {
		v.(*session).stop(websocket.StatusGoingAway, reasonShutdown, true)
		return true
	})
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("gateway: close sessions: %w", ctx.Err())
		g.abort()
		g.sessions.Range(func(_, v any) bool {
			v.(*session).sever()
			return true
		})
		<-done
	}
	fctx := ctx
	if ctx.Err() != nil { // still give the notices a moment to leave
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
	}
	if ferr := g.cfg.NATS.FlushWithContext(fctx); ferr != nil && err == nil && g.cfg.NATS.IsConnected() {
		err = fmt.Errorf("gateway: flush NATS: %w", ferr)
	}
	return err
}
