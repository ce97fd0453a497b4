package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
)

func TestActorCacheTTL(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	js := natstest.JetStream(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scope := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}

	c := newActorCache(js, time.Minute, 10*time.Second)
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	check := func(want bool) {
		t.Helper()
		got, err := c.served(ctx, scope, "chat")
		if err != nil || got != want {
			t.Fatalf("served = %v, %v; want %v", got, err, want)
		}
	}

	// Without INBOUND, nothing is served (and the answer is cached).
	check(false)
	if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := natstransport.RuntimeConsumerConfig(scope, "chat", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natstransport.EnsureConsumer(ctx, js, natstransport.InboundStream, cfg); err != nil {
		t.Fatal(err)
	}
	check(false) // the negative answer holds for the TTL
	advance(time.Minute)
	check(true)
	if err := js.DeleteConsumer(ctx, natstransport.InboundStream, cfg.Durable); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute - time.Nanosecond)
	check(true) // so does the positive one
	advance(time.Nanosecond)
	check(false)

	// Another scope's consumer of the same type does not count.
	other := natstransport.Scope{WorkspaceID: "w", ProjectID: "p2"}
	ocfg, _ := natstransport.RuntimeConsumerConfig(other, "chat", 0)
	if _, err := natstransport.EnsureConsumer(ctx, js, natstransport.InboundStream, ocfg); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	check(false)
	if got, err := c.served(ctx, other, "chat"); err != nil || !got {
		t.Fatalf("other scope: served = %v, %v", got, err)
	}

	// Nor does the consumer of a scope that spells the same durable name
	// (DurableName keeps '-'): its filter reads the other scope's subjects.
	a := natstransport.Scope{WorkspaceID: "w-x", ProjectID: "p"}
	b := natstransport.Scope{WorkspaceID: "w", ProjectID: "x-p"}
	acfg, _ := natstransport.RuntimeConsumerConfig(a, "chat", 0)
	if bcfg, _ := natstransport.RuntimeConsumerConfig(b, "chat", 0); bcfg.Durable != acfg.Durable {
		t.Fatalf("durables %q and %q differ: nothing to test", acfg.Durable, bcfg.Durable)
	}
	if _, err := natstransport.EnsureConsumer(ctx, js, natstransport.InboundStream, acfg); err != nil {
		t.Fatal(err)
	}
	if got, err := c.served(ctx, b, "chat"); err != nil || got {
		t.Fatalf("clashing scope: served = %v, %v; want false", got, err)
	}
	if got, err := c.served(ctx, a, "chat"); err != nil || !got {
		t.Fatalf("scope of the consumer: served = %v, %v; want true", got, err)
	}
}

func TestActorCacheConcurrentAndBounded(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	js := natstest.JetStream(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	scope := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}
	cfg, _ := natstransport.RuntimeConsumerConfig(scope, "chat", 0)
	if _, err := natstransport.EnsureConsumer(ctx, js, natstransport.InboundStream, cfg); err != nil {
		t.Fatal(err)
	}
	c := newActorCache(js, time.Minute, 10*time.Second)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got, err := c.served(ctx, scope, "chat"); err != nil || !got {
				t.Errorf("served = %v, %v", got, err)
			}
		})
	}
	wg.Wait()

	// Clients choose type names: the cache stays bounded.
	c.mu.Lock()
	for i := range maxActorEntries {
		done := make(chan struct{})
		close(done)
		c.entries[actorKey{scope, fmt.Sprint("t", i)}] = &actorEntry{done: done, expires: time.Now().Add(time.Hour)}
	}
	c.mu.Unlock()
	if got, err := c.served(ctx, scope, "new"); err != nil || got {
		t.Fatalf("served = %v, %v", got, err)
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n > maxActorEntries {
		t.Fatalf("cache holds %d entries, limit %d", n, maxActorEntries)
	}
}
