package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// patchOptions applies RFC 6902 strictly: no negative indices, no implicit
// parents, a missing path fails. Any failure makes the client resync.
var patchOptions = &jsonpatch.ApplyOptions{
	SupportNegativeIndices: false,
	EscapeHTML:             false,
}

var errRootOp = errors.New("unsupported operation on the document root")

// applyPatch applies the RFC 6902 operations in patch to doc and returns the
// new document; doc is not modified. Operations on the root path "" are
// handled here because the state may be a scalar (a counter), which
// json-patch does not accept as a document.
func applyPatch(doc, patch []byte) ([]byte, error) {
	ops, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("decode patch: %w", err)
	}
	start := 0 // first op not yet applied
	flush := func(end int) error {
		if end > start {
			nd, err := ops[start:end].ApplyWithOptions(doc, patchOptions)
			if err != nil {
				return err
			}
			doc = nd
		}
		start = end + 1
		return nil
	}
	for i, op := range ops {
		path, err := op.Path()
		if err != nil || path != "" {
			continue // json-patch reports a bad path when applying
		}
		if err := flush(i); err != nil {
			return nil, err
		}
		kind := op.Kind()
		if kind != "add" && kind != "replace" && kind != "test" {
			return nil, fmt.Errorf("%s: %w", kind, errRootOp)
		}
		v, ok := op["value"]
		if !ok {
			return nil, fmt.Errorf("%s at root: %w", kind, jsonpatch.ErrMissing)
		}
		value := []byte("null") // json-patch decodes a null value as nil
		if v != nil {
			value = *v
		}
		switch kind {
		case "add", "replace":
			doc = bytes.Clone(value)
		case "test":
			if !jsonEqual(doc, value) {
				return nil, fmt.Errorf("test at root: %w", jsonpatch.ErrTestFailed)
			}
		}
	}
	if err := flush(len(ops)); err != nil {
		return nil, err
	}
	return doc, nil
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ea, _ := json.Marshal(va)
	eb, _ := json.Marshal(vb)
	return bytes.Equal(ea, eb)
}
