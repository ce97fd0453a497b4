package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// TestRPCRoundTrip reads the reply the way a gateway does, with an ordered
// consumer on OUTBOUND, and checks the outbound envelope and that the
// inbound identity (userId, claims) reaches the handler.
func TestRPCRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(newApp(t, counterActor(nil)), nil)

	oc := e.sessionConsumer("s1")
	c := e.client("s1")
	user := "u-1"
	c.user, c.claims = &user, map[string]any{"role": "admin"}

	id := c.rpc("counter", "a.b", "add", addInput{N: 2})
	msg, err := oc.Next(jetstream.FetchContext(ctxT(t)))
	if err != nil {
		t.Fatal(err)
	}
	wantSubject, _ := natstransport.OutboundSubject(e.scope, "s1")
	if msg.Subject() != wantSubject {
		t.Errorf("subject %q, want %q", msg.Subject(), wantSubject)
	}
	var env struct {
		Scope     natstransport.Scope `json:"scope"`
		SessionID string              `json:"sessionId"`
		Message   json.RawMessage     `json:"message"`
	}
	if err := json.Unmarshal(msg.Data(), &env); err != nil {
		t.Fatal(err)
	}
	if env.Scope != e.scope || env.SessionID != "s1" {
		t.Errorf("envelope scope %+v session %q", env.Scope, env.SessionID)
	}
	jsonEq(t, env.Message, `{"type":"rpc:result","id":"`+id+`","result":2}`)
	c.result(id) // the core subscription saw the same frame

	jsonEq(t, c.call("counter", "a.b", "whoami", nil), `{"client":"s1","user":"u-1","role":"admin"}`)
	if got := string(c.call("counter", "a.b", "secret", nil)); got != `"42"` {
		t.Errorf("secret = %s", got)
	}
	e.waitDrained("counter")
}

