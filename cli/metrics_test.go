package cli_test

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/internal/metricstest"
	"github.com/zocket-go/zocket/internal/testwait"
)

var metricsLine = regexp.MustCompile(`metrics:?\s+(http://\S+/metrics)`)

// want waits until the series of name with labels, scraped over HTTP, is
// at least min (a counter or gauge) or has at least min observations (a
// histogram).
func want(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string, min float64) {
	t.Helper()
	testwait.For(t, 20*time.Second, fmt.Sprintf("%s%v >= %v", name, labels, min), func() (bool, string) {
		m := metricstest.Find(t, g, name, labels)
		if m == nil {
			return false, "no such series"
		}
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		return v >= min, fmt.Sprint(v)
	})
}

// TestServeMetrics: -metrics-addr serves /metrics on a listener of its
// own, and real traffic moves the numbers.
func TestServeMetrics(t *testing.T) {
	found, stop := startedAll(t, counterApp(t), map[string]string{"PORT": "0", "METRICS_ADDR": "127.0.0.1:0"},
		[]*regexp.Regexp{wsLine, metricsLine}, "serve")
	url, metricsURL := found[0], found[1]
	increment(t, url)
	increment(t, url)
	g := metricstest.Scrape(metricsURL)
	want(t, g, "zocket_connections_opened_total", nil, 2)
	want(t, g, "zocket_connections_closed_total", map[string]string{"reason": "client", "code": "1000"}, 2)
	want(t, g, "zocket_frames_received_total", nil, 2)
	want(t, g, "zocket_bytes_sent_total", nil, 1)
	want(t, g, "zocket_rpc_duration_seconds", map[string]string{"actor": "counter", "method": "increment", "outcome": "ok"}, 2)
	want(t, g, "zocket_instances", map[string]string{"actor": "counter"}, 1)
	want(t, g, "zocket_instance_activations_total", map[string]string{"actor": "counter"}, 1)
	want(t, g, "go_goroutines", nil, 1)
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel", err)
	}
	if _, err := http.Get(metricsURL); err == nil {
		t.Error("metrics still served after the command stopped")
	}
}

// TestDevMetrics: dev serves metrics by default; a call through gateway,
// JetStream and runtime moves the numbers of all three.
func TestDevMetrics(t *testing.T) {
	found, stop := startedAll(t, counterApp(t), nil, []*regexp.Regexp{wsLine, metricsLine}, "dev", "-port", "0", "-nats-port", "0")
	url, metricsURL := found[0], found[1]
	increment(t, url)
	g := metricstest.Scrape(metricsURL)
	want(t, g, "zocket_connections_opened_total", nil, 1)
	want(t, g, "zocket_gateway_call_duration_seconds", map[string]string{"outcome": "answered"}, 1)
	want(t, g, "zocket_jetstream_publish_duration_seconds", map[string]string{"stream": "INBOUND"}, 1)
	want(t, g, "zocket_jetstream_publish_duration_seconds", map[string]string{"stream": "OUTBOUND"}, 1)
	want(t, g, "zocket_rpc_duration_seconds", map[string]string{"actor": "counter", "method": "increment", "outcome": "ok"}, 1)
	want(t, g, "zocket_runtime_messages_received_total", nil, 1)
	want(t, g, "zocket_jetstream_acks_total", nil, 1)
	want(t, g, "zocket_consumer_pending", map[string]string{"actor": "counter"}, 0) // reported by the fabric check, every 2 s
	if err := stop(); err != nil {
		t.Fatalf("dev returned %v after cancel", err)
	}
}

// An address given that cannot be listened on is an error; dev's default
// address, taken, gives way to any free port.
func TestMetricsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = cli.Run(t.Context(), counterApp(t), []string{"serve", "-port", "0", "-metrics-addr", ln.Addr().String()},
		cli.Env{Getenv: func(string) string { return "" }}, nil)
	if err == nil || !strings.Contains(err.Error(), "-metrics-addr") {
		t.Errorf("serve: err = %v, want a -metrics-addr listen error", err)
	}

	if held, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil { // else someone else holds it: as good
		defer held.Close()
	}
	found, stop := startedAll(t, counterApp(t), nil, []*regexp.Regexp{metricsLine}, "dev", "-port", "0", "-nats-port", "0")
	if strings.Contains(found[0], ":9090/") {
		t.Errorf("dev serves metrics at %s, which is taken", found[0])
	}
	want(t, metricstest.Scrape(found[0]), "go_goroutines", nil, 1)
	if err := stop(); err != nil {
		t.Fatalf("dev returned %v after cancel", err)
	}
}
