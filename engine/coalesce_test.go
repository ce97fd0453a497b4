package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

// The PatchInterval tests run in synctest bubbles where timing matters:
// the engine's timers run on fake time, which moves only when every
// goroutine of the bubble is blocked, so "nothing happened within the
// interval" and "the patch came exactly one interval later" are exact.

const coalesceInterval = 50 * time.Millisecond

type presence struct {
	Count   int  `json:"count"`
	Viewers int  `json:"viewers"`
	Bye     bool `json:"bye,omitempty"`
}

var (
	presenceAdded = zocket.NewEvent[int]("added")
	presenceBye   = zocket.NewEvent[string]("bye")
)

// presenceActor counts viewers in OnConnect and OnDisconnect; "add" adds
// and emits "added", "fail" adds and fails; OnDeactivate sets Bye and
// emits "bye".
func presenceActor(opts ...zocket.ActorOption) *zocket.Actor[presence] {
	opts = append([]zocket.ActorOption{zocket.Emits(presenceAdded, presenceBye)}, opts...)
	a := zocket.NewActor("p", func() presence { return presence{} }, opts...)
	zocket.Method(a, "add", func(s *presence, c *zocket.Call, n int) (int, error) {
		s.Count += n
		return s.Count, presenceAdded.Emit(c, s.Count)
	})
	zocket.Method(a, "fail", func(s *presence, c *zocket.Call, n int) (int, error) {
		s.Count += n
		s.Viewers = -1
		return 0, zocket.Errorf("refused")
	})
	zocket.Method(a, "get", func(s *presence, c *zocket.Call, _ struct{}) (presence, error) { return *s, nil })
	a.OnConnect(func(s *presence, c *zocket.Call) error { s.Viewers++; return nil })
	a.OnDisconnect(func(s *presence, c *zocket.Call) error { s.Viewers--; return nil })
	a.OnDeactivate(func(s *presence, c *zocket.Call) error {
		s.Bye = true
		return presenceBye.Emit(c, "bye")
	})
	return a
}

// delivery is one Host.Deliver call as a logHost saw it.
type delivery struct {
	req *engine.Request
	out []engine.Outgoing
}

// logHost is a testHost that also keeps every delivery, in order, with
// the Outgoing values as the engine made them (Fanout, Position).
type logHost struct {
	*testHost
	mu  sync.Mutex
	log []delivery
}

func (l *logHost) Deliver(req *engine.Request, out []engine.Outgoing) {
	l.mu.Lock()
	l.log = append(l.log, delivery{req, slices.Clone(out)})
	l.mu.Unlock()
	// testHost decodes every frame; a frame-less Outgoing (a Position
	// with Config.Fanout) is for the host only.
	frames := slices.DeleteFunc(slices.Clone(out), func(o engine.Outgoing) bool { return o.Frame == nil })
	l.testHost.Deliver(req, frames)
}

// deliveriesSince returns the deliveries after the first n.
func (l *logHost) deliveriesSince(n int) []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log[n:])
}

func (l *logHost) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.log)
}

// startLogged is start with a logHost.
func startLogged(t testing.TB, app *zocket.App, cfg engine.Config) (*tester, *logHost) {
	t.Helper()
	lh := &logHost{testHost: newTestHost()}
	cfg.Host = lh
	tt := &tester{t: t, h: lh.testHost, e: engine.New(app, cfg)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := tt.e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		tt.check()
	})
	return tt, lh
}

// follow applies the state frames among fs to a client's copy of the
// state, as a client does: a snapshot replaces it, a patch is applied.
func follow(t testing.TB, doc []byte, fs []protocol.Frame) []byte {
	t.Helper()
	for _, f := range fs {
		switch f.Type {
		case protocol.TypeStateSnapshot:
			doc = []byte(normJSON(t, f.State))
		case protocol.TypeStatePatch:
			if doc == nil {
				t.Fatalf("patch %s before any snapshot", f.Patches)
			}
			doc = applyPatches(t, doc, []protocol.Frame{f})
		}
	}
	return doc
}

