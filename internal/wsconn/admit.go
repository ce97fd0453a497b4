package wsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/wsconfig"
)

// Limits on refused upgrades per client address (Admission). A client refused
// refusalBurst times in a refusalWindow is refused at once, with 429 Too
// Many Requests and Retry-After, until the window ends: a refusal may cost
// the authority (a control plane, a JWKS server) a call, and one WARN line, which 3,000 bad upgrades in
// 0.65 s once turned into as many of each.
const (
	refusalBurst  = 10
	refusalWindow = 10 * time.Second
	// maxRefusers bounds the addresses remembered (clients choose them):
	// about 150 bytes each. While the table is full of addresses refused in
	// their current window, other addresses share one allowance.
	maxRefusers = 10_000
)

// Admission authenticates WebSocket upgrades for both hosts before they
// happen, with one auth.Authenticator. A refused upgrade is answered with
// 401 and the reason, or 503 when the authority could not be asked; an
// address refused refusalBurst times in a refusalWindow is answered 429
// at once until the window ends, and logged once per window. Without an
// authenticator everyone is admitted with an empty identity.
//
// It also caps the open connections per client address and per user
// (wsconfig.Settings.MaxConnsPerIP, MaxConnsPerUser): one more is refused
// with 429 before the upgrade, and counted until the connection's handler
// returns.
type Admission struct {
	auth   auth.Authenticator
	log    *slog.Logger
	lim    *refusalLimiter
	counts struct{ ok, refused, unavailable, throttled, overLimit atomic.Int64 }

	perIP, perUser int // caps; <= 0: none

	mu     sync.Mutex
	byIP   map[string]int
	byUser map[string]int
}

// NewAdmission returns the admission of a host with settings' connection
// caps (defaults filled in).
func NewAdmission(a auth.Authenticator, settings wsconfig.Settings, log *slog.Logger) *Admission {
	return &Admission{auth: a, log: log, lim: newRefusalLimiter(time.Now),
		perIP: settings.MaxConnsPerIP, perUser: settings.MaxConnsPerUser,
		byIP: make(map[string]int), byUser: make(map[string]int)}
}

// AuthCounts are what an Admission did with the upgrades it saw, for the
// hosts' Stats.
type AuthCounts struct {
	OK          int64 // authenticated by the Authenticator
	Refused     int64 // 401: the Authenticator refused the credential
	Unavailable int64 // 503: the Authenticator could not decide (its authority unreachable, ...)
	Throttled   int64 // 429: the address was refused too often lately
	OverLimit   int64 // 429: too many connections from the address or for the user
}

// Counts returns the admission's counts so far.
func (a *Admission) Counts() AuthCounts {
	c := &a.counts
	return AuthCounts{OK: c.ok.Load(), Refused: c.refused.Load(), Unavailable: c.unavailable.Load(),
		Throttled: c.throttled.Load(), OverLimit: c.overLimit.Load()}
}

// take counts a connection from addr by user against the caps; it returns
// what to tell a refused client, or a release to call when it closes.
func (a *Admission) take(addr string, loopback bool, user string) (release func(), refusal string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	countIP := a.perIP > 0 && !loopback
	countUser := a.perUser > 0 && user != ""
	switch {
	case countIP && a.byIP[addr] >= a.perIP:
		return nil, fmt.Sprintf("too many connections from this address (%d)", a.perIP)
	case countUser && a.byUser[user] >= a.perUser:
		return nil, fmt.Sprintf("too many connections for this user (%d)", a.perUser)
	}
	if countIP {
		a.byIP[addr]++
	}
	if countUser {
		a.byUser[user]++
	}
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if countIP {
			if a.byIP[addr]--; a.byIP[addr] == 0 {
				delete(a.byIP, addr)
			}
		}
		if countUser {
			if a.byUser[user]--; a.byUser[user] == 0 {
				delete(a.byUser, user)
			}
		}
	}, ""
}

// identityKey is the request context key of the admitted identity.
type identityKey struct{}

// Wrap returns next behind authentication; next finds the identity with
// IdentityOf. Requests that are no WebSocket upgrade pass untouched.
func (a *Admission) Wrap(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !IsUpgrade(r) {
			next(w, r)
			return
		}
		addr, loopback := clientAddr(r.RemoteAddr), isLoopback(r.RemoteAddr)
		if a.auth == nil {
			release, refusal := a.take(addr, loopback, "")
			if release == nil {
				a.counts.overLimit.Add(1)
				http.Error(w, refusal, http.StatusTooManyRequests)
				return
			}
			defer release()
			next(w, r)
			return
		}
		if wait, ok := a.lim.allow(addr); !ok {
			a.counts.throttled.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			http.Error(w, "too many refused upgrades from this address; retry later", http.StatusTooManyRequests)
			return
		}
		id, err := a.auth.Authenticate(r)
		if err != nil {
			status := auth.Status(err)
			if status == http.StatusUnauthorized {
				a.counts.refused.Add(1)
			} else {
				a.counts.unavailable.Add(1)
			}
			if log, before := a.lim.refused(addr); log {
				a.log.LogAttrs(r.Context(), slog.LevelWarn, "upgrade refused", slog.Int("status", status),
					slog.String("remote", r.RemoteAddr), slog.Any("err", err),
					slog.Int("refused_since_last_line", before))
			}
			msg := http.StatusText(status)
			if errors.Is(err, auth.ErrUnauthenticated) {
				msg = err.Error() // the client's own credential: tell it what is wrong
			}
			http.Error(w, msg, status)
			return
		}
		a.counts.ok.Add(1)
		if id.Claims == nil {
			id.Claims = map[string]any{}
		}
		release, refusal := a.take(addr, loopback, id.UserID)
		if release == nil {
			a.counts.overLimit.Add(1)
			http.Error(w, refusal, http.StatusTooManyRequests)
			return
		}
		defer release()
		next(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}
}

// IdentityOf returns the identity Admission.Wrap admitted r with; without
// one (no authenticator), an empty identity with empty claims.
func IdentityOf(r *http.Request) auth.Identity {
	if id, ok := r.Context().Value(identityKey{}).(auth.Identity); ok {
		return id
	}
	return auth.Identity{Claims: map[string]any{}}
}

// isLoopback reports whether remote ("host:port") is a loopback address.
func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
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
