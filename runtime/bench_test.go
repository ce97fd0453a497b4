package runtime_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// BenchmarkRPC measures an rpc round trip through the runtime with a direct
// JetStream client in the gateway's place: publish the inbound envelope
// (waiting for the stream's ack, as a gateway does), then read the reply
// from the session's outbound subject. ns/op is wall time per call across
// all callers, so 1e9/ns/op is the throughput.
func BenchmarkRPC(b *testing.B) {
	for _, callers := range []int{1, 10} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			e := newEnv(b)
			e.start(newApp(b, counterActor(nil)), nil)
			runCallers(b, callers, func(i int) func() time.Duration {
				c := e.client("bench-" + strconv.Itoa(i))
				subject, _ := natstransport.InboundSubject(e.scope, "counter", "c"+strconv.Itoa(i))
				input := []byte(`{"n":1}`)
				ctx := context.Background()
				n := 0
				return func() time.Duration {
					n++
					frame := protocol.AppendRPC(nil, strconv.Itoa(n), "counter", "c"+strconv.Itoa(i), "add", input)
					start := time.Now()
					if _, err := e.js.Publish(ctx, subject, c.envelope(frame)); err != nil {
						b.Error(err)
					}
					if _, err := c.sub.NextMsg(waitTimeout); err != nil {
						b.Error(err)
					}
					return time.Since(start)
				}
			})
		})
	}
}

// BenchmarkFloor is the raw two-hop JetStream floor at the same
// concurrency: the caller publishes to a memory work-queue stream, a worker
// consumes, publishes the reply to a memory limits stream and acks after
// the reply is stored, and the caller reads the reply.
func BenchmarkFloor(b *testing.B) {
	for _, callers := range []int{1, 10} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			srv := natstest.Run(b)
			ctx := context.Background()
			wjs := natstest.JetStream(b, srv)
			for _, cfg := range []jetstream.StreamConfig{
				{Name: "FIN", Subjects: []string{"fin.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage},
				{Name: "FOUT", Subjects: []string{"fout.>"}, Storage: jetstream.MemoryStorage},
			} {
				if _, err := wjs.CreateStream(ctx, cfg); err != nil {
					b.Fatal(err)
				}
			}
			cons, err := wjs.CreateConsumer(ctx, "FIN", jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 256})
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			cc, err := cons.Consume(func(m jetstream.Msg) {
				f, err := wjs.PublishAsync("fout."+m.Subject()[len("fin."):], m.Data())
				if err != nil {
					b.Error(err)
					return
				}
				wg.Go(func() {
					select {
					case <-f.Ok():
						_ = m.Ack()
					case err := <-f.Err():
						b.Error(err)
					}
				})
			}, jetstream.PullMaxMessages(256))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cc.Stop(); <-cc.Closed(); wg.Wait() })
			nc := natstest.Connect(b, srv)
			js, _ := jetstream.New(nc)
			runCallers(b, callers, func(i int) func() time.Duration {
				sub, err := nc.SubscribeSync("fout." + strconv.Itoa(i))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = sub.Unsubscribe() })
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
				msg := []byte(`{"type":"rpc","id":"1","actor":"counter","actorId":"c","method":"add","input":{"n":1}}`)
				return func() time.Duration {
					start := time.Now()
					if _, err := js.Publish(ctx, "fin."+strconv.Itoa(i), msg); err != nil {
						b.Error(err)
					}
					if _, err := sub.NextMsg(waitTimeout); err != nil {
						b.Error(err)
					}
					return time.Since(start)
				}
			})
		})
	}
}

// runCallers runs b.N calls spread over n concurrent callers and reports
// latency percentiles.
func runCallers(b *testing.B, n int, newCaller func(i int) func() time.Duration) {
	calls := make([]func() time.Duration, n)
	for i := range calls {
		calls[i] = newCaller(i)
		calls[i]() // warm up: instance activation, consumer creation
	}
	lat := make([][]time.Duration, n)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range n {
		k := b.N / n
		if i < b.N%n {
			k++
		}
		wg.Go(func() {
			for range k {
				lat[i] = append(lat[i], calls[i]())
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}
