package client

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/wI2L/jsondiff"
)

func TestApplyPatch(t *testing.T) {
	tests := []struct {
		doc, patch, want string
	}{
		{`{"a":1}`, `[]`, `{"a":1}`},
		{`{"a":1}`, `[{"op":"replace","path":"/a","value":2}]`, `{"a":2}`},
		{`{"a":1}`, `[{"op":"add","path":"/b","value":{"c":[1]}}]`, `{"a":1,"b":{"c":[1]}}`},
		{`{"a":1,"b":2}`, `[{"op":"remove","path":"/a"}]`, `{"b":2}`},
		{`{"l":[1,2,3]}`, `[{"op":"add","path":"/l/1","value":9},{"op":"remove","path":"/l/3"}]`, `{"l":[1,9,2]}`},
		{`{"l":[1]}`, `[{"op":"add","path":"/l/-","value":2}]`, `{"l":[1,2]}`},
		{`{"a/b":{"~":1}}`, `[{"op":"replace","path":"/a~1b/~0","value":2}]`, `{"a/b":{"~":2}}`},
		{`{"s":"<&>"}`, `[{"op":"add","path":"/t","value":"<"}]`, `{"s":"<&>","t":"<"}`},
		// Scalar states and root operations.
		{`5`, `[{"op":"replace","path":"","value":6}]`, `6`},
		{`null`, `[{"op":"replace","path":"","value":{"a":1}},{"op":"add","path":"/b","value":2}]`, `{"a":1,"b":2}`},
		{`{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"replace","path":"","value":"x"}]`, `"x"`},
		{`[1]`, `[{"op":"test","path":"","value":[1]},{"op":"add","path":"/0","value":0}]`, `[0,1]`},
		{`{"a":1}`, `[{"op":"move","from":"/a","path":"/b"},{"op":"copy","from":"/b","path":"/c"}]`, `{"b":1,"c":1}`},
	}
	for _, tt := range tests {
		got, err := applyPatch([]byte(tt.doc), []byte(tt.patch))
		if err != nil {
			t.Errorf("applyPatch(%s, %s): %v", tt.doc, tt.patch, err)
			continue
		}
		if !jsonEqual(got, []byte(tt.want)) {
			t.Errorf("applyPatch(%s, %s) = %s, want %s", tt.doc, tt.patch, got, tt.want)
		}
	}
}

func TestApplyPatchFails(t *testing.T) {
	tests := []struct {
		doc, patch string
	}{
		{`{"a":1}`, `[{"op":"remove","path":"/b"}]`},
		{`{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`},
		{`{"a":1}`, `[{"op":"add","path":"/x/y","value":1}]`},
		{`{"l":[1]}`, `[{"op":"add","path":"/l/5","value":1}]`},
		{`{"l":[1]}`, `[{"op":"remove","path":"/l/-1"}]`},
		{`5`, `[{"op":"add","path":"/a","value":1}]`},
		{`5`, `[{"op":"remove","path":""}]`},
		{`5`, `[{"op":"test","path":"","value":6}]`},
		{`5`, `[{"op":"replace","path":""}]`},
		{`{"a":1}`, `[{"op":"frobnicate","path":"/a"}]`},
		{`{"a":1}`, `[{"op":"replace","path":"a","value":1}]`},
		{`{"a":1}`, `{"op":"replace"}`},
		{`{"a":1}`, `not json`},
	}
	for _, tt := range tests {
		doc := []byte(tt.doc)
		if got, err := applyPatch(doc, []byte(tt.patch)); err == nil {
			t.Errorf("applyPatch(%s, %s) = %s, want an error", tt.doc, tt.patch, got)
		}
		if string(doc) != tt.doc {
			t.Errorf("applyPatch modified its input: %s", doc)
		}
	}
}

// TestApplyPatchRandom checks applyPatch against the diff library the
// server uses: for random documents and random mutations of them, applying
// the diff to the old document gives the new one.
func TestApplyPatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		prev := randomValue(r, 3)
		cur := mutate(r, deepCopy(prev), 3)
		a, b := mustMarshal(t, prev), mustMarshal(t, cur)
		p, err := jsondiff.CompareJSON(a, b)
		if err != nil {
			t.Fatal(err)
		}
		patch := mustMarshal(t, p)
		got, err := applyPatch(a, patch)
		if err != nil {
			t.Fatalf("case %d: applyPatch(%s, %s): %v", i, a, patch, err)
		}
		if !jsonEqual(got, b) {
			t.Fatalf("case %d: applyPatch(%s, %s) = %s, want %s", i, a, patch, got, b)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomValue(r *rand.Rand, depth int) any {
	k := r.IntN(8)
	if depth == 0 {
		k = r.IntN(5)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return float64(r.IntN(100))
	case 3:
		return fmt.Sprintf("s%d/~%d", r.IntN(10), r.IntN(3))
	case 4:
		return r.Float64()
	case 5, 6:
		m := map[string]any{}
		for range r.IntN(5) {
			m[fmt.Sprintf("k%d", r.IntN(8))] = randomValue(r, depth-1)
		}
		return m
	default:
		l := make([]any, r.IntN(6))
		for i := range l {
			l[i] = randomValue(r, depth-1)
		}
		return l
	}
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	}
	return v
}

// mutate changes v in a few random places and returns the result.
func mutate(r *rand.Rand, v any, depth int) any {
	if r.IntN(6) == 0 || depth == 0 {
		return randomValue(r, depth)
	}
	switch v := v.(type) {
	case map[string]any:
		for range 1 + r.IntN(3) {
			k := fmt.Sprintf("k%d", r.IntN(8))
			switch r.IntN(3) {
			case 0:
				delete(v, k)
			default:
				v[k] = mutate(r, v[k], depth-1)
			}
		}
		return v
	case []any:
		for range 1 + r.IntN(3) {
			switch op := r.IntN(4); {
			case op == 0 && len(v) > 0:
				i := r.IntN(len(v))
				v = append(v[:i], v[i+1:]...)
			case op == 1:
				i := r.IntN(len(v) + 1)
				v = append(v[:i], append([]any{randomValue(r, depth-1)}, v[i:]...)...)
			case len(v) > 0:
				i := r.IntN(len(v))
				v[i] = mutate(r, v[i], depth-1)
			}
		}
		return v
	}
	return randomValue(r, depth)
}

// FuzzApplyPatch feeds arbitrary documents and patches (both come from the
// server, so untrusted): applyPatch must not panic, must not modify doc, and
// must return valid JSON when it succeeds.
func FuzzApplyPatch(f *testing.F) {
	f.Add([]byte(`{"a":[1,2]}`), []byte(`[{"op":"add","path":"/a/1","value":{}}]`))
	f.Add([]byte(`5`), []byte(`[{"op":"replace","path":"","value":null}]`))
	f.Add([]byte(`null`), []byte(`[{"op":"remove","path":"/x"}]`))
	f.Add([]byte(`[[]]`), []byte(`[{"op":"move","from":"/0","path":"/0/0"}]`))
	f.Add([]byte(`{}`), []byte(`[{"op":"copy","from":"","path":"/a"}]`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		if !json.Valid(doc) {
			return // the client only holds documents the server sent as JSON
		}
		orig := string(doc)
		got, err := applyPatch(doc, patch)
		if string(doc) != orig {
			t.Fatalf("doc modified: %s -> %s", orig, doc)
		}
		if err == nil && !json.Valid(got) {
			t.Fatalf("applyPatch(%s, %s) = invalid JSON %s", orig, patch, got)
		}
	})
}
