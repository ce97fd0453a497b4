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

func init() {
	shapes = append(shapes, shape{name: "distributed", start: startDistributed})
}

// startDistributed serves the demo app in the distributed shape, wired as
// "zocket dev" wires it: an embedded NATS server with JetStream, a runtime
// hosting the demo actors, and a gateway serving the pages and the
// WebSocket endpoint on ln. Stopping it stops all three, like stopping the
// dev server; restartFront restarts the gateway alone.
func startDistributed(t *testing.T, ln net.Listener) *deployment {
	t.Helper()
	addr := ln.Addr().String()
	var stops []func() // run in reverse order
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		stops = nil
	}
	fail := func(format string, args ...any) {
		t.Helper()
		_ = ln.Close()
		stopAll()
		t.Fatalf(format, args...)
	}

	ns, err := natsembed.Run(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		fail("natsembed: %v", err)
	}
	stops = append(stops, ns.Shutdown)
	connect := func(name string) *nats.Conn {
		nc, err := nats.Connect(ns.ClientURL(), nats.Name(name))
		if err != nil {
			fail("connect %s to NATS: %v", name, err)
		}
		stops = append(stops, nc.Close)
		return nc
	}

	rt, err := runtime.New(demoApp(t), runtime.Config{NATS: connect("e2e-runtime"), DrainTimeout: 5 * time.Second})
	if err != nil {
		fail("runtime.New: %v", err)
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
		fail("runtime not ready within %v", waitTimeout)
	}

	gwNATS := connect("e2e-gateway")
	var stopGateway func()
	startGateway := func(l net.Listener) {
		gw, err := gateway.New(gateway.Config{NATS: gwNATS, Pages: web.Handler(), DrainTimeout: 5 * time.Second})
		if err != nil {
			_ = l.Close()
			fail("gateway.New: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- gw.Serve(ctx, l) }()
		stopGateway = func() {
			cancel()
			waitRole(t, "gateway", done)
		}
		waitHealthy(t, "http://"+addr)
	}
	startGateway(ln)
	stops = append(stops, func() { stopGateway() })

	return &deployment{
		stop: stopAll,
		restartFront: func(t *testing.T) {
			t.Helper()
			stopGateway()
			startGateway(listenAgain(t, addr))
		},
	}
}
