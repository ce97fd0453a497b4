package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zocket-go/zocket/protocol"
)

func TestDecodeClientFrames(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want protocol.Frame
	}{
		{"rpc", `{"type":"rpc","id":"1","actor":"counter","actorId":"a","method":"set","input":{"value":3}}`,
			protocol.Frame{Type: "rpc", ID: "1", Actor: "counter", ActorID: "a", Method: "set", Input: json.RawMessage(`{"value":3}`)}},
		{"rpc without input", `{"type":"rpc","id":"x","actor":"c","actorId":"a","method":"m"}`,
			protocol.Frame{Type: "rpc", ID: "x", Actor: "c", ActorID: "a", Method: "m"}},
		{"state:sub", ` {"type":"state:sub","actor":"c","actorId":"room.1"} `,
			protocol.Frame{Type: "state:sub", Actor: "c", ActorID: "room.1"}},
		{"event:unsub", `{"actorId":"a b","actor":"c","type":"event:unsub"}`,
			protocol.Frame{Type: "event:unsub", Actor: "c", ActorID: "a b"}},
		{"unicode ids", `{"type":"event:sub","actor":"c","actorId":"\u00e9*>"}`,
			protocol.Frame{Type: "event:sub", Actor: "c", ActorID: "é*>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.DecodeClient([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeClient: %v", err)
			}
			if !equalFrames(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func equalFrames(a, b protocol.Frame) bool {
	return a.Type == b.Type && a.ID == b.ID && a.Actor == b.Actor && a.ActorID == b.ActorID &&
		a.Method == b.Method && bytes.Equal(a.Input, b.Input) && a.ClientID == b.ClientID &&
		bytes.Equal(a.Result, b.Result) && a.Error == b.Error && a.HasError == b.HasError &&
		a.Event == b.Event && bytes.Equal(a.Payload, b.Payload) && bytes.Equal(a.State, b.State) &&
		bytes.Equal(a.Patches, b.Patches)
}

func TestDecodeErrors(t *testing.T) {
	long := strings.Repeat("x", protocol.MaxIDLength+1)
	tests := []struct {
		name    string
		in      string
		wantErr error
		wantID  string
		field   string
	}{
		{"empty", ``, protocol.ErrMalformed, "", ""},
		{"not json", `hello`, protocol.ErrMalformed, "", ""},
		{"truncated", `{"type":"rpc","id":"1"`, protocol.ErrMalformed, "1", ""},
		{"truncated before the id", `{"type":"rpc","input":[1,2`, protocol.ErrMalformed, "", ""},
		{"broken after the id", `{"type":"rpc","id":"b1","actor":}`, protocol.ErrMalformed, "b1", ""},
		{"trailing garbage", `{"type":"rpc","id":"g1","actor":"c","actorId":"a","method":"m"}x`, protocol.ErrMalformed, "g1", ""},
		{"array", `[1,2]`, protocol.ErrMalformed, "", ""},
		{"string", `"rpc"`, protocol.ErrMalformed, "", ""},
		{"null", `null`, protocol.ErrMalformed, "", ""},
		{"missing type", `{"id":"7","actor":"c"}`, protocol.ErrMissingField, "7", "type"},
		{"null type", `{"id":"7","type":null}`, protocol.ErrMissingField, "7", "type"},
		{"numeric type", `{"id":"7","type":3}`, protocol.ErrFieldType, "7", "type"},
		{"unknown type", `{"id":"7","type":"nope"}`, protocol.ErrUnknownType, "7", ""},
		{"server frame from client", `{"id":"7","type":"rpc:result","result":1}`, protocol.ErrUnknownType, "7", ""},
		{"rpc missing id", `{"type":"rpc","actor":"c","actorId":"a","method":"m"}`, protocol.ErrMissingField, "", "id"},
		{"rpc numeric id", `{"type":"rpc","id":5,"actor":"c","actorId":"a","method":"m"}`, protocol.ErrFieldType, "", "id"},
		{"rpc missing actor", `{"type":"rpc","id":"1","actorId":"a","method":"m"}`, protocol.ErrMissingField, "1", "actor"},
		{"rpc empty actorId", `{"type":"rpc","id":"1","actor":"c","actorId":"","method":"m"}`, protocol.ErrMissingField, "1", "actorId"},
		{"rpc object actorId", `{"type":"rpc","id":"1","actor":"c","actorId":{},"method":"m"}`, protocol.ErrFieldType, "1", "actorId"},
		{"rpc missing method", `{"type":"rpc","id":"1","actor":"c","actorId":"a"}`, protocol.ErrMissingField, "1", "method"},
		{"rpc long actorId", `{"type":"rpc","id":"1","actor":"c","actorId":"` + long + `","method":"m"}`, protocol.ErrTooLong, "1", "actorId"},
		{"sub missing actorId", `{"type":"state:sub","actor":"c"}`, protocol.ErrMissingField, "", "actorId"},
		{"too deep", `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":` + nested(100) + `}`, protocol.ErrTooDeep, "1", ""},
		// encoding/json gives up past 10,000 levels: the id is found all the same.
		{"10,000 deep", `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":` + nested(10_000) + `}`, protocol.ErrTooDeep, "1", ""},
		{"100,000 deep, id last", `{"type":"rpc","input":` + nested(100_000) + `,"actor":"c","actorId":"a","method":"m","ID":"\u0031"}`, protocol.ErrTooDeep, "1", ""},
		{"deep and unbalanced", `{"type":"rpc","id":"u1","input":` + strings.Repeat("[", 20_000) + `}`, protocol.ErrTooDeep, "u1", ""},
		{"invalid UTF-8 actorId", "{\"type\":\"rpc\",\"id\":\"1\",\"actor\":\"c\",\"actorId\":\"a\xff\",\"method\":\"m\"}", protocol.ErrInvalidUTF8, "1", "actorId"},
		{"lone surrogate actor", `{"type":"state:sub","actor":"\udbff","actorId":"a"}`, protocol.ErrInvalidUTF8, "", "actor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := protocol.DecodeClient([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var de *protocol.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.ID != tt.wantID || de.Field != tt.field {
				t.Fatalf("ID, Field = %q, %q; want %q, %q", de.ID, de.Field, tt.wantID, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "invalid frame: ") || !errors.Is(err, protocol.ErrInvalidFrame) {
				t.Fatalf("message %q lacks the invalid frame prefix or does not match ErrInvalidFrame", err)
			}
		})
	}
}

func TestDepthLimitIgnoresBracketsInStrings(t *testing.T) {
	in := `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":"` + strings.Repeat("[{", 500) + `"}`
	if _, err := protocol.DecodeClient([]byte(in)); err != nil {
		t.Fatalf("brackets inside a string must not count: %v", err)
	}
	in = `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":"\\\"` + strings.Repeat("[", 100) + `"}`
	if _, err := protocol.DecodeClient([]byte(in)); err != nil {
		t.Fatalf("escaped quotes must not end the string early: %v", err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	frames := []protocol.Frame{
		{Type: protocol.TypeWelcome, ClientID: "c-1"},
		{Type: protocol.TypeRPCResult, ID: "1", Result: json.RawMessage(`{"a":[1,2]}`)},
		{Type: protocol.TypeRPCResult, ID: "2", Result: json.RawMessage(`null`)},
		{Type: protocol.TypeRPCResult, ID: "3", Error: "boom \"quoted\"\n", HasError: true},
		{Type: protocol.TypeRPCResult, ID: "4", Error: "", HasError: true},
		{Type: protocol.TypeEvent, Actor: "chat", ActorID: "r", Event: "said", Payload: json.RawMessage(`"hi"`)},
		{Type: protocol.TypeStateSnapshot, Actor: "chat", ActorID: "r", State: json.RawMessage(`{"n":1}`)},
		{Type: protocol.TypeStatePatch, Actor: "chat", ActorID: "r", Patches: json.RawMessage(`[{"op":"replace","path":"/n","value":2}]`)},
		{Type: protocol.TypeRPC, ID: "9", Actor: "a\u2028", ActorID: "\x00\x1f", Method: "m", Input: json.RawMessage(`[true]`)},
		{Type: protocol.TypeStateUnsub, Actor: "c", ActorID: "id"},
	}
	for _, f := range frames {
		b := protocol.Encode(f)
		if !json.Valid(b) {
			t.Fatalf("Encode(%+v) = %s: not valid JSON", f, b)
		}
		got, err := protocol.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !equalFrames(got, f) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, got, f)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x01\x1f\x7f", "tab\tnl\ncr\r",
		"é 日本", "\u2028\u2029", "bad\xffutf8", "<html>&"} {
		got := protocol.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("AppendString(%q) decodes to %q, encoding/json gives %q", s, back, wantBack)
		}
	}
}

// The fast path must agree with the field-by-field decoder on every frame
// it accepts.
func FuzzFastPathAgrees(f *testing.F) {
	for _, s := range []string{
		`{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":{"x":[1]}}`,
		`{"type":"rpc:result","id":"1","error":null,"result":3}`,
		`{"type":"rpc:result","id":"1","error":""}`,
		`{"type":"state:sub","actor":"\u00e9","actorId":"a\"b"}`,
		`{"type":"welcome","clientId":"x"}`,
		`{"type":"event","actor":"c","actorId":"a","event":"e"}`,
		`{"type":"state:patch","actor":"c","actorId":"a","patches":[]}`,
		`{"type":"state:snapshot","actor":"c","actorId":"a","state":{}}`,
	} {
		f.Add([]byte(s))
	}
	for _, c := range scanCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := protocol.DecodeFast(data)
		if !ok {
			return
		}
		checked, err := protocol.DecodeChecked(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, checked decoder refused it: %v", data, err)
		}
		if !equalFrames(fast, checked) {
			t.Fatalf("decoders disagree on %q:\nfast    %+v\nchecked %+v", data, fast, checked)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":{}}`,
		`{"type":"state:sub","actor":"c","actorId":"a"}`,
		`{"type":"rpc:result","id":"1","error":"x"}`,
		`{"type":"state:patch","actor":"c","actorId":"a","patches":[]}`,
		`[[[[`, `{"type":`, `{}`, `null`, `{"type":"rpc","id":"\ud800"}`,
		`{"type":"state:sub","id":"x","actor":"c","actorId":"a"}`, // an id the type has no use for
	} {
		f.Add([]byte(s))
	}
	for _, c := range scanCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := protocol.Decode(data)
		if err != nil {
			var de *protocol.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			// An id an error carries is one a server may echo.
			if de.ID != "" && (de.BadID || len(de.ID) > protocol.MaxIDLength || !utf8.ValidString(de.ID)) {
				t.Fatalf("error carries an unusable id %q (BadID %v)", de.ID, de.BadID)
			}
			return
		}
		for name, v := range map[string]string{"id": fr.ID, "actor": fr.Actor, "actorId": fr.ActorID, "method": fr.Method, "event": fr.Event, "clientId": fr.ClientID} {
			if !utf8.ValidString(v) {
				t.Fatalf("accepted %s %q: not valid UTF-8", name, v)
			}
		}
		if !protocol.IsClientType(fr.Type) && !protocol.IsServerType(fr.Type) {
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
		// What decodes must re-encode to valid JSON that decodes the same way.
		b := protocol.Encode(fr)
		if !json.Valid(b) {
			t.Fatalf("re-encoded frame is invalid JSON: %s", b)
		}
		again, err := protocol.Decode(b)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		if again.Type != fr.Type || again.ID != fr.ID || again.Actor != fr.Actor || again.ActorID != fr.ActorID {
			t.Fatalf("round trip changed the frame: %+v vs %+v", fr, again)
		}
	})
}

