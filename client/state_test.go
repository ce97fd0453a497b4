package client_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/protocol"
)

// watchWithSnapshot runs a.WatchState, answers its state:sub on sc with
// snapshot, and returns the watch (closed at cleanup).
func watchWithSnapshot(t *testing.T, sc *serverConn, a *client.Actor, snapshot string) *client.StateWatch {
	t.Helper()
	type result struct {
		w   *client.StateWatch
		err error
	}
	ch := make(chan result, 1)
	go func() {
		w, err := a.WatchState(testCtx(t))
		ch <- result{w, err}
	}()
	f := sc.expect(t, protocol.TypeStateSub)
	if f.Actor != a.Type() || f.ActorID != a.ID() {
		t.Fatalf("state:sub for %s/%s, want %s/%s", f.Actor, f.ActorID, a.Type(), a.ID())
	}
	sc.send(t, protocol.AppendSnapshot(nil, f.Actor, f.ActorID, []byte(snapshot)))
	r := <-ch
	if r.err != nil {
		t.Fatalf("WatchState: %v", r.err)
	}
	t.Cleanup(r.w.Close)
	return r.w
}

// waitState waits for a change notification after which the state is want.
func waitState(t *testing.T, w *client.StateWatch, want string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		if got := string(w.State()); got == want {
			return
		}
		select {
		case _, ok := <-w.Changed():
			if !ok {
				t.Fatalf("watch closed with state %s, want %s", w.State(), want)
			}
		case <-ctx.Done():
			t.Fatalf("state %s, want %s", w.State(), want)
		}
	}
}

func TestStateWatch(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	a := c.Actor("room", "r1")
	w := watchWithSnapshot(t, sc, a, `{"n":1,"list":[]}`)
	if got := string(w.State()); got != `{"n":1,"list":[]}` {
		t.Fatalf("State = %s", got)
	}
	recv(t, w.Changed()) // the snapshot

	sc.send(t, protocol.AppendPatch(nil, "room", "r1", []byte(`[{"op":"replace","path":"/n","value":2},{"op":"add","path":"/list/0","value":"a"}]`)))
	waitState(t, w, `{"n":2,"list":["a"]}`)
	var v struct {
		N    int      `json:"n"`
		List []string `json:"list"`
	}
	if err := w.Decode(&v); err != nil || v.N != 2 || len(v.List) != 1 {
		t.Errorf("Decode = %+v, %v", v, err)
	}
	// Patches for another instance do not touch this one.
	sc.send(t, protocol.AppendPatch(nil, "room", "other", []byte(`[{"op":"remove","path":"/n"}]`)))
	sc.send(t, protocol.AppendPatch(nil, "room", "r1", []byte(`[{"op":"replace","path":"/n","value":3}]`)))
	waitState(t, w, `{"n":3,"list":["a"]}`)

	// State returns a copy.
	st := w.State()
	st[0] = 'X'
	if w.State()[0] != '{' {
		t.Error("State shares its buffer")
	}

	// A second watch shares the subscription and sees the current state at once.
	tw, err := client.Watch[struct{ N int }](testCtx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tw.Value(); err != nil || v.N != 3 {
		t.Errorf("Value = %+v, %v", v, err)
	}
	tw.Close()
	tw.Close()
	waitClosed(t, tw.Changed())
	w.Close()
	if f := sc.expect(t, protocol.TypeStateUnsub); f.Actor != "room" || f.ActorID != "r1" {
		t.Errorf("unsub %+v", f)
	}
	sc.expectNone(t) // no second state:sub, and one unsub only
}

func TestStatePatchResync(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	w := watchWithSnapshot(t, sc, c.Actor("doc", "d"), `{"a":1}`)

	// A patch that does not apply makes the client subscribe again; patches
	// before the fresh snapshot are ignored, the snapshot replaces the copy.
	sc.send(t, protocol.AppendPatch(nil, "doc", "d", []byte(`[{"op":"remove","path":"/missing"}]`)))
	sc.expect(t, protocol.TypeStateSub)
	sc.send(t, protocol.AppendPatch(nil, "doc", "d", []byte(`[{"op":"replace","path":"/zzz","value":1}]`)))
	sc.send(t, protocol.AppendSnapshot(nil, "doc", "d", []byte(`{"a":7,"b":[1]}`)))
	sc.send(t, protocol.AppendPatch(nil, "doc", "d", []byte(`[{"op":"add","path":"/b/-","value":2}]`)))
	waitState(t, w, `{"a":7,"b":[1,2]}`)
	sc.expectNone(t) // the ignored patch caused no second resync

	// A scalar state, replaced at the root.
	w2 := watchWithSnapshot(t, sc, c.Actor("counter", "c"), `0`)
	sc.send(t, protocol.AppendPatch(nil, "counter", "c", []byte(`[{"op":"replace","path":"","value":1}]`)))
	waitState(t, w2, `1`)
}

func TestWatchStateTimeout(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), &client.Options{CallTimeout: 20 * time.Millisecond})
	sc := s.accept(t)
	if _, err := c.Actor("unknown", "x").WatchState(t.Context()); err == nil {
		t.Fatal("WatchState without snapshot succeeded")
	}
	sc.expect(t, protocol.TypeStateSub)
	sc.expect(t, protocol.TypeStateUnsub) // the failed watch gave up its subscription
}

func TestReconnectResubscribes(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{OnStatus: rec.record})
	rec.wait(t, client.StatusConnected)
	sc1 := s.accept(t)
	a := c.Actor("room", "r")
	w := watchWithSnapshot(t, sc1, a, `{"v":1}`)
	got := make(chan string, 16)
	unsubscribe := a.OnEvent("said", func(p json.RawMessage) { got <- string(p) })
	defer unsubscribe()
	sc1.expect(t, protocol.TypeEventSub)

	sc1.drop()
	rec.wait(t, client.StatusDisconnected)
	sc2 := s.accept(t)
	rec.wait(t, client.StatusConnected)
	if f := sc2.expect(t, protocol.TypeEventSub); f.Actor != "room" || f.ActorID != "r" {
		t.Errorf("event:sub %+v", f)
	}
	if f := sc2.expect(t, protocol.TypeStateSub); f.Actor != "room" || f.ActorID != "r" {
		t.Errorf("state:sub %+v", f)
	}
	if string(w.State()) != `{"v":1}` {
		t.Errorf("state while resubscribing: %s", w.State())
	}
	sc2.send(t, protocol.AppendSnapshot(nil, "room", "r", []byte(`{"v":5}`)))
	sc2.send(t, protocol.AppendPatch(nil, "room", "r", []byte(`[{"op":"add","path":"/w","value":true}]`)))
	waitState(t, w, `{"v":5,"w":true}`)
	sc2.send(t, protocol.AppendEvent(nil, "room", "r", "said", []byte(`"hello"`)))
	if p := <-got; p != `"hello"` {
		t.Errorf("event payload %s", p)
	}
}
