package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

// fanoutApp has one actor whose "say" method changes the state and emits
// an event to all, to all but the caller, and to the caller alone.
func fanoutApp(t *testing.T) *zocket.App {
	t.Helper()
	said := zocket.NewEvent[string]("said")
	a := zocket.NewActor("room", func() Counter { return Counter{} }, zocket.Emits(said))
	zocket.Method(a, "say", func(s *Counter, c *zocket.Call, _ struct{}) (int, error) {
		s.Count++
		if err := said.Emit(c, "all"); err != nil {
			return 0, err
		}
		if err := said.Emit(c, "others", zocket.Except(c.ClientID())); err != nil {
			return 0, err
		}
		return s.Count, said.Emit(c, "me", zocket.To(c.ClientID()))
	})
	zocket.Method(a, "noop", func(s *Counter, c *zocket.Call, _ struct{}) (int, error) { return s.Count, nil })
	return mustApp(t, a)
}

// deliveries runs reqs one at a time on an engine with cfg and returns what
// each produced.
func deliveries(t *testing.T, app *zocket.App, fanout bool, reqs ...*engine.Request) [][]engine.Outgoing {
	t.Helper()
	ch := make(chan []engine.Outgoing, 1)
	e := engine.New(app, engine.Config{Fanout: fanout,
		Host: engine.HostFunc(func(_ *engine.Request, out []engine.Outgoing) { ch <- out })})
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	var all [][]engine.Outgoing
	for _, r := range reqs {
		e.Dispatch(r)
		all = append(all, recv(t, ch, "delivery of "+r.Frame.Type))
	}
	return all
}

func frameReq(session, typ string) *engine.Request {
	return &engine.Request{SessionID: session, Frame: protocol.Frame{Type: typ, Actor: "room", ActorID: "r1"}}
}

func sayReq(session, id, method string) *engine.Request {
	return &engine.Request{SessionID: session, Frame: protocol.Frame{
		Type: protocol.TypeRPC, ID: id, Actor: "room", ActorID: "r1", Method: method}}
}

