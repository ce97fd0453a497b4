package standalone_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/wsconfig"
)

func TestWelcomeFirstWithUniqueClientID(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)
	seen := map[string]bool{}
	for range 5 {
		c := h.dial() // fails unless the first frame is a welcome with an id
		if !urlSafe.MatchString(c.id) {
			t.Errorf("client id %q is not a URL-safe token of 16+ characters", c.id)
		}
		if seen[c.id] {
			t.Errorf("client id %q handed out twice", c.id)
		}
		seen[c.id] = true
	}
}

func TestRPCRoundTrip(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	c := h.dial()
	for want := 1; want <= 3; want++ {
		if got := string(c.call("a", "increment", nil)); got != itoa(want) {
			t.Fatalf("increment = %s, want %d", got, want)
		}
	}
	if got := string(c.call("a", "set", map[string]int{"value": 42})); got != "42" {
		t.Fatalf("set = %s, want 42", got)
	}
	// Another instance is independent.
	if got := string(c.call("b", "increment", nil)); got != "1" {
		t.Fatalf("increment on b = %s, want 1", got)
	}
	if s := c.state("a"); s.Count != 42 || s.Viewers != 1 {
		t.Fatalf("state of a = %+v, want count 42 and 1 viewer", s)
	}
	// The writer counts a frame once its write returns, which can be after
	// the client has read it: wait for the count rather than expect it.
	testwait.For(t, 5*time.Second, "1 connection, 6 frames in, 7+ frames out", func() (bool, string) {
		st := h.srv.Stats()
		return st.Connections == 1 && st.ConnectionsTotal == 1 && st.FramesIn == 6 && st.FramesOut >= 7 && st.SocketWrites >= 1 && st.SocketWrites <= st.FramesOut, fmt.Sprintf("%+v", st)
	})
}

func TestStateSubscriptionSnapshotThenPatches(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	watcher, actor := h.dial(), h.dial()

	watcher.sub(protocol.TypeStateSub, "s")
	m := newMirror(t, watcher.read())
	if got := m.value(); got != (counter{Viewers: 1}) {
		t.Fatalf("snapshot = %+v, want one viewer", got)
	}

	actor.call("s", "increment", nil)
	m.apply(watcher.read()) // actor's OnConnect: viewers 2
	m.apply(watcher.read()) // the increment
	if got := m.value(); got != (counter{Count: 1, Viewers: 2}) {
		t.Fatalf("after increment: %+v", got)
	}

	// Failed and panicking calls change nothing and send no patch: the next
	// patch the watcher sees is the one from the following set.
	if msg := actor.callErr("counter", "s", "fail", nil); msg != "nope" {
		t.Fatalf("fail: error %q, want nope", msg)
	}
	if msg := actor.callErr("counter", "s", "panic", nil); msg != zocket.ErrInternal.Error() {
		t.Fatalf("panic: error %q, want %q", msg, zocket.ErrInternal)
	}
	actor.call("s", "set", map[string]int{"value": 7})
	m.apply(watcher.read())
	if got := m.value(); got != (counter{Count: 7, Viewers: 2}) {
		t.Fatalf("after failed calls and set: %+v", got)
	}

	// A call that changes nothing sends no patch either.
	actor.call("s", "set", map[string]int{"value": 7})
	actor.call("s", "blob", map[string]int{"size": 3, "seed": 4})
	m.apply(watcher.read())

	// The mirror equals the server's state, byte for byte after
	// normalization.
	server := actor.call("s", "get", nil)
	if !equalJSON(m.doc, server) {
		t.Fatalf("mirror %s != server state %s", m.doc, server)
	}

	// After state:unsub, no more patches: the watcher's next frame is its
	// own rpc result.
	watcher.write(string(protocol.AppendSubscription(nil, protocol.TypeStateUnsub, "counter", "s")))
	watcher.call("s", "increment", nil)
}

