package gateway_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
)

func TestHostileIDs(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	hostile := []string{"a.b", "a b", "*", ">", "\x00", "a%2Eb", "a_b", "a\tb", ".", "..", "a.>", "é"}
	// Types a runtime serves, hostile names included; "echo" for the id tests.
	rt := startRuntime(t, r.srv, devScope, true, append([]string{"echo"}, hostile...)...)
	c := dial(t, r.url)
	id := c.welcome()
	subjects := map[string]string{} // subject → the (type, id) it carried

	check := func(n int, actor, actorID string) {
		t.Helper()
		rid := strconv.Itoa(n)
		res := decodeEcho(t, c.call(rid, actor, actorID, "m", ""))
		if res.ActorID != actorID {
			t.Fatalf("runtime saw actorId %q, want %q", res.ActorID, actorID)
		}
		got := rt.next()
		want, err := natstransport.InboundSubject(devScope, actor, actorID)
		if err != nil || got.subject != want {
			t.Fatalf("(%q, %q) published on %q, want %q (%v)", actor, actorID, got.subject, want, err)
		}
		if strings.Count(got.subject, ".") != 4 || strings.ContainsAny(got.subject, "*> \t\x00") {
			t.Fatalf("(%q, %q) published on unsafe subject %q", actor, actorID, got.subject)
		}
		key := actor + "\x01" + actorID
		if prev, ok := subjects[got.subject]; ok && prev != key {
			t.Fatalf("subject %q shared by %q and %q", got.subject, prev, key)
		}
		subjects[got.subject] = key
		if got.env.SessionID != id {
			t.Fatalf("envelope session %q, want %q", got.env.SessionID, id)
		}
	}
	n := 0
	for _, h := range hostile {
		n++
		check(n, "echo", h)
		n++
		check(n, h, "x")
		n++
		check(n, h, h)
	}
	long := strings.Repeat("L", 10<<10)
	errCases := []struct{ actor, actorID, want string }{
		{"echo", "", `missing field "actorId"`},
		{"", "x", `missing field "actor"`},
		{"echo", long, `field too long "actorId"`},
		{long, "x", `field too long "actor"`},
		{"echo", strings.Repeat("é", 129), `field too long "actorId"`}, // 258 bytes
	}
	for _, tt := range errCases {
		n++
		f := c.call(strconv.Itoa(n), tt.actor, tt.actorID, "m", "")
		if f.Error == nil || !strings.Contains(*f.Error, tt.want) {
			t.Fatalf("(%.20q, %.20q): %+v, want error containing %q", tt.actor, tt.actorID, f, tt.want)
		}
	}
	// Invalid UTF-8 on the wire: encoding/json would make it U+FFFD, so
	// that "a\xffb" and "a\xfeb" would reach one instance; the decoder
	// refuses it, and nothing reaches INBOUND.
	for _, bad := range []string{"a\xffb", "a\xfeb", `a\ud800b`} {
		n++
		c.send(`{"type":"rpc","id":"` + strconv.Itoa(n) + `","actor":"echo","actorId":"` + bad + `","method":"m"}`)
		if f := c.result(strconv.Itoa(n)); f.Error == nil || !strings.Contains(*f.Error, `invalid UTF-8 "actorId"`) {
			t.Fatalf("invalid UTF-8 id %q: %+v, want an invalid UTF-8 error", bad, f)
		}
	}
	// An rpc id that cannot be echoed is answered with an empty id.
	c.send(`{"type":"rpc","id":"` + long + `","actor":"echo","actorId":"x","method":"m"}`)
	if f := c.result(""); f.Error == nil || !strings.Contains(*f.Error, `field too long "id"`) || len(f.raw) > 512 {
		t.Fatalf("10 KB rpc id: %.300s, want a short error with an empty id", f.raw)
	}
	// An rpc nested deeper than encoding/json goes still gets its answer.
	c.send(`{"type":"rpc","id":"deep","actor":"echo","actorId":"x","method":"m","input":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`)
	if f := c.result("deep"); f.Error == nil || !strings.Contains(*f.Error, "nested too deeply") {
		t.Fatalf("10,000 levels deep: %.300s, want a depth error", f.raw)
	}

	// At the limit: 256 bytes that all need escaping still work.
	n++
	check(n, "echo", strings.Repeat("*", natstransport.MaxTokenLength))

	if r.nc.Status() != nats.CONNECTED {
		t.Fatalf("gateway NATS connection is %v", r.nc.Status())
	}
	n++
	decodeEcho(t, c.call(strconv.Itoa(n), "echo", "plain", "m", ""))
	if s := r.gw.Stats(); s.PublishFailures != 0 {
		t.Fatalf("PublishFailures = %d", s.PublishFailures)
	}
}
