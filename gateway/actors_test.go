package gateway_test

import (
	"testing"
	"time"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
)

// TestUnknownActorOfClashingScope: scopes (a-b, c) and (a, b-c) spell the
// same durable name for an actor type (rt-a-b-c-ledger). With only the
// first served, a client of the second gets the unknown-actor error at
// once, instead of a call accepted into INBOUND that nobody ever reads.
func TestUnknownActorOfClashingScope(t *testing.T) {
	t.Parallel()
	served := natstransport.Scope{WorkspaceID: "a-b", ProjectID: "c"}
	unserved := natstransport.Scope{WorkspaceID: "a", ProjectID: "b-c"}
	for _, s := range []natstransport.Scope{served, unserved} {
		if name, _ := natstransport.DurableName(s, "ledger"); name != "rt-a-b-c-ledger" {
			t.Fatalf("DurableName(%+v) = %q: the scopes no longer clash, so this test tests nothing", s, name)
		}
	}
	r := newRig(t, gateway.Config{Scope: unserved})
	startRuntime(t, r.srv, served, false, "ledger")
	c := dial(t, r.url)
	c.welcome()
	start := time.Now()
	f := c.call("1", "ledger", "x", "echo", "")
	if f.Error == nil || *f.Error != `unknown actor type: "ledger"` {
		t.Fatalf("rpc to the other scope's type = %+v, want the unknown actor type error", f)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answer took %v", d)
	}
	if n := r.inboundMsgs(); n != 0 {
		t.Errorf("%d messages left in INBOUND, want none", n)
	}

	// The scope the consumer does serve is answered.
	r2 := newRigOn(t, r.srv, gateway.Config{Scope: served})
	c2 := dial(t, r2.url)
	c2.welcome()
	if f := c2.call("1", "ledger", "x", "echo", `"hi"`); f.Error != nil {
		t.Fatalf("rpc in the served scope: %+v", f)
	}
}