func TestEventTargets(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	a, b, c := h.dial(), h.dial(), h.dial()
	for _, cl := range []*client{a, b, c} {
		cl.sub(protocol.TypeEventSub, "e")
	}
	quiet := h.dial() // interacts with the instance but never subscribes
	quiet.call("e", "get", nil)
	gone := h.dial() // subscribes, then unsubscribes
	gone.sub(protocol.TypeEventSub, "e")
	gone.write(string(protocol.AppendSubscription(nil, protocol.TypeEventUnsub, "counter", "e")))
	gone.call("e", "get", nil)

	call := func(in noteInput) string { return a.rpc("e", "note", in) }
	expectEvent := func(cl *client, text string) {
		t.Helper()
		f := cl.expect(protocol.TypeEvent)
		if f.Actor != "counter" || f.ActorID != "e" || f.Event != "noted" || string(f.Payload) != `"`+text+`"` {
			t.Fatalf("event = %+v, want noted %q on counter/e", f, text)
		}
	}

	// To: only b.
	id := call(noteInput{Text: "to-b", To: []string{b.id}})
	a.result(id)
	// Except: everyone but a.
	id = call(noteInput{Text: "not-a", Except: []string{a.id}})
	a.result(id)
	// Broadcast: every subscriber; the caller gets the event before its
	// result.
	id = call(noteInput{Text: "all"})
	expectEvent(a, "all")
	a.result(id)
	// To and Except combine: to b and c, except c.
	id = call(noteInput{Text: "b-only", To: []string{b.id, c.id}, Except: []string{c.id}})
	a.result(id)

	expectEvent(b, "to-b")
	expectEvent(b, "not-a")
	expectEvent(b, "all")
	expectEvent(b, "b-only")
	expectEvent(c, "not-a")
	expectEvent(c, "all")

	// Nobody got more: each client's next frame is its own rpc result
	// (calls queue behind a's on the same instance).
	for _, cl := range []*client{b, c, quiet, gone} {
		cl.call("e", "get", nil)
	}
}

func TestRPCErrors(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	c := h.dial()
	c.call("x", "set", map[string]int{"value": 5})
	tests := []struct {
		name, actor, method string
		input               any
		want                string
	}{
		{"unknown actor", "nosuch", "get", nil, `unknown actor type: "nosuch"`},
		{"unknown method", "counter", "nosuch", nil, `unknown method: "nosuch"`},
		{"undecodable input", "counter", "set", map[string]string{"value": "x"}, "invalid input"},
		{"input of wrong JSON kind", "counter", "set", []int{1}, "invalid input"},
		{"validate failure", "counter", "set", map[string]int{"value": -1}, "value must not be negative"},
		{"handler error", "counter", "fail", nil, "nope"},
		{"handler panic", "counter", "panic", nil, "internal error"},
	}
	for _, tt := range tests {
		msg := c.callErr(tt.actor, "x", tt.method, tt.input)
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error %q, want it to contain %q", tt.name, msg, tt.want)
		}
	}
	// The instance kept serving and kept its state.
	if s := c.state("x"); s.Count != 5 {
		t.Fatalf("count after failures = %d, want 5", s.Count)
	}
}

