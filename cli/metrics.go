package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zocket-go/zocket/metrics"
)

// devMetricsAddr is where dev serves /metrics unless told otherwise.
const devMetricsAddr = "127.0.0.1:9090"

// metricsServer is the -metrics-addr listener of a command.
type metricsServer struct {
	// m is what the command's components report to; nil when metrics are
	// off.
	m *metrics.Metrics
	// url is where /metrics is served; empty when off.
	url  string
	stop func()
}

// metricsFlag adds -metrics-addr (METRICS_ADDR): the address of a listener
// of its own serving Prometheus metrics at /metrics, off when empty or
// "off". def is the default: empty except for dev, which serves them on
// devMetricsAddr, or on any free loopback port when that one is taken.
// The returned function starts the listener, if asked for; the command
// stops it when it ends.
func (f *flags) metricsFlag(def string) func(*slog.Logger) (*metricsServer, error) {
	usage := "serve Prometheus metrics at http://ADDR/metrics on a listener of its own (empty or off: off); they have no authorization, so keep it off public networks"
	addr := f.String("metrics-addr", "METRICS_ADDR", def, usage)
	return func(log *slog.Logger) (*metricsServer, error) {
		if *addr == "" || *addr == "off" {
			return &metricsServer{stop: func() {}}, nil
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil && *addr == def && !f.given("metrics-addr", "METRICS_ADDR") {
			// dev's default is a convenience: a Prometheus of one's own
			// on 9090 must not stop `zocket dev` from starting.
			log.LogAttrs(context.Background(), slog.LevelInfo, "default metrics address unavailable; using any free port",
				slog.String("addr", *addr), slog.Any("err", err))
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return nil, fmt.Errorf("listen on -metrics-addr: %w", err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m := metrics.New(reg)
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			// A scrape reads counters and a few locks; nothing waits
			// for NATS. The bound is for the unexpected.
			Timeout: 10 * time.Second,
		}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.LogAttrs(context.Background(), slog.LevelWarn, "metrics server stopped", slog.Any("err", err))
			}
		}()
		url := "http://" + ln.Addr().String() + "/metrics"
		log.LogAttrs(context.Background(), slog.LevelInfo, "metrics served", slog.String("url", url))
		return &metricsServer{m: m, url: url, stop: func() {
			_ = srv.Close() // a scrape in progress is cut off: the process is stopping
			<-done
		}}, nil
	}
}

// given reports whether the flag name, or its variable envName, was set.
func (f *flags) given(name, envName string) bool {
	set := f.env.Getenv(envName) != ""
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// announce prints where metrics are served, if they are.
func (ms *metricsServer) announce(env Env) {
	if ms.url != "" {
		fmt.Fprintf(env.Stdout, "metrics: %s\n", ms.url)
	}
}
