package client

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/zocket-go/zocket/protocol"
)

// OnEvent registers fn for the events named name that the actor emits, and
// returns a function that removes it (calling it again does nothing). The
// first handler on an actor subscribes to its events (event:sub); removing
// the last one unsubscribes (event:unsub). Subscriptions are renewed after
// every reconnect; events emitted while disconnected are lost.
//
// Handlers of all actors run one at a time, in arrival order, on the
// client's event dispatch goroutine, with payload being the event's raw JSON
// payload. A slow handler delays the following ones but never the
// connection: up to [Options.EventBuffer] events wait, and events arriving
// beyond that are dropped. Once unsubscribe has returned, fn is not started
// again (a call already running finishes). Handlers must not call Close.
func (a *Actor) OnEvent(name string, fn func(payload json.RawMessage)) (unsubscribe func()) {
	c := a.c
	h := &eventHandler{name: name, fn: fn}
	h.active.Store(true)
	key := actorKey{a.typ, a.id}
	c.mu.Lock()
	subs := c.events[key]
	if subs == nil {
		subs = &eventSubs{}
		c.events[key] = subs
		if c.cur != nil {
			c.cur.sendLocked(protocol.AppendSubscription(nil, protocol.TypeEventSub, key.typ, key.id))
		}
	}
	subs.handlers = append(subs.handlers, h)
	c.mu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			h.active.Store(false)
			subs.handlers = slices.DeleteFunc(subs.handlers, func(x *eventHandler) bool { return x == h })
			if len(subs.handlers) == 0 && c.events[key] == subs {
				delete(c.events, key)
				if c.cur != nil {
					c.cur.sendLocked(protocol.AppendSubscription(nil, protocol.TypeEventUnsub, key.typ, key.id))
				}
			}
		})
	}
}

type eventSubs struct {
	handlers []*eventHandler
}

type eventHandler struct {
	name   string
	fn     func(json.RawMessage)
	active atomic.Bool
}

// handleEvent queues the handlers of an event frame for dispatch.
func (c *Client) handleEvent(f *protocol.Frame) {
	c.mu.Lock()
	var hs []*eventHandler
	if subs := c.events[actorKey{f.Actor, f.ActorID}]; subs != nil {
		for _, h := range subs.handlers {
			if h.name == f.Event {
				hs = append(hs, h)
			}
		}
	}
	c.mu.Unlock()
	if len(hs) == 0 {
		return
	}
	payload := f.Payload
	if payload == nil {
		payload = json.RawMessage("null")
	}
	c.disp.push(func() {
		for _, h := range hs {
			if h.active.Load() {
				h.fn(payload)
			}
		}
	}, true)
}

// dispatcher runs event handlers and status callbacks one at a time, in
// order, on its own goroutine. Events beyond limit are dropped; status
// callbacks are never dropped.
type dispatcher struct {
	limit int
	log   *slog.Logger
	sig   chan struct{} // capacity 1
	done  chan struct{} // closed when run returns

	mu       sync.Mutex
	queue    []dispatchItem
	events   int  // events in queue
	dropping bool // an overflow is in progress (log once)
	stopping bool
}

type dispatchItem struct {
	fn    func()
	event bool
}

func newDispatcher(limit int, log *slog.Logger) *dispatcher {
	return &dispatcher{limit: limit, log: log, sig: make(chan struct{}, 1), done: make(chan struct{})}
}

func (d *dispatcher) push(fn func(), event bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return
	}
	if event {
		if d.events >= d.limit {
			if !d.dropping {
				d.dropping = true
				d.log.LogAttrs(context.Background(), slog.LevelWarn, "event buffer full: dropping events",
					slog.Int("limit", d.limit))
			}
			return
		}
		d.dropping = false
		d.events++
	}
	d.queue = append(d.queue, dispatchItem{fn, event})
	select {
	case d.sig <- struct{}{}:
	default:
	}
}

// run executes queued items until stop. After stop it still runs the
// queued status callbacks but skips events.
func (d *dispatcher) run() {
	defer close(d.done)
	for {
		<-d.sig
		for {
			d.mu.Lock()
			if len(d.queue) == 0 {
				stopping := d.stopping
				d.mu.Unlock()
				if stopping {
					return
				}
				break
			}
			it := d.queue[0]
			d.queue[0] = dispatchItem{}
			d.queue = d.queue[1:]
			if it.event {
				d.events--
			}
			skip := it.event && d.stopping
			d.mu.Unlock()
			if !skip {
				it.fn()
			}
		}
	}
}

// stop makes run return once the queue is drained, and waits for it.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	select {
	case d.sig <- struct{}{}:
	default:
	}
	<-d.done
}
