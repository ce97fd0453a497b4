package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/zocket-go/zocket/protocol"
)

func TestScanFrame(t *testing.T) {
	for _, tc := range []struct {
		in                      string
		typ, id, actor, actorID string
		hasError                bool
		errMsg, patches, state  string
	}{
		{in: `{"type":"rpc:result","id":"12","result":{"a":[1,2,{"b":"}"}]}}`, typ: "rpc:result", id: "12"},
		{in: ` { "result" : 3 , "id" : "7" , "type" : "rpc:result" } `, typ: "rpc:result", id: "7"},
		{in: `{"type":"rpc:result","id":"x\"y","error":"no such method \"nope\""}`, typ: "rpc:result", id: `x"y`,
			hasError: true, errMsg: `"no such method \"nope\""`},
		{in: `{"type":"rpc:result","id":"1","error":""}`, typ: "rpc:result", id: "1", hasError: true, errMsg: `""`},
		{in: `{"type":"state:patch","actor":"counter","actorId":"a b","patches":[{"op":"replace","path":"/count","value":3}]}`,
			typ: "state:patch", actor: "counter", actorID: "a b", patches: `[{"op":"replace","path":"/count","value":3}]`},
		{in: `{"type":"state:snapshot","actor":"c","actorId":"i","state":{"count":0,"viewers":1}}`,
			typ: "state:snapshot", actor: "c", actorID: "i", state: `{"count":0,"viewers":1}`},
		{in: `{"type":"welcome","clientId":"\u00e9"}`, typ: "welcome"},
		{in: `{"typ\u0065":"welcome","id":null}`, typ: "welcome"},
	} {
		var f frame
		if err := scanFrame([]byte(tc.in), &f); err != nil {
			t.Errorf("scanFrame(%s): %v", tc.in, err)
			continue
		}
		if string(f.typ) != tc.typ || string(f.id) != tc.id || string(f.actor) != tc.actor ||
			string(f.actorID) != tc.actorID || f.hasError != tc.hasError || string(f.errMsg) != tc.errMsg ||
			string(f.patches) != tc.patches || string(f.state) != tc.state {
			t.Errorf("scanFrame(%s) = type %q id %q actor %q/%q error %v %q patches %q state %q", tc.in,
				f.typ, f.id, f.actor, f.actorID, f.hasError, f.errMsg, f.patches, f.state)
		}
	}
}

func TestScanFrameRejectsMalformed(t *testing.T) {
	for _, in := range []string{``, `[]`, `{`, `{"type"}`, `{"type":}`, `{"type":"a",}`, `{"type":"a"`,
		`{"type":"a" "id":"b"}`, `{"type":[1,2}`, `{"type":"unterminated}`, `{"a":{"b":1,}}`, `{"type":1}`} {
		var f frame
		if err := scanFrame([]byte(in), &f); err == nil {
			t.Errorf("scanFrame(%q) accepted", in)
		}
	}
}

// The frames the repository's encoder writes scan to what was encoded.
func TestScanFrameReadsProtocolEncoding(t *testing.T) {
	var f frame
	b := protocol.AppendRPCError(nil, "id-1", "bad input: \"x\"\n")
	if err := scanFrame(b, &f); err != nil || string(f.typ) != protocol.TypeRPCResult || string(f.id) != "id-1" || !f.hasError {
		t.Fatalf("scanFrame(%s) = %+v, %v", b, f, err)
	}
	b = protocol.AppendPatch(nil, "counter", "x", json.RawMessage(`[{"op":"replace","path":"/count","value":42}]`))
	if err := scanFrame(b, &f); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := patchValue(f.patches, "/count"); v != 42 || !ok || err != nil {
		t.Fatalf("patchValue = %d %v %v", v, ok, err)
	}
}

func TestPatchValue(t *testing.T) {
	for _, tc := range []struct {
		patches string
		v       int64
		ok      bool
		bad     bool
	}{
		{`[{"op":"replace","path":"/count","value":5}]`, 5, true, false},
		{`[{"path":"/count","value":-2,"op":"add"}]`, -2, true, false},
		{`[{"op":"replace","path":"/viewers","value":5}]`, 0, false, false},
		{`[{"op":"replace","path":"/viewers","value":1},{"op":"replace","path":"/count","value":7}]`, 7, true, false},
		{`[{"op":"remove","path":"/count"}]`, 0, false, false},
		{`[{"op":"replace","path":"/count","value":3.0}]`, 3, true, false},
		{`[{"op":"replace","path":"/count","value":1e3}]`, 1000, true, false},
		{`[{"op":"replace","path":"/count","value":"5"}]`, 0, false, true},
		{`[{"op":"replace","path":"/count","value":2.5}]`, 0, false, true},
		{`[]`, 0, false, false},
		{`{}`, 0, false, true},
	} {
		v, ok, err := patchValue([]byte(tc.patches), "/count")
		if v != tc.v || ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("patchValue(%s) = %d, %v, %v; want %d, %v, error %v", tc.patches, v, ok, err, tc.v, tc.ok, tc.bad)
		}
	}
}

