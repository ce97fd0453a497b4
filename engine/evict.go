package engine

import "time"

// idleList links the live instances that have neither a connected client
// nor work, in the order they became idle: the front has been idle the
// longest. It is what [Config.MaxInstances] evicts from, in O(1),
// where scanning the instances for an idle one would cost O(n) per new
// instance once the engine is full. It also replaces a timer per idle
// instance for IdleTimeout: one timer fires when the front is due, and the
// sweep evicts from the front (see sweep).
//
// registry.idleMu guards the list and the instances' idlePrev and idleNext.
// An instance's idleListed changes only with both its mu and idleMu held,
// so either lock is enough to read it; the lock order is instance mu, then
// idleMu. Instances with a client never enter the list, so the calls of
// connected clients, the common case, never take idleMu.
type idleList struct {
	front, back *instance
	n           int
}

// listIdle appends in to the idle list: its queue ran dry at since and it
// has no client. in.mu is held by its goroutine.
func (r *registry) listIdle(in *instance, since time.Time) {
	r.idleMu.Lock()
	in.idleSince = since
	in.idlePrev, in.idleNext = r.idle.back, nil
	if r.idle.back != nil {
		r.idle.back.idleNext = in
	} else {
		r.idle.front = in
	}
	r.idle.back = in
	r.idle.n++
	in.idleListed = true
	if idle := r.idleTimeout; idle >= 0 && !r.sweepArmed {
		r.sweepArmed = true
		d := time.Until(r.idle.front.idleSince.Add(idle))
		if r.sweepTimer == nil {
			r.sweepTimer = time.AfterFunc(d, r.sweep)
		} else {
			r.sweepTimer.Reset(d)
		}
	}
	r.idleMu.Unlock()
}

// unlistIdle removes in from the idle list; in.mu is held and in is listed.
func (r *registry) unlistIdle(in *instance) {
	r.idleMu.Lock()
	if in.idlePrev != nil {
		in.idlePrev.idleNext = in.idleNext
	} else {
		r.idle.front = in.idleNext
	}
	if in.idleNext != nil {
		in.idleNext.idlePrev = in.idlePrev
	} else {
		r.idle.back = in.idlePrev
	}
	in.idlePrev, in.idleNext = nil, nil
	r.idle.n--
	in.idleListed = false
	r.idleMu.Unlock()
}

// evictIdleLocked evicts the instance idle the longest to make room for a
// new one, and reports false when no instance is idle. r.mu is held for
// writing.
func (r *registry) evictIdleLocked() bool {
	for {
		r.idleMu.Lock()
		in := r.idle.front
		r.idleMu.Unlock()
		if in == nil {
			return false
		}
		// in may have left the list (work arrived) between the two locks;
		// then the front is another instance now: look again. A listed
		// instance has no client and no work, and its goroutine, if it
		// still has one, is parked: it can go at once.
		in.mu.Lock()
		ok := in.idleListed && !in.dead
		if ok {
			r.retireLocked(in, false)
			r.counters.evicted.Add(1)
		} else if in.idleListed {
			r.unlistIdle(in)
		}
		in.mu.Unlock()
		if ok {
			return true
		}
	}
}

// retireLocked evicts in: it leaves the instances (a request for its key
// creates a new instance, which waits for this one's OnDeactivate), and
// OnDeactivate is queued as its last task. swept says it holds a sweep
// slot, to give back after OnDeactivate. r.mu is held for writing and
// in.mu is held.
func (r *registry) retireLocked(in *instance, swept bool) {
	in.dead = true
	in.sweptSlot = swept
	if tm := in.tm; tm != nil {
		if swept {
			tm.evictIdle.Inc()
		} else {
			tm.evictRoom.Inc()
		}
	}
	key := instanceKey{in.def.Name, in.id}
	delete(r.instances, key)
	r.instances = shrunk(r.instances, &r.instPeak)
	in.retired = make(chan struct{})
	r.retiring[key] = in.retired
	r.retPeak = max(r.retPeak, len(r.retiring))
	_ = in.pushLocked(task{kind: taskDeactivate}) // leaves the idle list, wakes a lingering goroutine
}

// Sweeps evict at most sweepBatch instances per hold of r.mu, so that
// Dispatch is not held up by a long sweep, and have at most
// maxSweepDeactivations evicted instances running OnDeactivate at once:
// 100,000 instances that went idle together would otherwise start 100,000
// goroutines at the same moment when their timeout came, whose
// descriptors the Go runtime keeps for good.
const (
	sweepBatch            = 256
	maxSweepDeactivations = 128
)

// sweep runs when the front of the idle list is due: it evicts, oldest
// first, every instance idle for IdleTimeout, and arms the timer for the
// next one. It runs on the timer's goroutine.
func (r *registry) sweep() {
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	slot := false // holds a token of sweepSlots
	defer func() {
		if slot {
			<-r.sweepSlots
		}
	}()
	for {
		full, done := r.sweepBatch(&slot)
		if done {
			return
		}
		if full { // wait for an evicted instance to finish OnDeactivate
			r.sweepSlots <- struct{}{}
			slot = true
		}
	}
}

// sweepBatch evicts up to sweepBatch due instances. It reports full when
// it stopped for want of a sweep slot, and done when nothing is due any
// more (the timer is armed for the next instance, if any) or the engine
// is closed.
func (r *registry) sweepBatch(slot *bool) (full, done bool) {
	idle := r.idleTimeout
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, true
	}
	for range sweepBatch {
		r.idleMu.Lock()
		in := r.idle.front
		if in == nil {
			r.sweepArmed = false
			r.idleMu.Unlock()
			return false, true
		}
		if wait := time.Until(in.idleSince.Add(idle)); wait > 0 {
			r.sweepTimer.Reset(wait)
			r.idleMu.Unlock()
			return false, true
		}
		r.idleMu.Unlock()
		if !*slot {
			select {
			case r.sweepSlots <- struct{}{}:
				*slot = true
			default:
				return true, false
			}
		}
		// Between the locks in may have left the list (work arrived) and
		// come back at its end: then it is not due, and the front is
		// another instance now.
		in.mu.Lock()
		switch {
		case in.idleListed && !in.dead && !time.Now().Before(in.idleSince.Add(idle)):
			r.retireLocked(in, true)
			*slot = false
		case in.idleListed && in.dead:
			r.unlistIdle(in)
		}
		in.mu.Unlock()
	}
	return false, false
}
