package zocket

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// PatchInterval makes the actor type's instances send state changes at
// most once per interval d, as one state:patch per state subscriber,
// instead of one state:patch after every call or hook that changed the
// state (the way game servers send state at a fixed patch rate). Zero or
// unset means one patch per change; a negative d is a definition error
// reported by [NewApp].
//
// With d > 0:
//
//   - The first state change after a quiet period (no change pending)
//     arms a timer for d. Changes until it fires send nothing. When it
//     fires, the instance, on its own queue in order with calls and hooks,
//     diffs the state its subscribers hold (the one last sent) against the
//     current state and sends one state:patch to every state subscriber
//     (nothing if the changes cancelled out). The next change arms the
//     timer again. A change while nobody is subscribed to the state arms
//     nothing, and a pending change is dropped when the last state
//     subscriber leaves: the next state:sub's snapshot has it.
//   - A client that applies the snapshot and then every patch in order
//     holds exactly the server's state as of the last patch. A state:sub
//     arriving while a change is pending is answered with a snapshot of
//     the state the subscribers already hold (the one last sent, the base
//     of the pending patch), not of the current state, and flushes
//     nothing: the new subscriber joins the others, and the pending patch,
//     sent to all of them at the timer, brings it up to date. This
//     includes the change made by the state:sub itself (OnConnect, for a
//     session new to the instance, runs before the snapshot), so a client
//     sees its own join in the next patch. So subscriptions coalesce too:
//     n subscribers joining within an interval cost n snapshots and one
//     patch per subscriber, not a patch to every earlier subscriber each.
//     Without a pending change the snapshot is of the current state.
//   - So a subscriber, new or not, may see a state up to one interval
//     old: its snapshot, like every subscriber's copy, lacks the changes
//     made since the pending one was armed (at most d earlier, plus the
//     wait in the instance's queue) until the next patch. A state read
//     by a call is always current.
//   - Events are not delayed: they go out with the call or hook that
//     emitted them, as do rpc:results. So a caller reads its rpc:result
//     before the patch with its change, and a state:patch may arrive after
//     the events of later calls.
//   - A failed call or hook (error, panic) changes nothing and so arms
//     nothing; its partial changes never reach subscribers.
//   - Deactivation (eviction, shutdown) flushes the pending change before
//     OnDeactivate's own frames, in the same delivery; what OnDeactivate
//     changes is sent at once. The timer is stopped then.
//   - A flush made by the timer reaches the [Host] as a delivery of its
//     own with req == nil, like other frames the engine sends on its own.
//     With EngineConfig.Fanout its patch is a fanout frame like any other
//     (it takes the instance's next Fanout.Seq). The Position of a
//     state:sub answered while a change is pending is the instance's
//     current sequence number, so the pending patch, numbered next, is
//     the first frame after it: the snapshot and then exactly the patches
//     after the Position, as without PatchInterval.
func PatchInterval(d time.Duration) ActorOption {
	return func(def *actorDef) error {
		if d < 0 {
			return fmt.Errorf("%w: patch interval %v", ErrInvalidOption, d)
		}
		def.patchInterval = d
		return nil
	}
}

// armFlush records that the state changed while subscribers hold
// in.lastJSON, and arms the timer that flushes the change. The caller
// updates in.lastJSON afterwards; in.lastDoc stays the decoded form of
// what subscribers hold.
func (in *instance) armFlush() {
	in.pending = true
	in.sentJSON = in.lastJSON
	in.flushGen++
	gen := in.flushGen
	in.flushTimer = time.AfterFunc(in.interval, func() { in.queueFlush(gen) })
}

// heldJSON is the state the state subscribers hold: the base of the
// pending change while one is pending, the current state otherwise. A
// state:sub's snapshot is of it, so that the pending patch applies to the
// snapshot as to every other subscriber's copy.
func (in *instance) heldJSON() []byte {
	if in.pending {
		return in.sentJSON
	}
	return in.lastJSON
}

// queueFlush runs on the timer's goroutine: it only queues the flush, so
// that the state is read by the instance goroutine alone, in order with
// calls and hooks. A dead instance has its taskDeactivate queued, which
// flushes; nothing may be queued after it.
func (in *instance) queueFlush(gen uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.dead {
		_ = in.pushLocked(task{kind: taskFlush, gen: gen})
	}
}

// stopFlush forgets the pending change and stops its timer; a taskFlush
// already queued for it finds it gone.
func (in *instance) stopFlush() {
	in.pending = false
	in.sentJSON = nil
	if in.flushTimer != nil {
		in.flushTimer.Stop()
		in.flushTimer = nil
	}
}

// dropIfUnwatched drops a pending change once the instance has no state
// subscriber left: nobody holds the state it was a change of.
func (in *instance) dropIfUnwatched() {
	if in.pending && len(in.stateSubs) == 0 {
		in.stopFlush()
		in.lastDoc = nil // it was the decoded sentJSON
	}
}

// flush appends the pending change, if any, as one state:patch per state
// subscriber: the diff from what they hold (sentJSON) to the current
// state.
func (in *instance) flush(out []Outgoing) []Outgoing {
	if !in.pending {
		return out
	}
	sent := in.sentJSON
	in.stopFlush()
	if len(in.stateSubs) == 0 {
		in.lastDoc = nil
		return out
	}
	if bytes.Equal(sent, in.lastJSON) { // the changes cancelled out
		return out
	}
	patch, doc, err := diff(in.lastDoc, sent, in.lastJSON)
	if err != nil {
		// The changes are committed and cannot be rolled back as a
		// failed call's are; a snapshot brings every subscriber to the
		// current state instead.
		in.log.Error("coalesced state patch failed; sending snapshots", slog.Any("err", err))
		in.lastDoc = nil
		frame := protocol.AppendSnapshot(nil, in.def.name, in.id, in.lastJSON)
		for sid := range in.stateSubs {
			out = append(out, Outgoing{SessionID: sid, Frame: frame})
		}
		return out
	}
	in.lastDoc = doc
	if patch == nil {
		return out
	}
	frame := protocol.AppendPatch(nil, in.def.name, in.id, patch)
	fo := in.fanout(false, nil)
	for sid := range in.stateSubs {
		out = append(out, Outgoing{SessionID: sid, Frame: frame, Fanout: fo})
	}
	return out
}
