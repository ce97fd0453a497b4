package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
)

// Benchmarks (internal package, to reach diff). Run:
//
//	go test -run '^$' -bench . -benchmem -count 3 ./engine/

type benchCounter struct {
	Count int `json:"count"`
}

type benchAdd struct {
	N int `json:"n"`
}

func benchAddMethod(s *benchCounter, c *zocket.Call, in benchAdd) (int, error) {
	s.Count += in.N
	return s.Count, nil
}

// benchEngine runs app with a host that signals every delivery of a
// request on the returned channel.
func benchEngine(b *testing.B, app *zocket.App, m ...*metrics.Metrics) (*Engine, <-chan struct{}) {
	b.Helper()
	done := make(chan struct{}, 1024)
	cfg := Config{Host: HostFunc(func(req *Request, out []Outgoing) {
		if req != nil {
			done <- struct{}{}
		}
	})}
	if len(m) > 0 {
		cfg.Metrics = m[0]
	}
	e := New(app, cfg)
	b.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return e, done
}

func benchApp(b *testing.B) *zocket.App {
	a := zocket.NewActor("counter", func() benchCounter { return benchCounter{} })
	zocket.Method(a, "add", benchAddMethod)
	app, err := zocket.NewApp(a)
	if err != nil {
		b.Fatal(err)
	}
	return app
}

func rpcRequest(session, actorID string) *Request {
	return &Request{SessionID: session, Frame: protocol.Frame{
		Type: protocol.TypeRPC, ID: "1", Actor: "counter", ActorID: actorID, Method: "add", Input: json.RawMessage(`{"n":1}`),
	}}
}

// BenchmarkCall measures one method call through an instance: Dispatch
// (decode, queue, start the instance goroutine), handler, state marshal,
// result frame, Deliver. Baselines: calling the handler directly, and the
// bare cost of handing work to a new goroutine and waiting for it.
func BenchmarkCall(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		e, done := benchEngine(b, benchApp(b))
		b.ReportAllocs()
		for b.Loop() {
			e.Dispatch(rpcRequest("s", "c1"))
			<-done
		}
	})
	b.Run("engine-metrics", func(b *testing.B) {
		e, done := benchEngine(b, benchApp(b), metrics.New(prometheus.NewRegistry()))
		b.ReportAllocs()
		for b.Loop() {
			e.Dispatch(rpcRequest("s", "c1"))
			<-done
		}
	})
	b.Run("engine-with-subscriber", func(b *testing.B) {
		e, done := benchEngine(b, benchApp(b))
		e.Dispatch(&Request{SessionID: "s", Frame: protocol.Frame{Type: protocol.TypeStateSub, Actor: "counter", ActorID: "c1"}})
		<-done
		b.ReportAllocs()
		for b.Loop() {
			e.Dispatch(rpcRequest("s", "c1"))
			<-done
		}
	})
	b.Run("engine-parallel-instances", func(b *testing.B) {
		// Throughput with as many callers as GOMAXPROCS, each on its own
		// instance and waiting for its own result.
		app := benchApp(b)
		e := New(app, Config{Host: HostFunc(func(req *Request, out []Outgoing) {
			if req != nil {
				req.Tag.(chan struct{}) <- struct{}{}
			}
		})})
		b.Cleanup(func() {
			if err := e.Close(context.Background()); err != nil {
				b.Error(err)
			}
		})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			done := make(chan struct{}, 1)
			id := fmt.Sprintf("c%p", done) // one instance and session per caller
			for pb.Next() {
				req := rpcRequest(id, id)
				req.Tag = done
				e.Dispatch(req)
				<-done
			}
		})
	})
	b.Run("baseline-direct-handler", func(b *testing.B) {
		var s benchCounter
		in := benchAdd{N: 1}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := benchAddMethod(&s, nil, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-goroutine-handoff", func(b *testing.B) {
		var s benchCounter
		done := make(chan struct{}, 1)
		b.ReportAllocs()
		for b.Loop() {
			go func() {
				s.Count++
				done <- struct{}{}
			}()
			<-done
		}
	})
}

type benchItem struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Score int      `json:"score"`
	Tags  []string `json:"tags"`
}

type benchDoc struct {
	Title string            `json:"title"`
	Items []benchItem       `json:"items"`
	Index map[string]string `json:"index"`
}