func onlyType(fs []protocol.Frame, typ string) []protocol.Frame {
	var out []protocol.Frame
	for _, f := range fs {
		if f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

// serverState reads the instance's state through "get".
func serverState(tt *tester, session, id string) string {
	tt.t.Helper()
	var s presence
	tt.callOK(session, "p", id, "get", nil, &s)
	b, _ := json.Marshal(s)
	return normJSON(tt.t, b)
}

func TestPatchIntervalCoalescesCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tt := start(t, mustApp(t, presenceActor(zocket.PatchInterval(coalesceInterval))), engine.Config{IdleTimeout: -1})
		doc := []byte(normJSON(t, tt.subState("A", "p", "x")))
		tt.send("A", protocol.TypeEventSub, "p", "x")
		start := time.Now()
		for i := range 20 {
			// Events and results go out with their call; the patch waits.
			before := tt.callOK("A", "p", "x", "add", 1, nil)
			if got := types(before); !slices.Equal(got, []string{protocol.TypeEvent}) || before[0].Payload == nil ||
				string(before[0].Payload) != fmt.Sprint(i+1) {
				t.Fatalf("call %d: frames before the result %v, want the event alone", i, got)
			}
		}
		synctest.Wait()
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Fatalf("frames within the interval: %v", types(fs))
		}
		patch := tt.h.next(t, "A")
		if patch.Type != protocol.TypeStatePatch {
			t.Fatalf("got %s, want the coalesced state:patch", patch.Type)
		}
		if d := time.Since(start); d != coalesceInterval {
			t.Errorf("patch sent %v after the first change, want %v", d, coalesceInterval)
		}
		synctest.Wait()
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Fatalf("more than one patch for 20 calls: %v", types(fs))
		}
		doc = follow(t, doc, []protocol.Frame{patch})
		if want := serverState(tt, "A", "x"); string(doc) != want {
			t.Fatalf("snapshot + patch = %s, server has %s", doc, want)
		}
		if string(doc) != `{"count":20,"viewers":1}` {
			t.Errorf("state %s", doc)
		}

		// Quiet: no timer, no frames. The next change arms it again.
		time.Sleep(10 * coalesceInterval)
		synctest.Wait()
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Fatalf("frames while quiet: %v", types(fs))
		}
		start = time.Now()
		tt.callOK("A", "p", "x", "add", 5, nil)
		patch = tt.h.next(t, "A")
		if d := time.Since(start); patch.Type != protocol.TypeStatePatch || d != coalesceInterval {
			t.Errorf("got %s after %v, want a state:patch after %v", patch.Type, d, coalesceInterval)
		}
		doc = follow(t, doc, []protocol.Frame{patch})
		if want := serverState(tt, "A", "x"); string(doc) != want {
			t.Fatalf("client %s, server %s", doc, want)
		}
	})
}

func TestPatchIntervalNoChangeNoPatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tt := start(t, mustApp(t, presenceActor(zocket.PatchInterval(coalesceInterval))), engine.Config{IdleTimeout: -1})
		tt.subState("A", "p", "x")
		hooks := func() int { tt.h.mu.Lock(); defer tt.h.mu.Unlock(); return tt.h.hookCalls }
		before := hooks()
		// Calls that change nothing arm nothing.
		for range 3 {
			tt.callOK("A", "p", "x", "get", nil, nil)
		}
		// Changes that cancel out within the interval send nothing.
		tt.callOK("A", "p", "x", "add", 3, nil)
		tt.callOK("A", "p", "x", "add", -3, nil)
		time.Sleep(3 * coalesceInterval)
		synctest.Wait()
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Errorf("frames without a net change: %v", types(fs))
		}
		if n := hooks(); n != before {
			t.Errorf("%d engine deliveries without a net change", n-before)
		}
		// Without state subscribers a change arms nothing; a later
		// subscriber's snapshot has it.
		tt.callOK("B", "p", "y", "add", 5, nil)
		time.Sleep(3 * coalesceInterval)
		synctest.Wait()
		if fs := tt.h.unread("B"); len(fs) != 0 {
			t.Errorf("B received %v", types(fs))
		}
		if n := hooks(); n != before {
			t.Errorf("%d engine deliveries for an unwatched change", n-before)
		}
		if got := normJSON(t, tt.subState("C", "p", "y")); got != `{"count":5,"viewers":2}` {
			t.Errorf("snapshot %s", got)
		}
	})
}

