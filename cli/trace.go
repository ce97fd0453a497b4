package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// traceShutdown bounds flushing the last spans when a command stops.
const traceShutdown = 5 * time.Second

// traceFlags adds -otlp-endpoint and returns its parser: with an endpoint,
// the command exports its spans with OTLP over HTTP (the standard
// OTEL_EXPORTER_OTLP_* variables refine it: headers, timeouts); without
// one, tracing is off. The returned stop flushes and stops the exporter.
func (f *flags) traceFlags() func(service string, log *slog.Logger) (tp trace.TracerProvider, stop func(), err error) {
	endpoint := f.String("otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "",
		"send OpenTelemetry traces of every rpc to this OTLP/HTTP collector, such as http://localhost:4318 (empty: tracing off)")
	return func(service string, log *slog.Logger) (trace.TracerProvider, func(), error) {
		if *endpoint == "" {
			return nil, func() {}, nil
		}
		// The exporter takes any string and fails only when it sends.
		if u, err := url.Parse(*endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("%w: -otlp-endpoint %q: want an http(s) URL such as http://localhost:4318", ErrUsage, *endpoint)
		}
		// As OTEL_EXPORTER_OTLP_ENDPOINT means for every exporter: the base
		// URL of the collector, to which the traces' path is added.
		target := strings.TrimSuffix(*endpoint, "/") + "/v1/traces"
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(target))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: -otlp-endpoint %q: %v", ErrUsage, *endpoint, err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
		log.Info("traces exported", "otlp_endpoint", *endpoint, "service", service)
		return tp, func() {
			ctx, cancel := context.WithTimeout(context.Background(), traceShutdown)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil {
				log.Warn("trace exporter shutdown", "err", err)
			}
		}, nil
	}
}