// newBenchDoc returns a state whose JSON is about size bytes.
func newBenchDoc(size int) *benchDoc {
	d := &benchDoc{Title: "bench", Index: map[string]string{}}
	for i := 0; ; i++ {
		d.Items = append(d.Items, benchItem{ID: i, Name: "item " + strconv.Itoa(i), Score: i * 7, Tags: []string{"red", "green"}})
		d.Index["k"+strconv.Itoa(i)] = "v" + strconv.Itoa(i)
		if i%16 != 15 && i < size/100 {
			continue // marshal now and then only: setup stays linear
		}
		if b, _ := json.Marshal(d); len(b) >= size {
			return d
		}
	}
}

// BenchmarkPatch measures patch generation after one small change (one
// item's score) to a ~1 KB and a ~100 KB state: through the engine with
// one state subscriber (marshal + diff + patch frame), through the engine
// without subscribers (marshal only), diff alone, and json.Marshal of the
// state as the baseline.
func BenchmarkPatch(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		name := fmt.Sprintf("%dKB", size>>10)
		initial := newBenchDoc(size)
		newActor := func() *zocket.App {
			a := zocket.NewActor("doc", func() benchDoc {
				var d benchDoc // deep copy per instance
				raw, _ := json.Marshal(initial)
				_ = json.Unmarshal(raw, &d)
				return d
			})
			zocket.Method(a, "bump", func(d *benchDoc, c *zocket.Call, i int) (int, error) {
				it := &d.Items[i%len(d.Items)]
				it.Score++
				return it.Score, nil
			})
			app, err := zocket.NewApp(a)
			if err != nil {
				b.Fatal(err)
			}
			return app
		}
		run := func(b *testing.B, subscribe bool) {
			e, done := benchEngine(b, newActor())
			if subscribe {
				e.Dispatch(&Request{SessionID: "s", Frame: protocol.Frame{Type: protocol.TypeStateSub, Actor: "doc", ActorID: "d"}})
				<-done
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				e.Dispatch(&Request{SessionID: "s", Frame: protocol.Frame{
					Type: protocol.TypeRPC, ID: "1", Actor: "doc", ActorID: "d", Method: "bump", Input: json.RawMessage(strconv.Itoa(i)),
				}})
				<-done
			}
		}
		b.Run(name+"/engine-call-with-subscriber", func(b *testing.B) { run(b, true) })
		b.Run(name+"/engine-call-no-subscriber", func(b *testing.B) { run(b, false) })
		b.Run(name+"/diff", func(b *testing.B) {
			prev, _ := json.Marshal(initial)
			d := *initial
			d.Items = append([]benchItem(nil), initial.Items...)
			d.Items[len(d.Items)/2].Score++
			cur, _ := json.Marshal(&d)
			b.SetBytes(int64(len(cur)))
			b.ReportAllocs()
			for b.Loop() {
				if p, _, err := diff(nil, prev, cur); err != nil || p == nil {
					b.Fatal(err, p)
				}
			}
		})
		b.Run(name+"/diff-prev-decoded", func(b *testing.B) { // the engine's steady state
			prev, _ := json.Marshal(initial)
			var prevDoc any
			if err := unmarshalNumbers(prev, &prevDoc); err != nil {
				b.Fatal(err)
			}
			d := *initial
			d.Items = append([]benchItem(nil), initial.Items...)
			d.Items[len(d.Items)/2].Score++
			cur, _ := json.Marshal(&d)
			b.SetBytes(int64(len(cur)))
			b.ReportAllocs()
			for b.Loop() {
				if p, _, err := diff(prevDoc, prev, cur); err != nil || p == nil {
					b.Fatal(err, p)
				}
			}
		})
		b.Run(name+"/baseline-json-marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(initial); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchPresence struct {
	Count   int `json:"count"`
	Viewers int `json:"viewers"`
}

// stormHost counts the frames an engine delivers: all of them, and the
// state:patch frames (once per patch, however many subscribers it went
// to). A request whose Tag is a *sync.WaitGroup is marked done. It keeps
// the last patch frame, for waitPatch.
type stormHost struct {
	frames, patches atomic.Int64

	mu        sync.Mutex
	changed   *sync.Cond
	lastPatch []byte
}

func newStormHost() *stormHost {
	h := &stormHost{}
	h.changed = sync.NewCond(&h.mu)
	return h
}

var patchHead = []byte(`{"type":"state:patch"`)

func (h *stormHost) Deliver(req *Request, out []Outgoing) {
	var last *byte
	var patch []byte
	for _, o := range out {
		if len(o.Frame) > 0 && &o.Frame[0] != last { // a patch's Outgoing values share its frame
			last = &o.Frame[0]
			if bytes.HasPrefix(o.Frame, patchHead) {
				h.patches.Add(1)
				patch = o.Frame
			}
		}
	}
	h.frames.Add(int64(len(out)))
	if patch != nil {
		h.mu.Lock()
		h.lastPatch = patch
		h.mu.Unlock()
		h.changed.Broadcast()
	}
	if req != nil {
		if wg, ok := req.Tag.(*sync.WaitGroup); ok {
			wg.Done()
		}
	}
}

// waitPatch waits for a patch frame, delivered since the last call,
// that sets the viewer count to viewers.
func (h *stormHost) waitPatch(viewers int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for !setsViewers(h.lastPatch, viewers) {
		h.changed.Wait()
	}
	h.lastPatch = nil
}

func setsViewers(frame []byte, viewers int) bool {
	if frame == nil {
		return false
	}
	f, err := protocol.Decode(frame)
	if err != nil {
		return false
	}
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	if json.Unmarshal(f.Patches, &ops) != nil {
		return false
	}
	for _, op := range ops {
		if op.Path == "/viewers" && string(op.Value) == strconv.Itoa(viewers) {
			return true
		}
	}
	return false
}

// BenchmarkPresenceStorm: n sessions subscribe to the state of one
// instance whose OnConnect and OnDisconnect change a viewer count, then
// disconnect, while a watcher stays subscribed. One op is the whole storm
// on a fresh instance: each phase ends when the watcher got the patch
// with the phase's final viewer count, which with PatchInterval comes
// with the timer, so the time per op includes waiting for up to two
// intervals. Without coalescing every subscription and every disconnect
// patches every subscriber (n² frames per phase). With PatchInterval both
// phases are linear: a state:sub made while a change is pending is
// answered with a snapshot of the state the subscribers hold and gets the
// pending patch with them, so n state:subs within one interval cost n
// snapshots and one patch to n+1 subscribers; the disconnects coalesce
// into one patch to the watcher. Reported per op: patches (distinct
// state:patch frames), frames (all Outgoing values), and both for the
// join and the leave phase.
func BenchmarkPresenceStorm(b *testing.B) {
	const n = 5000
	for _, d := range []time.Duration{0, 50 * time.Millisecond} {
		name := "off"
		if d > 0 {
			name = "interval=" + d.String()
		}
		b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
			a := zocket.NewActor("presence", func() benchPresence { return benchPresence{} }, zocket.PatchInterval(d))
			a.OnConnect(func(s *benchPresence, c *zocket.Call) error { s.Viewers++; return nil })
			a.OnDisconnect(func(s *benchPresence, c *zocket.Call) error { s.Viewers--; return nil })
			app, err := zocket.NewApp(a)
			if err != nil {
				b.Fatal(err)
			}
			h := newStormHost()
			e := New(app, Config{Host: h})
			b.Cleanup(func() {
				if err := e.Close(context.Background()); err != nil {
					b.Error(err)
				}
			})
			sub := func(session, id string, wg *sync.WaitGroup) {
				e.Dispatch(&Request{SessionID: session, Tag: wg, Frame: protocol.Frame{
					Type: protocol.TypeStateSub, Actor: "presence", ActorID: id}})
			}
			var joinP, joinF, leaveP, leaveF int64
			op := 0
			for b.Loop() {
				op++
				id := fmt.Sprintf("room%d", op)
				watcher := fmt.Sprintf("w%d", op)
				var wg sync.WaitGroup
				wg.Add(1)
				sub(watcher, id, &wg) // the first subscriber: its OnConnect patches nobody
				wg.Wait()
				p0, f0 := h.patches.Load(), h.frames.Load()
				wg.Add(n)
				for i := range n {
					sub(fmt.Sprintf("o%d-s%d", op, i), id, &wg)
				}
				wg.Wait()
				h.waitPatch(n + 1)
				p1, f1 := h.patches.Load(), h.frames.Load()
				for i := range n {
					e.Disconnect(fmt.Sprintf("o%d-s%d", op, i))
				}
				h.waitPatch(1)
				p2, f2 := h.patches.Load(), h.frames.Load()
				e.Disconnect(watcher)
				joinP, joinF = joinP+p1-p0, joinF+f1-f0
				leaveP, leaveF = leaveP+p2-p1, leaveF+f2-f1
			}
			ops := float64(op)
			b.ReportMetric(float64(joinP+leaveP)/ops, "patches/op")
			b.ReportMetric(float64(joinF+leaveF)/ops, "frames/op")
			b.ReportMetric(float64(joinP)/ops, "join-patches/op")
			b.ReportMetric(float64(joinF)/ops, "join-frames/op")
			b.ReportMetric(float64(leaveP)/ops, "leave-patches/op")
			b.ReportMetric(float64(leaveF)/ops, "leave-frames/op")
		})
	}
}