// TestPatchIntervalStateSubGetsHeldState: a state:sub while a change is
// pending flushes nothing. It is answered with a snapshot of the state the
// subscribers hold, positioned at the instance's current fanout sequence
// number; the pending patch, which includes the new session's own
// OnConnect, goes to every subscriber at the timer, numbered next, and
// brings all of them, the new one too, to the server's state.
func TestPatchIntervalStateSubGetsHeldState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tt, lh := startLogged(t, mustApp(t, presenceActor(zocket.PatchInterval(coalesceInterval))),
			engine.Config{IdleTimeout: -1, Fanout: true})
		// subscribe sends a state:sub and returns its snapshot and
		// Position, checking that the delivery holds nothing else.
		subscribe := func(session string) ([]byte, *engine.Position) {
			t.Helper()
			mark := lh.count()
			req := tt.dispatch(&engine.Request{SessionID: session, Frame: protocol.Frame{Type: protocol.TypeStateSub, Actor: "p", ActorID: "x"}})
			tt.waitDelivered(req)
			ds := lh.deliveriesSince(mark)
			if len(ds) != 1 || ds[0].req != req || len(ds[0].out) != 1 {
				var got []string
				for _, d := range ds {
					for _, o := range d.out {
						f, _ := protocol.Decode(o.Frame)
						got = append(got, o.SessionID+" "+f.Type)
					}
				}
				t.Fatalf("state:sub of %s: %d deliveries %v, want its own with the snapshot alone", session, len(ds), got)
			}
			o := ds[0].out[0]
			f, err := protocol.Decode(o.Frame)
			if err != nil || o.SessionID != session || f.Type != protocol.TypeStateSnapshot || o.Fanout != nil || o.Position == nil {
				t.Fatalf("state:sub of %s answered %+v (%v)", session, o, err)
			}
			if fs := tt.h.unread(session); len(fs) != 1 {
				t.Fatalf("state:sub of %s: %v", session, types(fs))
			}
			return []byte(normJSON(t, f.State)), o.Position
		}
		// flushed waits for the timer's patch and checks that it is one
		// engine delivery of one fanout frame, with seq, to exactly
		// sessions; it returns the frame each session got.
		flushed := func(seq uint64, sessions ...string) map[string]protocol.Frame {
			t.Helper()
			mark := lh.count()
			got := map[string]protocol.Frame{}
			for _, s := range sessions {
				if got[s] = tt.h.next(t, s); got[s].Type != protocol.TypeStatePatch {
					t.Fatalf("%s got %s, want the coalesced patch", s, got[s].Type)
				}
			}
			synctest.Wait()
			ds := lh.deliveriesSince(mark)
			if len(ds) != 1 || ds[0].req != nil || len(ds[0].out) != len(sessions) {
				t.Fatalf("flush: %d deliveries, want one engine delivery for %v", len(ds), sessions)
			}
			var to []string
			for _, o := range ds[0].out {
				if o.Fanout == nil || o.Fanout != ds[0].out[0].Fanout || o.Fanout.Events || o.Fanout.Seq != seq {
					t.Fatalf("flush outgoing %+v, want one shared patch Fanout with seq %d", o, seq)
				}
				to = append(to, o.SessionID)
			}
			slices.Sort(to)
			if !slices.Equal(to, sessions) {
				t.Fatalf("flush went to %v, want %v", to, sessions)
			}
			return got
		}
		quiet := func() {
			t.Helper()
			time.Sleep(2 * coalesceInterval)
			synctest.Wait()
			for _, s := range []string{"A", "C", "D"} {
				if fs := tt.h.unread(s); len(fs) != 0 {
					t.Fatalf("%s got %v after the flush", s, types(fs))
				}
			}
		}

		docA, p := subscribe("A")
		epoch := p.Epoch
		if p.Seq != 0 || string(docA) != `{"count":0,"viewers":1}` {
			t.Fatalf("A: snapshot %s, position %+v", docA, p)
		}
		t0 := time.Now()
		tt.callOK("A", "p", "x", "add", 3, nil) // pending: A holds count 0
		time.Sleep(coalesceInterval / 2)
		// C's snapshot is what A holds: neither the call's change nor
		// C's own OnConnect, both pending. A gets nothing now.
		docC, p := subscribe("C")
		if string(docC) != string(docA) || p.Seq != 0 || p.Epoch != epoch || p.Sub != protocol.TypeStateSub {
			t.Fatalf("C: snapshot %s, position %+v; want A's %s at seq 0", docC, p, docA)
		}
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Fatalf("C's state:sub sent A %v", types(fs))
		}
		// The timer armed by the call, not reset by the state:sub, sends
		// one patch, seq 1 (right after C's position), to A and C.
		fs := flushed(1, "A", "C")
		if d := time.Since(t0); d != coalesceInterval {
			t.Errorf("patch sent %v after the first change, want %v", d, coalesceInterval)
		}
		if string(fs["A"].Patches) != string(fs["C"].Patches) {
			t.Fatalf("A got %s, C got %s", fs["A"].Patches, fs["C"].Patches)
		}
		docA, docC = follow(t, docA, []protocol.Frame{fs["A"]}), follow(t, docC, []protocol.Frame{fs["C"]})
		server := serverState(tt, "A", "x")
		if server != `{"count":3,"viewers":2}` || string(docA) != server || string(docC) != server {
			t.Fatalf("after the patch A has %s, C has %s, server %s", docA, docC, server)
		}
		quiet()

		// Nothing pending: D's own OnConnect arms the change. D's
		// snapshot lacks it (seq 1), the patch (seq 2) has it, for all.
		docD, p := subscribe("D")
		if string(docD) != server || p.Seq != 1 || p.Epoch != epoch {
			t.Fatalf("D: snapshot %s, position %+v; want %s at seq 1", docD, p, server)
		}
		fs = flushed(2, "A", "C", "D")
		server = serverState(tt, "A", "x")
		for s, doc := range map[string][]byte{"A": docA, "C": docC, "D": docD} {
			if got := string(follow(t, doc, []protocol.Frame{fs[s]})); got != server || server != `{"count":3,"viewers":3}` {
				t.Errorf("after the patch %s has %s, server %s", s, got, server)
			}
		}
		quiet()

		// Without a change pending and without OnConnect (A subscribes
		// again), the snapshot is the current state.
		if doc, p := subscribe("A"); string(doc) != server || p.Seq != 2 {
			t.Errorf("A again: snapshot %s, position %+v; want %s at seq 2", doc, p, server)
		}
		quiet()
	})
}

func TestPatchIntervalRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tt := start(t, mustApp(t, presenceActor(zocket.PatchInterval(coalesceInterval))), engine.Config{IdleTimeout: -1})
		doc := []byte(normJSON(t, tt.subState("A", "p", "x")))
		// A failed call alone arms nothing.
		if msg := tt.callErr("A", "p", "x", "fail", 100); msg != "refused" {
			t.Fatalf("error %q", msg)
		}
		time.Sleep(2 * coalesceInterval)
		synctest.Wait()
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Fatalf("failed call sent %v", types(fs))
		}
		// Between changes, it leaves no trace in the coalesced patch.
		tt.callOK("A", "p", "x", "add", 2, nil)
		tt.callErr("A", "p", "x", "fail", 100)
		tt.callOK("A", "p", "x", "add", 3, nil)
		patch := tt.h.next(t, "A")
		doc = follow(t, doc, []protocol.Frame{patch})
		if string(doc) != `{"count":5,"viewers":1}` {
			t.Errorf("after rollback the client has %s (patch %s)", doc, patch.Patches)
		}
		if want := serverState(tt, "A", "x"); string(doc) != want {
			t.Errorf("client %s, server %s", doc, want)
		}
	})
}

// TestPatchIntervalShutdownFlushes: Close sends the pending change before
// OnDeactivate's own frames, in one engine delivery, and what OnDeactivate
// changes goes out at once.
func TestPatchIntervalShutdownFlushes(t *testing.T) {
	tt, lh := startLogged(t, mustApp(t, presenceActor(zocket.PatchInterval(time.Hour))), engine.Config{IdleTimeout: -1})
	doc := []byte(normJSON(t, tt.subState("A", "p", "x")))
	tt.send("A", protocol.TypeEventSub, "p", "x")
	tt.callOK("A", "p", "x", "add", 7, nil)
	mark := lh.count()
	if err := tt.e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds := lh.deliveriesSince(mark)
	if len(ds) != 1 || ds[0].req != nil {
		t.Fatalf("shutdown made %d deliveries, want one engine delivery", len(ds))
	}
	fs := tt.h.unread("A")
	if got, want := types(fs), []string{protocol.TypeStatePatch, protocol.TypeStatePatch, protocol.TypeEvent}; !slices.Equal(got, want) {
		t.Fatalf("shutdown sent %v, want %v", got, want)
	}
	if got := string(follow(t, doc, fs[:1])); got != `{"count":7,"viewers":1}` {
		t.Errorf("after the flush the client has %s", got)
	}
	if got := string(follow(t, doc, fs)); got != `{"bye":true,"count":7,"viewers":1}` {
		t.Errorf("after OnDeactivate the client has %s", got)
	}
}

