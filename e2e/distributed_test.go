package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/runtime"
	"github.com/zocket-go/zocket/web"
)

// distributed is the distributed shape wired by hand, role by role, so
// that its gateway can restart alone.
var distributed = shape{name: "distributed", start: startDistributed}

// startDistributed serves the demo app in the distributed shape: an
// embedded NATS server with JetStream, a runtime hosting the demo actors,
// and a gateway serving the pages and the WebSocket endpoint. Stopping it
// stops all three; restartFront restarts the gateway alone.
func startDistributed(t *testing.T, port int) *deployment {
	t.Helper()
	var stops []func() // run in reverse order
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		stops = nil
	}
	d := &deployment{}
	d.onStop(t, stopAll) // also when starting fails half-way

	ns, err := natsembed.Run(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("natsembed: %v", err)
	}
	stops = append(stops, ns.Shutdown)
	connect := func(name string) *nats.Conn {
		nc, err := nats.Connect(ns.ClientURL(), nats.Name(name))
		if err != nil {
			t.Fatalf("connect %s to NATS: %v", name, err)
		}
		stops = append(stops, nc.Close)
		return nc
	}

	rt, err := runtime.New(demoApp(t), runtime.Config{NATS: connect("e2e-runtime"), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	rtCtx, rtCancel := context.WithCancel(context.Background())
	rtDone := make(chan error, 1)
	go func() { rtDone <- rt.Run(rtCtx) }()
	stops = append(stops, func() {
		rtCancel()
		waitRole(t, "runtime", rtDone)
	})
	select {
	case <-rt.Ready():
	case <-time.After(waitTimeout):
		t.Fatalf("runtime not ready within %v", waitTimeout)
	}

	gwNATS := connect("e2e-gateway")
	stopGateway := func() {}
	startGateway := func(ln net.Listener) {
		gw, err := gateway.New(gateway.Config{NATS: gwNATS, Pages: web.Handler(), DrainTimeout: 5 * time.Second})
		if err != nil {
			_ = ln.Close()
			t.Fatalf("gateway.New: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- gw.Serve(ctx, ln) }()
		stopGateway = func() {
			cancel()
			waitRole(t, "gateway", done)
		}
		waitHealthy(t, "http://"+ln.Addr().String())
	}
	stops = append(stops, func() { stopGateway() })
	ln := listenLoopback(t, port)
	addrs := listenerDeployment(ln)
	d.url, d.addr, d.port = addrs.url, addrs.addr, addrs.port
	startGateway(ln)

	d.restartFront = func(t *testing.T) {
		t.Helper()
		stopGateway()
		stopGateway = func() {}
		startGateway(listenLoopback(t, d.port))
	}
	return d
}