// TestStateAndEvents covers state:sub snapshots, patches after calls and
// events with every target across several sessions.
func TestStateAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	said := zocket.NewEvent[string]("said")
	type sayInput struct {
		Text   string   `json:"text"`
		To     []string `json:"to"`
		Except []string `json:"except"`
	}
	chat := zocket.NewActor("chat", func() struct{} { return struct{}{} }, zocket.Emits(said))
	zocket.Method(chat, "say", func(_ *struct{}, c *zocket.Call, in sayInput) (bool, error) {
		var opts []zocket.EmitOption
		if in.To != nil {
			opts = append(opts, zocket.To(in.To...))
		}
		if in.Except != nil {
			opts = append(opts, zocket.Except(in.Except...))
		}
		return true, said.Emit(c, in.Text, opts...)
	})
	zocket.Method(chat, "ping", func(*struct{}, *zocket.Call, struct{}) (string, error) { return "pong", nil })
	e.start(newApp(t, counterActor(nil), chat), nil)

	a, b, c := e.client("A"), e.client("B"), e.client("C")

	// State: snapshot, then one patch per change to every subscriber.
	{
		a.subscribe(protocol.TypeStateSub, "counter", "room")
		snap := a.expect(protocol.TypeStateSnapshot)
		if snap.Actor != "counter" || snap.ActorID != "room" {
			t.Fatalf("snapshot for %s/%s", snap.Actor, snap.ActorID)
		}
		jsonEq(t, snap.State, `{"count":0,"online":1,"log":[]}`)

		b.subscribe(protocol.TypeStateSub, "counter", "room")
		wantOp(t, a.next(), "replace", "/online", "2") // B connected
		jsonEq(t, b.expect(protocol.TypeStateSnapshot).State, `{"count":0,"online":2,"log":[]}`)

		id := c.rpc("counter", "room", "add", addInput{N: 5}) // C calls without subscribing
		for _, s := range []*client{a, b} {
			wantOp(t, s.next(), "replace", "/online", "3") // C connected
			wantOp(t, s.next(), "replace", "/count", "5")
		}
		if got := string(c.result(id).Result); got != "5" {
			t.Fatalf("add = %s", got)
		}
		// No change, no patch: A's next frame is its own result.
		if got := string(a.call("counter", "room", "add", addInput{N: 0})); got != "5" {
			t.Fatalf("add 0 = %s", got)
		}
		b.subscribe(protocol.TypeStateUnsub, "counter", "room")
		id = a.rpc("counter", "room", "add", addInput{N: 1})
		wantOp(t, a.next(), "replace", "/count", "6")
		a.result(id)
		if got := string(b.call("counter", "room", "add", addInput{N: 0})); got != "6" { // no patch for B before
			t.Fatalf("add 0 = %s", got)
		}
	}

	// Events: broadcast, To and Except, among event subscribers only.
	{
		for _, s := range []*client{a, b, c} {
			s.subscribe(protocol.TypeEventSub, "chat", "lobby")
		}
		id := a.rpc("chat", "lobby", "say", sayInput{Text: "hi"})
		for _, s := range []*client{a, b, c} {
			ev := s.expect(protocol.TypeEvent)
			if ev.Event != "said" || string(ev.Payload) != `"hi"` || ev.Actor != "chat" || ev.ActorID != "lobby" {
				t.Fatalf("%s got event %+v", s.id, ev)
			}
		}
		a.result(id)

		a.call("chat", "lobby", "say", sayInput{Text: "psst", To: []string{"B"}})
		id = a.rpc("chat", "lobby", "say", sayInput{Text: "hey", Except: []string{"B"}})
		if got := a.expect(protocol.TypeEvent); string(got.Payload) != `"hey"` {
			t.Fatalf("A got %s", got.Payload)
		}
		a.result(id)
		if got := b.expect(protocol.TypeEvent); string(got.Payload) != `"psst"` {
			t.Fatalf("B got %s", got.Payload)
		}
		if got := c.expect(protocol.TypeEvent); string(got.Payload) != `"hey"` {
			t.Fatalf("C got %s", got.Payload)
		}
		// Markers: had B received "hey" or C "psst", it would come first.
		for _, s := range []*client{b, c} {
			if got := string(s.call("chat", "lobby", "ping", nil)); got != `"pong"` {
				t.Fatalf("ping = %s", got)
			}
		}
		c.subscribe(protocol.TypeEventUnsub, "chat", "lobby")
		id = a.rpc("chat", "lobby", "say", sayInput{Text: "bye"})
		a.expect(protocol.TypeEvent)
		a.result(id)
		b.expect(protocol.TypeEvent)
		c.call("chat", "lobby", "ping", nil) // C unsubscribed: no event first
	}
	e.waitDrained("counter")
	e.waitDrained("chat")
}

// TestErrors checks that every failing rpc gets its rpc:result error.
func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(newApp(t, counterActor(nil)), nil)
	c := e.client("s1")
	tests := []struct {
		name, method string
		input        any
		want         string
	}{
		{"unknown method", "nope", nil, `unknown method: "nope" on actor "counter"`},
		{"invalid input", "add", map[string]any{"n": "x"}, `invalid input: counter.add: field "n": cannot use JSON string as integer`},
		{"validation", "add", addInput{N: 5000}, "invalid input: counter.add: n must be at most 1000"},
		{"handler error", "fail", nil, "nope"},
		{"middleware rejection", "secret", nil, "forbidden"},
	}
	for _, tt := range tests {
		if got := c.callErr("counter", "x", tt.method, tt.input); got != tt.want {
			t.Errorf("%s: error %q, want %q", tt.name, got, tt.want)
		}
	}
	// The instance is fine afterwards.
	if got := string(c.call("counter", "x", "add", addInput{N: 1})); got != "1" {
		t.Errorf("add = %s", got)
	}
	e.waitDrained("counter")
}

