package cli_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/zocket-go/zocket/cli"
)

func TestDebugAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // free for the command; loopback ports are not reused at once

	_, stop := started(t, counterApp(t), map[string]string{"PORT": "0", "DEBUG_ADDR": addr}, wsLine, "serve")
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /debug/pprof/goroutine: %s", resp.Status)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Error("debug server still answers after the command stopped")
	}
}

func TestDebugAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, args := range [][]string{
		{"serve", "-port", "0", "-debug-addr", ln.Addr().String()},
		{"runtime", "-nats", "nats://127.0.0.1:1", "-debug-addr", ln.Addr().String()},
	} {
		err = cli.Run(t.Context(), counterApp(t), args, cli.Env{Getenv: func(string) string { return "" }}, nil)
		if err == nil || !strings.Contains(err.Error(), "-debug-addr") {
			t.Errorf("%q: err = %v, want a -debug-addr listen error", args, err)
		}
	}
}
