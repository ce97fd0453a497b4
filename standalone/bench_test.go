package standalone_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
)

// BenchmarkRoundTrip measures request/response round trips over loopback
// WebSockets: "standalone" sends an rpc (increment on the client's own
// counter instance) and waits for its rpc:result; "echo" is a bare
// coder/websocket echo server receiving the same frames, the floor any
// WebSocket server built on that library can reach. Each client has its own
// connection and one request in flight. ns/op is wall time per round trip
// across all clients (the inverse of throughput); p50-ns and p99-ns are
// per-request latencies; cpu-ns/op is the CPU time of the whole process
// (clients included) per round trip, which is steadier than wall time on a
// shared machine.
func BenchmarkRoundTrip(b *testing.B) {
	for _, clients := range []int{1, 100} {
		b.Run(fmt.Sprintf("standalone/clients=%d", clients), func(b *testing.B) {
			app, _ := testApp(b)
			srv, err := standalone.New(app, standalone.Config{})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					b.Errorf("Shutdown: %v", err)
				}
				ts.Close()
			}()
			roundTrips(b, ts.URL, clients, true)
		})
		b.Run(fmt.Sprintf("echo/clients=%d", clients), func(b *testing.B) {
			var handlers sync.WaitGroup
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				handlers.Add(1)
				defer handlers.Done()
				ws, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer ws.CloseNow()
				ctx := context.Background()
				for {
					typ, data, err := ws.Read(ctx)
					if err != nil {
						return
					}
					if err := ws.Write(ctx, typ, data); err != nil {
						return
					}
				}
			}))
			defer func() {
				ts.Close()
				handlers.Wait() // the clients have closed their sockets
			}()
			roundTrips(b, ts.URL, clients, false)
		})
	}
}

// roundTrips runs b.N round trips spread over clients connections.
func roundTrips(b *testing.B, url string, clients int, zocket bool) {
	ctx := context.Background() // no per-frame timers on the client side either
	conns := make([]*websocket.Conn, clients)
	frames := make([][]byte, clients)
	for i := range conns {
		dctx, cancel := context.WithTimeout(ctx, readTimeout)
		ws, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(url, "http")+"/", nil)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer ws.CloseNow()
		conns[i] = ws
		frames[i] = protocol.AppendRPC(nil, "1", "counter", fmt.Sprintf("bench-%03d", i), "increment", nil)
		if zocket {
			if _, _, err := ws.Read(ctx); err != nil { // welcome
				b.Fatal(err)
			}
			// Warm up: activate the instance and check the answer.
			if err := ws.Write(ctx, websocket.MessageText, frames[i]); err != nil {
				b.Fatal(err)
			}
			_, data, err := ws.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if f, err := protocol.Decode(data); err != nil || f.Type != protocol.TypeRPCResult || f.HasError {
				b.Fatalf("warm-up answer %s (%v)", data, err)
			}
		}
	}
	lat := make([][]time.Duration, clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	cpu0, cpuOK := cpuTime()
	b.ResetTimer()
	for i, ws := range conns {
		wg.Go(func() {
			own := make([]time.Duration, 0, b.N/clients+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := ws.Write(ctx, websocket.MessageText, frames[i]); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := ws.Read(ctx); err != nil {
					b.Error(err)
					return
				}
				own = append(own, time.Since(t0))
			}
			lat[i] = own
		})
	}
	wg.Wait()
	b.StopTimer()
	if cpu1, ok := cpuTime(); ok && cpuOK && b.N > 0 {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
	}
	b.ReportMetric(float64(len(frames[0])), "req-bytes")
}
