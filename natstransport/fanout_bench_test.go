package natstransport_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
)

// BenchmarkOutboundFanout measures what the spec's fabric costs nats-server
// when one actor change reaches S sessions: each op is one write, published
// as S OUTBOUND messages (one per session subject, as the runtime does) and
// delivered by S ordered consumers (one per session, as the gateway makes
// them). Everything runs in this process, so cpu-ns/delivery includes the
// publisher and the consumers; compare the sizes with each other.
//
// The cost per delivery grows with S: nats-server's memory store finds a
// filtered consumer's next message by walking the sequence numbers after
// its last one, and with S sessions written in turn that is S messages of
// other subjects per delivery (memStore.loadNextMsgLocked in a profile).
func BenchmarkOutboundFanout(b *testing.B) {
	for _, subs := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", subs), func(b *testing.B) { benchFanout(b, subs) })
	}
}

func benchFanout(b *testing.B, subs int) {
	srv := natstest.Run(b)
	ctx := context.Background()
	if err := natstransport.EnsureStreams(ctx, natstest.JetStream(b, srv), natstransport.StreamSettings{}); err != nil {
		b.Fatal(err)
	}
	scope := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	gw := natstest.JetStream(b, srv) // the gateway's connection
	var delivered atomic.Int64
	subjects := make([]string, subs)
	for i := range subs {
		session := fmt.Sprintf("SESSION%019d", i)
		subjects[i], _ = natstransport.OutboundSubject(scope, session)
		cfg, err := natstransport.OutboundConsumerConfig(scope, session)
		if err != nil {
			b.Fatal(err)
		}
		cons, err := gw.OrderedConsumer(ctx, natstransport.OutboundStream, cfg)
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(jetstream.Msg) { delivered.Add(1) })
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cc.Stop)
	}
	rt := natstest.JetStream(b, srv) // the runtime's connection
	body := natstransport.AppendOutbound(nil, scope, "SESSION0000000000000000000", benchFrame)

	cpu0, t0 := cpuTime(), time.Now()
	writes := 0
	for b.Loop() {
		for _, subj := range subjects {
			for {
				if _, err := rt.PublishAsync(subj, body); err == nil {
					break
				}
				<-rt.PublishAsyncComplete() // the publish window is full
			}
		}
		writes++
	}
	want := int64(writes * subs)
	deadline := time.Now().Add(2 * time.Minute)
	for delivered.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", delivered.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(want), "cpu-ns/delivery")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
