package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zocket-go/zocket/natstransport"
)

// AuthorizePath is the control-plane endpoint that authorizes a session.
const AuthorizePath = "/api/registry/authorize"

// maxAuthResponse caps the control plane's answer, claims included.
const maxAuthResponse = 1 << 20

// identity is what authorization grants a session.
type identity struct {
	scope  natstransport.Scope
	userID *string        // nil: no user
	claims map[string]any // never nil
}

// Authorization outcomes that refuse an upgrade.
var (
	// errRefused: the control plane answered with a non-2xx status (401).
	errRefused = errors.New("refused by the control plane")
	// errAuthUnavailable: the control plane could not be reached in time or
	// gave an unusable answer (503).
	errAuthUnavailable = errors.New("control plane unavailable")
)

type authRequest struct {
	Host  string  `json:"host"`
	Token *string `json:"token"`
}

type authResponse struct {
	WorkspaceID string          `json:"workspaceId"`
	ProjectID   string          `json:"projectId"`
	UserID      *string         `json:"userId"`
	Claims      json.RawMessage `json:"claims"`
}

// authorize returns the identity of a session opened by r: the fixed dev
// scope without a control plane, otherwise what the control plane grants
// (or granted already, in admit). Errors wrap errRefused or
// errAuthUnavailable.
func (g *Gateway) authorize(r *http.Request) (identity, error) {
	if g.cfg.ControlPlaneURL == "" {
		return identity{scope: g.cfg.Scope, claims: map[string]any{}}, nil
	}
	if id, ok := r.Context().Value(identityKey{}).(identity); ok {
		return id, nil
	}
	req := authRequest{Host: r.Host}
	if q := r.URL.Query(); q.Has("token") {
		tok := q.Get("token")
		req.Token = &tok
	}
	body, err := json.Marshal(req)
	if err != nil {
		return identity{}, fmt.Errorf("%w: encode request: %v", errAuthUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.AuthTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, g.authURL, bytes.NewReader(body))
	if err != nil {
		return identity{}, fmt.Errorf("%w: %v", errAuthUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if g.cfg.ControlPlaneToken != "" {
		hreq.Header.Set("Authorization", "Bearer "+g.cfg.ControlPlaneToken)
	}
	resp, err := g.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return identity{}, fmt.Errorf("%w: %v", errAuthUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthResponse+1))
	if err != nil {
		return identity{}, fmt.Errorf("%w: read answer: %v", errAuthUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return identity{}, fmt.Errorf("%w: status %d", errRefused, resp.StatusCode)
	}
	if len(data) > maxAuthResponse {
		return identity{}, fmt.Errorf("%w: answer over %d bytes", errAuthUnavailable, maxAuthResponse)
	}
	return parseAuthResponse(data)
}

// parseAuthResponse checks the control plane's answer: both scope ids
// usable in subjects, userId a string or null, claims an object or null.
func parseAuthResponse(data []byte) (identity, error) {
	var ar authResponse
	if err := json.Unmarshal(data, &ar); err != nil {
		return identity{}, fmt.Errorf("%w: malformed answer: %v", errAuthUnavailable, err)
	}
	id := identity{
		scope:  natstransport.Scope{WorkspaceID: ar.WorkspaceID, ProjectID: ar.ProjectID},
		userID: ar.UserID,
		claims: map[string]any{},
	}
	if err := id.scope.Validate(); err != nil {
		return identity{}, fmt.Errorf("%w: unusable scope: %v", errAuthUnavailable, err)
	}
	if c := bytes.TrimSpace(ar.Claims); len(c) > 0 && string(c) != "null" {
		if c[0] != '{' {
			return identity{}, fmt.Errorf("%w: claims are not an object", errAuthUnavailable)
		}
		// UseNumber keeps numbers exactly as the control plane wrote them.
		dec := json.NewDecoder(strings.NewReader(string(c)))
		dec.UseNumber()
		if err := dec.Decode(&id.claims); err != nil {
			return identity{}, fmt.Errorf("%w: claims: %v", errAuthUnavailable, err)
		}
	}
	return id, nil
}

// Limits on refused upgrades per client address (admit). A client refused
// refusalBurst times in a refusalWindow is refused at once, with 429 Too
// Many Requests and Retry-After, until the window ends: a refusal costs
// the control plane a call, and one WARN line, which 3,000 bad upgrades in
// 0.65 s once turned into as many of each.
const (
	refusalBurst  = 10
	refusalWindow = 10 * time.Second
	// maxRefusers bounds the addresses remembered (clients choose them):
	// about 150 bytes each. While the table is full of addresses refused in
	// their current window, other addresses share one allowance.
	maxRefusers = 10_000
)

// identityKey is the request context key of the identity admit obtained.
type identityKey struct{}

// admit wraps the session handler: with a control plane, it authorizes the
// upgrade first, within the per-address limits, and answers, counts and
// logs refusals itself (one line per address and window, with how many
// refusals that line stands for); serveSession then finds the identity in
// the request's context. Without one, and while shutting down (503), it
// leaves everything to serveSession.
func (g *Gateway) admit(next http.HandlerFunc) http.HandlerFunc {
	lim := newRefusalLimiter(time.Now)
	return func(w http.ResponseWriter, r *http.Request) {
		if g.cfg.ControlPlaneURL == "" || g.hub.Closing() {
			next(w, r)
			return
		}
		addr := clientAddr(r.RemoteAddr)
		if wait, ok := lim.allow(addr); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			http.Error(w, "too many refused upgrades from this address; retry later", http.StatusTooManyRequests)
			return
		}
		ident, err := g.authorize(r)
		if err != nil {
			status := g.refusal(err)
			if log, before := lim.refused(addr); log {
				g.log.LogAttrs(r.Context(), slog.LevelWarn, "upgrade refused", slog.Int("status", status),
					slog.String("remote", r.RemoteAddr), slog.Any("err", err),
					slog.Int("refused_since_last_line", before))
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, ident)))
	}
}

// refusal counts a failed authorization and returns the status that
// refuses the upgrade: 401 when the control plane said no, 503 when it
// could not be asked.
func (g *Gateway) refusal(err error) int {
	if errors.Is(err, errRefused) {
		g.stats.authRefused.Add(1)
		return http.StatusUnauthorized
	}
	g.stats.authUnavailable.Add(1)
	return http.StatusServiceUnavailable
}

// clientAddr is the key refusals are counted under: the IP address of
// remote ("host:port"), or its /64 for IPv6, which one client usually
// holds whole.
func clientAddr(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// refusalLimiter counts refused upgrades per client address in fixed
// windows that start at an address's first refusal. It is safe for
// concurrent use.
type refusalLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	addrs     map[string]*refusals
	other     refusals  // addresses that found the table full
	lastSweep time.Time // sweeps of a full table are at most one a second
}

// refusals are one address's counts.
type refusals struct {
	start    time.Time // of the current window
	n        int       // refusals in the window
	unlogged int       // refusals and throttled upgrades not yet in a log line
	logged   time.Time // start of the window of the last log line
}

func newRefusalLimiter(now func() time.Time) *refusalLimiter {
	return &refusalLimiter{now: now, addrs: make(map[string]*refusals)}
}

// allow reports whether an upgrade from addr may be authorized, or else
// how long until it may be.
func (l *refusalLimiter) allow(addr string) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.addrs[addr]
	if r == nil {
		if len(l.addrs) < maxRefusers {
			return 0, true
		}
		r = &l.other
	}
	now := l.now()
	end := r.start.Add(refusalWindow)
	if r.n < refusalBurst || !now.Before(end) {
		return 0, true
	}
	r.unlogged++
	return end.Sub(now), false
}

// refused records a refused upgrade from addr. It reports whether to log
// it, the first of its window, and how many refusals and throttled
// upgrades since the address's last log line it stands for besides
// itself.
func (l *refusalLimiter) refused(addr string) (log bool, before int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.entry(addr, now)
	if !now.Before(r.start.Add(refusalWindow)) {
		r.start, r.n = now, 0
	}
	r.n++
	if r.logged.Equal(r.start) {
		r.unlogged++
		return false, 0
	}
	r.logged, before, r.unlogged = r.start, r.unlogged, 0
	return true, before
}

// entry returns addr's counts, adding them when there is room: the table
// is swept of windows that have ended when full.
func (l *refusalLimiter) entry(addr string, now time.Time) *refusals {
	if r := l.addrs[addr]; r != nil {
		return r
	}
	if len(l.addrs) >= maxRefusers && now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for a, r := range l.addrs {
			if !now.Before(r.start.Add(refusalWindow)) {
				delete(l.addrs, a) // its unlogged count goes unreported
			}
		}
	}
	if len(l.addrs) >= maxRefusers {
		return &l.other
	}
	r := &refusals{start: now}
	l.addrs[addr] = r
	return r
}
