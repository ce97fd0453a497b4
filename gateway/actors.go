package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
)

// actorKey names one actor type of one scope.
type actorKey struct {
	scope     natstransport.Scope
	actorType string
}

// actorEntry is one cached answer, or a lookup in flight (done open).
type actorEntry struct {
	done    chan struct{} // closed when served and err are set
	served  bool
	err     error // lookup failed: not cached beyond the waiters
	expires time.Time
}

// actorCache answers "does a runtime serve this actor type?" by checking
// that the type's durable consumer exists on INBOUND and is filtered to
// this scope's subjects. Answers, yes and no, are cached for a TTL;
// concurrent lookups of one key share one request.
type actorCache struct {
	js      jetstream.JetStream
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[actorKey]*actorEntry
}

// maxActorEntries bounds the cache; clients choose actor type names, so an
// unbounded map would let them grow the gateway's memory.
const maxActorEntries = 4096

func newActorCache(js jetstream.JetStream, ttl, timeout time.Duration) *actorCache {
	return &actorCache{js: js, ttl: ttl, timeout: timeout, now: time.Now, entries: map[actorKey]*actorEntry{}}
}

// served reports whether a runtime consumes actorType in scope. An error
// means the check itself failed (JetStream did not answer); it is not
// cached.
func (c *actorCache) served(ctx context.Context, scope natstransport.Scope, actorType string) (bool, error) {
	key := actorKey{scope, actorType}
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		select {
		case <-e.done:
			if e.err == nil && c.now().Before(e.expires) {
				c.mu.Unlock()
				return e.served, nil
			}
			e = nil // expired or failed: look up again
		default: // in flight: wait for it below
		}
	}
	owner := e == nil
	if owner {
		if len(c.entries) >= maxActorEntries {
			c.evict()
		}
		e = &actorEntry{done: make(chan struct{})}
		c.entries[key] = e
	}
	c.mu.Unlock()

	if owner {
		served, err := c.lookup(ctx, scope, actorType)
		c.mu.Lock()
		e.served, e.err, e.expires = served, err, c.now().Add(c.ttl)
		if err != nil && c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
		close(e.done)
		return served, err
	}
	select {
	case <-e.done:
		return e.served, e.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// evict drops expired entries, or all settled ones when none has expired.
// c.mu is held.
func (c *actorCache) evict() {
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		default:
		}
	}
	if len(c.entries) < maxActorEntries {
		return
	}
	for k, e := range c.entries {
		select {
		case <-e.done:
			delete(c.entries, k)
		default:
		}
	}
}

func (c *actorCache) lookup(ctx context.Context, scope natstransport.Scope, actorType string) (bool, error) {
	name, err := natstransport.DurableName(scope, actorType)
	if err != nil {
		return false, nil // no runtime can have a consumer for it
	}
	filter, err := natstransport.InboundFilter(scope, actorType)
	if err != nil {
		return false, nil
	}
	// The answer is shared with other sessions: one session going away must
	// not fail their lookup.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	cons, err := c.js.Consumer(ctx, natstransport.InboundStream, name)
	switch {
	case err == nil:
		// Durable names keep '-' as written, so scopes (a-b, c) and (a, b-c)
		// share one; the filter tells whose it is. A consumer of the other
		// scope never reads this scope's messages, and treating it as ours
		// would leave the session's calls unanswered in INBOUND.
		return servesFilter(cons.CachedInfo().Config, filter), nil
	case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("look up consumer %s: %w", name, err)
	}
}

// servesFilter reports whether a consumer config reads exactly filter:
// one filter subject, as a runtime consumer has, set either way.
func servesFilter(cfg jetstream.ConsumerConfig, filter string) bool {
	switch {
	case cfg.FilterSubject != "":
		return len(cfg.FilterSubjects) == 0 && cfg.FilterSubject == filter
	case len(cfg.FilterSubjects) == 1:
		return cfg.FilterSubjects[0] == filter
	}
	return false
}