// TestPatchIntervalEvictionDropsUnwatched: a pending change whose
// subscribers all left is dropped with its timer; eviction comes exactly
// after the idle timeout, as without PatchInterval.
func TestPatchIntervalEvictionDropsUnwatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 20 * time.Millisecond
		tt := start(t, mustApp(t, presenceActor(zocket.PatchInterval(idle/2))), engine.Config{IdleTimeout: idle})
		tt.subState("A", "p", "x")
		tt.subState("B", "p", "x")
		tt.callOK("A", "p", "x", "add", 1, nil)
		tt.send("B", protocol.TypeStateUnsub, "p", "x")
		tt.e.Disconnect("A")
		tt.e.Disconnect("B")
		// The instance goes exactly when the idle timeout has passed: its
		// goroutine lingers no longer, and no flush timer keeps it.
		time.Sleep(idle - time.Nanosecond)
		synctest.Wait()
		if n := tt.e.Len(); n != 1 {
			t.Fatalf("Len = %d before the idle timeout, want 1", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := tt.e.Len(); n != 0 {
			t.Fatalf("Len = %d at the idle timeout, want 0", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if fa, fb := tt.h.unread("A"), tt.h.unread("B"); len(fa)+len(fb) != 0 {
			t.Errorf("after leaving, A got %v and B got %v", types(fa), types(fb))
		}
	})
}

// TestPatchIntervalOffUnchanged: without the option, and with zero, every
// call that changes the state sends its patch before its events and
// result.
func TestPatchIntervalOffUnchanged(t *testing.T) {
	for _, opts := range [][]zocket.ActorOption{nil, {zocket.PatchInterval(0)}} {
		t.Run(fmt.Sprint(len(opts)), func(t *testing.T) {
			tt := start(t, mustApp(t, presenceActor(opts...)), engine.Config{IdleTimeout: -1})
			doc := []byte(normJSON(t, tt.subState("A", "p", "x")))
			tt.send("A", protocol.TypeEventSub, "p", "x")
			for i := range 5 {
				before := tt.callOK("A", "p", "x", "add", 1, nil)
				if got, want := types(before), []string{protocol.TypeStatePatch, protocol.TypeEvent}; !slices.Equal(got, want) {
					t.Fatalf("call %d: %v before the result, want %v", i, got, want)
				}
				doc = follow(t, doc, before)
			}
			tt.callOK("A", "p", "x", "get", nil, nil)
			if string(doc) != `{"count":5,"viewers":1}` {
				t.Errorf("client has %s", doc)
			}
		})
	}
}

func TestPatchIntervalNegativeIsDefinitionError(t *testing.T) {
	_, err := zocket.NewApp(presenceActor(zocket.PatchInterval(-time.Second)))
	if !errors.Is(err, zocket.ErrInvalidDefinition) || !errors.Is(err, zocket.ErrInvalidOption) {
		t.Fatalf("NewApp: %v, want ErrInvalidDefinition and ErrInvalidOption", err)
	}
	wantContains(t, err.Error(), `actor "p"`, "patch interval -1s")
}

// TestPatchIntervalFanout: the coalesced patch is a fanout frame like any
// other, numbered in order with the events that went out before it, and a
// state:sub made while it is pending is positioned just before it.
func TestPatchIntervalFanout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tt, lh := startLogged(t, mustApp(t, presenceActor(zocket.PatchInterval(coalesceInterval))),
			engine.Config{IdleTimeout: -1, Fanout: true})
		sub := func(session, typ string) *engine.Position {
			t.Helper()
			mark := lh.count()
			tt.send(session, typ, "p", "x")
			ds := lh.deliveriesSince(mark)
			last := ds[len(ds)-1].out
			pos := last[len(last)-1].Position
			if pos == nil {
				t.Fatalf("%s of %s: no position in %+v", typ, session, last)
			}
			return pos
		}
		// fanouts returns the Fanout of every outgoing since mark (nil
		// for direct frames), by session.
		fanouts := func(mark int) []engine.Outgoing {
			var outs []engine.Outgoing
			for _, d := range lh.deliveriesSince(mark) {
				outs = append(outs, d.out...)
			}
			return outs
		}
		p := sub("A", protocol.TypeStateSub)
		epoch := p.Epoch
		if p.Seq != 0 {
			t.Fatalf("first position %+v", p)
		}
		if p = sub("A", protocol.TypeEventSub); p.Seq != 0 {
			t.Fatalf("event:sub position %+v", p)
		}
		mark := lh.count()
		tt.callOK("A", "p", "x", "add", 1, nil) // event: seq 1
		tt.callOK("A", "p", "x", "add", 1, nil) // event: seq 2
		if tt.h.next(t, "A").Type != protocol.TypeStatePatch {
			t.Fatal("no coalesced patch")
		}
		var seqs []string
		for _, o := range fanouts(mark) {
			if o.Fanout == nil {
				continue
			}
			if o.Fanout.Epoch != epoch {
				t.Errorf("fanout %+v: epoch %d, want %d", o.Fanout, o.Fanout.Epoch, epoch)
			}
			seqs = append(seqs, fmt.Sprintf("%s %d events=%v", o.SessionID, o.Fanout.Seq, o.Fanout.Events))
		}
		if want := []string{"A 1 events=true", "A 2 events=true", "A 3 events=false"}; !slices.Equal(seqs, want) {
			t.Fatalf("fanout frames %v, want %v", seqs, want)
		}
		ds := lh.deliveriesSince(mark)
		if flush := ds[len(ds)-1]; flush.req != nil || len(flush.out) != 1 {
			t.Errorf("the timer's flush was delivered with req %v and %d frames, want an engine delivery of 1", flush.req, len(flush.out))
		}

		// A state:sub while a change is pending flushes nothing: the
		// snapshot's position is the current seq 4, and the pending
		// patch, to A and C, takes seq 5.
		tt.callOK("A", "p", "x", "add", 1, nil) // event: seq 4
		mark = lh.count()
		if p = sub("C", protocol.TypeStateSub); p.Seq != 4 || p.Epoch != epoch {
			t.Fatalf("state:sub position %+v, want seq 4, before the pending patch", p)
		}
		outs := fanouts(mark)
		if len(outs) != 1 || outs[0].SessionID != "C" || outs[0].Fanout != nil {
			t.Fatalf("state:sub delivered %+v, want C's snapshot alone", outs)
		}
		mark = lh.count()
		tt.h.unread("C")
		tt.h.next(t, "C")
		tt.h.next(t, "A")
		outs = fanouts(mark)
		if len(outs) != 2 || outs[0].Fanout == nil || outs[0].Fanout != outs[1].Fanout || outs[0].Fanout.Seq != 5 ||
			outs[0].Fanout.Events {
			t.Fatalf("pending patch outgoings %+v, want A and C sharing seq 5", outs)
		}
		tt.h.unread("A")
		tt.h.unread("C")
		// One patch for A and C: one Fanout, after the event at seq 6.
		mark = lh.count()
		tt.callOK("A", "p", "x", "add", 1, nil)
		tt.h.next(t, "C")
		var patches []engine.Outgoing
		for _, o := range fanouts(mark) {
			if o.Fanout != nil && !o.Fanout.Events {
				patches = append(patches, o)
			}
		}
		if len(patches) != 2 || patches[0].Fanout != patches[1].Fanout || patches[0].Fanout.Seq != 7 {
			t.Fatalf("coalesced patch outgoings %+v, want A and C sharing seq 7", patches)
		}
	})
}