func TestPointerValue(t *testing.T) {
	doc := []byte(`{"count":12,"nested":{"a/b":[0,{"n":3}]},"s":"x"}`)
	for _, tc := range []struct {
		path string
		want int64
		bad  bool
	}{
		{"/count", 12, false},
		{"/nested/a~1b/1/n", 3, false},
		{"/missing", 0, true},
		{"/s", 0, true},
		{"/nested/a~1b/9", 0, true},
		{"count", 0, true},
	} {
		got, err := pointerValue(doc, tc.path)
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("pointerValue(%q) = %d, %v", tc.path, got, err)
		}
	}
}

// FuzzScanFrame: the scanner never panics, and on valid JSON objects it
// finds the same members as encoding/json.
func FuzzScanFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"rpc:result","id":"1","result":null}`,
		`{"type":"state:patch","actor":"a","actorId":"b","patches":[{"op":"add","path":"/x","value":[1,{"y":"\\"}"}]}]}`,
		`{"type":"welcome","clientId":"c"}`, `{}`, `{"a":-1.5e+3,"b":true,"c":false,"d":null}`,
		`{"type":"x\u0022","id":"\ud83d\ude00"}`, `[1]`, `"s"`, `{"a":{"b":{"c":[[[]]]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr frame
		err := scanFrame(data, &fr)
		_, _, _ = patchValue(data, "/x")
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil || m == nil {
			return // invalid JSON or not an object (null decodes into a nil map): any answer but a panic is fine
		}
		if err != nil {
			if hasDeepNesting(data) || hasNonStringName(data) {
				return
			}
			t.Fatalf("scanFrame rejected valid object %q: %v", data, err)
		}
		check := func(key string, got []byte, isString bool) {
			raw, ok := m[key]
			if !ok {
				return
			}
			if isString {
				var s string
				if json.Unmarshal(raw, &s) != nil || !utf8.Valid(raw) {
					return // not a string, or not UTF-8 (encoding/json replaces bad bytes)
				}
				if string(got) != s {
					t.Fatalf("%s = %q, encoding/json says %q (input %q)", key, got, s, data)
				}
				return
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(raw)) {
				t.Fatalf("%s = %s, encoding/json says %s (input %q)", key, got, raw, data)
			}
		}
		// encoding/json keeps the last duplicate, as scanFrame does, but
		// matches keys case-insensitively into structs, not into maps.
		check("type", fr.typ, true)
		check("actor", fr.actor, true)
		check("actorId", fr.actorID, true)
		check("patches", fr.patches, false)
		check("state", fr.state, false)
		check("error", fr.errMsg, false)
	})
}

// hasNonStringName reports whether a member "type", "actor" or "actorId"
// of the top-level object is not a string (scanFrame rejects those).
func hasNonStringName(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil {
		return false
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return false
		}
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return false
		}
		switch k {
		case "type", "actor", "actorId":
			if raw[0] != '"' {
				return true
			}
		}
	}
	return false
}

func hasDeepNesting(b []byte) bool {
	d, maxD := 0, 0
	for _, c := range b {
		switch c {
		case '{', '[':
			d++
			maxD = max(maxD, d)
		case '}', ']':
			d--
		}
	}
	return maxD >= maxScanDepth
}

func BenchmarkScanFrame(b *testing.B) {
	data := []byte(`{"type":"rpc:result","id":"12345","result":42}`)
	patch := []byte(`{"type":"state:patch","actor":"counter","actorId":"fanout-1","patches":[{"op":"replace","path":"/count","value":42}]}`)
	b.Run("rpc:result", func(b *testing.B) {
		b.ReportAllocs()
		var f frame
		for b.Loop() {
			if err := scanFrame(data, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("state:patch", func(b *testing.B) {
		b.ReportAllocs()
		var f frame
		for b.Loop() {
			if err := scanFrame(patch, &f); err != nil {
				b.Fatal(err)
			}
			if _, ok, err := patchValue(f.patches, "/count"); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protocol.Decode/rpc:result", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := protocol.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
