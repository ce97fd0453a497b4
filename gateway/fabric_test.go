package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// GET /ready answers 200 while NATS is up and the streams are in place,
// and 503 while the server is away.
func TestReady(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	readyURL := strings.Replace(r.url, "ws", "http", 1) + strings.TrimPrefix(gateway.ReadyPath, "/")
	if code, body, _ := get(t, readyURL); code != http.StatusOK || body != `{"ready":true}` {
		t.Fatalf("GET %s = %d %s, want 200 {\"ready\":true}", gateway.ReadyPath, code, body)
	}
	r.srv.Shutdown()
	r.waitUntil("/ready to answer 503 without NATS", func() (bool, string) {
		code, body, _ := get(t, readyURL)
		return code == http.StatusServiceUnavailable && body == `{"ready":false,"reason":"NATS disconnected"}`, fmt.Sprintf("%d %s", code, body)
	})
}

// A publish that finds the streams gone (deleted, or lost with a
// nats-server restarted on memory storage) is answered "call not
// delivered", and the gateway puts the streams back.
func TestStreamsPutBack(t *testing.T) {
	t.Parallel()
	// A long actor-check TTL keeps the answer "served" cached, so that the
	// next call gets as far as the publish.
	r := newRig(t, gateway.Config{ActorCheckTTL: time.Hour})
	startRuntime(t, r.srv, devScope, false, "echo")
	c := dial(t, r.url)
	c.welcome()
	decodeEcho(t, c.call("r1", "echo", "a", "echo", "1"))

	ctx := context.Background()
	for _, name := range []string{natstransport.InboundStream, natstransport.OutboundStream} {
		if err := r.js.DeleteStream(ctx, name); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	res := c.call("r2", "echo", "a", "echo", "2")
	if res.Error == nil || !strings.HasPrefix(*res.Error, protocol.ErrNotDelivered.Error()) {
		t.Fatalf("call with no INBOUND answered %s, want %q", res.raw, protocol.ErrNotDelivered)
	}
	r.waitUntil("the gateway to put both streams back", func() (bool, string) {
		for _, name := range []string{natstransport.InboundStream, natstransport.OutboundStream} {
			if _, err := r.js.Stream(ctx, name); err != nil {
				return false, name + ": " + err.Error()
			}
		}
		return true, ""
	})
}

// From the start of a shutdown the gateway is draining: /ready says so,
// and a new socket is refused with 503.
func TestReadyDraining(t *testing.T) {
	t.Parallel()
	r := newRig(t, gateway.Config{})
	httpURL := strings.Replace(r.url, "ws", "http", 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if code, body, _ := get(t, httpURL+"ready"); code != http.StatusServiceUnavailable || body != `{"ready":false,"reason":"draining"}` {
		t.Fatalf("GET /ready while draining = %d %s, want 503 draining", code, body)
	}
	if code, _, _ := get(t, httpURL+"health"); code != http.StatusOK {
		t.Errorf("GET /health while draining = %d, want 200 (the process is alive)", code)
	}
	if _, err := tryDial(t, r.url); dialStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("dial while draining: %v, want 503", err)
	}
}
