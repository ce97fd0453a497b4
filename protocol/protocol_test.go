package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
		{"truncated", `{"type":"rpc","id":"1"`, protocol.ErrMalformed, "", ""},
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
		{"too deep", `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, protocol.ErrTooDeep, "1", ""},
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
			if !strings.HasPrefix(err.Error(), "invalid frame: ") {
				t.Fatalf("message %q lacks the invalid frame prefix", err)
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
			return
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
