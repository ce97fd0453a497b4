package wsconn

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/wsconfig"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRefusalLimiterWindows(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newRefusalLimiter(clk.now)
	const a, b = "192.0.2.1", "192.0.2.2"
	for i := range refusalBurst {
		if _, ok := l.allow(a); !ok {
			t.Fatalf("refusal %d not allowed", i)
		}
		log, before := l.refused(a)
		if log != (i == 0) || before != 0 {
			t.Fatalf("refusal %d: log %v (%d before), want a line for the first only", i, log, before)
		}
		clk.advance(100 * time.Millisecond)
	}
	// Throttled for the rest of the window; another address is not.
	wait, ok := l.allow(a)
	if ok || wait != refusalWindow-refusalBurst*100*time.Millisecond {
		t.Fatalf("allow after the burst = %v, %v; want a wait until the window ends", wait, ok)
	}
	if _, ok := l.allow(b); !ok {
		t.Fatal("another address is throttled")
	}
	l.allow(a)
	clk.advance(wait)
	// A new window: allowed again, and its first refusal is logged with
	// what the last line did not report (9 refusals, 2 throttled).
	if _, ok := l.allow(a); !ok {
		t.Fatal("not allowed in the next window")
	}
	if log, before := l.refused(a); !log || before != refusalBurst-1+2 {
		t.Fatalf("first refusal of the next window: log %v, %d before; want a line for %d", log, before, refusalBurst+1)
	}
}

// The table is bounded: once full of addresses inside their window, new
// addresses share one allowance; once their windows end, they make room.
func TestRefusalLimiterBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newRefusalLimiter(clk.now)
	for i := range maxRefusers {
		l.refused(fmt.Sprint("a", i))
	}
	for i := range refusalBurst {
		if _, ok := l.allow(fmt.Sprint("new", i)); !ok {
			t.Fatalf("new address %d not allowed", i)
		}
		l.refused(fmt.Sprint("new", i))
	}
	if len(l.addrs) != maxRefusers {
		t.Fatalf("%d addresses remembered, want %d", len(l.addrs), maxRefusers)
	}
	if _, ok := l.allow("one more"); ok {
		t.Fatal("the shared allowance of new addresses is not used")
	}
	clk.advance(refusalWindow)
	if _, ok := l.allow("one more"); !ok {
		t.Fatal("not allowed once the windows ended")
	}
	l.refused("one more")
	if len(l.addrs) != 1 || l.addrs["one more"] == nil {
		t.Fatalf("%d addresses after the sweep, want only the new one", len(l.addrs))
	}
}

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:4000":              "192.0.2.7",
		"[::ffff:192.0.2.7]:4000":     "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:4000": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:1":         "2001:db8:1:2::/64",
		"pipe":                        "pipe",
	} {
		if got := clientAddr(in); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// upgradeRequest is a WebSocket upgrade from remote.
func upgradeRequest(remote string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	return r
}

// admitted runs an upgrade through a and reports its status: 0 when it was
// admitted, in which case the handler holds the connection until release
// is closed.
func admitted(t *testing.T, a *Admission, r *http.Request, release <-chan struct{}) int {
	t.Helper()
	entered := make(chan struct{})
	done := make(chan int, 1)
	h := a.Wrap(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	go func() {
		rec := httptest.NewRecorder()
		h(rec, r)
		done <- rec.Code
	}()
	select {
	case <-entered:
		return 0
	case code := <-done:
		return code
	}
}

func TestConnectionCaps(t *testing.T) {
	settings := wsconfig.Settings{MaxConnsPerIP: 2, MaxConnsPerUser: 2}
	user := auth.Func(func(r *http.Request) (auth.Identity, error) {
		return auth.Identity{UserID: r.URL.Query().Get("user")}, nil
	})
	for _, tc := range []struct {
		name string
		a    auth.Authenticator
	}{{"no authenticator", nil}, {"authenticated", user}} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAdmission(tc.a, settings, slog.New(slog.DiscardHandler))
			release := make(chan struct{})
			defer close(release)
			for i := range 2 {
				if code := admitted(t, a, upgradeRequest("192.0.2.1:100"+fmt.Sprint(i)), release); code != 0 {
					t.Fatalf("connection %d from one address: status %d", i, code)
				}
			}
			if code := admitted(t, a, upgradeRequest("192.0.2.1:2000"), release); code != http.StatusTooManyRequests {
				t.Fatalf("third connection from one address: status %d, want 429", code)
			}
			if code := admitted(t, a, upgradeRequest("192.0.2.9:1000"), release); code != 0 {
				t.Fatalf("another address: status %d", code)
			}
			for i := range 5 { // loopback is exempt
				if code := admitted(t, a, upgradeRequest("127.0.0.1:300"+fmt.Sprint(i)), release); code != 0 {
					t.Fatalf("loopback connection %d: status %d", i, code)
				}
			}
		})
	}

	// Per user, across addresses; a closed connection frees its place.
	a := NewAdmission(user, settings, slog.New(slog.DiscardHandler))
	keep, drop := make(chan struct{}), make(chan struct{})
	defer close(keep)
	ada := func(remote string) *http.Request {
		r := upgradeRequest(remote)
		r.URL.RawQuery = "user=ada"
		return r
	}
	if code := admitted(t, a, ada("127.0.0.1:1"), keep); code != 0 {
		t.Fatalf("ada's first: %d", code)
	}
	if code := admitted(t, a, ada("198.51.100.7:1"), drop); code != 0 {
		t.Fatalf("ada's second: %d", code)
	}
	if code := admitted(t, a, ada("127.0.0.1:2"), keep); code != http.StatusTooManyRequests {
		t.Fatalf("ada's third: status %d, want 429", code)
	}
	close(drop)
	testwait.For(t, 5*time.Second, "ada's second connection released", func() (bool, string) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.byUser["ada"] == 1, fmt.Sprintf("%d counted", a.byUser["ada"])
	})
	if code := admitted(t, a, ada("127.0.0.1:3"), keep); code != 0 {
		t.Fatalf("ada after one closed: %d", code)
	}
}
