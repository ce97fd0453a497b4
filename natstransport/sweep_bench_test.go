package natstransport_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
)

// BenchmarkConsumedSessions measures one runtime session sweep (see
// runtime.Config.SessionSweep): listing every OUTBOUND consumer of a
// server that holds one per session. The consumers are created, not
// consumed from, as a gateway's would be between its pulls.
func BenchmarkConsumedSessions(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			srv := natstest.Run(b)
			js := natstest.JetStream(b, srv)
			ctx := context.Background()
			if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{OutboundMaxConsumers: n + 1}); err != nil {
				b.Fatal(err)
			}
			scope := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
			for i := range n {
				cfg, err := natstransport.OutboundConsumerConfig(scope, fmt.Sprintf("SESSION%019d", i))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := js.OrderedConsumer(ctx, natstransport.OutboundStream, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				got, err := natstransport.ConsumedSessions(ctx, js, scope)
				if err != nil || len(got) != n {
					b.Fatalf("%d sessions, %v; want %d", len(got), err, n)
				}
			}
		})
	}
}