func TestDecodeLenientWhereTheProtocolIs(t *testing.T) {
	// An id on a subscription frame is not part of the protocol: ignore it.
	f, err := protocol.DecodeClient([]byte(`{"type":"state:sub","id":5,"actor":"c","actorId":"a"}`))
	if err != nil || f.ID != "" {
		t.Fatalf("got %+v, %v", f, err)
	}
	// "error": null on a result is a success.
	f, err = protocol.Decode([]byte(`{"type":"rpc:result","id":"1","result":2,"error":null}`))
	if err != nil || f.HasError || string(f.Result) != "2" {
		t.Fatalf("got %+v, %v", f, err)
	}
}

// Ids that cannot be echoed (too long, or not UTF-8) are refused on an
// rpc with BadID and an empty ID, and the error text never quotes them.
func TestUnusableRPCID(t *testing.T) {
	long := strings.Repeat("L", 10<<10)
	for name, tc := range map[string]struct {
		in      string
		wantErr error
		hidden  string // must not appear in the error text
	}{
		"10 KB id":        {`{"type":"rpc","id":"` + long + `","actor":"c","actorId":"a","method":"m"}`, protocol.ErrTooLong, long[:protocol.MaxIDLength]},
		"escapes to long": {`{"type":"rpc","id":"` + strings.Repeat(`\u00e9`, protocol.MaxIDLength) + `","actor":"c","actorId":"a","method":"m"}`, protocol.ErrTooLong, "é"},
		"invalid UTF-8":   {"{\"type\":\"rpc\",\"id\":\"r\xff\",\"actor\":\"c\",\"actorId\":\"a\",\"method\":\"m\"}", protocol.ErrInvalidUTF8, "r\xff"},
		"lone surrogate":  {`{"type":"rpc","id":"r\udc00","actor":"c","actorId":"a","method":"m"}`, protocol.ErrInvalidUTF8, "r\ufffd"},
		// Refused for another reason: still answered, without the id.
		"long id, bad actor":     {`{"type":"rpc","id":"` + long + `","actor":5,"actorId":"a","method":"m"}`, protocol.ErrTooLong, long[:protocol.MaxIDLength]},
		"long id, unknown type":  {`{"type":"nope","id":"` + long + `"}`, protocol.ErrUnknownType, long[:protocol.MaxIDLength]},
		"long id, server frame":  {`{"type":"welcome","id":"` + long + `","clientId":"c"}`, protocol.ErrUnknownType, long[:protocol.MaxIDLength]},
		"long id, too deep":      {`{"type":"rpc","id":"` + long + `","input":` + nested(20_000) + `}`, protocol.ErrTooDeep, long[:protocol.MaxIDLength]},
		"bad id, broken frame":   {"{\"type\":\"rpc\",\"id\":\"\xfe\",\"input\":[}", protocol.ErrMalformed, "\xfe"},
		"long id, missing field": {`{"type":"rpc","id":"` + long + `","actor":"c","actorId":"a"}`, protocol.ErrTooLong, long[:protocol.MaxIDLength]},
	} {
		_, err := protocol.DecodeClient([]byte(tc.in))
		var de *protocol.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: err = %v, want a *DecodeError", name, err)
			continue
		}
		if !errors.Is(err, tc.wantErr) || de.ID != "" || !de.BadID || !de.Answerable() {
			t.Errorf("%s: err %v, ID %q, BadID %v; want %v, no id, BadID", name, err, de.ID, de.BadID, tc.wantErr)
		}
		if strings.Contains(err.Error(), tc.hidden) {
			t.Errorf("%s: error text quotes the id: %.100s", name, err)
		}
	}
	// A frame refused without any id is not answered.
	_, err := protocol.DecodeClient([]byte(`{"type":"rpc","actor":"c"}`))
	var de *protocol.DecodeError
	if !errors.As(err, &de) || de.Answerable() {
		t.Fatalf("frame without id: %v, want a DecodeError that is not answerable", err)
	}
}

