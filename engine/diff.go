package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/wI2L/jsondiff"

	"github.com/zocket-go/zocket/protocol"
)

// commitState takes the state's JSON form after a step that succeeded.
// If the state changed it appends one state:patch per state subscriber
// (with PatchInterval it arms the flush timer instead), and it records the
// new form as the one a failed step restores. It fails, recording
// nothing, when the state cannot be encoded or diffed; the caller rolls
// back.
func (in *instance) commitState(out *[]Outgoing) error {
	cur, err := json.Marshal(in.state)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if !bytes.Equal(cur, in.lastJSON) {
		switch {
		case len(in.stateSubs) == 0:
		case in.interval > 0:
			if !in.pending {
				in.armFlush() // subscribers hold in.lastJSON until the flush
			}
		default:
			patch, doc, err := diff(in.lastDoc, in.lastJSON, cur)
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
		in.lastJSON = cur
	}
	if len(in.stateSubs) == 0 {
		in.lastDoc = nil // nobody to diff for: don't hold a second copy
	}
	return nil
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
