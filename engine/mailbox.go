package engine

import (
	"time"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// taskKind says what a task does; step.go's process runs each kind.
type taskKind uint8

const (
	taskActivate taskKind = iota
	taskRequest
	taskDisconnect
	taskDeactivate
	taskFlush // PatchInterval's timer fired: send the pending state change
)

// task is one unit of an instance's work, queued in its mailbox.
type task struct {
	kind    taskKind
	req     *Request
	method  *actordef.Method
	input   any
	session string        // taskRequest, taskDisconnect: whose lane it waits in
	sess    *sessionState // taskRequest: counts it in MaxSessionQueue; nil without a session
	gen     uint64        // taskFlush: the flushGen whose timer fired
}

func (t *task) isRPC() bool { return t.kind == taskRequest && t.method != nil }

// mailbox is an instance's queue of work. It is fair across sessions:
// every session with queued tasks has a lane, and the instance takes one
// task from each lane in turn, so a session that queued thousands of calls
// delays another session's call by at most one call per turn instead of
// by all of them (see [Config.MaxQueue] for the guarantee).
//
// Within a lane, tasks keep the order they were queued in: a session's
// requests and its OnDisconnect. The engine's own tasks are not in lanes:
// OnActivate and PatchInterval flushes go before any session's task, and
// OnDeactivate after all of them. The instance's mu guards a mailbox.
type mailbox struct {
	engine fifo[task]       // taskActivate, taskFlush
	lanes  map[string]*lane // by session id: the lanes with tasks
	ready  fifo[*lane]      // the lanes with tasks, in turn order
	final  bool             // taskDeactivate is queued
	spare  *lane            // an emptied lane kept for the next one
	peak   int              // the most lanes since lanes was last rebuilt
}

// lane holds one session's tasks on one instance.
type lane struct {
	session string
	tasks   fifo[task]
	rpc     int // rpc requests among tasks
}

func (b *mailbox) empty() bool {
	return b.engine.len() == 0 && b.ready.len() == 0 && !b.final
}

// rpcQueued returns how many rpc requests of session wait in the mailbox.
func (b *mailbox) rpcQueued(session string) int {
	if l := b.lanes[session]; l != nil {
		return l.rpc
	}
	return 0
}

func (b *mailbox) push(t task) {
	switch t.kind {
	case taskActivate, taskFlush:
		b.engine.push(t)
		return
	case taskDeactivate:
		b.final = true
		return
	}
	l := b.lanes[t.session]
	if l == nil {
		l = b.spare
		b.spare = nil
		if l == nil {
			l = &lane{}
		}
		l.session = t.session
		if b.lanes == nil {
			b.lanes = make(map[string]*lane)
		}
		b.lanes[t.session] = l
		b.peak = max(b.peak, len(b.lanes))
		b.ready.push(l)
	}
	l.tasks.push(t)
	if t.isRPC() {
		l.rpc++
	}
}

// pop removes and returns the next task; the mailbox must not be empty.
func (b *mailbox) pop() task {
	if b.engine.len() > 0 {
		return b.engine.pop()
	}
	if b.ready.len() == 0 {
		b.final = false
		return task{kind: taskDeactivate}
	}
	l := b.ready.pop()
	t := l.tasks.pop()
	if t.isRPC() {
		l.rpc--
	}
	if l.tasks.len() > 0 {
		b.ready.push(l) // to the back of the line
		return t
	}
	delete(b.lanes, l.session)
	b.lanes = shrunk(b.lanes, &b.peak)
	l.session = ""
	b.spare = l // a session calling again and again reuses its lane
	return t
}

// pushLocked queues t and starts the instance goroutine if it is idle.
func (in *instance) pushLocked(t task) error {
	if t.isRPC() {
		// A session with no call waiting here gets in even when the
		// queue is full: the sessions that filled it wait their turns
		// anyway, and the one call does not lengthen their wait by more
		// than one call.
		if in.pendingRPC >= in.e.cfg.MaxQueue && in.box.rpcQueued(t.session) > 0 {
			in.e.counters.instanceQueue.Add(1)
			return actordef.Publicf(protocol.ErrOverloaded, "%d calls queued on %s %q", in.pendingRPC, in.def.Name, in.id)
		}
		if in.tm != nil {
			in.tm.queueDepth.Observe(float64(in.pendingRPC))
		}
		in.pendingRPC++
	}
	in.box.push(t)
	if in.idleListed {
		in.e.reg.unlistIdle(in)
	}
	switch {
	case !in.running:
		in.e.reg.startLocked(in)
	case in.parked:
		select {
		case in.wake <- struct{}{}:
		default: // already signalled
		}
	}
	return nil
}

// maxLinger is how long an instance goroutine whose queue ran dry waits for
// another task before it exits (less when the idle timeout is shorter). A
// busy instance so keeps one goroutine, and the stack it has grown, instead
// of starting a fresh one for every call: regrowing that stack through
// json.Marshal and reflection on each call took 15% of the standalone
// server's CPU in the RPC benchmark.
const maxLinger = time.Second

// maxLingering caps the instance goroutines lingering at once, engine-wide;
// a goroutine whose queue ran dry while that many linger exits at once. A
// flood of calls to distinct instances so leaves at most this many
// goroutines behind, not one per instance for a second: the runtime never
// frees the descriptors of goroutines that once existed, so a peak of
// 150,000 goroutines would keep their memory for the life of the process.
const maxLingering = 1024

func (in *instance) lingerTime() time.Duration {
	if idle := in.e.cfg.IdleTimeout; idle > 0 && idle < maxLinger {
		return idle
	}
	return maxLinger
}

// run is the instance's goroutine: it processes the mailbox's tasks one
// at a time, and once the mailbox is empty lingers in park for more work
// before it exits.
func (in *instance) run() {
	defer in.e.reg.exited()
	if in.waitFor != nil {
		<-in.waitFor
		in.waitFor = nil
	}
	for {
		in.mu.Lock()
		in.publishLocked() // for Inspect: the outcome of the task just run
		if in.box.empty() {
			in.lastActive = time.Now() // idle from here, lingering included
			if !in.dead && !in.idleListed && len(in.clients) == 0 {
				// Evictable from now on: after IdleTimeout, or earlier
				// to make room (MaxInstances).
				in.e.reg.listIdle(in, in.lastActive)
			}
			for in.box.empty() {
				if in.dead || !in.park() {
					if in.linger != nil { // a new goroutine makes its own
						in.linger.Stop()
						in.linger = nil
					}
					in.running = false
					in.mu.Unlock()
					return
				}
			}
		}
		t := in.box.pop()
		if t.isRPC() {
			in.pendingRPC--
		}
		in.mu.Unlock()
		in.process(t)
		if t.sess != nil {
			t.sess.queued.Add(-1)
		}
	}
}

// park waits until lingerTime has passed since in.lastActive for a task;
// in.mu is held on entry and on return, and released while waiting. It
// reports whether the queue has a task (it may also return true on a stale
// wake-up; the caller rechecks).
//
// The linger timer is not reset on every park: it stays armed while the
// instance works, and when it fires early (the instance was busy since)
// it is re-armed for the rest of the linger.
func (in *instance) park() bool {
	if in.e.reg.lingering.Add(1) > maxLingering {
		in.e.reg.lingering.Add(-1)
		return false
	}
	defer in.e.reg.lingering.Add(-1)
	d := in.lingerTime()
	if in.linger == nil {
		in.linger = time.NewTimer(d)
	}
	in.parked = true
	defer func() { in.parked = false }()
	for {
		in.mu.Unlock()
		select {
		case <-in.wake:
			in.mu.Lock()
			return true
		case <-in.linger.C:
		}
		in.mu.Lock()
		if !in.box.empty() {
			in.linger.Reset(d)
			return true
		}
		idle := time.Since(in.lastActive)
		if idle >= d {
			return false
		}
		in.linger.Reset(d - idle)
	}
}
