// Package tracing holds what the hosts share to trace an RPC with
// OpenTelemetry: the tracer they take from a TracerProvider, and the W3C
// trace context carried in the headers of the NATS messages between the
// gateway and the runtime, so that one trace shows the gateway's publish,
// the time in JetStream, the runtime's queue wait and handler, and the
// publish of the answer.
package tracing

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// scope names the instrumentation in every span.
const scope = "github.com/zocket-go/zocket"

// Tracer returns the tracer of tp, or nil when tp is nil: tracing off,
// and nothing on the hot path pays for it.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(scope)
}

// w3c is the W3C Trace Context propagator (traceparent, tracestate); it
// holds no state.
var w3c propagation.TraceContext

// Inject writes ctx's span context into h, which must not be nil.
func Inject(ctx context.Context, h nats.Header) { w3c.Inject(ctx, headerCarrier(h)) }

// Extract returns ctx with the remote span context h carries, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return w3c.Extract(ctx, headerCarrier(h))
}

// headerCarrier adapts NATS headers, whose keys are case-sensitive, to
// the propagator.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