func TestFanoutDescribesFramesForEverySubscriber(t *testing.T) {
	got := deliveries(t, fanoutApp(t), true,
		frameReq("A", protocol.TypeStateSub),
		frameReq("A", protocol.TypeEventSub),
		frameReq("B", protocol.TypeEventSub),
		sayReq("A", "1", "say"),
		sayReq("A", "2", "noop"),
		frameReq("B", protocol.TypeEventUnsub),
		frameReq("A", protocol.TypeStateUnsub),
	)
	// state:sub: the snapshot with the position before any fanout frame.
	snap := got[0][0]
	if snap.Position == nil || snap.Position.Sub != protocol.TypeStateSub || snap.Position.Seq != 0 || snap.Frame == nil {
		t.Fatalf("state:sub answer = %+v, want a snapshot at seq 0", snap)
	}
	epoch := snap.Position.Epoch
	for i, sub := range []string{"A", "B"} {
		o := got[1+i]
		if len(o) != 1 || o[0].Frame != nil || o[0].Position == nil || o[0].Position.Sub != protocol.TypeEventSub ||
			o[0].SessionID != sub || o[0].Position.Epoch != epoch {
			t.Fatalf("event:sub of %s answered %+v, want one frame-less position", sub, o)
		}
	}
	// say: one patch (seq 1), "all" (seq 2) to A and B, "others" (seq 3)
	// to B with A excepted, "me" to A alone without a Fanout, the result.
	seqs := map[uint64][]string{}
	var direct []string
	for _, o := range got[3] {
		if o.Fanout == nil {
			direct = append(direct, o.SessionID)
			if a := o.After; a == nil || a.Epoch != epoch || a.Seq != 3 || a.Events != 2 || a.Sub != "" {
				t.Errorf("frame %s for one session: After = %+v, want seq 3 with 2 events", o.Frame, a)
			}
			continue
		}
		if want := o.Fanout.Seq - 1; o.Fanout.EventCount != want { // the patch (1) comes first
			t.Errorf("fanout %d: EventCount %d, want %d", o.Fanout.Seq, o.Fanout.EventCount, want)
		}
		if o.Fanout.Epoch != epoch || o.Fanout.Actor != "room" || o.Fanout.ActorID != "r1" {
			t.Errorf("fanout %+v: wrong instance or epoch", o.Fanout)
		}
		seqs[o.Fanout.Seq] = append(seqs[o.Fanout.Seq], o.SessionID)
		if o.Fanout.Seq == 3 && !slices.Equal(o.Fanout.Except, []string{"A"}) {
			t.Errorf("fanout 3 except = %v, want [A]", o.Fanout.Except)
		}
		if (o.Fanout.Seq == 1) == o.Fanout.Events {
			t.Errorf("fanout %d: Events = %v", o.Fanout.Seq, o.Fanout.Events)
		}
	}
	slices.Sort(seqs[2])
	if len(seqs) != 3 || !slices.Equal(seqs[1], []string{"A"}) || !slices.Equal(seqs[2], []string{"A", "B"}) ||
		!slices.Equal(seqs[3], []string{"B"}) {
		t.Errorf("fanout recipients by seq = %v", seqs)
	}
	if !slices.Equal(direct, []string{"A", "A"}) { // "me" and the rpc:result
		t.Errorf("frames without fanout went to %v, want [A A]", direct)
	}
	if len(got[4]) != 1 || got[4][0].Fanout != nil { // no change: no patch, no seq
		t.Errorf("noop delivered %+v", got[4])
	}
	for i, sub := range []string{protocol.TypeEventUnsub, protocol.TypeStateUnsub} {
		o := got[5+i]
		if len(o) != 1 || o[0].Position == nil || o[0].Position.Sub != sub || o[0].Position.Seq != 3 {
			t.Errorf("%s answered %+v, want a position at seq 3", sub, o)
		}
	}
}

func TestWithoutFanoutNothingIsAnnotated(t *testing.T) {
	got := deliveries(t, fanoutApp(t), false,
		frameReq("A", protocol.TypeStateSub),
		frameReq("A", protocol.TypeEventSub),
		sayReq("A", "1", "say"),
		frameReq("A", protocol.TypeStateUnsub),
	)
	if len(got[1]) != 0 || len(got[3]) != 0 {
		t.Errorf("subscription changes delivered %v and %v, want nothing", got[1], got[3])
	}
	for _, outs := range got {
		for _, o := range outs {
			if o.Fanout != nil || o.Position != nil || o.Frame == nil {
				t.Errorf("annotated or frame-less outgoing %+v without Config.Fanout", o)
			}
		}
	}
}

func TestFanoutEpochIsOneActivation(t *testing.T) {
	app := fanoutApp(t)
	ch := make(chan []engine.Outgoing, 4)
	e := engine.New(app, engine.Config{Fanout: true,
		Host: engine.HostFunc(func(_ *engine.Request, out []engine.Outgoing) { ch <- out })})
	e.Dispatch(frameReq("A", protocol.TypeStateSub))
	first := recv(t, ch, "snapshot")[0].Position
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2 := engine.New(app, engine.Config{Fanout: true,
		Host: engine.HostFunc(func(_ *engine.Request, out []engine.Outgoing) { ch <- out })})
	t.Cleanup(func() { _ = e2.Close(context.Background()) })
	e2.Dispatch(frameReq("A", protocol.TypeStateSub))
	e2.Dispatch(frameReq("B", protocol.TypeStateSub))
	second := recv(t, ch, "snapshot")[0].Position
	third := recv(t, ch, "snapshot")[0].Position
	if first.Epoch == 0 || second.Epoch != third.Epoch {
		t.Errorf("epochs %d, %d, %d: want non-zero, the same within an activation", first.Epoch, second.Epoch, third.Epoch)
	}
}
