package engine

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

func TestMailboxTakesTurns(t *testing.T) {
	var b mailbox
	req := func(session, name string, rpc bool) task {
		t := task{kind: taskRequest, session: session, req: &Request{Frame: protocol.Frame{ID: name}}}
		if rpc {
			t.method = &actordef.Method{}
		}
		return t
	}
	b.push(task{kind: taskActivate})
	b.push(req("A", "A1", true))
	b.push(req("A", "A2", true))
	b.push(req("A", "A3", false))
	b.push(req("B", "B1", true))
	b.push(task{kind: taskDisconnect, session: "A"})
	b.push(req("C", "C1", true))
	b.push(task{kind: taskFlush})
	b.push(task{kind: taskDeactivate})
	if got := b.rpcQueued("A"); got != 2 {
		t.Errorf("rpcQueued(A) = %d, want 2", got)
	}
	var got []string
	for !b.empty() {
		tk := b.pop()
		switch tk.kind {
		case taskRequest:
			got = append(got, tk.req.Frame.ID)
		case taskDisconnect:
			got = append(got, "bye "+tk.session)
		default:
			got = append(got, fmt.Sprint(tk.kind))
		}
	}
	want := fmt.Sprint([]string{fmt.Sprint(taskActivate), fmt.Sprint(taskFlush), "A1", "B1", "C1", "A2", "A3", "bye A", fmt.Sprint(taskDeactivate)})
	if fmt.Sprint(got) != want {
		t.Errorf("order %v\nwant  %s", got, want)
	}
	if b.rpcQueued("A") != 0 || len(b.lanes) != 0 {
		t.Errorf("drained mailbox keeps lanes %v", b.lanes)
	}
}

func TestMailboxGivesMemoryBack(t *testing.T) {
	var b mailbox
	for i := range 5000 {
		b.push(task{kind: taskRequest, session: fmt.Sprint("s", i)})
	}
	for i := range 4990 {
		b.pop()
		b.push(task{kind: taskRequest, session: fmt.Sprint("t", i%10)}) // ten sessions stay busy
	}
	for b.ready.len() > 10 {
		b.pop()
	}
	if len(b.lanes) != 10 || b.peak > 4*shrinkMin {
		t.Errorf("%d lanes, peak %d: the lanes map was not rebuilt", len(b.lanes), b.peak)
	}
	if c := cap(b.ready.items); c > 4*fifoKeep {
		t.Errorf("ready holds 10 lanes in an array of %d", c)
	}
}

func TestFifoGivesMemoryBack(t *testing.T) {
	var q fifo[int]
	for i := range 5000 {
		q.push(i)
	}
	for range 4990 {
		q.pop()
	}
	// Busy for good with ten items: the array shrinks when it next fills.
	for i := range 100_000 {
		q.push(i)
		if v := q.pop(); v < 0 {
			t.Fatal(v)
		}
	}
	if q.len() != 10 || cap(q.items) > 4*fifoKeep {
		t.Errorf("%d items in an array of %d", q.len(), cap(q.items))
	}
	for q.len() > 0 {
		q.pop()
	}
	if q.items != nil && cap(q.items) > fifoKeep {
		t.Errorf("drained fifo keeps an array of %d", cap(q.items))
	}
	// Order survives compaction.
	for i := range 1000 {
		q.push(i)
		if i%3 == 0 {
			q.pop()
		}
	}
	prev := -1
	for q.len() > 0 {
		v := q.pop()
		if v <= prev {
			t.Fatalf("%d after %d", v, prev)
		}
		prev = v
	}
}

func TestShrunk(t *testing.T) {
	m := make(map[int]bool)
	peak := 0
	for i := range 1000 {
		m[i] = true
		peak = max(peak, len(m))
	}
	for i := range 700 {
		delete(m, i)
	}
	if m2 := shrunk(m, &peak); reflect.ValueOf(m2).UnsafePointer() != reflect.ValueOf(m).UnsafePointer() || peak != 1000 {
		t.Errorf("rebuilt at %d of %d", len(m), peak)
	}
	for i := 700; i < 760; i++ {
		delete(m, i)
	}
	m2 := shrunk(m, &peak)
	if reflect.ValueOf(m2).UnsafePointer() == reflect.ValueOf(m).UnsafePointer() || peak != 240 || len(m2) != 240 || !m2[999] {
		t.Errorf("not rebuilt at a quarter: %d entries, peak %d", len(m2), peak)
	}
}

// TestSessionAndEngineMapsShrink: a session calling ever new instances it
// never becomes a client of (middleware refuses it) does not grow its
// touched map without bound while they are evicted to make room, and the
// engine's instances map is rebuilt once its instances are evicted.
func TestSessionAndEngineMapsShrink(t *testing.T) {
	a := zocket.NewActor("counter", func() benchCounter { return benchCounter{} })
	zocket.Method(a, "add", benchAddMethod)
	a.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		return nil, zocket.Reject("no")
	})
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	run := func(t *testing.T, cfg Config) *Engine {
		done := make(chan struct{}, 1)
		cfg.Host = HostFunc(func(req *Request, out []Outgoing) {
			if req != nil {
				done <- struct{}{}
			}
		})
		e := New(app, cfg)
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		for i := range n {
			e.Dispatch(rpcRequest("A", fmt.Sprint(i)))
			<-done
		}
		synctest.Wait()
		return e
	}
	synctest.Test(t, func(t *testing.T) {
		e := run(t, Config{IdleTimeout: -1, MaxInstances: 100})
		e.sessions.mu.Lock()
		touched := len(e.sessions.sessions["A"].touched)
		e.sessions.mu.Unlock()
		s := e.Stats()
		t.Logf("after %d calls to distinct instances: %d keys in touched, %+v", n, touched, s)
		if touched > 2*pruneMin || s.Instances > 100 || s.RefusedNoRoom != 0 {
			t.Errorf("%d keys in touched, %+v: want at most %d keys and 100 instances, none refused", touched, s, 2*pruneMin)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		e := run(t, Config{IdleTimeout: time.Second})
		if got := e.Len(); got != n {
			t.Fatalf("Len = %d, want %d", got, n)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		e.reg.mu.RLock()
		live, peak := len(e.reg.instances), e.reg.instPeak
		e.reg.mu.RUnlock()
		if live != 0 || peak > 4*shrinkMin {
			t.Errorf("%d instances, peak %d since the instances map was rebuilt", live, peak)
		}
	})
}