func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	c := h.dial()
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	// Deeper than encoding/json goes, which once hid the id.
	deeper := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	tests := []struct {
		name, frame string
		wantID      string // "" when no answer is expected
		wantErr     string
	}{
		{name: "not JSON", frame: "hello"},
		{name: "empty", frame: ""},
		{name: "array", frame: `[{"type":"rpc","id":"arr"}]`},
		{name: "string", frame: `"rpc"`},
		{name: "truncated", frame: `{"type":"rpc","id":"t1"`, wantID: "t1", wantErr: "malformed frame"},
		{name: "truncated before the id", frame: `{"type":"rpc","actor":"counter"`},
		{name: "empty object", frame: `{}`},
		{name: "missing type", frame: `{"id":"m1","actor":"counter"}`, wantID: "m1", wantErr: `missing field "type"`},
		{name: "type not a string", frame: `{"type":5,"id":"n1"}`, wantID: "n1", wantErr: `"type"`},
		{name: "unknown type", frame: `{"type":"nope","id":"u1"}`, wantID: "u1", wantErr: "unknown frame type"},
		{name: "unknown type without id", frame: `{"type":"nope"}`},
		{name: "server frame type", frame: `{"type":"welcome","id":"w0","clientId":"x"}`, wantID: "w0", wantErr: "not a client frame"},
		{name: "actor not a string", frame: `{"type":"rpc","id":"w1","actor":5,"actorId":"a","method":"get"}`, wantID: "w1", wantErr: `wrong field type "actor"`},
		{name: "method not a string", frame: `{"type":"rpc","id":"w2","actor":"counter","actorId":"a","method":["get"]}`, wantID: "w2", wantErr: `"method"`},
		{name: "missing actorId", frame: `{"type":"rpc","id":"w3","actor":"counter","method":"get"}`, wantID: "w3", wantErr: `"actorId"`},
		{name: "id not a string", frame: `{"type":"rpc","id":5,"actor":"counter","actorId":"a","method":"get"}`},
		{name: "sub without actor", frame: `{"type":"state:sub","actorId":"a"}`},
		{name: "deep nesting without id", frame: `{"type":"rpc","input":` + deep + `}`},
		{name: "deep nesting with id", frame: `{"type":"rpc","id":"d1","actor":"counter","actorId":"a","method":"set","input":` + deep + `}`,
			wantID: "d1", wantErr: "nested too deeply"},
		{name: "10,000 levels with id", frame: `{"type":"rpc","id":"d2","actor":"counter","actorId":"a","method":"set","input":` + deeper + `}`,
			wantID: "d2", wantErr: "nested too deeply"},
		{name: "broken JSON after the id", frame: `{"type":"rpc","id":"b1","actor":"counter","input":[1,}`, wantID: "b1", wantErr: "malformed frame"},
	}
	for _, tt := range tests {
		c.write(tt.frame)
		probe := c.rpc("a", "increment", nil) // answered after the bad frame's answer, if any
		f := c.expect(protocol.TypeRPCResult)
		if tt.wantID != "" {
			if f.ID != tt.wantID {
				t.Fatalf("%s: got rpc:result %q, want the answer %q", tt.name, f.ID, tt.wantID)
			}
			if !f.HasError || !strings.Contains(f.Error, tt.wantErr) {
				t.Errorf("%s: answer %+v, want an error containing %q", tt.name, f, tt.wantErr)
			}
			f = c.expect(protocol.TypeRPCResult)
		}
		if f.ID != probe || f.HasError {
			t.Fatalf("%s: probe answer %+v, want a result for %q (connection must keep working)", tt.name, f, probe)
		}
	}
	if st := h.srv.Stats(); st.BadFrames != int64(len(tests)) {
		t.Errorf("BadFrames = %d, want %d", st.BadFrames, len(tests))
	}
	if s := c.state("a"); s.Count != len(tests) {
		t.Errorf("count = %d, want %d probes", s.Count, len(tests))
	}
}

func TestOversizeFrameClosesWith1009(t *testing.T) {
	t.Parallel()
	const limit = 1024
	h := start(t, standalone.Config{WebSocket: wsconfig.Settings{MaxFrameBytes: limit}})
	c := h.dial()
	pad := func(total int) string {
		head := `{"type":"rpc","id":"big","actor":"counter","actorId":"a","method":"set","input":{"value":1,"pad":"`
		return head + strings.Repeat("x", total-len(head)-3) + `"}}`
	}
	// Exactly at the limit is fine (set ignores the pad field).
	c.write(pad(limit))
	if f := c.result("big"); f.HasError {
		t.Fatalf("frame at the limit: error %q", f.Error)
	}
	c.write(pad(limit + 1))
	if code, n := c.closeStatus(); code != websocket.StatusMessageTooBig || n != 0 {
		t.Fatalf("after oversize frame: close code %d after %d frames, want 1009 at once", code, n)
	}
}

