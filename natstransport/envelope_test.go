package natstransport_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zocket-go/zocket/natstransport"
)

func ptr[T any](v T) *T { return &v }

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

// TestEnvelopeGoldenJSON pins the wire form: exact field names and order,
// null userId, {} claims.
func TestEnvelopeGoldenJSON(t *testing.T) {
	t.Parallel()
	sc := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}
	msg := json.RawMessage(`{"type":"rpc","id":"1","actor":"chat","actorId":"lobby","method":"send","input":{"text":"hi"}}`)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"scope", sc, `{"workspaceId":"w","projectId":"p"}`},
		{"inbound anonymous", natstransport.InboundEnvelope{Scope: sc, SessionID: "s1", Message: msg},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","userId":null,"claims":{},"message":` + string(msg) + `}`},
		{"inbound pointer", &natstransport.InboundEnvelope{Scope: sc, SessionID: "s1", Claims: map[string]any{}, Message: msg},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","userId":null,"claims":{},"message":` + string(msg) + `}`},
		{"inbound user", natstransport.InboundEnvelope{Scope: sc, SessionID: "s1", UserID: ptr("u1"),
			Claims: map[string]any{"role": "admin", "n": 1}, Message: msg},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","userId":"u1","claims":{"n":1,"role":"admin"},"message":` + string(msg) + `}`},
		{"outbound", natstransport.OutboundEnvelope{Scope: sc, SessionID: "s1", Message: json.RawMessage(`{"type":"welcome","clientId":"s1"}`)},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","message":{"type":"welcome","clientId":"s1"}}`},
		{"connected", natstransport.SessionConnected{Scope: sc, SessionID: "s1", ConnectedAt: 1700000000123},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","userId":null,"connectedAt":1700000000123}`},
		{"connected user", natstransport.SessionConnected{Scope: sc, SessionID: "s1", UserID: ptr("u"), ConnectedAt: 1},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","userId":"u","connectedAt":1}`},
		{"disconnected", natstransport.SessionDisconnected{Scope: sc, SessionID: "s1", DisconnectedAt: 1700000000456},
			`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","disconnectedAt":1700000000456}`},
	}
	for _, tt := range tests {
		if got := marshal(t, tt.v); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	if got := string(natstransport.AppendOutbound([]byte("x"), sc, "s1", json.RawMessage(`{}`))); got != `x{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","message":{}}` {
		t.Errorf("AppendOutbound = %s", got)
	}
	if got := string(natstransport.AppendOutbound(nil, sc, "s1", nil)); got != `{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","message":null}` {
		t.Errorf("AppendOutbound with nil message = %s", got)
	}
}

func TestEnvelopeEncodeErrors(t *testing.T) {
	t.Parallel()
	sc := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}
	if _, err := json.Marshal(natstransport.InboundEnvelope{Scope: sc, SessionID: "s"}); !errors.Is(err, natstransport.ErrMalformedEnvelope) {
		t.Errorf("inbound without message: %v, want ErrMalformedEnvelope", err)
	}
	if _, err := json.Marshal(natstransport.OutboundEnvelope{Scope: sc, SessionID: "s"}); !errors.Is(err, natstransport.ErrMalformedEnvelope) {
		t.Errorf("outbound without message: %v, want ErrMalformedEnvelope", err)
	}
	if _, err := json.Marshal(natstransport.InboundEnvelope{Scope: sc, SessionID: "s", Message: json.RawMessage(`{`)}); err == nil {
		t.Error("inbound with invalid JSON message encoded")
	}
	if _, err := json.Marshal(natstransport.InboundEnvelope{Scope: sc, SessionID: "s", Claims: map[string]any{"c": make(chan int)}, Message: json.RawMessage(`{}`)}); err == nil {
		t.Error("unencodable claims encoded")
	}
}

// TestEnvelopeHostileStrings checks that ids with quotes, control bytes,
// invalid UTF-8 and JavaScript line separators still give valid JSON that
// decodes to the same ids.
func TestEnvelopeHostileStrings(t *testing.T) {
	t.Parallel()
	for _, id := range hostileIDs {
		sc := natstransport.Scope{WorkspaceID: id, ProjectID: `"` + id + `\`}
		b := natstransport.AppendOutbound(nil, sc, id+"\u2028", json.RawMessage(`[1]`))
		if !json.Valid(b) {
			t.Fatalf("id %q: invalid JSON %s", shorten(id), b)
		}
		env, err := natstransport.DecodeOutbound(b)
		if err != nil {
			t.Fatalf("id %q: %v", shorten(id), err)
		}
		want := natstransport.OutboundEnvelope{Scope: sc, SessionID: id + "\u2028", Message: json.RawMessage(`[1]`)}
		if !utf8.ValidString(id) {
			continue // invalid UTF-8 becomes U+FFFD, as encoding/json does
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("round trip of %q: got %+v", shorten(id), env)
		}
	}
}

func TestDecodeEnvelopes(t *testing.T) {
	t.Parallel()
	in, err := natstransport.DecodeInbound([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":"u","claims":{"a":[1]},"message":{"type":"rpc"},"extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := natstransport.InboundEnvelope{Scope: natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}, SessionID: "s", UserID: ptr("u"),
		Claims: map[string]any{"a": []any{1.0}}, Message: json.RawMessage(`{"type":"rpc"}`)}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("DecodeInbound = %+v, want %+v", in, want)
	}
	in, err = natstransport.DecodeInbound([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":null,"message":{}}`))
	if err != nil || in.UserID != nil || in.Claims == nil {
		t.Errorf("DecodeInbound without user and claims = %+v, %v; want nil user, empty claims", in, err)
	}
	c, err := natstransport.DecodeSessionConnected([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":null,"connectedAt":5}`))
	if err != nil || c.ConnectedAt != 5 || c.UserID != nil {
		t.Errorf("DecodeSessionConnected = %+v, %v", c, err)
	}
	d, err := natstransport.DecodeSessionDisconnected([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","disconnectedAt":7}`))
	if err != nil || d.DisconnectedAt != 7 || d.SessionID != "s" {
		t.Errorf("DecodeSessionDisconnected = %+v, %v", d, err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	const scope = `"scope":{"workspaceId":"w","projectId":"p"}`
	decoders := map[string]func([]byte) error{
		"inbound":      func(b []byte) error { _, err := natstransport.DecodeInbound(b); return err },
		"outbound":     func(b []byte) error { _, err := natstransport.DecodeOutbound(b); return err },
		"connected":    func(b []byte) error { _, err := natstransport.DecodeSessionConnected(b); return err },
		"disconnected": func(b []byte) error { _, err := natstransport.DecodeSessionDisconnected(b); return err },
	}
	common := []string{
		``, `null`, `[]`, `"x"`, `{`, `{}`,
		`{"sessionId":"s","message":{}}`,
		`{"scope":{"projectId":"p"},"sessionId":"s","message":{}}`,
		`{"scope":{"workspaceId":"w"},"sessionId":"s","message":{}}`,
		`{"scope":null,"sessionId":"s","message":{}}`,
		`{` + scope + `,"message":{}}`,
		`{` + scope + `,"sessionId":"","message":{}}`,
		`{` + scope + `,"sessionId":5,"message":{}}`,
	}
	for name, decode := range decoders {
		for _, in := range common {
			if err := decode([]byte(in)); !errors.Is(err, natstransport.ErrMalformedEnvelope) {
				t.Errorf("%s %s: error %v, want ErrMalformedEnvelope", name, in, err)
			}
		}
	}
	for _, in := range []string{
		`{` + scope + `,"sessionId":"s"}`,
		`{` + scope + `,"sessionId":"s","message":null}`,
		`{` + scope + `,"sessionId":"s","claims":[],"message":{}}`,
		`{` + scope + `,"sessionId":"s","claims":"x","message":{}}`,
		`{` + scope + `,"sessionId":"s","userId":5,"message":{}}`,
	} {
		if err := decoders["inbound"]([]byte(in)); !errors.Is(err, natstransport.ErrMalformedEnvelope) {
			t.Errorf("inbound %s: error %v, want ErrMalformedEnvelope", in, err)
		}
	}
	for _, in := range []string{`{` + scope + `,"sessionId":"s"}`, `{` + scope + `,"sessionId":"s","message":null}`} {
		if err := decoders["outbound"]([]byte(in)); !errors.Is(err, natstransport.ErrMalformedEnvelope) {
			t.Errorf("outbound %s: error %v, want ErrMalformedEnvelope", in, err)
		}
	}
	err := decoders["inbound"]([]byte(`{` + scope + `,"message":{}}`))
	if err == nil || !strings.Contains(err.Error(), `"sessionId"`) {
		t.Errorf("error %v does not name the missing field", err)
	}
}

// FuzzDecodeInbound checks that DecodeInbound, with its fast path, agrees
// with plain encoding/json on every input, and that what it decodes
// re-encodes stably.
func FuzzDecodeInbound(f *testing.F) {
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":"u","claims":{"a":1},"message":{"type":"rpc"}}`))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","message":null}`))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":null,"claims":{},"message":{}}`))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":null,"claims":{"k":"}\\\"{"},"message":[1]}`))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":"u","claims":{"a":[{}]},"message":1,"message":2}`))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","userId":null,"claims":{"a":1}},"message":{}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := natstransport.DecodeInbound(data)
		var ref natstransport.InboundEnvelope
		refErr := json.Unmarshal(data, &ref)
		refOK := refErr == nil && ref.Scope.WorkspaceID != "" && ref.Scope.ProjectID != "" && ref.SessionID != "" &&
			len(ref.Message) > 0 && string(ref.Message) != "null"
		if (err == nil) != refOK {
			t.Fatalf("DecodeInbound(%q) error %v, encoding/json %v %+v", data, err, refErr, ref)
		}
		if ref.Claims == nil {
			ref.Claims = map[string]any{}
		}
		if err == nil && !reflect.DeepEqual(env, ref) {
			t.Fatalf("DecodeInbound(%q) = %+v, encoding/json %+v", data, env, ref)
		}
		if err != nil {
			if !errors.Is(err, natstransport.ErrMalformedEnvelope) {
				t.Fatalf("error %v is not ErrMalformedEnvelope", err)
			}
			return
		}
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", env, err)
		}
		again, err := natstransport.DecodeInbound(b)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", b, err)
		}
		b2, err := json.Marshal(again)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("not stable: %s then %s (%v)", b, b2, err)
		}
	})
}

