package engine

// PatchInterval (zocket.PatchInterval documents what clients see): an
// instance with a pending state change holds back its patches and sends
// them as one when the flush timer fires, through its own queue.

import (
	"bytes"
	"log/slog"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// armFlush records that the state changed while subscribers hold
// in.shownJSON, and arms the timer that flushes the change. The caller
// updates in.shownJSON afterwards; in.lastDoc stays the decoded form of
// what subscribers hold.
func (in *instance) armFlush() {
	in.pending = true
	in.sentJSON = in.shownJSON
	in.flushGen++
	gen := in.flushGen
	in.flushTimer = time.AfterFunc(in.interval, func() { in.queueFlush(gen) })
}

// heldJSON is what the state subscribers hold: the base of the pending
// change while one is pending, the current state (its view) otherwise. A
// state:sub's snapshot is of it, so that the pending patch applies to the
// snapshot as to every other subscriber's copy.
func (in *instance) heldJSON() []byte {
	if in.pending {
		return in.sentJSON
	}
	return in.shownJSON
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
	if bytes.Equal(sent, in.shownJSON) { // the changes cancelled out
		return out
	}
	patch, doc, err := diff(in.lastDoc, sent, in.shownJSON)
	if err != nil {
		// The changes are committed and cannot be rolled back as a
		// failed call's are; a snapshot brings every subscriber to the
		// current state instead.
		in.log.Error("coalesced state patch failed; sending snapshots", slog.Any("err", err))
		in.lastDoc = nil
		frame := protocol.AppendSnapshot(nil, in.def.Name, in.id, in.shownJSON)
		for sid := range in.stateSubs {
			out = append(out, Outgoing{SessionID: sid, Frame: frame})
		}
		return out
	}
	in.lastDoc = doc
	if patch == nil {
		return out
	}
	frame := protocol.AppendPatch(nil, in.def.Name, in.id, patch)
	fo := in.fanout(false, nil)
	for sid := range in.stateSubs {
		out = append(out, Outgoing{SessionID: sid, Frame: frame, Fanout: fo})
	}
	return out
}
