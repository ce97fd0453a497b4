package engine

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
