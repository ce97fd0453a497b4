package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// registry owns the engine's instances: the live ones by key, the evicted
// ones still running OnDeactivate, the list of idle ones and the sweep
// that evicts them (evict.go), and the goroutines they run on. An
// instance enters only through enqueue and leaves only through
// retireLocked (eviction) or deactivated (its last task, which also ends
// a shutdown), so nothing else touches these maps.
//
// Lock order: mu, then an instance's mu, then idleMu.
type registry struct {
	idleTimeout  time.Duration // Config.IdleTimeout; negative: never
	maxInstances int           // Config.MaxInstances; not positive: no cap
	counters     *counters
	// newInstance makes the instance for a key that has none live.
	newInstance func(def *actordef.Def, id string) *instance

	mu        sync.RWMutex
	closed    bool
	instances map[instanceKey]*instance
	retiring  map[instanceKey]chan struct{} // evicted instances still running OnDeactivate
	instPeak  int                           // peak sizes, for shrunk
	retPeak   int
	wg        sync.WaitGroup // instance goroutines

	// idle lists the live instances that have neither a client nor work,
	// the one idle longest first: MaxInstances evicts from its front, and
	// so does a sweep, when sweepTimer fires, after IdleTimeout.
	idleMu     sync.Mutex
	idle       idleList
	sweepTimer *time.Timer
	sweepArmed bool          // sweepTimer is armed or a sweep runs
	sweepMu    sync.Mutex    // held by a running sweep
	sweepSlots chan struct{} // a token per deactivation a sweep started

	goroutines atomic.Int64 // instance goroutines running
	lingering  atomic.Int64 // of which parked, waiting for work
}

type instanceKey struct{ actor, id string }

var errNotLive = errors.New("instance not live")

// init sets up an empty registry for an engine with cfg (defaults filled
// in).
func (r *registry) init(cfg *Config, c *counters, newInstance func(*actordef.Def, string) *instance) {
	r.idleTimeout, r.maxInstances = cfg.IdleTimeout, cfg.MaxInstances
	r.counters, r.newInstance = c, newInstance
	r.instances = make(map[instanceKey]*instance)
	r.retiring = make(map[instanceKey]chan struct{})
	r.sweepSlots = make(chan struct{}, maxSweepDeactivations)
}

// enqueue queues t on the instance key, creating the instance if create is
// set; otherwise an instance that is not live is errNotLive.
func (r *registry) enqueue(def *actordef.Def, key instanceKey, t task, create bool) error {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return errShuttingDown
	}
	if in := r.instances[key]; in != nil {
		in.mu.Lock()
		err := in.pushLocked(t)
		in.mu.Unlock()
		r.mu.RUnlock()
		return err
	}
	r.mu.RUnlock()
	if !create {
		return errNotLive
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errShuttingDown
	}
	in := r.instances[key]
	if in == nil {
		for limit := r.maxInstances; limit > 0 && len(r.instances) >= limit; {
			if !r.evictIdleLocked() {
				r.counters.noRoom.Add(1)
				return actordef.Publicf(protocol.ErrTooManyInstances, "%d live, none idle", len(r.instances))
			}
		}
		in = r.newInstance(def, key.id)
		in.waitFor = r.retiring[key]
		in.box.push(task{kind: taskActivate})
		r.instances[key] = in
		r.instPeak = max(r.instPeak, len(r.instances))
	}
	in.mu.Lock()
	err := in.pushLocked(t)
	in.mu.Unlock()
	return err
}

// queueDisconnect queues session's OnDisconnect on the live instances
// among keys; after Close, on none (shutdown deactivates them all).
func (r *registry) queueDisconnect(session string, keys map[instanceKey]struct{}) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	for key := range keys {
		if in := r.instances[key]; in != nil {
			in.mu.Lock()
			_ = in.pushLocked(task{kind: taskDisconnect, session: session})
			in.mu.Unlock()
		}
	}
}

// retainLive returns a new map of the keys whose instance is live, and
// current whatever its state.
func (r *registry) retainLive(keys map[instanceKey]struct{}, current instanceKey) map[instanceKey]struct{} {
	fresh := make(map[instanceKey]struct{}, len(keys)/2)
	r.mu.RLock()
	defer r.mu.RUnlock()
	for k := range keys {
		if k == current || r.instances[k] != nil {
			fresh[k] = struct{}{}
		}
	}
	return fresh
}

// startLocked starts in's goroutine; in.mu is held and in was not
// running.
func (r *registry) startLocked(in *instance) {
	in.running = true
	r.wg.Add(1)
	r.goroutines.Add(1)
	go in.run()
}

// exited counts the end of an instance goroutine.
func (r *registry) exited() {
	r.goroutines.Add(-1)
	r.wg.Done()
}

// deactivated takes in out of the registry once it ran OnDeactivate, its
// last task: a new instance waiting for the key may start, and a sweep
// may evict another.
func (r *registry) deactivated(in *instance) {
	key := instanceKey{in.def.Name, in.id}
	r.mu.Lock()
	if r.instances[key] == in { // shutdown: Close leaves instances listed until they are done
		delete(r.instances, key)
		r.instances = shrunk(r.instances, &r.instPeak)
	}
	if in.retired != nil && r.retiring[key] == in.retired {
		delete(r.retiring, key)
		r.retiring = shrunk(r.retiring, &r.retPeak)
	}
	r.mu.Unlock()
	if in.tm != nil {
		in.tm.instances.Dec()
	}
	if in.retired != nil {
		close(in.retired)
	}
	if in.sweptSlot {
		<-r.sweepSlots
	}
}

// len returns the number of live instances; after close, those that have
// not finished OnDeactivate yet.
func (r *registry) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.instances)
}

// stats fills in the instance counts of s.
func (r *registry) stats(s *Stats) {
	r.mu.RLock()
	s.Instances, s.Deactivating = len(r.instances), len(r.retiring)
	r.mu.RUnlock()
	r.idleMu.Lock()
	s.IdleInstances = r.idle.n
	r.idleMu.Unlock()
	s.Goroutines = int(r.goroutines.Load())
}

// close stops accepting work, queues OnDeactivate on every live instance,
// stops the sweep, and waits for every instance goroutine or for ctx.
func (r *registry) close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for _, in := range r.instances {
			in.mu.Lock()
			in.dead = true
			_ = in.pushLocked(task{kind: taskDeactivate}) // leaves the idle list
			in.mu.Unlock()
		}
	}
	r.mu.Unlock()
	r.idleMu.Lock()
	if r.sweepTimer != nil {
		r.sweepTimer.Stop()
	}
	r.idleMu.Unlock()
	r.sweepMu.Lock() // a running sweep sees closed and ends
	r.sweepMu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
