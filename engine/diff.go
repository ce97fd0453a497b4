package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/wI2L/jsondiff"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// commitState takes the state's JSON form after a step that succeeded.
// If the state changed, and with it what clients see of it (the actor's
// View, or the state itself), it appends one state:patch per state
// subscriber (with PatchInterval it arms the flush timer instead), and it
// records the new forms: lastJSON is what a failed step restores,
// shownJSON what subscribers are brought to. It fails, recording nothing,
// when the state or its view cannot be encoded or diffed; the caller rolls
// back.
func (in *instance) commitState(out *[]Outgoing) error {
	cur, err := json.Marshal(in.state)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if !bytes.Equal(cur, in.lastJSON) {
		shown := cur
		if in.def.View != nil {
			if shown, err = in.viewJSON(); err != nil {
				return err
			}
		}
		if !bytes.Equal(shown, in.shownJSON) {
			switch {
			case len(in.stateSubs) == 0:
			case in.interval > 0:
				if !in.pending {
					in.armFlush() // subscribers hold in.shownJSON until the flush
				}
			default:
				patch, doc, err := diff(in.lastDoc, in.shownJSON, shown)
				if err != nil {
					return err
				}
				in.lastDoc = doc
				if patch != nil {
					frame := protocol.AppendPatch(nil, in.def.Name, in.id, patch)
					fo := in.fanout(false, nil)
					for sid := range in.stateSubs {
						*out = append(*out, Outgoing{SessionID: sid, Frame: frame, Fanout: fo})
					}
				}
			}
			in.shownJSON = shown
		}
		in.lastJSON = cur
	}
	if len(in.stateSubs) == 0 {
		in.lastDoc = nil // nobody to diff for: don't hold a second copy
	}
	return nil
}

// viewJSON encodes the actor's View of the state. A view that panics or
// does not encode fails the step that changed the state.
func (in *instance) viewJSON() (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, &actordef.PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	if b, err = json.Marshal(in.def.View(in.state)); err != nil {
		return nil, fmt.Errorf("encode view: %w", err)
	}
	return b, nil
}

// rollback restores the state from its last JSON form, undoing a failed
// step.
func (in *instance) rollback() {
	s, err := in.def.Restore(in.lastJSON)
	if err != nil {
		in.log.Error("restore state after failed call; resetting to initial state", slog.Any("err", err))
		s = in.def.NewState()
	}
	in.state = s
}

// diff returns the RFC 6902 patch from prev to cur as a JSON array (nil
// when they are equal as JSON) and cur decoded. prevDoc is prev decoded, or
// nil; keeping it between steps saves decoding the old state every time,
// which is most of the cost of a diff.
func diff(prevDoc any, prev, cur []byte) (patch []byte, curDoc any, err error) {
	if prevDoc == nil {
		if err := unmarshalNumbers(prev, &prevDoc); err != nil {
			return nil, nil, fmt.Errorf("diff state: %w", err)
		}
	}
	if err := unmarshalNumbers(cur, &curDoc); err != nil {
		return nil, nil, fmt.Errorf("diff state: %w", err)
	}
	ops, err := jsondiff.CompareWithoutMarshal(prevDoc, curDoc)
	if err != nil {
		return nil, nil, fmt.Errorf("diff state: %w", err)
	}
	if len(ops) == 0 {
		return nil, curDoc, nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, nil, fmt.Errorf("encode patch: %w", err)
	}
	return b, curDoc, nil
}

// unmarshalNumbers decodes JSON numbers as json.Number. jsondiff's default
// (float64) loses integers beyond 2^53 (int64, uint64 state fields) and sees
// no change between -0 and 0, so patched clients would drift from the state.
func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
