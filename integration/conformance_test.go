package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket/client"
)

// conformance is the suite both shapes must pass with the same client code:
// nothing in a case knows which shape it talks to.
var conformance = []struct {
	name string
	run  func(t *testing.T, d *deployment, fx *fixture)
}{
	{"RPC", testRPC},
	{"Errors", testErrors},
	{"StateSync", testStateSync},
	{"EventTargets", testEventTargets},
	{"Middleware", testMiddleware},
	{"ConnectDisconnect", testConnectDisconnect},
	{"HostileIDs", testHostileIDs},
	{"Access", testAccess},
}

// TestConformance runs every conformance case against both shapes, each
// case on a deployment of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, shape := range shapes {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					app, fx := newApp(t)
					d := startShape(t, shape, app)
					tc.run(t, d, fx)
				})
			}
		})
	}
}

// testRPC: a call reaches the addressed instance, returns a typed result and
// changes the state; the instance knows the caller by the welcome's id.
func testRPC(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	c := dial(t, d.URL, nil)
	a := c.Actor("counter", "rpc-1")

	v, err := client.CallT[counterView](ctx, a, "add", addInput{By: 5})
	if err != nil {
		t.Fatalf("add 5: %v", err)
	}
	if v != (counterView{ActorID: "rpc-1", ClientID: c.ID(), Count: 5}) {
		t.Fatalf("add 5 = %+v, want count 5 for rpc-1 from %s", v, c.ID())
	}
	if v, err = client.CallT[counterView](ctx, a, "add", addInput{By: -2}); err != nil || v.Count != 3 {
		t.Fatalf("add -2 = %+v, %v; want count 3", v, err)
	}
	st, err := client.CallT[counterState](ctx, a, "get", nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if st.Count != 3 || !slices.Equal(st.Log, []int{5, -2}) || st.Viewers != 1 {
		t.Fatalf("state = %+v, want count 3, log [5 -2], 1 viewer", st)
	}
	// Another instance of the same type is independent.
	if v, err := client.CallT[counterView](ctx, c.Actor("counter", "rpc-2"), "id", nil); err != nil || v.Count != 0 || v.ActorID != "rpc-2" {
		t.Fatalf("rpc-2 id = %+v, %v; want a fresh instance", v, err)
	}
	// A raw result (no output type) and a string result.
	var raw json.RawMessage
	if err := c.Actor("chat", "rpc").Call(ctx, "ping", nil, &raw); err != nil || string(raw) != `"pong"` {
		t.Fatalf("ping = %s, %v", raw, err)
	}
}

// testErrors: every failing call gets exactly one answer with the right
// message, and leaves the instance working with its state untouched.
func testErrors(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	c := dial(t, d.URL, nil)
	a := c.Actor("counter", "err")
	if _, err := client.CallT[counterView](ctx, a, "add", addInput{By: 1}); err != nil {
		t.Fatalf("add: %v", err)
	}

	for _, tc := range []struct {
		name       string
		actor      *client.Actor
		method     string
		input      any
		want       string // exact message, unless contains is set
		wantSubstr bool
	}{
		{"unknown actor type", c.Actor("nope", "x"), "get", nil, "unknown actor type", true},
		{"unknown actor type with a dot", c.Actor("counter.x", "x"), "get", nil, "", false},
		{"unknown actor type *", c.Actor("*", "x"), "get", nil, "", false},
		{"unknown actor type >", c.Actor(">", "x"), "get", nil, "", false},
		{"empty actor type", c.Actor("", "x"), "get", nil, "", false},
		{"actor type with NUL", c.Actor("coun\x00ter", "x"), "get", nil, "", false},
		{"10 KB actor type", c.Actor(strings.Repeat("t", 10<<10), "x"), "get", nil, "", false},
		{"unknown method", a, "nope", nil, "unknown method", true},
		{"invalid input", a, "add", "not an object", "invalid input", true},
		{"invalid input type", a, "add", map[string]any{"by": "seven"}, "invalid input", true},
		{"Validate", a, "add", addInput{By: 0}, "by must not be zero", true},
		{"zocket.Errorf", a, "fail", nil, "no luck at 1", false},
		{"plain error", a, "crash", nil, "internal error", false},
	} {
		start := time.Now()
		err := tc.actor.Call(ctx, tc.method, tc.input, nil)
		took := time.Since(start)
		if err == nil {
			t.Errorf("%s: call succeeded", tc.name)
			continue
		}
		msg := rpcMessage(t, err)
		switch {
		case tc.want == "" && msg == "":
			t.Errorf("%s: empty error message", tc.name)
		case tc.want != "" && tc.wantSubstr && !strings.Contains(msg, tc.want):
			t.Errorf("%s: error %q, want it to contain %q", tc.name, msg, tc.want)
		case tc.want != "" && !tc.wantSubstr && msg != tc.want:
			t.Errorf("%s: error %q, want exactly %q", tc.name, msg, tc.want)
		}
		// A type nobody serves must be answered promptly, never left to
		// age out of INBOUND (distributed) or to the call timeout.
		if took > 5*time.Second {
			t.Errorf("%s: answered after %v", tc.name, took)
		}
		t.Logf("%s: %q in %v", tc.name, msg, took.Round(time.Microsecond))
	}
	if strings.Contains(rpcMessage(t, a.Call(ctx, "crash", nil, nil)), "hunter2") {
		t.Errorf("a plain error's text leaked to the client")
	}
	st, err := client.CallT[counterState](ctx, a, "get", nil)
	if err != nil {
		t.Fatalf("get after errors: %v", err)
	}
	if st.Count != 1 || !slices.Equal(st.Log, []int{1}) {
		t.Fatalf("state after failed calls = %+v, want count 1 and log [1] (failed calls roll back)", st)
	}
}

// testStateSync: a watcher gets a snapshot, then patches; after 200
// concurrent calls from four clients its copy equals the server's state.
func testStateSync(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	const id = "sync"
	watcher := dial(t, d.URL, nil)
	w, err := watcher.Actor("counter", id).WatchState(ctx)
	if err != nil {
		t.Fatalf("WatchState: %v", err)
	}
	defer w.Close()
	var snap counterState
	if err := w.Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if snap.Count != 0 || snap.Viewers != 1 || len(snap.Log) != 0 {
		t.Fatalf("snapshot = %+v (%s), want a fresh counter with the watcher as its one viewer", snap, w.State())
	}

	const clients, perClient = 4, 50
	callers := make([]*client.Client, clients)
	for i := range callers {
		callers[i] = dial(t, d.URL, nil)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sum  int
	)
	for i, c := range callers {
		a := c.Actor("counter", id)
		for j := range perClient {
			by := (i*perClient+j)%9 + 1
			sum += by
			wg.Go(func() {
				if _, err := client.CallT[counterView](ctx, a, "add", addInput{By: by}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d calls failed; first: %v", len(errs), clients*perClient, errs[0])
	}
	server, err := client.CallT[json.RawMessage](ctx, callers[0].Actor("counter", id), "get", nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	var st counterState
	if err := json.Unmarshal(server, &st); err != nil {
		t.Fatal(err)
	}
	if st.Count != sum || len(st.Log) != clients*perClient || st.Viewers != clients+1 {
		t.Fatalf("server state: count %d, %d log entries, %d viewers; want %d, %d, %d",
			st.Count, len(st.Log), st.Viewers, sum, clients*perClient, clients+1)
	}
	waitState(t, ctx, w, "the watched state to equal the server's", func(v json.RawMessage) bool {
		return jsonEqual(t, v, server)
	})

	// A second watcher subscribing now starts from a snapshot equal to it.
	w2, err := client.Watch[counterState](ctx, callers[1].Actor("counter", id))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w2.Close()
	if !jsonEqual(t, w2.State(), server) {
		t.Fatalf("late snapshot %s, want %s", w2.State(), server)
	}
}

// testEventTargets: three clients subscribe to a chat's events; broadcast,
// To and Except reach exactly the intended subscribers, in order.
func testEventTargets(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	const room = "room-1"
	type got struct {
		mu    sync.Mutex
		texts []string
		from  []string
		end   chan struct{}
	}
	cs := make([]*client.Client, 3)
	gots := make([]*got, 3)
	for i := range cs {
		cs[i] = dial(t, d.URL, nil)
		g := &got{end: make(chan struct{})}
		gots[i] = g
		unsub := cs[i].Actor("chat", room).OnEvent("said", func(p json.RawMessage) {
			var e saidEvent
			if err := json.Unmarshal(p, &e); err != nil {
				t.Errorf("event payload %s: %v", p, err)
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			g.texts = append(g.texts, e.Text)
			g.from = append(g.from, e.From)
			if e.Text == "end" {
				close(g.end)
			}
		})
		defer unsub()
		// The subscription and this call go to the same instance from the
		// same connection, so once it is answered the subscription holds.
		if err := cs[i].Actor("chat", room).Call(ctx, "ping", nil, nil); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	ids := []string{cs[0].ID(), cs[1].ID(), cs[2].ID()}
	say := func(from int, in sayInput) {
		t.Helper()
		if err := cs[from].Actor("chat", room).Call(ctx, "say", in, nil); err != nil {
			t.Fatalf("say %q: %v", in.Text, err)
		}
	}
	say(0, sayInput{Text: "all"})
	say(0, sayInput{Text: "to-1", To: []string{ids[1]}})
	say(1, sayInput{Text: "to-0-2", To: []string{ids[0], ids[2]}})
	say(0, sayInput{Text: "except-0", Except: []string{ids[0]}})
	say(2, sayInput{Text: "except-1-2", Except: []string{ids[1], ids[2]}})
	say(0, sayInput{Text: "to-nobody", To: []string{"no-such-client"}})
	say(2, sayInput{Text: "end"})

	want := [][]string{
		{"all", "to-0-2", "except-1-2", "end"},
		{"all", "to-1", "except-0", "end"},
		{"all", "to-0-2", "except-0", "end"},
	}
	for i, g := range gots {
		select {
		case <-g.end:
		case <-ctx.Done():
			t.Fatalf("client %d: no end event: %v", i, ctx.Err())
		}
		g.mu.Lock()
		texts, from := slices.Clone(g.texts), slices.Clone(g.from)
		g.mu.Unlock()
		if !slices.Equal(texts, want[i]) {
			t.Errorf("client %d got %q, want %q", i, texts, want[i])
		}
		if len(from) > 0 && from[0] != ids[0] {
			t.Errorf("client %d: first event from %q, want %q", i, from[0], ids[0])
		}
	}
}

// testMiddleware: app then actor middleware build the handler's context;
// rejections reach the client as the rejection's message.
func testMiddleware(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	c := dial(t, d.URL, nil)
	who, err := client.CallT[whoami](ctx, c.Actor("guarded", "ok"), "whoami", nil)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if !slices.Equal(who.Trail, []string{"app:rpc", "actor:whoami"}) || who.ClientID != c.ID() {
		t.Fatalf("whoami = %+v, want trail [app:rpc actor:whoami] and client %s", who, c.ID())
	}
	if msg := rpcMessage(t, c.Actor("guarded", "deny-1").Call(ctx, "whoami", nil, nil)); msg != "access denied" {
		t.Errorf("rejected call: %q, want %q", msg, "access denied")
	}
	if msg := rpcMessage(t, c.Actor("guarded", "ok").Call(ctx, "secret", nil, nil)); msg != "no secrets for "+c.ID() {
		t.Errorf("rejected method: %q, want %q", msg, "no secrets for "+c.ID())
	}
	// Rejected calls never ran: one call counted.
	if who, err = client.CallT[whoami](ctx, c.Actor("guarded", "ok"), "whoami", nil); err != nil {
		t.Fatalf("whoami: %v", err)
	}
	var st guardedState
	w, err := c.Actor("guarded", "ok").WatchState(ctx)
	if err != nil {
		t.Fatalf("WatchState: %v", err)
	}
	defer w.Close()
	if err := w.Decode(&st); err != nil || st.Calls != 2 {
		t.Fatalf("state %s (%v), want 2 calls", w.State(), err)
	}
}

// testAccess: a subscription the actor refuses fails at once with the
// actor's reason; an allowed one sees the actor's view of the state only.
func testAccess(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	owner, other := dial(t, d.URL, nil), dial(t, d.URL, nil)
	if ok, err := client.CallT[bool](ctx, owner.Actor("vault", "v"), "claim", nil); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	start := time.Now()
	_, err := other.Actor("vault", "v").WatchState(ctx)
	var se *client.SubError
	if !errors.As(err, &se) || se.Message != "only the vault's owner may watch it" {
		t.Fatalf("another client's watch: %v, want the actor's refusal", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("refusal took %v: the watch waited instead of failing", took)
	}
	w, err := owner.Actor("vault", "v").WatchState(ctx)
	if err != nil {
		t.Fatalf("owner's watch: %v", err)
	}
	defer w.Close()
	if err := owner.Actor("vault", "v").Call(ctx, "store", vaultState{Note: "groceries", Secret: "1234"}, nil); err != nil {
		t.Fatalf("store: %v", err)
	}
	waitState(t, ctx, w, "the stored note", func(v vaultView) bool { return v.Note == "groceries" })
	if strings.Contains(string(w.State()), "1234") || strings.Contains(string(w.State()), "secret") {
		t.Fatalf("watcher's copy %s shows more than the view", w.State())
	}
}

// testConnectDisconnect: OnConnect and OnDisconnect show as viewer count
// patches at a watcher when another client comes and goes.
func testConnectDisconnect(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	watcher := dial(t, d.URL, nil)
	w, err := watcher.Actor("counter", "lobby").WatchState(ctx)
	if err != nil {
		t.Fatalf("WatchState: %v", err)
	}
	defer w.Close()
	viewers := func(n int) {
		t.Helper()
		waitState(t, ctx, w, fmt.Sprintf("%d viewers", n), func(s counterState) bool { return s.Viewers == n })
	}
	viewers(1)
	guests := make([]*client.Client, 3)
	for i := range guests {
		guests[i] = dial(t, d.URL, nil)
		if err := guests[i].Actor("counter", "lobby").Call(ctx, "id", nil, nil); err != nil {
			t.Fatalf("id: %v", err)
		}
		viewers(i + 2)
	}
	// A client that never touched the instance does not count.
	bystander := dial(t, d.URL, nil)
	if err := bystander.Actor("counter", "elsewhere").Call(ctx, "id", nil, nil); err != nil {
		t.Fatal(err)
	}
	for i, g := range guests {
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		viewers(3 - i)
	}
	if err := bystander.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := client.CallT[counterState](ctx, watcher.Actor("counter", "lobby"), "get", nil)
	if err != nil || st.Viewers != 1 {
		t.Fatalf("final state %+v, %v; want 1 viewer", st, err)
	}
}

// testHostileIDs: ids with subject syntax, whitespace, NUL and unicode
// each address their own instance with the id intact; ids that escape to
// similar tokens never share an instance; empty and oversized ids get a
// clear error.
func testHostileIDs(t *testing.T, d *deployment, _ *fixture) {
	ctx := waitCtx(t)
	c := dial(t, d.URL, nil)
	ids := []string{
		"a.b", "a%2Eb", "a%2eb", "a_b", "a-b", "a b", "a\tb", "*", ">", "a.*", "a.>", ".", "..",
		"user@example.com", "x\x00y", "\x00", "ünïcødé", "日本語", "😀", "%", "%25", "a/b", "a\\b",
		`"quoted"`, "new\nline",
	}
	for i, id := range ids {
		v, err := client.CallT[counterView](ctx, c.Actor("counter", id), "add", addInput{By: i + 1})
		if err != nil {
			t.Errorf("id %q: %v", id, err)
			continue
		}
		if v.ActorID != id || v.Count != i+1 {
			t.Errorf("id %q: answered by instance %q with count %d, want its own instance with count %d", id, v.ActorID, v.Count, i+1)
		}
	}
	// Read every count back: no two ids shared an instance.
	for i, id := range ids {
		v, err := client.CallT[counterView](ctx, c.Actor("counter", id), "id", nil)
		if err != nil {
			t.Errorf("id %q: %v", id, err)
			continue
		}
		if v.ActorID != id || v.Count != i+1 {
			t.Errorf("id %q now reads instance %q with count %d, want count %d", id, v.ActorID, v.Count, i+1)
		}
	}
	// Hostile ids work for state and events too.
	w, err := c.Actor("counter", "a.b").WatchState(ctx)
	if err != nil {
		t.Fatalf("WatchState a.b: %v", err)
	}
	defer w.Close()
	var st counterState
	if err := w.Decode(&st); err != nil || st.Count != 1 {
		t.Fatalf("a.b snapshot %s, want count 1", w.State())
	}

	for _, tc := range []struct{ name, id string }{
		{"empty id", ""},
		{"10 KB id", strings.Repeat("k", 10<<10)},
		{"257 byte id", strings.Repeat("é", 128) + "x"},
	} {
		start := time.Now()
		err := c.Actor("counter", tc.id).Call(ctx, "add", addInput{By: 1}, nil)
		if err == nil {
			t.Errorf("%s: call succeeded", tc.name)
			continue
		}
		msg := rpcMessage(t, err)
		if !strings.Contains(msg, "actorId") {
			t.Errorf("%s: error %q does not name the actorId", tc.name, msg)
		}
		t.Logf("%s: %q in %v", tc.name, msg, time.Since(start).Round(time.Microsecond))
	}
	// The connection survived all of it.
	if v, err := client.CallT[counterView](ctx, c.Actor("counter", "a.b"), "id", nil); err != nil || v.Count != 1 {
		t.Fatalf("after hostile ids: %+v, %v", v, err)
	}
}

// TestSameAnswersInBothShapes makes the same sequence of calls against
// every shape and compares every answer byte for byte: results and error
// texts must not reveal the shape.
func TestSameAnswersInBothShapes(t *testing.T) {
	t.Parallel()
	calls := []struct {
		actor, id, method string
		input             any
	}{
		{"counter", "c", "get", nil},
		{"counter", "c", "append", appendInput{N: 7}},
		{"counter", "c", "append", map[string]any{"n": 8, "extra": true}},
		{"counter", "c", "fail", nil},
		{"counter", "c", "crash", nil},
		{"counter", "c", "nope", nil},
		{"counter", "c", "add", addInput{}},
		{"counter", "c", "add", []int{1}},
		{"counter", "c", "add", json.RawMessage(`{"by":1.5}`)},
		{"counter", "c", "get", nil},
		{"counter", "", "get", nil},
		{"counter", strings.Repeat("i", 300), "get", nil},
		{"nope", "c", "get", nil},
		{"", "c", "get", nil},
		{"a.b", "c", "get", nil},
		{"chat", "c", "ping", nil},
		{"chat", "c", "say", sayInput{Text: "x"}},
		{"chat", "c", "say", sayInput{Text: "y", To: []string{"nobody"}}},
		{"chat", "c", "say", "x"},
		{"guarded", "deny", "whoami", nil},
		{"guarded", "ok", "nope", nil},
		{"counter", "c", "get", nil},
	}
	answers := make([][]string, len(shapes))
	ctx := waitCtx(t)
	var wg sync.WaitGroup
	for i, shape := range shapes {
		app, _ := newApp(t)
		d := startShape(t, shape, app)
		c := dial(t, d.URL, nil)
		wg.Go(func() {
			for _, call := range calls {
				var raw json.RawMessage
				err := c.Actor(call.actor, call.id).Call(ctx, call.method, call.input, &raw)
				var re *client.RPCError
				switch {
				case err == nil:
					answers[i] = append(answers[i], "result "+string(raw))
				case errors.As(err, &re):
					answers[i] = append(answers[i], "error "+re.Message)
				default:
					t.Errorf("%s: %s/%s.%s: %v", shape, call.actor, call.id, call.method, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for j, call := range calls {
		for i := 1; i < len(shapes); i++ {
			if answers[0][j] != answers[i][j] {
				t.Errorf("%s/%.20s.%s(%v): %s answers %q, %s answers %q", call.actor, call.id, call.method, call.input,
					shapes[0], answers[0][j], shapes[i], answers[i][j])
			}
		}
	}
}