// coalescedSyncActor is syncActor with PatchInterval.
func coalescedSyncActor(d time.Duration) *zocket.Actor[syncState] {
	a := zocket.NewActor("sync", func() syncState { return syncState{} }, zocket.PatchInterval(d))
	zocket.Method(a, "mutate", func(s *syncState, c *zocket.Call, m mutation) (json.RawMessage, error) {
		if err := mutate(s, m); err != nil {
			return nil, err
		}
		return json.Marshal(s)
	})
	return a
}

// TestPatchIntervalRandomizedSync runs random mutation programs (the
// state sync tests' generator) with random pauses and subscribers joining
// and leaving while changes are pending. Every subscriber applies its
// snapshot and patches in order; once an interval passed without calls,
// each holds exactly the server's state. Each subscriber gets at most one
// patch per interval: state:subs flush nothing.
func TestPatchIntervalRandomizedSync(t *testing.T) {
	const d = 10 * time.Millisecond
	steps := 1500
	if raceEnabled || testing.Short() {
		steps = 400
	}
	for _, seed := range []uint64{1, uint64(time.Now().UnixNano())} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt := start(t, mustApp(t, coalescedSyncActor(d)), engine.Config{IdleTimeout: -1})
				r := rand.New(rand.NewPCG(seed, 0xc0a1))
				docs := map[string][]byte{"sub": []byte(normJSON(t, tt.subState("sub", "sync", "x")))}
				server := string(docs["sub"])
				var patches, subs int // patches: those "sub" received
				feed := func(session string, fs []protocol.Frame) {
					if session == "sub" {
						patches += len(onlyType(fs, protocol.TypeStatePatch))
					}
					if docs[session] != nil {
						docs[session] = follow(t, docs[session], fs)
					}
				}
				t0 := time.Now()
				for i := range steps {
					switch k := r.IntN(20); {
					case k < 14:
						before, res := tt.call("sub", "sync", "x", "mutate", mutation{Op: uint8(r.IntN(numOps)), Seed: r.Uint64()})
						feed("sub", before)
						if !res.HasError {
							server = normJSON(t, res.Result)
						}
					case k < 16:
						time.Sleep(time.Duration(r.IntN(int(2 * d))))
					case k < 18: // another session joins or leaves
						s := fmt.Sprintf("late%d", r.IntN(3))
						if docs[s] == nil {
							tt.send(s, protocol.TypeStateSub, "sync", "x")
							docs[s] = []byte{} // follow replaces it with the snapshot
							subs++
						} else {
							tt.send(s, protocol.TypeStateUnsub, "sync", "x")
							feed(s, tt.h.unread(s))
							delete(docs, s)
						}
					default: // a quiet interval: everyone is up to date
						time.Sleep(d)
						synctest.Wait()
						for s := range docs {
							feed(s, tt.h.unread(s))
							if got := string(docs[s]); got != server {
								t.Fatalf("step %d: %s holds\n%s\nserver\n%s", i, s, got, server)
							}
						}
					}
				}
				for s := range docs {
					feed(s, tt.h.unread(s))
				}
				elapsed := time.Since(t0)
				// "sub" saw every patch: timer flushes are at least an
				// interval apart, state:subs or not.
				if max := int(elapsed/d) + 1; patches > max {
					t.Errorf("%d patches in %v with %d state:subs", patches, elapsed, subs)
				}
				t.Logf("%d steps, %v of fake time, %d patches received, %d state:subs", steps, elapsed, patches, subs)
			})
		})
	}
}

