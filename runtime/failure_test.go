package runtime_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// TestPublishFailureNaks makes OUTBOUND refuse new messages: the reply
// publish is retried, then the inbound message is nak'd and redelivered
// until the stream takes it. The call runs more than once (at least once
// delivery) and its reply is finally stored.
func TestPublishFailureNaks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	if err := natstransport.EnsureStreams(ctx, e.js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	out, err := e.js.Stream(ctx, natstransport.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := out.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 1, jetstream.DiscardNew
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	h := e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) {
		c.PublishRetries = 1
		c.NakDelay = 20 * time.Millisecond
	})
	oc := e.sessionConsumer("s1")
	stored := func() protocol.Frame {
		t.Helper()
		m, err := oc.Next(jetstream.FetchContext(ctxT(t)))
		if err != nil {
			t.Fatal(err)
		}
		env, err := natstransport.DecodeOutbound(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		f, err := protocol.Decode(env.Message)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	c := e.client("s1")
	first := c.rpc("counter", "x", "add", addInput{N: 1})
	if f := stored(); f.ID != first || string(f.Result) != "1" {
		t.Fatalf("first reply %+v", f)
	}
	second := c.rpc("counter", "x", "add", addInput{N: 1}) // the stream is full
	eventually(t, "second reply nak'd", func() (bool, string) {
		st := h.rt.Stats()
		return st.Nacked > 0 && st.PublishFailures > 0 && st.PublishRetries > 0, fmt.Sprintf("%+v", st)
	})
	if err := out.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	f := stored()
	if f.ID != second || f.HasError {
		t.Fatalf("second reply %+v", f)
	}
	if n := string(f.Result); n == "1" {
		t.Fatalf("second add returned %s", n)
	}
	e.waitDrained("counter")
	if st := h.rt.Stats(); st.Redelivered == 0 {
		t.Errorf("no redelivery counted: %+v", st)
	}
	if !h.logs.contains("nak'd for redelivery") {
		t.Errorf("failure not logged:\n%s", h.logs.tail(20))
	}
}

// TestConsumerDeletedIsRecreated deletes a runtime's durable consumer on
// the server: the runtime re-creates it and keeps serving.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.start(newApp(t, counterActor(nil)), nil)
	c := e.client("s1")
	c.call("counter", "x", "add", addInput{N: 1})
	e.waitDrained("counter") // else the recreated consumer would get the call again
	durable, _ := natstransport.DurableName(e.scope, "counter")
	if err := e.js.DeleteConsumer(ctxT(t), natstransport.InboundStream, durable); err != nil {
		t.Fatal(err)
	}
	// The message waits in INBOUND until the consumer is back.
	if got := string(c.call("counter", "x", "add", addInput{N: 1})); got != "2" {
		t.Fatalf("add = %s", got)
	}
	// The restarted consumer can deliver before the restart is logged.
	eventually(t, "restart logged", func() (bool, string) {
		return h.logs.contains("consumer restarted"), h.logs.tail(20)
	})
}

// TestConnectionClosed closes the runtime's NATS connection under it: Run
// returns an error instead of hanging or serving deaf.
func TestConnectionClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var nc *nats.Conn
	h := e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) { nc = c.NATS })
	h.failOK = true
	e.client("s1").call("counter", "x", "add", addInput{N: 1})
	nc.Close()
	select {
	case err := <-h.done:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its connection closed")
	}
	h.once.Do(func() {})
}

// TestResultTooLarge returns a result over the server's max payload: the
// caller gets an rpc:result error instead of silence, and the message is
// acked.
func TestResultTooLarge(t *testing.T) {
	t.Parallel()
	srv, err := natsembed.Run(natsembed.Options{StoreDir: t.TempDir(), MaxPayload: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	e := newEnv(t)
	e.srv = srv
	e.nc, err = nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	h := e.start(newApp(t, counterActor(func(a *zocket.Actor[counterState]) {
		zocket.Method(a, "big", func(*counterState, *zocket.Call, struct{}) (string, error) {
			return strings.Repeat("x", 100<<10), nil
		})
	})), nil)
	c := e.client("s1")
	if got := c.callErr("counter", "x", "big", nil); got != "result too large" {
		t.Fatalf("error %q", got)
	}
	c.call("counter", "x", "add", addInput{N: 1})
	e.waitDrained("counter")
	// Logged after the error frame is published, so it can trail it.
	eventually(t, "oversized result logged", func() (bool, string) {
		return h.logs.contains("rpc result too large"), h.logs.tail(20)
	})
}

// TestOutboundRetryIsDeduplicated: every outbound frame carries a
// Nats-Msg-Id, unique per frame, and OUTBOUND drops a publish that repeats
// one. So a retry of a frame whose ack timed out although JetStream had
// stored it (the runtime cannot tell) is not delivered twice.
func TestOutboundRetryIsDeduplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	e.start(newApp(t, counterActor(nil)), nil)
	oc := e.sessionConsumer("s1")
	c := e.client("s1")
	c.rpc("counter", "x", "add", addInput{N: 1})
	c.rpc("counter", "x", "add", addInput{N: 2})
	ids := map[string]bool{}
	var last jetstream.Msg
	for range 2 {
		m, err := oc.Next(jetstream.FetchContext(ctxT(t)))
		if err != nil {
			t.Fatal(err)
		}
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if id == "" || ids[id] {
			t.Fatalf("frame %q: Nats-Msg-Id %q (seen: %v)", m.Data(), id, ids)
		}
		ids[id] = true
		last = m
	}

	// A retry: the same frame with the same id, published again.
	out, err := e.js.Stream(ctx, natstransport.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	before, err := out.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: last.Subject(), Data: last.Data(), Header: last.Headers()})
	if err != nil {
		t.Fatal(err)
	}
	after, err := out.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate || after.State.Msgs != before.State.Msgs {
		t.Fatalf("republished frame: duplicate %v, messages %d -> %d", ack.Duplicate, before.State.Msgs, after.State.Msgs)
	}
	if w := after.Config.Duplicates; w < runtime.DefaultPublishTimeout*2 {
		t.Errorf("OUTBOUND duplicate window %v is shorter than two publish timeouts", w)
	}
}