// Two byte strings that encoding/json would both turn into one string
// (invalid bytes and lone surrogates become U+FFFD) never decode to the
// same id: all but the valid spelling are refused.
func TestDistinctBytesNeverShareAnID(t *testing.T) {
	frame := func(actorID string) string {
		return `{"type":"rpc","id":"1","actor":"c","actorId":"` + actorID + `","method":"m"}`
	}
	got := map[string]string{}
	// (`a\ufffd`, escaped, is the same string as the first, legitimately.)
	for _, raw := range []string{"a\ufffd", "a\xff", "a\xfe", "a\xef\xbf", `a\ud800`, `a\udfff`, "a\xed\xa0\x80"} {
		f, err := protocol.DecodeClient([]byte(frame(raw)))
		if err != nil {
			if !errors.Is(err, protocol.ErrInvalidUTF8) {
				t.Errorf("actorId %q: %v, want ErrInvalidUTF8", raw, err)
			}
			continue
		}
		if prev, ok := got[f.ActorID]; ok {
			t.Errorf("actorId %q and %q both decode to %q", prev, raw, f.ActorID)
		}
		got[f.ActorID] = raw
	}
	if len(got) != 1 {
		t.Fatalf("decoded ids %v, want only the valid U+FFFD", got)
	}
}

// scanID reads the id of frames encoding/json refuses, as encoding/json
// reads it from valid ones.
func TestScanID(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"1"}`: `"1"`,
		` { "a" : [1,{"id":"in"}] , "ID" : "2" , "x":`: `"2"`,
		`{"id":"1","id":"2"}`:                          `"2"`,
		`{"id":5}`:                                     ``,
		`{"\u0069d":"esc"}`:                            `"esc"`,
		`{"id":"a\"b"`:                                 `"a\"b"`,
		`{"input":"}","id":"q"}`:                       `"q"`,
		`{"input":[[[[[,"id":"deep"}`:                  ``,
		`{"input":1 2,"id":"x"}`:                       ``,
		`{"idx":"1"}`:                                  ``,
		`["id","1"]`:                                   ``,
		`{"id":"unterminated}`:                         ``,
		`{"x":tru,"id":"lenient"}`:                     `"lenient"`,
		`{"id":"first","input":[}`:                     `"first"`,
		`{"id"` + "\x00" + `:"1"}`:                     ``,
		`{"id":"1"` + nested(50_000) + `}`:             `"1"`,
		`{"a":` + nested(50_000) + `,"id":"z"}`:        `"z"`,
	} {
		if got := string(protocol.ScanID([]byte(in))); got != want {
			t.Errorf("ScanID(%.60q) = %s, want %s", in, got, want)
		}
	}
}

// An rpc whose id comes first gets an answer naming it, whatever follows:
// broken JSON, nesting of any depth, fields of the wrong type. An id that
// cannot be echoed gives an answer without one.
func FuzzRPCIDAnswered(f *testing.F) {
	for _, in := range []string{`{}`, `1`, nested(10_001), `[1,}`, `"\ud800"`, `{"a":[{"b":"]"}]}`, `1}x`, `nul`, ``} {
		f.Add("1", []byte(in))
	}
	f.Add(strings.Repeat("x", protocol.MaxIDLength+1), []byte(`1`))
	f.Add("", []byte(`1`))
	f.Add("\u2028\xff", []byte(`[`))
	f.Fuzz(func(t *testing.T, id string, input []byte) {
		// Only the frame object's own "id" key counts; keep others out.
		if bytes.ContainsAny(input, "iI\\") {
			return
		}
		enc := protocol.AppendString(nil, id) // always valid UTF-8
		var want string
		if err := json.Unmarshal(enc, &want); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", id, enc, err)
		}
		frame := `{"type":"rpc","id":` + string(enc) + `,"actor":"c","actorId":"a","method":"m","input":` + string(input) + `}`
		fr, err := protocol.DecodeClient([]byte(frame))
		usable := len(want) <= protocol.MaxIDLength
		if err == nil {
			if !usable || fr.ID != want {
				t.Fatalf("decoded %q with id %q, want id %q (usable %v)", frame, fr.ID, want, usable)
			}
			return
		}
		var de *protocol.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error %T is not a *DecodeError", err)
		}
		switch {
		case usable && de.ID != want:
			t.Fatalf("%.200q: error %v carries id %q, want %q", frame, err, de.ID, want)
		case !usable && (de.ID != "" || !de.BadID):
			t.Fatalf("%.200q: error %v carries id %q (BadID %v), want none and BadID", frame, err, de.ID, de.BadID)
		case want != "" && !de.Answerable():
			t.Fatalf("%.200q: error %v is not answerable", frame, err)
		}
	})
}

// Where encoding/json reads a string "id", scanID finds the same bytes.
func FuzzScanIDAgrees(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c.in))
	}
	f.Add([]byte(`{"ID":"a","id":"b"}`))
	f.Add([]byte(`{"i\u0064":"a","x":{"id":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(data, &v) != nil || len(v.ID) == 0 || v.ID[0] != '"' {
			return
		}
		if got := protocol.ScanID(data); !bytes.Equal(got, v.ID) {
			t.Fatalf("ScanID(%q) = %s, encoding/json reads %s", data, got, v.ID)
		}
	})
}

func TestSubError(t *testing.T) {
	b := protocol.AppendSubError(nil, "s1", "chat", "room 1", protocol.TypeStateSub, "forbidden: not a member")
	f, err := protocol.Decode(b)
	if err != nil || f.Type != protocol.TypeSubError || f.ID != "s1" || f.Actor != "chat" || f.ActorID != "room 1" ||
		f.Refused != protocol.TypeStateSub || f.Error != "forbidden: not a member" {
		t.Fatalf("%s decodes to %+v, %v", b, f, err)
	}
	if b := protocol.AppendSubError(nil, "", "chat", "r", protocol.TypeEventSub, "no"); strings.Contains(string(b), `"id"`) {
		t.Fatalf("%s: an empty id is left out", b)
	}
	for _, bad := range []string{
		`{"type":"sub:error","actor":"c","actorId":"a","refused":"rpc","error":"no"}`,
		`{"type":"sub:error","actor":"c","actorId":"a","error":"no"}`,
		`{"type":"sub:error","actor":"c","actorId":"a","refused":"state:sub"}`,
		`{"type":"sub:error","actorId":"a","refused":"state:sub","error":"no"}`,
	} {
		if _, err := protocol.Decode([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	// A client cannot send one.
	if _, err := protocol.DecodeClient(b); !errors.Is(err, protocol.ErrUnknownType) {
		t.Fatalf("DecodeClient(sub:error) = %v", err)
	}
}
