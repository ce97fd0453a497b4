package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/runtime"
)

// TestTraceAcrossGatewayAndRuntime: one rpc through a real gateway, NATS
// JetStream and a real runtime is one trace: the gateway's span from the
// frame's read to its rpc:result, its INBOUND publish, the runtime's span
// from the message's arrival (the context came in the NATS headers) to its
// ack, the handler's span with its queue wait, and the publish of the
// answer, in both delivery modes.
func TestTraceAcrossGatewayAndRuntime(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, delivery natstransport.Delivery) {
		ctx := waitCtx(t)
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		app, _ := newApp(t)
		d := startDistributed(t, app, distOptions{delivery: delivery,
			gwConfig: gateway.Config{TracerProvider: tp}, rtConfig: runtime.Config{TracerProvider: tp}})
		c := dial(t, d.URL, nil)
		if _, err := client.CallT[counterView](ctx, c.Actor("counter", "traced"), "add", addInput{By: 1}); err != nil {
			t.Fatal(err)
		}

		want := []string{"zocket.rpc counter.add", "zocket.publish INBOUND", "zocket.process counter.add",
			"zocket.handle counter.add", "zocket.publish OUTBOUND"}
		spans := map[string]tracetest.SpanStub{}
		eventually(t, ctx, "the call's five spans", func() (bool, string) {
			for _, s := range exp.GetSpans() {
				spans[s.Name] = s
			}
			var missing []string
			for _, name := range want {
				if _, ok := spans[name]; !ok {
					missing = append(missing, name)
				}
			}
			return len(missing) == 0, fmt.Sprintf("missing %v", missing)
		})
		root := spans[want[0]]
		for _, name := range want {
			if s := spans[name]; s.SpanContext.TraceID() != root.SpanContext.TraceID() {
				t.Fatalf("%s is in trace %s, the rpc in %s", name, s.SpanContext.TraceID(), root.SpanContext.TraceID())
			}
		}
		parentOf := func(child, parent string) {
			t.Helper()
			if got := spans[child].Parent.SpanID(); got != spans[parent].SpanContext.SpanID() {
				t.Errorf("%s's parent is %s, want %s", child, got, parent)
			}
		}
		parentOf("zocket.publish INBOUND", "zocket.rpc counter.add")
		parentOf("zocket.process counter.add", "zocket.publish INBOUND") // across NATS, from the headers
		parentOf("zocket.handle counter.add", "zocket.process counter.add")
		parentOf("zocket.publish OUTBOUND", "zocket.process counter.add")
		if !spans["zocket.process counter.add"].Parent.IsRemote() {
			t.Error("the runtime's span does not continue a remote parent")
		}
		var queueWait bool
		for _, a := range spans["zocket.handle counter.add"].Attributes {
			queueWait = queueWait || strings.HasSuffix(string(a.Key), "queue_wait_us")
		}
		if !queueWait {
			t.Error("the handler's span has no queue wait")
		}
	})
}
