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
//     arriving while a change is pending first flushes it (the existing
//     subscribers get the pending patch at once, in the state:sub's
//     delivery, and the timer is stopped), then answers with the snapshot
//     of the current state. So subscriptions are not coalesced: when each
//     state:sub changes the state (an OnConnect that counts viewers), each
//     still sends a patch to the subscribers before it.
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
//     (it takes the instance's next Fanout.Seq), and the Position of a
//     state:sub comes after the flush it caused.
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