func TestSlowReaderIsDisconnected(t *testing.T) {
	t.Parallel()
	const budget = 64 << 10
	// A long WriteTimeout: here the queue bound, not a blocked write, must
	// drop the client, however slow the machine.
	h := startWith(t, standalone.Config{WebSocket: wsconfig.Settings{SendQueueBytes: budget, WriteTimeout: time.Hour}}, true)
	fast, watcher, slow := h.dial(), h.dial(), h.dialTiny()

	watcher.sub(protocol.TypeStateSub, "big")
	m := newMirror(t, watcher.read())
	slow.sub(protocol.TypeEventSub, "big")
	slow.write(string(protocol.AppendSubscription(nil, protocol.TypeStateSub, "counter", "big")))
	// From here on, slow never reads.
	m.apply(watcher.read()) // slow's OnConnect
	fast.call("big", "get", nil)
	m.apply(watcher.read()) // fast's OnConnect
	if v := m.value().Viewers; v != 3 {
		t.Fatalf("viewers = %d, want 3", v)
	}

	// Push 16 KiB patches and events until the slow client is dropped; the
	// watcher sees that as its OnDisconnect patch. With small socket
	// buffers, this takes a few dozen calls.
	const blob = 16 << 10
	var calls int
	for dropped := false; !dropped; {
		calls++
		if calls > 2000 {
			t.Fatalf("slow client still connected after %d calls of %d bytes", calls, blob)
		}
		fast.result(fast.rpc("big", "blob", blobInput{Size: blob, Seed: calls}))
		fast.result(fast.rpc("big", "note", noteInput{Text: strings.Repeat("n", 1024)}))
		// Read patches up to this call's blob; slow's OnDisconnect patch
		// may come before it.
		digit := byte('0' + calls%10)
		for {
			m.apply(watcher.read())
			v := m.value()
			dropped = dropped || v.Viewers == 2
			if len(v.Blob) == blob && v.Blob[0] == digit {
				break
			}
		}
	}
	if v := m.value().Viewers; v != 2 {
		t.Fatalf("viewers after slow client dropped = %d, want 2", v)
	}
	if st := h.srv.Stats(); st.SlowDisconnects != 1 {
		t.Fatalf("SlowDisconnects = %d, want 1", st.SlowDisconnects)
	}

	// Once it reads, the slow client finds what was buffered, then close
	// code 1008; it received far fewer frames than were sent.
	code, n := slow.closeStatus()
	if code != websocket.StatusPolicyViolation {
		t.Fatalf("slow client close code = %d, want 1008", code)
	}
	if sent := 2 * calls; n >= sent {
		t.Fatalf("slow client read %d frames of %d sent", n, sent)
	}
	t.Logf("slow client dropped after %d calls; it had %d frames buffered", calls, n)

	// Everyone else is unaffected, and the state mirror is exact.
	server := fast.call("big", "get", nil)
	if !equalJSON(m.doc, server) {
		t.Fatalf("watcher mirror differs from the server state")
	}
}

func TestBlockedWriteTimesOut(t *testing.T) {
	t.Parallel()
	// A queue too big to fill here: only WriteTimeout can drop the client.
	// Thousands of calls from one connection: no frame rate limit.
	h := startWith(t, standalone.Config{WebSocket: wsconfig.Settings{SendQueueBytes: 1 << 30,
		WriteTimeout: 200 * time.Millisecond, MaxFrameRate: -1}}, true)
	fast, watcher, stuck := h.dial(), h.dial(), h.dialTiny()
	watcher.sub(protocol.TypeStateSub, "w")
	m := newMirror(t, watcher.read())
	stuck.sub(protocol.TypeEventSub, "w") // then never reads again
	m.apply(watcher.read())               // stuck's OnConnect
	fast.call("w", "get", nil)
	m.apply(watcher.read()) // fast's OnConnect: 3 viewers

	// Events of 16 KiB fill the stuck client's socket at once; its writer
	// blocks until the watchdog severs the socket, which the watcher sees
	// as stuck's OnDisconnect patch.
	payload := strings.Repeat("e", 16<<10)
	for calls := 1; ; calls++ {
		if calls > 5000 {
			t.Fatal("stuck client never dropped")
		}
		fast.call("w", "note", noteInput{Text: payload})
		fast.call("w", "increment", nil)
		m.apply(watcher.read())
		if m.value().Viewers == 2 {
			break
		}
		if m.value().Count != calls { // the OnDisconnect patch came first
			m.apply(watcher.read())
			break
		}
	}
	if v := m.value().Viewers; v != 2 {
		t.Fatalf("viewers = %d, want 2", v)
	}
	if st := h.srv.Stats(); st.SlowDisconnects != 0 {
		t.Fatalf("SlowDisconnects = %d, want 0 (the write timeout dropped the client)", st.SlowDisconnects)
	}
	if code, _ := stuck.closeStatus(); code == websocket.StatusPolicyViolation {
		t.Fatalf("stuck client got 1008, want a severed connection")
	}
}

func TestCloseRunsOnDisconnect(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	watcher := h.dial()
	watcher.sub(protocol.TypeStateSub, "d")
	m := newMirror(t, watcher.read())

	polite, abrupt := h.dial(), h.dial()
	polite.call("d", "increment", nil)
	abrupt.call("d", "increment", nil)
	abrupt.call("other", "increment", nil) // touches a second instance
	for range 4 {                          // two OnConnect, two increments
		m.apply(watcher.read())
	}
	if got := m.value(); got.Viewers != 3 || got.Count != 2 {
		t.Fatalf("state = %+v, want 3 viewers and count 2", got)
	}

	if err := polite.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	m.apply(watcher.read())
	if v := m.value().Viewers; v != 2 {
		t.Fatalf("viewers after a clean close = %d, want 2", v)
	}
	_ = abrupt.ws.CloseNow() // no close handshake
	m.apply(watcher.read())
	if v := m.value().Viewers; v != 1 {
		t.Fatalf("viewers after an abrupt close = %d, want 1", v)
	}
	// OnDisconnect ran once per instance each client touched: d twice,
	// other once; the watcher's own call orders this after them.
	watcher.call("other", "get", nil)
	if n := h.probe.disconnects.Load(); n != 3 {
		t.Fatalf("OnDisconnect ran %d times, want 3", n)
	}
}