// TestConsumerConfigMatchesSeed reads the consumers back from JetStream
// and compares them with the seed's table, field by field.
func TestConsumerConfigMatchesSeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.scope = natstransport.Scope{WorkspaceID: "acme", ProjectID: "shop"}
	big := zocket.NewActor("big", func() int { return 0 })
	zocket.Method(big, "noop", func(*int, *zocket.Call, struct{}) (int, error) { return 0, nil })
	e.start(newApp(t, counterActor(nil), big), func(c *runtime.Config) {
		c.AckWait = 7 * time.Second
		c.ActorMaxAckPending = map[string]int{"big": 512}
	})

	want := map[string]int{"rt-acme-shop-counter": 256, "rt-acme-shop-big": 512}
	stream, err := e.js.Stream(ctxT(t), natstransport.InboundStream)
	if err != nil {
		t.Fatal(err)
	}
	lister := stream.ConsumerNames(ctxT(t))
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"rt-acme-shop-big", "rt-acme-shop-counter"}) {
		t.Fatalf("consumers on INBOUND: %v", names)
	}
	for _, typ := range []string{"counter", "big"} {
		cfg := e.consumerInfo(typ).Config
		durable := "rt-acme-shop-" + typ
		if cfg.Durable != durable {
			t.Errorf("%s: durable %q, want %q", typ, cfg.Durable, durable)
		}
		if filter := "inbound.acme.shop." + typ + ".>"; cfg.FilterSubject != filter || len(cfg.FilterSubjects) != 0 {
			t.Errorf("%s: filter %q %v, want %q", typ, cfg.FilterSubject, cfg.FilterSubjects, filter)
		}
		if cfg.AckPolicy != jetstream.AckExplicitPolicy {
			t.Errorf("%s: ack policy %v, want explicit", typ, cfg.AckPolicy)
		}
		if cfg.MaxAckPending != want[durable] {
			t.Errorf("%s: max ack pending %d, want %d", typ, cfg.MaxAckPending, want[durable])
		}
		if cfg.DeliverPolicy != jetstream.DeliverAllPolicy {
			t.Errorf("%s: deliver policy %v, want all", typ, cfg.DeliverPolicy)
		}
		if cfg.AckWait != 7*time.Second {
			t.Errorf("%s: ack wait %v, want 7s", typ, cfg.AckWait)
		}
		if cfg.DeliverSubject != "" {
			t.Errorf("%s: push consumer (deliver subject %q), want pull", typ, cfg.DeliverSubject)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app := newApp(t, counterActor(nil))
	tests := []struct {
		name string
		cfg  runtime.Config
	}{
		{"no NATS", runtime.Config{}},
		{"negative max ack pending", runtime.Config{NATS: e.nc, MaxAckPending: -1}},
		{"negative max ack pending of a type", runtime.Config{NATS: e.nc, ActorMaxAckPending: map[string]int{"counter": -1}}},
		{"max ack pending of an unknown type", runtime.Config{NATS: e.nc, ActorMaxAckPending: map[string]int{"nope": 8}}},
		{"negative ack wait", runtime.Config{NATS: e.nc, AckWait: -time.Second}},
		{"bad streams", runtime.Config{NATS: e.nc, Streams: natstransport.StreamSettings{Replicas: 9}}},
		{"too long workspace", runtime.Config{NATS: e.nc, Scope: natstransport.Scope{WorkspaceID: strings.Repeat("w", 300)}}},
	}
	for _, tt := range tests {
		if _, err := runtime.New(app, tt.cfg); !errors.Is(err, zocket.ErrInvalidOption) {
			t.Errorf("%s: error %v, want ErrInvalidOption", tt.name, err)
		}
	}
	if _, err := runtime.New(nil, runtime.Config{NATS: e.nc}); !errors.Is(err, zocket.ErrInvalidOption) {
		t.Errorf("nil app: error %v", err)
	}
	rt, err := runtime.New(app, runtime.Config{NATS: e.nc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = rt.Run(ctx) // boot with a cancelled context fails fast
	if err := rt.Run(context.Background()); !errors.Is(err, runtime.ErrAlreadyStarted) {
		t.Errorf("second Run: %v, want ErrAlreadyStarted", err)
	}
}
