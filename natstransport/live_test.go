package natstransport_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
)

// TestHostileIDsOnServer publishes one message per hostile actor id and
// reads, for each id, with a durable consumer filtered to exactly that
// id's subject (a work queue refuses overlapping filters, so creating them
// all already shows the subjects are distinct): every consumer sees its own message and no other. A core NATS
// subscription per id checks the same without JetStream.
func TestHostileIDsOnServer(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	nc := natstest.Connect(t, srv)
	js := natstest.JetStream(t, srv)
	if err := natstransport.EnsureStreams(ctxT(t), js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	subjects := make([]string, len(hostileIDs))
	for i, id := range hostileIDs {
		subj, err := natstransport.InboundSubject(testScope, "chat", id)
		if err != nil {
			t.Fatal(err)
		}
		subjects[i] = subj
		// A core publish (captured by INBOUND too) must not break the connection.
		if err := nc.Publish(subj, []byte(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("connection broken by a hostile subject: %v", err)
	}

	for i, subj := range subjects {
		if _, err := js.Publish(ctx, subj, []byte(hostileIDs[i])); err != nil {
			t.Fatalf("publish for id %q: %v", shorten(hostileIDs[i]), err)
		}
	}
	for i, subj := range subjects {
		c, err := natstransport.EnsureConsumer(ctx, js, natstransport.InboundStream, jetstream.ConsumerConfig{
			Durable: fmt.Sprintf("id-%d", i), FilterSubject: subj, AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatalf("consumer for id %q: %v", shorten(hostileIDs[i]), err)
		}
		batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, string(m.Data()))
		}
		if !slices.Equal(got, []string{hostileIDs[i], hostileIDs[i]}) {
			t.Errorf("consumer for id %q got %q", shorten(hostileIDs[i]), got)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != 0 {
			t.Errorf("consumer for id %q matches %d more messages", shorten(hostileIDs[i]), info.NumPending)
		}
	}

	// Core NATS: a subscription on one id's subject sees only that id.
	subs := make([]chan string, len(subjects))
	for i, subj := range subjects {
		ch := make(chan string, len(subjects))
		subs[i] = ch
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { ch <- string(m.Data) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil { // the server holds our interest before pub publishes
		t.Fatal(err)
	}
	pub := natstest.Connect(t, srv)
	for i, subj := range subjects {
		if err := pub.Publish(subj, []byte(hostileIDs[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the round trip orders our view after pub's messages
		t.Fatal(err)
	}
	for i, ch := range subs {
		select {
		case got := <-ch:
			if got != hostileIDs[i] {
				t.Errorf("subscription for %q got %q", shorten(hostileIDs[i]), shorten(got))
			}
		case <-ctx.Done():
			t.Fatalf("subscription for %q got nothing", shorten(hostileIDs[i]))
		}
	}
	for i, ch := range subs {
		if len(ch) != 0 {
			t.Errorf("subscription for %q got %d extra messages", shorten(hostileIDs[i]), len(ch))
		}
	}
}

// TestWorstCaseIDsFitTheServer uses ids of MaxTokenLength bytes that all
// need escaping, in every token, through the whole runtime path: durable
// consumer creation (whose API subject embeds the durable name and the
// filter), publish, fetch and ack; and a session's ordered consumer.
func TestWorstCaseIDsFitTheServer(t *testing.T) {
	t.Parallel()
	js := setup(t)
	ctx := ctxT(t)
	worst := func(c string) string { return strings.Repeat(c, natstransport.MaxTokenLength) }
	sc := natstransport.Scope{WorkspaceID: worst("."), ProjectID: worst("*")}
	typ, id, session := worst(">"), worst(" "), worst("\x00")

	c := runtimeConsumer(t, js, sc, typ, 0)
	subj, err := natstransport.InboundSubject(sc, typ, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inbound subject: %d bytes; durable name: %d bytes", len(subj), len(c.CachedInfo().Name))
	if _, err := js.Publish(ctx, subj, []byte("hi")); err != nil {
		t.Fatalf("publish on a %d-byte subject: %v", len(subj), err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject() != subj {
		t.Errorf("got subject of %d bytes, want %d", len(m.Subject()), len(subj))
	}
	if _, _, gotID, err := natstransport.ParseInboundSubject(m.Subject()); err != nil || gotID != id {
		t.Errorf("parse delivered subject: %v", err)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}

	cfg, err := natstransport.OutboundConsumerConfig(sc, session)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := js.OrderedConsumer(ctx, natstransport.OutboundStream, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := natstransport.OutboundSubject(sc, session)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, out, natstransport.AppendOutbound(nil, sc, session, []byte(`{"type":"welcome"}`))); err != nil {
		t.Fatal(err)
	}
	om, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	env, err := natstransport.DecodeOutbound(om.Data())
	if err != nil || env.SessionID != session || env.Scope != sc {
		t.Errorf("outbound envelope round trip: %v", err)
	}
}