func TestUnansweredPingDisconnects(t *testing.T) {
	t.Parallel()
	// Pings every 20ms, each to be answered within a second (the longer of
	// PingInterval and WriteTimeout): plenty for the watcher even on a
	// loaded machine.
	h := start(t, standalone.Config{WebSocket: wsconfig.Settings{PingInterval: 20 * time.Millisecond, WriteTimeout: time.Second}})
	watcher := h.dial()
	watcher.sub(protocol.TypeStateSub, "p")
	frames := watcher.stream() // reads all the time, so it answers every ping
	next := func() protocol.Frame { t.Helper(); return recv(t, frames) }
	m := newMirror(t, next())
	mute := h.dial()
	mute.call("p", "get", nil) // then never reads, so never answers a ping
	m.apply(next())            // mute's OnConnect
	m.apply(next())            // mute's OnDisconnect, once a ping went unanswered
	if v := m.value().Viewers; v != 1 {
		t.Fatalf("viewers = %d, want 1", v)
	}
}

func TestPingsKeepIdleClientsConnected(t *testing.T) {
	t.Parallel()
	// A ping must be answered within the longer of PingInterval and
	// WriteTimeout; 1 s leaves room for a loaded machine under -race, and
	// 30 pings 100 ms apart still idle for three write timeouts.
	const timeout = time.Second
	h := start(t, standalone.Config{WebSocket: wsconfig.Settings{PingInterval: timeout / 10, WriteTimeout: timeout}})
	pings := make(chan struct{}, 1)
	c := dialURLWith(t, h.url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		select {
		case pings <- struct{}{}:
		default:
		}
		return true
	}})
	frames := c.stream()
	if f := recv(t, frames); f.Type != protocol.TypeWelcome {
		t.Fatalf("first frame %+v", f)
	}
	// Stay idle (no data frames either way) for a few write timeouts,
	// counted in pings answered; the last data frame's write deadline must
	// not carry over to the pings.
	for range 30 {
		select {
		case <-pings:
		case f, ok := <-frames:
			t.Fatalf("while idle: frame %+v (connection open: %v), want only pings", f, ok)
		case <-time.After(readTimeout):
			t.Fatal("no ping")
		}
	}
	c.write(string(protocol.AppendRPC(nil, "1", "counter", "idle", "increment", nil)))
	if f := recv(t, frames); f.Type != protocol.TypeRPCResult || string(f.Result) != "1" {
		t.Fatalf("after idling: %+v, want the rpc result 1", f)
	}
}

func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, url string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body), resp.Header
	}
	t.Run("without pages", func(t *testing.T) {
		h := start(t, standalone.Config{})
		if code, _, hdr := get(t, h.http.URL+"/"); code != http.StatusUpgradeRequired || hdr.Get("Upgrade") != "websocket" {
			t.Errorf("GET / = %d (Upgrade %q), want 426 with Upgrade: websocket", code, hdr.Get("Upgrade"))
		}
		if code, body, hdr := get(t, h.http.URL+"/health"); code != http.StatusOK || body != `{"ok":true}` ||
			hdr.Get("Content-Type") != "application/json" {
			t.Errorf("GET /health = %d %q %q, want 200 {\"ok\":true} as JSON", code, body, hdr.Get("Content-Type"))
		}
		if code, _, _ := get(t, h.http.URL+"/elsewhere"); code != http.StatusNotFound {
			t.Errorf("GET /elsewhere = %d, want 404", code)
		}
	})
	t.Run("with pages", func(t *testing.T) {
		pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "page "+r.URL.Path)
		})
		h := start(t, standalone.Config{Pages: pages})
		for _, path := range []string{"/", "/counter.html"} {
			if code, body, _ := get(t, h.http.URL+path); code != http.StatusOK || body != "page "+path {
				t.Errorf("GET %s = %d %q, want the page", path, code, body)
			}
		}
		if code, body, _ := get(t, h.http.URL+"/health"); code != http.StatusOK || body != `{"ok":true}` {
			t.Errorf("GET /health = %d %q", code, body)
		}
		h.dial().call("a", "increment", nil) // WebSockets still upgrade at /
	})
}

