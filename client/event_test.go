package client_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/protocol"
)

func TestEvents(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	a := c.Actor("chat", "lobby")

	got := make(chan string, 64)
	record := func(tag string) func(json.RawMessage) {
		return func(p json.RawMessage) { got <- tag + string(p) }
	}
	unA := a.OnEvent("msg", record("A"))
	unB := a.OnEvent("msg", record("B"))
	unC := a.OnEvent("other", record("C"))
	if f := sc.expect(t, protocol.TypeEventSub); f.Actor != "chat" || f.ActorID != "lobby" {
		t.Fatalf("event:sub %+v", f)
	}

	sc.send(t, protocol.AppendEvent(nil, "chat", "lobby", "msg", []byte(`1`)))
	sc.send(t, protocol.AppendEvent(nil, "chat", "elsewhere", "msg", []byte(`2`)))
	sc.send(t, protocol.AppendEvent(nil, "chat", "lobby", "other", nil))
	sc.send(t, protocol.AppendEvent(nil, "chat", "lobby", "msg", []byte(`3`)))
	want := []string{"A1", "B1", "Cnull", "A3", "B3"}
	for i, w := range want {
		if g := <-got; g != w {
			t.Fatalf("event %d: got %s, want %s", i, g, w)
		}
	}

	unA()
	unA() // idempotent
	unC()
	sc.send(t, protocol.AppendEvent(nil, "chat", "lobby", "msg", []byte(`4`)))
	if g := <-got; g != "B4" {
		t.Fatalf("after unsubscribe: %s", g)
	}
	unB()
	if f := sc.expect(t, protocol.TypeEventUnsub); f.Actor != "chat" || f.ActorID != "lobby" {
		t.Fatalf("event:unsub %+v", f)
	}
	sc.expectNone(t) // one sub, one unsub

	// Subscribing again sends event:sub again.
	un := a.OnEvent("msg", record("D"))
	defer un()
	sc.expect(t, protocol.TypeEventSub)
	sc.send(t, protocol.AppendEvent(nil, "chat", "lobby", "msg", []byte(`5`)))
	if g := <-got; g != "D5" {
		t.Fatalf("resubscribed: %s", g)
	}
}

func TestEventOrderAndTyped(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	const n = 500
	got := make(chan int, n)
	un := c.Actor("a", "1").OnEvent("tick", func(p json.RawMessage) {
		var i int
		if err := json.Unmarshal(p, &i); err != nil {
			panic(err)
		}
		got <- i
	})
	defer un()
	sc.expect(t, protocol.TypeEventSub)
	for i := range n {
		sc.send(t, protocol.AppendEvent(nil, "a", "1", "tick", []byte(fmt.Sprint(i))))
	}
	for i := range n {
		if g := <-got; g != i {
			t.Fatalf("event %d arrived as %d", i, g)
		}
	}
}

// TestEventBufferDrops checks the overflow policy: with a blocked handler,
// EventBuffer events wait and later ones are dropped, while calls (and so
// the connection) keep working.
func TestEventBufferDrops(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), &client.Options{EventBuffer: 2})
	sc := s.accept(t)
	seen := make(chan string, 16)
	release := make(chan struct{})
	un := c.Actor("a", "1").OnEvent("e", func(p json.RawMessage) {
		seen <- string(p)
		if string(p) == "1" {
			<-release
		}
	})
	defer un()
	sc.expect(t, protocol.TypeEventSub)
	sc.send(t, protocol.AppendEvent(nil, "a", "1", "e", []byte(`1`)))
	if got := recv(t, seen); got != "1" {
		t.Fatalf("first event %s", got)
	}
	for i := 2; i <= 6; i++ {
		sc.send(t, protocol.AppendEvent(nil, "a", "1", "e", []byte(fmt.Sprint(i))))
	}
	// A call's result arrives after the events, so once the call returned,
	// the reader has queued or dropped all of them.
	callDone := make(chan error, 1)
	go func() { callDone <- c.Actor("a", "1").Call(testCtx(t), "m", nil, nil) }()
	f := sc.expect(t, protocol.TypeRPC)
	sc.send(t, protocol.AppendRPCResult(nil, f.ID, nil))
	if err := <-callDone; err != nil {
		t.Fatal(err)
	}
	close(release)
	for _, want := range []string{"2", "3"} {
		if got := recv(t, seen); got != want {
			t.Fatalf("got event %s, want %s", got, want)
		}
	}
	// Events 4 to 6 were dropped; the buffer has room again.
	sc.send(t, protocol.AppendEvent(nil, "a", "1", "e", []byte(`7`)))
	if got := recv(t, seen); got != "7" {
		t.Fatalf("got event %s, want 7", got)
	}
}
