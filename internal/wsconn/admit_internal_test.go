package wsconn

import (
	"fmt"
	"testing"
	"time"
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
