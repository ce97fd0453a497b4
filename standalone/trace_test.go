package standalone_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/zocket-go/zocket/standalone"
)

// Each rpc is a span from the frame's read to its rpc:result, with the
// handler's span under it; subscriptions are not traced.
func TestTraces(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := start(t, standalone.Config{TracerProvider: tp})
	c := h.dial()
	c.call("x", "increment", nil)
	if msg := c.callErr("counter", "x", "fail", nil); msg == "" {
		t.Fatal("fail did not fail")
	}
	c.sub("state:sub", "x") // a subscription: no span
	c.expect("state:snapshot")
	spans := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if _, dup := spans[s.Name]; dup {
			t.Fatalf("two spans named %s", s.Name)
		}
		spans[s.Name] = s
	}
	if len(spans) != 4 {
		t.Fatalf("spans %v, want rpc and handle spans of increment and fail", len(spans))
	}
	for _, m := range []string{"increment", "fail"} {
		rpc, handle := spans["zocket.rpc counter."+m], spans["zocket.handle counter."+m]
		if !rpc.SpanContext.IsValid() || handle.Parent.SpanID() != rpc.SpanContext.SpanID() ||
			handle.SpanContext.TraceID() != rpc.SpanContext.TraceID() {
			t.Fatalf("%s: rpc %v, handle %v (parent %v)", m, rpc.SpanContext, handle.SpanContext, handle.Parent)
		}
		if rpc.EndTime.IsZero() || handle.EndTime.IsZero() {
			t.Fatalf("%s: a span did not end", m)
		}
	}
	if spans["zocket.handle counter.fail"].Status.Code.String() != "Error" {
		t.Fatalf("the failed call's span: %+v", spans["zocket.handle counter.fail"].Status)
	}
}
