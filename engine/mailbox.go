package engine

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

// fifo is a queue in a slice that gives memory back: a drained queue drops
// a large array, and one that stays busy moves into a smaller array once
// it holds a quarter of its capacity or less and at least as many dead
// slots lie before its items. A queue that once held thousands of tasks so
// does not keep their array for the instance's life. Both cost O(1)
// amortized: a copy of n items follows at least n pops.
type fifo[T any] struct {
	items []T
	head  int // items[head:] are queued
}

// fifoKeep is the capacity an empty fifo keeps for reuse.
const fifoKeep = 64

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) push(v T) {
	if len(q.items) == cap(q.items) && q.head > 0 && q.head >= q.len() {
		q.compact() // at least half of the array is dead
	}
	q.items = append(q.items, v)
}

func (q *fifo[T]) pop() T {
	v := q.items[q.head]
	var zero T
	q.items[q.head] = zero // the task's request may be large: let it go
	q.head++
	switch c := cap(q.items); {
	case q.head == len(q.items):
		if c > fifoKeep {
			q.items = nil
		} else {
			q.items = q.items[:0]
		}
		q.head = 0
	case c > fifoKeep && q.len()*4 <= c && q.head >= q.len():
		q.compact() // most of a large array is dead: move to a smaller one
	}
	return v
}

// compact moves the queued items to the front, into a smaller array when
// they fill a quarter of the current one or less.
func (q *fifo[T]) compact() {
	live := q.items[q.head:]
	if c := cap(q.items); c > fifoKeep && len(live)*4 <= c {
		q.items = append(make([]T, 0, max(fifoKeep, 2*len(live))), live...)
		q.head = 0
		return
	}
	n := copy(q.items, live)
	clear(q.items[n:])
	q.items = q.items[:n]
	q.head = 0
}

// shrinkMin is the size below which maps are never rebuilt: rebuilding
// small maps would cost more than the memory they keep.
const shrinkMin = 64

// shrunk returns m, or, once m holds a quarter of its peak size or less, a
// copy of m sized for its contents, resetting *peak. Go
// maps never give back the memory of deleted entries, so a map that held
// 100,000 sessions or instances would otherwise keep their buckets for
// good. Callers raise *peak as m grows.
func shrunk[K comparable, V any](m map[K]V, peak *int) map[K]V {
	n := len(m)
	if *peak < shrinkMin || n*4 > *peak {
		return m
	}
	*peak = n
	fresh := make(map[K]V, n)
	for k, v := range m {
		fresh[k] = v
	}
	return fresh
}
