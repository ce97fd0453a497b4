package runtime_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// The gateway numbers each rpc (natstransport.HeaderCall); the runtime
// copies the number onto that call's rpc:result, and onto nothing else, so
// that a gateway can drop the second answer of a redelivered call.
func TestCallNumberOnAnswer(t *testing.T) {
	for _, d := range []natstransport.Delivery{natstransport.DeliveryCore, natstransport.DeliveryConsumer} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) { c.Delivery = d })
			c := e.client("s1")
			c.subscribe(protocol.TypeStateSub, "counter", "a")
			if m := c.nextMsg(); m.Header.Get(natstransport.HeaderCall) != "" {
				t.Fatalf("snapshot carries %s %q", natstransport.HeaderCall, m.Header.Get(natstransport.HeaderCall))
			}

			subject, err := natstransport.InboundSubject(e.scope, "counter", "a")
			if err != nil {
				t.Fatal(err)
			}
			msg := &nats.Msg{Subject: subject, Header: nats.Header{natstransport.HeaderCall: {"7"}},
				Data: c.envelope(protocol.AppendRPC(nil, "r1", "counter", "a", "add", []byte(`{"n":2}`)))}
			if _, err := e.js.PublishMsg(ctxT(t), msg); err != nil {
				t.Fatal(err)
			}
			if got := c.answerMsg("r1").Header.Get(natstransport.HeaderCall); got != "7" {
				t.Fatalf("rpc:result carries %s %q, want 7", natstransport.HeaderCall, got)
			}
			// A call without a number (an older gateway) is answered without one.
			id := c.rpc("counter", "a", "add", map[string]int{"n": 1})
			if got := c.answerMsg(id).Header.Get(natstransport.HeaderCall); got != "" {
				t.Fatalf("unnumbered call's answer carries %s %q", natstransport.HeaderCall, got)
			}
		})
	}
}

// nextMsg returns the session's next outbound message.
func (c *client) nextMsg() *nats.Msg {
	c.e.t.Helper()
	m, err := c.sub.NextMsgWithContext(ctxT(c.e.t))
	if err != nil {
		c.e.t.Fatalf("session %s: no message: %v", c.id, err)
	}
	return m
}

// answerMsg reads the session's messages up to the rpc:result of id and
// returns it; the messages before it must carry no call number.
func (c *client) answerMsg(id string) *nats.Msg {
	c.e.t.Helper()
	for {
		m := c.nextMsg()
		env, err := natstransport.DecodeOutbound(m.Data)
		if err != nil {
			c.e.t.Fatal(err)
		}
		f, err := protocol.Decode(env.Message)
		if err != nil {
			c.e.t.Fatal(err)
		}
		if f.Type == protocol.TypeRPCResult && f.ID == id {
			return m
		}
		if got := m.Header.Get(natstransport.HeaderCall); got != "" {
			c.e.t.Fatalf("%s frame carries %s %q", f.Type, natstransport.HeaderCall, got)
		}
	}
}
