package client

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/zocket-go/zocket/protocol"
)

// StateWatch keeps a local copy of one actor instance's state: the
// state:snapshot the server sends on subscription, with every state:patch
// applied in order. A patch that does not apply makes the client subscribe
// again and replace the copy with the fresh snapshot, so the copy never
// silently diverges. After a reconnect the client subscribes again and the
// fresh snapshot replaces the copy; until then the copy is the last known
// state. Create it with [Actor.WatchState] or [Watch]; all methods are safe
// for concurrent use.
type StateWatch struct {
	c       *Client
	key     actorKey
	sub     *stateSub
	changed chan struct{}
	closed  bool // guarded by c.mu
}

// stateSub is the client's subscription to one instance's state, shared by
// every StateWatch of that instance. Guarded by Client.mu.
type stateSub struct {
	watches map[*StateWatch]struct{}
	doc     []byte        // local copy; never modified in place
	synced  bool          // patches apply: a snapshot arrived since the last state:sub
	ready   chan struct{} // closed at the first up-to-date snapshot, or at a refusal
	isReady bool
	err     *SubError // the server refused the subscription
}

// WatchState subscribes to the actor's state and returns once the local
// copy holds a snapshot. Watches of the same actor share one subscription;
// the client sends state:unsub when the last one is closed. It fails at once
// with a [*SubError] when the server refuses the subscription (not
// authorized, an unknown actor type, over a limit), with ctx's error if no
// snapshot arrives in time, with [Options.CallTimeout] applying when ctx
// has no deadline, and with [ErrClosed] when the client stopped.
func (a *Actor) WatchState(ctx context.Context) (*StateWatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := a.c
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	key := actorKey{a.typ, a.id}
	c.mu.Lock()
	if c.ending {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	s := c.states[key]
	if s == nil {
		s = &stateSub{watches: make(map[*StateWatch]struct{}), ready: make(chan struct{})}
		c.states[key] = s
		c.subscribeStateLocked(key)
	}
	w := &StateWatch{c: c, key: key, sub: s, changed: make(chan struct{}, 1)}
	s.watches[w] = struct{}{}
	ready := s.ready
	c.mu.Unlock()
	select {
	case <-ready:
		c.mu.Lock()
		err := s.err
		c.mu.Unlock()
		if err != nil {
			w.Close()
			return nil, err
		}
		return w, nil
	case <-ctx.Done():
		w.Close()
		return nil, ctx.Err()
	case <-c.quit:
		w.Close()
		return nil, ErrClosed
	}
}

// State returns a copy of the local state as JSON.
func (w *StateWatch) State() json.RawMessage {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return bytes.Clone(w.sub.doc)
}

// Decode decodes the local state into v, as json.Unmarshal does.
func (w *StateWatch) Decode(v any) error {
	w.c.mu.Lock()
	doc := w.sub.doc // replaced, never modified: safe to read unlocked
	w.c.mu.Unlock()
	return json.Unmarshal(doc, v)
}

// Changed returns a channel that receives a value after the local state
// changed (a snapshot or a patch was applied). Changes that happen while a
// value is pending are merged into it, so a receiver sees the latest state
// with State but may miss intermediate ones. The channel is closed when the
// watch is closed or the client stops.
func (w *StateWatch) Changed() <-chan struct{} { return w.changed }

// Close stops the watch and closes its Changed channel; the last watch of
// an actor unsubscribes (state:unsub). State and Decode keep returning the
// last copy. Calling Close again does nothing.
func (w *StateWatch) Close() {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.closed {
		return
	}
	w.closeLocked()
	s := w.sub
	delete(s.watches, w)
	if len(s.watches) == 0 && c.states[w.key] == s {
		delete(c.states, w.key)
		if c.cur != nil {
			c.cur.sendLocked(protocol.AppendSubscription(nil, protocol.TypeStateUnsub, w.key.typ, w.key.id))
		}
	}
}

func (w *StateWatch) closeLocked() {
	if !w.closed {
		w.closed = true
		close(w.changed)
	}
}

func (s *stateSub) notifyLocked() {
	for w := range s.watches {
		if !w.closed {
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

// handleSnapshot replaces the local copy, on the reader goroutine.
func (c *Client) handleSnapshot(f *protocol.Frame) {
	key := actorKey{f.Actor, f.ActorID}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch n := c.awaiting[key]; {
	case n > 1:
		c.awaiting[key] = n - 1
	case n == 1:
		delete(c.awaiting, key)
	}
	s := c.states[key]
	if s == nil {
		return // unsubscribed meanwhile
	}
	s.doc, s.synced = f.State, true
	if c.awaiting[key] == 0 && !s.isReady {
		s.isReady = true
		close(s.ready)
	}
	s.notifyLocked()
}

// handleSubError ends a state subscription the server refused: the
// watches waiting for its first snapshot fail with the error, and watches
// of a subscription refused on resubscribing (after a reconnect) are
// closed. Refused event subscriptions go to Options.OnSubError.
func (c *Client) handleSubError(f *protocol.Frame) {
	err := &SubError{Actor: f.Actor, ActorID: f.ActorID, Refused: f.Refused, Message: f.Error}
	c.cfg.log.LogAttrs(context.Background(), slog.LevelWarn, "subscription refused",
		slog.String("actor", f.Actor), slog.String("actor_id", f.ActorID), slog.String("refused", f.Refused),
		slog.String("reason", f.Error))
	if f.Refused != protocol.TypeStateSub {
		if c.cfg.onSubError != nil {
			c.cfg.onSubError(err)
		}
		return
	}
	key := actorKey{f.Actor, f.ActorID}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.awaiting, key)
	s := c.states[key]
	if s == nil {
		return
	}
	delete(c.states, key) // a later WatchState asks again
	s.err = err
	if c.cur != nil {
		// What the server keeps for the refused subscription (a gateway
		// holds the instance's subject for it) goes with an unsub.
		c.cur.sendLocked(protocol.AppendSubscription(nil, protocol.TypeStateUnsub, key.typ, key.id))
	}
	if !s.isReady {
		s.isReady = true
		close(s.ready)
		return
	}
	for w := range s.watches {
		w.closeLocked()
	}
}

// handlePatch applies a patch to the local copy, on the reader goroutine.
// Patches that arrive before the snapshot answering the last state:sub are
// ignored: that snapshot replaces the copy anyway.
func (c *Client) handlePatch(f *protocol.Frame) {
	key := actorKey{f.Actor, f.ActorID}
	c.mu.Lock()
	s := c.states[key]
	if s == nil || !s.synced {
		c.mu.Unlock()
		return
	}
	doc := s.doc
	c.mu.Unlock()

	// Only this goroutine changes doc and synced, so apply unlocked.
	next, err := applyPatch(doc, f.Patches)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states[key] != s {
		return // unsubscribed meanwhile
	}
	if err != nil {
		c.cfg.log.LogAttrs(context.Background(), slog.LevelWarn, "state patch does not apply: resubscribing",
			slog.String("actor", key.typ), slog.String("actor_id", key.id), slog.Any("err", err))
		s.synced = false
		c.subscribeStateLocked(key)
		return
	}
	s.doc = next
	s.notifyLocked()
}

// TypedWatch is a [StateWatch] whose state decodes into a T.
type TypedWatch[T any] struct {
	*StateWatch
}

// Watch is [Actor.WatchState] with the state decoded as T by Value.
func Watch[T any](ctx context.Context, a *Actor) (*TypedWatch[T], error) {
	w, err := a.WatchState(ctx)
	if err != nil {
		return nil, err
	}
	return &TypedWatch[T]{w}, nil
}

// Value decodes the local state into a fresh T.
func (w *TypedWatch[T]) Value() (T, error) {
	var v T
	err := w.Decode(&v)
	return v, err
}