func FuzzAppendOutbound(f *testing.F) {
	f.Add("w", "p", "s", []byte(`{"type":"welcome"}`))
	f.Add("\x00\"\\", "\u2028", "\xff", []byte(`null`))
	f.Fuzz(func(t *testing.T, ws, proj, sid string, msg []byte) {
		if !json.Valid(msg) {
			return
		}
		b := natstransport.AppendOutbound(nil, natstransport.Scope{WorkspaceID: ws, ProjectID: proj}, sid, msg)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %s", b)
		}
		var generic map[string]json.RawMessage
		if err := json.Unmarshal(b, &generic); err != nil || len(generic) != 3 {
			t.Fatalf("decode %s: %v %v", b, generic, err)
		}
	})
}

// FuzzDecodeOutbound checks that DecodeOutbound, with its fast path,
// agrees with plain encoding/json on every input.
func FuzzDecodeOutbound(f *testing.F) {
	sc := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}
	f.Add(natstransport.AppendOutbound(nil, sc, "s", json.RawMessage(`{"type":"welcome"}`)))
	f.Add(natstransport.AppendOutbound(nil, sc, "s", json.RawMessage(`1},"x":{"y":2`)))
	f.Add(natstransport.AppendOutbound(nil, natstransport.Scope{WorkspaceID: "\"\\", ProjectID: "é"}, "\xff", json.RawMessage(`[]`)))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","message": {} }`))
	f.Add([]byte(`{"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s","message":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := natstransport.DecodeOutbound(data)
		var ref natstransport.OutboundEnvelope
		refErr := json.Unmarshal(data, &ref)
		refOK := refErr == nil && ref.Scope.WorkspaceID != "" && ref.Scope.ProjectID != "" && ref.SessionID != "" &&
			len(ref.Message) > 0 && string(ref.Message) != "null"
		if (err == nil) != refOK {
			t.Fatalf("DecodeOutbound(%q) error %v, encoding/json %v %+v", data, err, refErr, ref)
		}
		if err == nil && !reflect.DeepEqual(got, ref) {
			t.Fatalf("DecodeOutbound(%q) = %+v, encoding/json %+v", data, got, ref)
		}
	})
}

// What the gateway writes takes the fast path, whatever the claims.
func TestDecodeInboundFastPath(t *testing.T) {
	user := "u-1"
	for _, e := range []natstransport.InboundEnvelope{
		{Scope: natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}, SessionID: "s", Message: json.RawMessage(`{"type":"rpc"}`)},
		{Scope: natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}, SessionID: "s", UserID: &user,
			Claims:  map[string]any{"roles": []any{"admin", "}{\"\\"}, "n": 1.5, "nested": map[string]any{"a": map[string]any{}}},
			Message: json.RawMessage(`{"type":"state:sub","actor":"c","actorId":"a"}`)},
	} {
		b, err := natstransport.AppendInbound(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := natstransport.DecodeInboundFast(b)
		if !ok {
			t.Fatalf("fast path refused %s", b)
		}
		if e.Claims == nil {
			e.Claims = map[string]any{}
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("fast path: %+v, want %+v", got, e)
		}
	}
}
