package natstransport_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// setup starts a server with both streams and returns a JetStream context.
func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := natstest.JetStream(t, natstest.Run(t))
	if err := natstransport.EnsureStreams(ctxT(t), js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	return js
}

func runtimeConsumer(t *testing.T, js jetstream.JetStream, scope natstransport.Scope, typ string, maxAckPending int) jetstream.Consumer {
	t.Helper()
	cfg, err := natstransport.RuntimeConsumerConfig(scope, typ, maxAckPending)
	if err != nil {
		t.Fatal(err)
	}
	c, err := natstransport.EnsureConsumer(ctxT(t), js, natstransport.InboundStream, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRuntimeConsumerMatchesSeed reads the consumer back from JetStream and
// checks it against the seed's table.
func TestRuntimeConsumerMatchesSeed(t *testing.T) {
	t.Parallel()
	js := setup(t)
	sc := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	runtimeConsumer(t, js, sc, "chat", 0)
	c, err := js.Consumer(ctxT(t), "INBOUND", "rt-local-workspace-local-project-chat")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	if cfg.Durable != "rt-local-workspace-local-project-chat" {
		t.Errorf("durable %q", cfg.Durable)
	}
	if got := append([]string{cfg.FilterSubject}, cfg.FilterSubjects...); !slices.Equal(got, []string{"inbound.local-workspace.local-project.chat.>"}) {
		t.Errorf("filter subjects %q", got)
	}
	if cfg.AckPolicy != jetstream.AckExplicitPolicy {
		t.Errorf("ack policy %v, want explicit", cfg.AckPolicy)
	}
	if cfg.MaxAckPending != 256 {
		t.Errorf("max ack pending %d, want 256", cfg.MaxAckPending)
	}
	if cfg.AckWait != natstransport.DefaultAckWait || cfg.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("ack wait %v, deliver policy %v", cfg.AckWait, cfg.DeliverPolicy)
	}
	if cfg.DeliverSubject != "" {
		t.Errorf("push consumer (deliver subject %q), want pull", cfg.DeliverSubject)
	}
}

func TestEnsureConsumerConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	js := natstest.JetStream(t, srv)
	if err := natstransport.EnsureStreams(ctxT(t), js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := natstransport.RuntimeConsumerConfig(testScope, "chat", 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		js := js
		if i%2 == 1 {
			js = natstest.JetStream(t, srv)
		}
		wg.Go(func() {
			if _, err := natstransport.EnsureConsumer(ctxT(t), js, natstransport.InboundStream, cfg); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := js.Stream(ctxT(t), natstransport.InboundStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Consumers; n != 1 {
		t.Errorf("%d consumers on INBOUND, want 1", n)
	}
}

func TestEnsureConsumerUpdatesMaxAckPending(t *testing.T) {
	t.Parallel()
	js := setup(t)
	runtimeConsumer(t, js, testScope, "chat", 0)
	c := runtimeConsumer(t, js, testScope, "chat", 512)
	if got := c.CachedInfo().Config.MaxAckPending; got != 512 {
		t.Errorf("max ack pending %d after update, want 512", got)
	}
}

// TestEnsureConsumerDurableClash shows what happens when two scopes spell
// the same durable name (DurableName keeps '-'): the second runtime fails
// at boot instead of taking over the first one's consumer.
func TestEnsureConsumerDurableClash(t *testing.T) {
	t.Parallel()
	js := setup(t)
	a := natstransport.Scope{WorkspaceID: "a-b", ProjectID: "c"}
	b := natstransport.Scope{WorkspaceID: "a", ProjectID: "b-c"}
	runtimeConsumer(t, js, a, "chat", 0)
	cfg, err := natstransport.RuntimeConsumerConfig(b, "chat", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = natstransport.EnsureConsumer(ctxT(t), js, natstransport.InboundStream, cfg)
	var mm *natstransport.MismatchError
	if !errors.As(err, &mm) || !slices.Equal(mm.Fields(), []string{"filter_subjects"}) || !errors.Is(err, natstransport.ErrConfigMismatch) {
		t.Fatalf("clashing durable: %v, want a MismatchError on filter_subjects", err)
	}
	var clash *natstransport.DurableClashError
	if !errors.As(err, &clash) || clash.Durable != "rt-a-b-c-chat" ||
		!slices.Equal(clash.Have, []string{"inbound.a-b.c.chat.>"}) || !slices.Equal(clash.Want, []string{"inbound.a.b-c.chat.>"}) {
		t.Fatalf("clashing durable: %#v, want a DurableClashError", err)
	}
	// The message names the scope that holds the durable, and ours.
	for _, want := range []string{
		`INBOUND > rt-a-b-c-chat already serves workspace "a-b", project "c", actor type "chat" (filter inbound.a-b.c.chat.>)`,
		`cannot serve workspace "a", project "b-c", actor type "chat"`,
		"keep '-' as written",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	c, err := js.Consumer(ctxT(t), natstransport.InboundStream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.CachedInfo().Config.FilterSubject; f != "inbound.a-b.c.chat.>" {
		t.Errorf("first consumer re-pointed to %q", f)
	}
}

func TestEnsureConsumerMismatchNamesFields(t *testing.T) {
	t.Parallel()
	js := setup(t)
	ctx := ctxT(t)
	pre := jetstream.ConsumerConfig{Durable: "d", FilterSubject: "outbound.x.>", AckPolicy: jetstream.AckAllPolicy,
		DeliverPolicy: jetstream.DeliverNewPolicy}
	if _, err := js.CreateConsumer(ctx, natstransport.OutboundStream, pre); err != nil {
		t.Fatal(err)
	}
	want := jetstream.ConsumerConfig{Durable: "d", FilterSubject: "outbound.x.>", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10}
	_, err := natstransport.EnsureConsumer(ctx, js, natstransport.OutboundStream, want)
	var mm *natstransport.MismatchError
	if !errors.Is(err, natstransport.ErrConfigMismatch) || !errors.As(err, &mm) {
		t.Fatalf("EnsureConsumer: %v, want a MismatchError", err)
	}
	if got := mm.Fields(); !slices.Equal(got, []string{"ack_policy", "deliver_policy"}) {
		t.Errorf("fields %v, want [ack_policy deliver_policy]", got)
	}
	if !strings.Contains(err.Error(), "max_ack_pending") || !strings.Contains(err.Error(), "OUTBOUND > d") {
		t.Errorf("error %q should name the consumer and the updatable difference too", err)
	}
}

func TestEnsureConsumerInvalid(t *testing.T) {
	t.Parallel()
	if _, err := natstransport.EnsureConsumer(t.Context(), nil, "INBOUND", jetstream.ConsumerConfig{}); !errors.Is(err, protocol.ErrInvalidOption) {
		t.Errorf("no durable: %v, want ErrInvalidOption", err)
	}
	if _, err := natstransport.EnsureConsumer(t.Context(), nil, "INBOUND", jetstream.ConsumerConfig{Durable: "a", Name: "b"}); !errors.Is(err, protocol.ErrInvalidOption) {
		t.Errorf("name differs from durable: %v, want ErrInvalidOption", err)
	}
	if _, err := natstransport.RuntimeConsumerConfig(testScope, "chat", -1); !errors.Is(err, protocol.ErrInvalidOption) {
		t.Errorf("negative max ack pending: %v, want ErrInvalidOption", err)
	}
	if _, err := natstransport.RuntimeConsumerConfig(testScope, "", 0); !errors.Is(err, natstransport.ErrInvalidToken) {
		t.Errorf("empty actor type: %v, want ErrInvalidToken", err)
	}
	if _, err := natstransport.OutboundConsumerConfig(testScope, ""); !errors.Is(err, natstransport.ErrInvalidToken) {
		t.Errorf("empty session id: %v, want ErrInvalidToken", err)
	}
}

// TestRuntimeConsumerGetsOnlyItsType publishes for two actor types and
// checks that each durable gets its own messages, and that acked messages
// leave the work queue.
func TestRuntimeConsumerGetsOnlyItsType(t *testing.T) {
	t.Parallel()
	js := setup(t)
	ctx := ctxT(t)
	chat := runtimeConsumer(t, js, testScope, "chat", 0)
	counter := runtimeConsumer(t, js, testScope, "chat.room", 0) // "chat" plus a dot must not overlap
	for _, p := range []struct{ typ, id string }{{"chat", "a"}, {"chat.room", "b"}, {"chat", "c.d"}} {
		subj, err := natstransport.InboundSubject(testScope, p.typ, p.id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subj, []byte(p.typ+"/"+p.id)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(c jetstream.Consumer, n int) []string {
		batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, string(m.Data()))
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	if got := read(chat, 2); !slices.Equal(got, []string{"chat/a", "chat/c.d"}) {
		t.Errorf("chat consumer got %q", got)
	}
	if got := read(counter, 1); !slices.Equal(got, []string{"chat.room/b"}) {
		t.Errorf("chat.room consumer got %q", got)
	}
	s, err := js.Stream(ctx, natstransport.InboundStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("INBOUND holds %d messages after all were acked, want 0", n)
	}
}

func TestOutboundConsumerConfig(t *testing.T) {
	t.Parallel()
	cfg, err := natstransport.OutboundConsumerConfig(testScope, "s.1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.FilterSubjects, []string{"outbound.ws.proj.s%2E1"}) || cfg.DeliverPolicy != jetstream.DeliverAllPolicy ||
		cfg.InactiveThreshold != natstransport.DefaultOutboundInactiveThreshold {
		t.Errorf("config %+v", cfg)
	}
}

// TestOutboundAllowsManyConsumers creates more ordered consumers than
// nats-server's default cap of 1,000 per stream, as many concurrent
// sessions do.
func TestOutboundAllowsManyConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,100 consumers")
	}
	t.Parallel()
	js := setup(t)
	ctx := ctxT(t)
	const n = 1100
	start := time.Now()
	for i := range n {
		cfg, err := natstransport.OutboundConsumerConfig(testScope, fmt.Sprintf("session-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.OrderedConsumer(ctx, natstransport.OutboundStream, cfg); err != nil {
			t.Fatalf("consumer %d: %v", i+1, err)
		}
	}
	t.Logf("created %d ordered consumers in %s", n, time.Since(start))
	s, err := js.Stream(ctx, natstransport.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Consumers; got != n {
		t.Errorf("OUTBOUND has %d consumers, want %d", got, n)
	}
}

func TestConsumedSessions(t *testing.T) {
	t.Parallel()
	js := setup(t)
	ctx := ctxT(t)
	ordered := func(scope natstransport.Scope, session string) {
		t.Helper()
		cfg, err := natstransport.OutboundConsumerConfig(scope, session)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.OrderedConsumer(ctx, natstransport.OutboundStream, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// More than one page of the consumer list (256 infos per page).
	const n = 300
	want := map[string]struct{}{}
	for i := range n {
		id := fmt.Sprintf("s%d", i)
		ordered(testScope, id)
		want[id] = struct{}{}
	}
	other := natstransport.Scope{WorkspaceID: "other", ProjectID: testScope.ProjectID}
	ordered(other, "foreign")
	// A consumer set up by hand with the single FilterSubject field counts;
	// a wildcard one (say, a monitoring tool's) names no session.
	subj, _ := natstransport.OutboundSubject(testScope, "by-hand")
	want["by-hand"] = struct{}{}
	if _, err := js.CreateConsumer(ctx, natstransport.OutboundStream, jetstream.ConsumerConfig{FilterSubject: subj}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, natstransport.OutboundStream, jetstream.ConsumerConfig{FilterSubject: "outbound.>"}); err != nil {
		t.Fatal(err)
	}

	got, err := natstransport.ConsumedSessions(ctx, js, testScope)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d sessions, want %d", len(got), len(want))
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("session %q missing", id)
		}
	}
	if _, ok := got["foreign"]; ok {
		t.Error("a session of another scope is listed")
	}

	// Without the stream there is no answer, rather than an empty one.
	if err := js.DeleteStream(ctx, natstransport.OutboundStream); err != nil {
		t.Fatal(err)
	}
	if got, err := natstransport.ConsumedSessions(ctx, js, testScope); !errors.Is(err, jetstream.ErrStreamNotFound) || got != nil {
		t.Errorf("without OUTBOUND: %d sessions, %v; want ErrStreamNotFound", len(got), err)
	}
}