// TestPatchIntervalPresenceStorm counts frames when n sessions subscribe
// to an instance whose OnConnect and OnDisconnect change a viewer count,
// and then disconnect, with a watcher subscribed throughout. Without
// coalescing each phase is quadratic: change k patches k subscribers.
// With it both phases are linear: the state:subs, within one interval,
// are answered with snapshots of the state the watcher holds and then
// get, with the watcher, one patch that has every OnConnect's change
// (n snapshots + n+1 patch frames); the disconnects coalesce into one
// patch to the watcher.
func TestPatchIntervalPresenceStorm(t *testing.T) {
	const n = 200
	type counts struct{ subPatches, subFrames, leavePatches, leaveFrames int }
	run := func(t *testing.T, opts ...zocket.ActorOption) (c counts) {
		synctest.Test(t, func(t *testing.T) {
			tt := start(t, mustApp(t, presenceActor(opts...)), engine.Config{IdleTimeout: -1})
			watcher := []byte(normJSON(t, tt.subState("W", "p", "x")))
			total := func() (patches, frames int) {
				time.Sleep(time.Second) // past any interval
				synctest.Wait()
				tt.h.mu.Lock()
				defer tt.h.mu.Unlock()
				for _, fs := range tt.h.inbox {
					frames += len(fs)
				}
				return len(onlyType(tt.h.inbox["W"], protocol.TypeStatePatch)), frames
			}
			p0, f0 := total()
			for i := range n {
				tt.send(fmt.Sprint("s", i), protocol.TypeStateSub, "p", "x")
			}
			p1, f1 := total()
			for i := range n {
				tt.e.Disconnect(fmt.Sprint("s", i))
			}
			p2, f2 := total()
			c = counts{p1 - p0, f1 - f0, p2 - p1, f2 - f1}
			watcher = follow(t, watcher, tt.h.unread("W"))
			if string(watcher) != `{"count":0,"viewers":1}` {
				t.Errorf("watcher holds %s", watcher)
			}
		})
		return c
	}
	off := run(t)
	on := run(t, zocket.PatchInterval(coalesceInterval))
	t.Logf("n=%d off: %+v", n, off)
	t.Logf("n=%d on:  %+v", n, on)
	sum := n * (n + 1) / 2 // patch k of either phase goes to k subscribers
	if off != (counts{n, sum + n, n, sum}) {
		t.Errorf("without coalescing: %+v, want %d patches and %d frames per phase (+%d snapshots)", off, n, sum, n)
	}
	if on != (counts{1, n + n + 1, 1, 1}) {
		t.Errorf("with coalescing: %+v, want one patch (to %d) and %d snapshots for the state:subs and one patch for the disconnects",
			on, n+1, n)
	}
}
