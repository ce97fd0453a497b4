package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/wsconfig"
)

// served is a gateway run by Serve, as the gateway command runs it, so
// that its shutdown includes the HTTP server's.
type served struct {
	gw   *gateway.Gateway
	js   jetstream.JetStream
	addr string
	url  string
	stop func() (error, time.Duration) // cancels Serve; its error and how long it took
}

func serveGateway(t *testing.T, cfg gateway.Config) *served {
	t.Helper()
	srv := natstest.Run(t)
	cfg.NATS = natstest.Connect(t, srv)
	cfg.Delivery = natstransport.DeliveryConsumer // the test publishes to session subjects itself
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	s := &served{gw: gw, js: natstest.JetStream(t, srv), addr: ln.Addr().String(), url: "ws://" + ln.Addr().String() + "/"}
	s.stop = sync.OnceValues(func() (error, time.Duration) {
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			return err, time.Since(start)
		case <-time.After(waitTimeout):
			t.Error("Serve did not return")
			return nil, waitTimeout
		}
	})
	t.Cleanup(func() { s.stop() })
	return s
}

// Shutdown finishes within the drain timeout whatever the clients do: a
// client that reads, one that never reads (it is told 1001 all the same),
// and a spare connection that never sent a request, which net/http alone
// would wait for until it was five seconds old (that failed the browser
// test of a gateway restart, whose drain timeout was 5 s).
func TestShutdownWithinDrainTimeout(t *testing.T) {
	t.Parallel()
	const drain = 2 * time.Second
	s := serveGateway(t, gateway.Config{DrainTimeout: drain})
	reader := dial(t, s.url)
	reader.welcome()
	silent := dial(t, s.url) // reads nothing until Serve has returned
	spare, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	testwait.For(t, waitTimeout, "two sessions", func() (bool, string) {
		n := s.gw.Stats().SessionsOpen
		return n == 2, fmt.Sprint(n)
	})
	if code, _, _ := get(t, "http://"+s.addr+"/health"); code != http.StatusOK { // after spare was accepted
		t.Fatalf("health %d", code)
	}

	err, took := s.stop()
	if err != nil {
		t.Fatalf("Serve = %v, want a clean shutdown", err)
	}
	if took > drain+time.Second {
		t.Fatalf("shutdown took %v with a drain timeout of %v", took, drain)
	}
	for name, c := range map[string]*client{"reader": reader, "silent": silent} {
		if code, reason := c.closeStatus(); code != websocket.StatusGoingAway || reason != "server shutting down" {
			t.Errorf("%s client: close %d %q, want 1001 server shutting down", name, code, reason)
		}
	}
	if _, err := spare.Read(make([]byte, 1)); err == nil {
		t.Error("the spare connection is still open")
	}
}

// A client that does not read and whose socket is full cannot be told
// 1001: Shutdown severs it on time and says so.
func TestShutdownSeversAStuckClient(t *testing.T) {
	t.Parallel()
	const drain = time.Second
	s := serveGateway(t, gateway.Config{DrainTimeout: drain, WebSocket: wsconfig.Settings{SendQueueBytes: 64 << 20, WriteTimeout: time.Minute}})
	// A small fixed receive buffer, so that the frames below fill it.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return errors.Join(err, serr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &client{t: t, ws: ws}
	id := c.welcome() // then reads no more
	out, _ := natstransport.OutboundSubject(devScope, id)
	frame := []byte(`{"type":"event","actor":"a","actorId":"b","event":"e","payload":"` + strings.Repeat("p", 256<<10) + `"}`)
	const frames = 64 // 16 MiB: far more than the socket buffers hold
	for range frames {
		if _, err := s.js.Publish(ctx, out, natstransport.AppendOutbound(nil, devScope, id, frame)); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	testwait.Until(t, ctx, "the gateway to receive every frame", func() (bool, string) {
		cons, err := s.js.Consumer(ctx, natstransport.OutboundStream, id+"_1")
		if err != nil {
			return false, err.Error()
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.Delivered.Consumer == frames, fmt.Sprint(info.Delivered.Consumer)
	})

	err, took := s.stop()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 connections severed before their close frame") {
		t.Fatalf("Serve = %v, want the stuck client reported", err)
	}
	if took > drain+time.Second {
		t.Fatalf("shutdown took %v with a drain timeout of %v", took, drain)
	}
}