func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	dial := func(t *testing.T, h *harness, origin string) error {
		t.Helper()
		hdr := http.Header{}
		hdr.Set("Origin", origin)
		ws, _, err := websocket.Dial(t.Context(), h.url, &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil {
			_ = ws.CloseNow()
		}
		return err
	}
	strict := start(t, standalone.Config{})
	if err := dial(t, strict, "https://evil.example"); err == nil {
		t.Errorf("cross-origin upgrade accepted by default")
	}
	if err := dial(t, strict, strict.http.URL); err != nil {
		t.Errorf("same-origin upgrade refused: %v", err)
	}
	allowed := start(t, standalone.Config{WebSocket: wsconfig.Settings{OriginPatterns: []string{"*.example"}}})
	if err := dial(t, allowed, "https://app.example"); err != nil {
		t.Errorf("allowed origin refused: %v", err)
	}
	any := start(t, standalone.Config{WebSocket: wsconfig.Settings{OriginPatterns: []string{"*"}}})
	if err := dial(t, any, "https://evil.example"); err != nil {
		t.Errorf(`origin refused with OriginPatterns ["*"]: %v`, err)
	}
}

func TestRunShutsDownGracefully(t *testing.T) {
	t.Parallel()
	app, p := testApp(t)
	srv, err := standalone.New(app, standalone.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	h := &harness{t: t, srv: srv, url: "ws://" + ln.Addr().String() + "/", probe: p}
	watcher, other := h.dial(), h.dial()
	watcher.sub(protocol.TypeStateSub, "g1")
	m := newMirror(t, watcher.read())
	other.call("g2", "increment", nil)

	cancel()
	// OnDeactivate's change reaches the subscriber before the socket closes
	// with 1001.
	m.apply(watcher.read())
	if !m.value().Closed {
		t.Fatalf("state before close = %s, want closed:true from OnDeactivate", m.doc)
	}
	if code, n := watcher.closeStatus(); code != websocket.StatusGoingAway || n != 0 {
		t.Fatalf("watcher: close %d after %d more frames, want 1001 at once", code, n)
	}
	if code, _ := other.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("other: close %d, want 1001", code)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got := p.deactivatedIDs(); strings.Join(got, ",") != "g1,g2" {
		t.Fatalf("OnDeactivate ran for %v, want [g1 g2]", got)
	}
	if st := srv.Stats(); st.Connections != 0 || st.Queued != 0 {
		t.Fatalf("stats after shutdown = %+v, want no connections and empty queues", st)
	}
}

func TestShutdownMountedHandler(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{}) // Handler mounted on an httptest server
	c := h.dial()
	c.call("m", "increment", nil)

	ctx, cancel := context.WithTimeout(t.Context(), readTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(ctx) }()
	// The client reads (as real clients do), so it answers the close
	// handshake and Shutdown does not wait for the handshake timeout.
	if code, _ := c.closeStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := h.probe.deactivatedIDs(); len(got) != 1 || got[0] != "m" {
		t.Fatalf("OnDeactivate ran for %v, want [m]", got)
	}
	// New connections are refused once shut down.
	_, resp, err := websocket.Dial(t.Context(), h.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v (%v), want 503", err, resp)
	}
	// Health checks now report the server as going away.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.http.URL+"/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /health after shutdown = %d, want 503", resp.StatusCode)
	}
	// And /ready says why.
	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, h.http.URL+"/ready", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != `{"ready":false,"reason":"draining"}` {
		t.Fatalf("GET /ready after shutdown = %d %s, want 503 draining", resp.StatusCode, body)
	}
	// A second Shutdown returns at once.
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestHandlerUnderPrefix(t *testing.T) {
	t.Parallel()
	app, _ := testApp(t)
	srv, err := standalone.New(app, standalone.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/zocket/", http.StripPrefix("/zocket", srv.Handler()))
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	h := &harness{t: t, srv: srv, url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/zocket/"}
	if got := string(h.dial().call("a", "increment", nil)); got != "1" {
		t.Fatalf("increment = %s, want 1", got)
	}
}

func TestConcurrentIncrementsLoseNoUpdate(t *testing.T) {
	t.Parallel()
	const conns, workers, perWorker = 10, 100, 100
	h := start(t, standalone.Config{}) // pipelined calls fit the default queue budget

	type pending = map[string]chan protocol.Frame
	clients := make([]*client, conns)
	waits := make([]pending, conns)
	locks := make([]sync.Mutex, conns)
	var readers sync.WaitGroup
	for i := range clients {
		clients[i] = h.dial()
		waits[i] = pending{}
		c, i := clients[i], i
		readers.Go(func() { // demultiplexes rpc:results by id until the socket closes
			for {
				data, err := c.readRaw()
				if err != nil {
					return
				}
				f, err := protocol.Decode(data)
				if err != nil {
					t.Errorf("bad frame %s: %v", data, err)
					return
				}
				locks[i].Lock()
				ch := waits[i][f.ID]
				delete(waits[i], f.ID)
				locks[i].Unlock()
				if ch == nil {
					t.Errorf("unexpected frame %s", data)
					return
				}
				ch <- f
			}
		})
	}

	results := make(chan int, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ci := w % conns
			c := clients[ci]
			ch := make(chan protocol.Frame, 1)
			for k := range perWorker {
				id := itoa(w) + "-" + itoa(k)
				locks[ci].Lock()
				waits[ci][id] = ch
				locks[ci].Unlock()
				frame := protocol.AppendRPC(nil, id, "counter", "hot", "increment", nil)
				if err := c.ws.Write(t.Context(), websocket.MessageText, frame); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				select {
				case f := <-ch:
					var n int
					if f.HasError || json.Unmarshal(f.Result, &n) != nil {
						t.Errorf("increment: %+v", f)
						return
					}
					results <- n
				case <-t.Context().Done():
					return
				}
			}
		})
	}
	wg.Wait()
	close(results)
	seen := make([]bool, workers*perWorker+1)
	for n := range results {
		if n < 1 || n >= len(seen) || seen[n] {
			t.Fatalf("increment returned %d twice or out of range", n)
		}
		seen[n] = true
	}
	for n := 1; n < len(seen); n++ {
		if !seen[n] {
			t.Fatalf("no increment returned %d: an update was lost", n)
		}
	}
	for _, c := range clients {
		_ = c.ws.CloseNow()
	}
	readers.Wait()
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	app, _ := testApp(t)
	if _, err := standalone.New(nil, standalone.Config{}); !errors.Is(err, zocket.ErrInvalidOption) {
		t.Errorf("New(nil app) error = %v, want ErrInvalidOption", err)
	}
	for _, cfg := range []standalone.Config{
		{WebSocket: wsconfig.Settings{MaxFrameBytes: -1}}, {WebSocket: wsconfig.Settings{SendQueueBytes: -1}},
		{WebSocket: wsconfig.Settings{WriteTimeout: -1}}, {MaxQueue: -1}, {DrainTimeout: -1},
	} {
		if _, err := standalone.New(app, cfg); !errors.Is(err, zocket.ErrInvalidOption) {
			t.Errorf("New(%+v) error = %v, want ErrInvalidOption", cfg, err)
		}
	}
}

// lineCounter counts log lines containing a string; safe for concurrent use.
type lineCounter struct {
	mu    sync.Mutex
	match string
	n     int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += strings.Count(string(p), l.match)
	return len(p), nil
}

func (l *lineCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// A client sending garbage cannot flood the log: unanswerable bad frames are
// logged for the first few of a connection, then one in a thousand.
func TestBadFramesLoggedAtABoundedRate(t *testing.T) {
	t.Parallel()
	logs := &lineCounter{match: "bad frame ignored"}
	h := start(t, standalone.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := h.dial()
	const bad = 2500
	for range bad {
		c.write("not a frame")
	}
	probe := c.rpc("a", "increment", nil) // read after every bad frame
	if f := c.expect(protocol.TypeRPCResult); f.ID != probe || f.HasError {
		t.Fatalf("probe answer %+v", f)
	}
	if n := logs.count(); n != 5+2 { // frames 1-5, 1000 and 2000
		t.Errorf("%d log lines for %d bad frames, want 7", n, bad)
	}
	if st := h.srv.Stats(); st.BadFrames != bad {
		t.Errorf("BadFrames = %d, want %d", st.BadFrames, bad)
	}
}
