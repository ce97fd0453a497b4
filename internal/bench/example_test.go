package bench_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/internal/bench"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/wsconfig"
)

// Measure a standalone counter server beside the bare WebSocket echo floor.
func ExampleRPC() {
	app, err := zocket.NewApp(counter.Actor())
	if err != nil {
		log.Fatal(err)
	}
	// A load test from few connections: lift the per-connection frame rate.
	unlimited := wsconfig.Settings{MaxFrameRate: -1}
	srv, err := standalone.New(app, standalone.Config{WebSocket: unlimited})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	load := bench.Load{Clients: 4, Duration: 200 * time.Millisecond}
	r, err := bench.RPC(ctx, bench.RPCConfig{URL: ts.URL, Load: load})
	if err != nil {
		log.Fatal(err)
	}
	floor, err := bench.Floor(ctx, bench.FloorConfig{Kind: bench.FloorEcho, Load: load})
	if err != nil {
		log.Fatal(err)
	}
	bench.Compare(r, floor)
	fmt.Println(r.Calls > 0, r.Errors, r.Ratio.Throughput > 0)
	// Output: true 0 true
}