// TestShutdownBoundedWhenPublishesHang stops a runtime whose outbound
// publishes are never acknowledged (OUTBOUND is gone and something that
// never answers listens on its subjects): Deliver calls wait for room in the
// publish window and the acker retries, and Run must still return soon after
// the drain timeout instead of retrying one PublishTimeout after another.
func TestShutdownBoundedWhenPublishesHang(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const calls = 20
	entered := make(chan struct{}, calls)
	gate := make(chan struct{})
	app := newApp(t, counterActor(func(a *zocket.Actor[counterState]) {
		zocket.Method(a, "wait", func(s *counterState, _ *zocket.Call, _ struct{}) (int, error) {
			entered <- struct{}{}
			<-gate
			s.Count++
			return s.Count, nil
		})
	}))
	const drain = time.Second
	h := e.start(app, func(c *runtime.Config) {
		c.PublishTimeout = 10 * time.Second
		c.PublishRetries = 100
		c.PublishWindow = 1 // the second frame already waits for room
		c.DrainTimeout = drain
	})
	h.failOK = true
	c := e.client("s1")
	for i := range calls {
		c.rpc("counter", fmt.Sprintf("x%d", i), "wait", nil)
	}
	for range calls {
		select {
		case <-entered:
		case <-time.After(waitTimeout):
			t.Fatal("calls did not start")
		}
	}
	if err := e.js.DeleteStream(ctxT(t), natstransport.OutboundStream); err != nil {
		t.Fatal(err)
	}
	sink, err := e.nc.Subscribe(natstransport.OutboundPrefix+".>", func(*nats.Msg) {}) // takes publishes, never acks
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Unsubscribe()
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	close(gate) // every call now has a frame to publish, and no ack will come

	start := time.Now()
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return %v after cancellation", waitTimeout)
	}
	h.once.Do(func() {})
	// The drain timeout plus at most one stall wait of nats.go's async
	// publish: well under the PublishTimeout (10 s) each frame would wait
	// otherwise.
	if d := time.Since(start); d > 3*drain+time.Second {
		t.Errorf("Run returned %v after cancellation, want about the drain timeout (%v)", d, drain)
	}
}

// TestStreamsDeletedArePutBack deletes INBOUND and OUTBOUND under a
// serving runtime, as a nats-server restarted with memory storage loses
// them: the runtime puts the streams and its consumer back, says so in
// /ready, and serves again.
func TestStreamsDeletedArePutBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.start(newApp(t, counterActor(nil)), nil)
	c := e.client("s1")
	c.call("counter", "x", "add", addInput{N: 1})
	e.waitDrained("counter")
	// (Deleting the stream ends the consumption, so supervise re-creates
	// both here; after a restart nothing ends it and the periodic check
	// does: integration's TestNATSRestartMemoryStreams.)
	for _, name := range []string{natstransport.InboundStream, natstransport.OutboundStream} {
		if err := e.js.DeleteStream(ctxT(t), name); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the streams and the consumer to be back", func() (bool, string) {
		durable, _ := natstransport.DurableName(e.scope, "counter")
		_, err := e.js.Consumer(ctxT(t), natstransport.InboundStream, durable)
		if err == nil {
			_, err = e.js.Stream(ctxT(t), natstransport.OutboundStream)
		}
		return err == nil, fmt.Sprint(err)
	})
	// The instance kept its state: only the fabric was lost.
	if got := string(c.call("counter", "x", "add", addInput{N: 1})); got != "2" {
		t.Fatalf("add = %s", got)
	}
	eventually(t, "/ready to answer 200", func() (bool, string) {
		rec := httptest.NewRecorder()
		h.rt.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
		return rec.Code == http.StatusOK, rec.Body.String()
	})
}
