package zocket

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/zocket-go/zocket/protocol"
)

// Benchmarks (internal package, to reach diff). Run:
//
//	go test -run '^$' -bench . -benchmem -count 3 .

type benchCounter struct {
	Count int `json:"count"`
}

type benchAdd struct {
	N int `json:"n"`
}

func benchAddMethod(s *benchCounter, c *Call, in benchAdd) (int, error) {
	s.Count += in.N
	return s.Count, nil
}

// benchEngine runs app with a host that signals every delivery of a
// request on the returned channel.
func benchEngine(b *testing.B, app *App) (*Engine, <-chan struct{}) {
	b.Helper()
	done := make(chan struct{}, 1024)
	e := NewEngine(app, EngineConfig{Host: HostFunc(func(req *Request, out []Outgoing) {
		if req != nil {
			done <- struct{}{}
		}
	})})
	b.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return e, done
}

func benchApp(b *testing.B) *App {
	a := NewActor("counter", func() benchCounter { return benchCounter{} })
	Method(a, "add", benchAddMethod)
	app, err := NewApp(a)
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
		e := NewEngine(app, EngineConfig{Host: HostFunc(func(req *Request, out []Outgoing) {
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
		newActor := func() *App {
			a := NewActor("doc", func() benchDoc {
				var d benchDoc // deep copy per instance
				raw, _ := json.Marshal(initial)
				_ = json.Unmarshal(raw, &d)
				return d
			})
			Method(a, "bump", func(d *benchDoc, c *Call, i int) (int, error) {
				it := &d.Items[i%len(d.Items)]
				it.Score++
				return it.Score, nil
			})
			app, err := NewApp(a)
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
