package wsconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Handler returns a host's HTTP handler: GET (or HEAD) /health answers 200
// {"ok":true} while healthy reports true and 503 {"ok":false} otherwise;
// GET /ready answers 200 {"ready":true} while ready returns "" and 503
// {"ready":false,"reason":...} with the reason it returns otherwise; a
// WebSocket upgrade at "/" goes to ws; any other request goes to pages or,
// when pages is nil, gets 426 Upgrade Required at "/" and 404 elsewhere.
func Handler(ws http.HandlerFunc, healthy func() bool, ready func() (reason string), pages http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/health":
			serveStatus(w, r, healthy(), "ok", "") // 503 tells load balancers to stop sending clients here
		case r.URL.Path == "/ready":
			reason := ready()
			serveStatus(w, r, reason == "", "ready", reason)
		case r.URL.Path == "/" && IsUpgrade(r):
			ws(w, r)
		case pages != nil:
			pages.ServeHTTP(w, r)
		default:
			NoPages(w, r)
		}
	})
}

// NoPages answers the plain requests of a host without pages: 426 Upgrade
// Required at "/", where a browser found the WebSocket endpoint, and 404
// elsewhere.
func NoPages(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Upgrade", "websocket")
	http.Error(w, "this is a Zocket WebSocket endpoint: connect with a WebSocket client", http.StatusUpgradeRequired)
}

// serveStatus answers a GET or HEAD probe with {"<field>":ok}, and 503
// when ok is false; a reason is added as "reason".
func serveStatus(w http.ResponseWriter, r *http.Request, ok bool, field, reason string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if reason == "" {
		_, _ = fmt.Fprintf(w, `{%q:%t}`, field, ok)
		return
	}
	b, _ := json.Marshal(reason) // a string: cannot fail
	_, _ = fmt.Fprintf(w, `{%q:%t,"reason":%s}`, field, ok, b)
}

// Reasons a host is not ready, for the body of GET /ready.
const (
	NotReadyDraining = "draining"          // shutting down: new connections are refused
	NotReadyNATS     = "NATS disconnected" // the NATS connection is down or closed
	NotReadyStreams  = "streams missing"   // INBOUND or OUTBOUND is missing and not back yet
)

// IsUpgrade reports whether r asks for a WebSocket upgrade; Accept checks
// the rest of the handshake.
func IsUpgrade(r *http.Request) bool {
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

// Server runs a host's handler on a listener and shuts it down gracefully.
type Server struct {
	Name         string       // prefix of the errors returned: "standalone", "gateway"
	Handler      http.Handler // the host's handler
	Logger       *slog.Logger // the host's logger; required
	DrainTimeout time.Duration
	// Shutdown is the host's graceful shutdown of its WebSocket connections,
	// called with a context bounded by DrainTimeout.
	Shutdown func(context.Context) error
}

// Run listens on addr (":3000" when empty) and calls [Server.Serve].
func (s *Server) Run(ctx context.Context, addr string) error {
	if addr == "" {
		addr = ":3000"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves Handler on ln (which it closes) until ctx is cancelled, then
// shuts the HTTP server and the host down within DrainTimeout, side by side.
// It returns after every goroutine it started has returned: nil after a
// clean shutdown, otherwise the serve, HTTP shutdown or Shutdown error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var conns connStates
	hs := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState:         conns.track,
	}
	hs.RegisterOnShutdown(conns.closeUnused)
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "serving", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		errc = nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.DrainTimeout)
	defer cancel()
	// Side by side, so that WebSocket clients hear 1001 at once, whatever
	// plain HTTP connections are doing.
	httpErr := make(chan error, 1)
	go func() { httpErr <- shutdownHTTP(dctx, hs, &conns) }()
	shutErr := s.Shutdown(dctx)
	herr := <-httpErr
	if errc != nil {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	switch {
	case serveErr != nil:
		return fmt.Errorf("%s: serve: %w", s.Name, serveErr)
	case herr != nil:
		return fmt.Errorf("%s: shutdown http: %w", s.Name, herr)
	}
	return shutErr
}

// shutdownHTTP shuts hs down within ctx. http.Server.Shutdown closes the
// listener and waits for plain requests (including upgrades still being
// authorized); hijacked WebSocket connections are the host's to close. It
// also waits for connections that have not sent a request yet, until they
// are five seconds old (net/http's issue 22682): browsers open such spare
// connections, and one opened just before a shutdown held it past a drain
// timeout of 5 s. conns closes those at once. Whatever is still open when
// ctx expires is closed; only requests cut short make an error.
func shutdownHTTP(ctx context.Context, hs *http.Server, conns *connStates) error {
	err := hs.Shutdown(ctx)
	if err == nil {
		return nil
	}
	active := conns.active()
	_ = hs.Close()
	if active == 0 {
		return nil
	}
	return fmt.Errorf("%d requests cut short: %w", active, err)
}

// connStates follows the HTTP server's connections (http.Server.ConnState)
// for shutdownHTTP.
type connStates struct {
	mu      sync.Mutex
	states  map[net.Conn]http.ConnState
	closing bool // closeUnused ran: close every unused connection
}

func (cs *connStates) track(c net.Conn, st http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch {
	case st == http.StateHijacked || st == http.StateClosed:
		delete(cs.states, c)
	case st == http.StateNew && cs.closing: // accepted as the listener closed
		_ = c.Close()
	default:
		if cs.states == nil {
			cs.states = make(map[net.Conn]http.ConnState)
		}
		cs.states[c] = st
	}
}

// closeUnused closes the connections that have not sent a request, now and
// from now on; http.Server.Shutdown calls it once the listener is closed.
func (cs *connStates) closeUnused() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closing = true
	for c, st := range cs.states {
		if st == http.StateNew {
			_ = c.Close() // net/http reports it closed (track deletes it)
		}
	}
}

// active counts the connections with a request in progress.
func (cs *connStates) active() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, st := range cs.states {
		if st == http.StateActive {
			n++
		}
	}
	return n
}
