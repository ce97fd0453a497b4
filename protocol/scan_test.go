package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zocket-go/zocket/protocol"
)

// rpcWith is an rpc frame whose input is the raw JSON v.
func rpcWith(v string) string {
	return `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":"m","input":` + v + `}`
}

func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

var rpc1 = protocol.Frame{Type: "rpc", ID: "1", Actor: "c", ActorID: "a", Method: "m"}

func withInput(in string) protocol.Frame {
	f := rpc1
	f.Input = json.RawMessage(in)
	return f
}

// scanCases are frames for the fast path: fast says whether decodeFast
// accepts the input (and then its frame must be want, when given, and what
// decodeChecked returns), slowOK whether decodeChecked accepts it. They are
// also seeds of the fuzz targets.
var scanCases = []struct {
	name         string
	in           string
	fast, slowOK bool
	want         *protocol.Frame
}{
	// Happy paths.
	{"rpc", rpcWith(`{"value":3}`), true, true, &protocol.Frame{Type: "rpc", ID: "1", Actor: "c", ActorID: "a", Method: "m", Input: json.RawMessage(`{"value":3}`)}},
	{"whitespace everywhere", " \t\n{ \"type\" :\r\"rpc\" , \"id\":\"1\",\"actor\" : \"c\",\"actorId\":\"a\",\"method\":\"m\" ,\"input\" : [ 1 , { \"a\" : [ ] } ] }\n ",
		true, true, &protocol.Frame{Type: "rpc", ID: "1", Actor: "c", ActorID: "a", Method: "m", Input: json.RawMessage(`[ 1 , { "a" : [ ] } ]`)}},
	{"escapes", `{"type":"rpc","id":"\"\\\/\b\f\n\r\t","actor":"a\u00e9\u0041\u0000","actorId":"\ud83d\ude00\uDBFF\uDFFF","method":"\u65E5"}`, true, true,
		&protocol.Frame{Type: "rpc", ID: "\"\\/\b\f\n\r\t", Actor: "aéA\x00", ActorID: "😀\U0010FFFF", Method: "日"}},
	{"raw UTF-8", `{"type":"event:sub","actor":"é日本","actorId":"\u2028"}`, true, true, &protocol.Frame{Type: "event:sub", Actor: "é日本", ActorID: "\u2028"}},
	{"invalid UTF-8 in a raw value", rpcWith("\"\xff\xfe\""), true, true, ptr(withInput("\"\xff\xfe\""))},
	{"invalid UTF-8 in an unknown key's value", `{"x":"` + "\xc3" + `","type":"welcome","clientId":"c"}`, true, true, &protocol.Frame{Type: "welcome", ClientID: "c"}},
	{"unknown keys with nested values", `{"x":{"a":[1,{"b":null,"c":"}]"}],"d":true},"type":"welcome","":[],"types":false,"clientId":"c"}`, true, true, &protocol.Frame{Type: "welcome", ClientID: "c"}},
	{"numbers", rpcWith(`[0,-0,1.5e10,2E-3,0.0e+0,-12.34E+56,1e999]`), true, true, ptr(withInput(`[0,-0,1.5e10,2E-3,0.0e+0,-12.34E+56,1e999]`))},
	{"literals", rpcWith(`[true,false,null]`), true, true, ptr(withInput(`[true,false,null]`))},
	{"null input", rpcWith(`null`), true, true, ptr(withInput(`null`))},
	{"empty containers", rpcWith(`[{},[],{ },[ ]]`), true, true, ptr(withInput(`[{},[],{ },[ ]]`))},
	{"depth at the limit", rpcWith(nested(protocol.MaxDepth - 1)), true, true, ptr(withInput(nested(protocol.MaxDepth - 1)))},
	{"brackets and escaped quotes in strings", rpcWith(`"\\\"[[{{"`), true, true, ptr(withInput(`"\\\"[[{{"`))},
	{"null string fields", `{"type":"state:sub","id":null,"actor":"c","actorId":"a","method":null}`, true, true, &protocol.Frame{Type: "state:sub", Actor: "c", ActorID: "a"}},
	{"result with null error", `{"type":"rpc:result","id":"1","error":null,"result":[1]}`, true, true, &protocol.Frame{Type: "rpc:result", ID: "1", Result: json.RawMessage(`[1]`)}},
	{"result defaults to null", `{"type":"rpc:result","id":"1"}`, true, true, &protocol.Frame{Type: "rpc:result", ID: "1", Result: json.RawMessage(`null`)}},
	{"empty error", `{"type":"rpc:result","id":"1","error":"","result":2}`, true, true, &protocol.Frame{Type: "rpc:result", ID: "1", HasError: true}},
	{"fields another type has are not read", `{"type":"welcome","clientId":"x","actor":"a","actorId":7,"input":1}`, true, true, &protocol.Frame{Type: "welcome", ClientID: "x"}},
	{"event", `{"type":"event","actor":"c","actorId":"a","event":"e","payload":{"n":1}}`, true, true, &protocol.Frame{Type: "event", Actor: "c", ActorID: "a", Event: "e", Payload: json.RawMessage(`{"n":1}`)}},
	{"snapshot", `{"type":"state:snapshot","actor":"c","actorId":"a","state":0}`, true, true, &protocol.Frame{Type: "state:snapshot", Actor: "c", ActorID: "a", State: json.RawMessage(`0`)}},
	{"patch", `{"type":"state:patch","actor":"c","actorId":"a","patches":[{"op":"add"}]}`, true, true, &protocol.Frame{Type: "state:patch", Actor: "c", ActorID: "a", Patches: json.RawMessage(`[{"op":"add"}]`)}},
	{"escapes shorten an id to MaxIDLength", `{"type":"state:sub","actor":"c","actorId":"` + strings.Repeat(`\u0041`, protocol.MaxIDLength) + `"}`, true, true, nil},
	{"id of MaxIDLength", `{"type":"state:sub","actor":"c","actorId":"` + strings.Repeat("é", protocol.MaxIDLength/2) + `"}`, true, true, nil},

	// Valid frames that the fast path leaves to decodeChecked.
	{"duplicate key", `{"type":"state:sub","actor":"c","actorId":"a","actor":"d"}`, false, true, nil},
	{"key differing in case", `{"Type":"state:sub","actor":"c","actorId":"a"}`, false, true, nil},
	{"unknown key folding to a known one", `{"type":"state:sub","actor":"c","actorId":"a","ACTORID":"b"}`, false, true, nil},
	{"escaped key", `{"\u0074ype":"state:sub","actor":"c","actorId":"a"}`, false, true, nil},
	{"non-ASCII key folding to a known one", "{\"type\":\"state:snapshot\",\"actor\":\"c\",\"actorId\":\"a\",\"\u017ftate\":{}}", false, true, nil},
	{"non-ASCII key", `{"type":"state:sub","actor":"c","actorId":"a","ключ":1}`, false, true, nil},
	{"escaped type", `{"type":"state:s\u0075b","actor":"c","actorId":"a"}`, false, true, nil},
	{"invalid UTF-8 in an error message", "{\"type\":\"rpc:result\",\"id\":\"1\",\"error\":\"a\xff\"}", false, true,
		&protocol.Frame{Type: "rpc:result", ID: "1", Error: "a\ufffd", HasError: true}},
	{"lone surrogate in an error message", `{"type":"rpc:result","id":"1","error":"\ud800"}`, false, true, nil},
	{"invalid UTF-8 in an id the type ignores", "{\"type\":\"state:sub\",\"id\":\"\xff\",\"actor\":\"c\",\"actorId\":\"a\"}", false, true,
		&protocol.Frame{Type: "state:sub", Actor: "c", ActorID: "a"}},
	{"long id the type ignores", `{"type":"state:sub","id":"` + strings.Repeat("x", protocol.MaxIDLength+1) + `","actor":"c","actorId":"a"}`, false, true,
		&protocol.Frame{Type: "state:sub", Actor: "c", ActorID: "a"}},
	{"rpc id of MaxIDLength", `{"type":"rpc","id":"` + strings.Repeat("x", protocol.MaxIDLength) + `","actor":"c","actorId":"a","method":"m"}`, true, true, nil},
	{"numeric id on a subscription", `{"type":"state:sub","id":5,"actor":"c","actorId":"a"}`, false, true, nil},
	{"empty id on rpc", `{"type":"rpc","id":"","actor":"c","actorId":"a","method":"m"}`, false, true, nil},
	{"empty event name", `{"type":"event","actor":"c","actorId":"a","event":""}`, false, true, nil},
	{"unicode space around", "\v{\"type\":\"state:sub\",\"actor\":\"c\",\"actorId\":\"a\"}\u00a0", false, true, nil},

	// Invalid frames.
	{"empty", ``, false, false, nil},
	{"only space", ` `, false, false, nil},
	{"not an object", `[{"type":"welcome","clientId":"c"}]`, false, false, nil},
	{"empty object", `{}`, false, false, nil},
	{"null type", `{"type":null,"clientId":"c"}`, false, false, nil},
	{"numeric type", `{"type":1,"clientId":"c"}`, false, false, nil},
	{"unknown type", `{"type":"welcom","clientId":"c"}`, false, false, nil},
	{"numeric id on rpc", `{"type":"rpc","id":1,"actor":"c","actorId":"a","method":"m"}`, false, false, nil},
	{"null method", `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":null}`, false, false, nil},
	{"numeric method", `{"type":"rpc","id":"1","actor":"c","actorId":"a","method":1}`, false, false, nil},
	{"id too long", `{"type":"state:sub","actor":"c","actorId":"` + strings.Repeat("x", protocol.MaxIDLength+1) + `"}`, false, false, nil},
	{"rpc id too long", `{"type":"rpc","id":"` + strings.Repeat("x", protocol.MaxIDLength+1) + `","actor":"c","actorId":"a","method":"m"}`, false, false, nil},
	{"invalid UTF-8 in an actor id", "{\"type\":\"state:sub\",\"actor\":\"c\",\"actorId\":\"a\xff\"}", false, false, nil},
	{"lone high surrogate", `{"type":"state:sub","actor":"c","actorId":"\ud800"}`, false, false, nil},
	{"high surrogate then other escape", `{"type":"state:sub","actor":"c","actorId":"\ud800\u0041"}`, false, false, nil},
	{"lone low surrogate", `{"type":"state:sub","actor":"c","actorId":"\udc00\ud800"}`, false, false, nil},
	{"invalid UTF-8 in a method", "{\"type\":\"rpc\",\"id\":\"1\",\"actor\":\"c\",\"actorId\":\"a\",\"method\":\"\xc3\"}", false, false, nil},
	{"invalid UTF-8 in an rpc id", "{\"type\":\"rpc\",\"id\":\"\xff\",\"actor\":\"c\",\"actorId\":\"a\",\"method\":\"m\"}", false, false, nil},
	{"invalid UTF-8 in an event name", "{\"type\":\"event\",\"actor\":\"c\",\"actorId\":\"a\",\"event\":\"e\xff\"}", false, false, nil},
	{"lone surrogate in a client id", `{"type":"welcome","clientId":"\udfff"}`, false, false, nil},
	{"escapes make an id too long", `{"type":"state:sub","actor":"c","actorId":"` + strings.Repeat(`\u00e9`, protocol.MaxIDLength/2+1) + `"}`, false, false, nil},
	{"numeric error", `{"type":"rpc:result","id":"1","error":1}`, false, false, nil},
	{"null state", `{"type":"state:snapshot","actor":"c","actorId":"a","state":null}`, false, false, nil},
	{"object patches", `{"type":"state:patch","actor":"c","actorId":"a","patches":{}}`, false, false, nil},
	{"too deep", rpcWith(nested(protocol.MaxDepth)), false, false, nil},
	{"too deep empty object", rpcWith(strings.Repeat("[", protocol.MaxDepth-1) + "{}" + strings.Repeat("]", protocol.MaxDepth-1)), false, false, nil},
	{"too deep in an unknown key", `{"type":"welcome","clientId":"c","x":` + nested(protocol.MaxDepth) + `}`, false, false, nil},
	{"trailing garbage", rpcWith(`1`) + `x`, false, false, nil},
	{"two objects", rpcWith(`1`) + `{}`, false, false, nil},
	{"truncated", `{"type":"welcome","clientId":"c"`, false, false, nil},
	{"trailing comma", `{"type":"welcome","clientId":"c",}`, false, false, nil},
	{"missing colon", `{"type" "welcome","clientId":"c"}`, false, false, nil},
	{"missing comma", `{"type":"welcome" "clientId":"c"}`, false, false, nil},
	{"control character in a string", "{\"type\":\"welcome\",\"clientId\":\"c\tc\"}", false, false, nil},
	{"bad escape", `{"type":"welcome","clientId":"\x41"}`, false, false, nil},
	{"short \\u escape", `{"type":"welcome","clientId":"\u12"}`, false, false, nil},
	{"unterminated string", `{"type":"welcome","clientId":"c\"}`, false, false, nil},
	{"mismatched brackets", rpcWith(`[1}`), false, false, nil},
	{"invalid nested object", rpcWith(`{"a" 1}`), false, false, nil},
	{"single quotes", rpcWith(`'a'`), false, false, nil},
}

func ptr(f protocol.Frame) *protocol.Frame { return &f }

func TestScanCases(t *testing.T) {
	for _, tt := range scanCases {
		t.Run(tt.name, func(t *testing.T) {
			fast, ok := protocol.DecodeFast([]byte(tt.in))
			checked, err := protocol.DecodeChecked([]byte(tt.in))
			if ok != tt.fast {
				t.Fatalf("DecodeFast ok = %v, want %v", ok, tt.fast)
			}
			if (err == nil) != tt.slowOK {
				t.Fatalf("DecodeChecked err = %v, want ok %v", err, tt.slowOK)
			}
			if !ok {
				return
			}
			if !equalFrames(fast, checked) {
				t.Fatalf("decoders disagree:\nfast    %+v\nchecked %+v", fast, checked)
			}
			if tt.want != nil && !equalFrames(fast, *tt.want) {
				t.Fatalf("got %+v, want %+v", fast, *tt.want)
			}
		})
	}
}

// The fast path accepts a raw value exactly when encoding/json does.
func TestScanValueGrammar(t *testing.T) {
	for _, v := range []string{
		`0`, `-0`, `1`, `-1`, `10`, `1.5`, `1e5`, `1E+5`, `1e-5`, `-0.0e0`, `123456789012345678901234567890`,
		`01`, `-`, `+1`, `.5`, `1.`, `1.e5`, `1e`, `1e+`, `0x1`, `1_0`, `--1`, `Infinity`, `NaN`,
		`true`, `false`, `null`, `tru`, `nul`, `nulll`, `True`, `truefalse`,
		`""`, `"a"`, `"\u00e9"`, `"\uD83D\uDE00"`, `"\ud800"`, `"\/"`, `"\'"`, `"\a"`, `"\u00G0"`, `"\u00e"`,
		"\"\x7f\"", "\"\x1f\"", "\"\xff\"", `"`, `"\"`, `"\\"`,
		`[]`, `[1]`, `[1,2]`, `[1,]`, `[,1]`, `[`, `]`, `[1 2]`, `[[]]`, `[[]`,
		`{}`, `{"a":1}`, `{"a":1,"b":[{}]}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{"a" : 1 }`,
		`{"a":[1,{"b":"]"}]}`, `{"\u0061":1}`, `{"a":1]`, `[1}`,
		``, ` `, `1 2`, `[] []`,
	} {
		_, ok := protocol.DecodeFast([]byte(rpcWith(v)))
		if ok != json.Valid([]byte(v)) {
			t.Errorf("value %q: fast path ok = %v, json.Valid = %v", v, ok, !ok)
		}
	}
}

// rpc and rpc:result frames keep their "id", and so do state:sub and
// event:sub (optional there: a sub:error names it) and sub:error; on other
// types it is not part of the protocol, and Encode would not write it back.
// An optional id that is not usable is dropped, not refused.
func TestIDKeptOnlyWhereTheProtocolHasOne(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"state:sub","id":"x","actor":"c","actorId":"a"}`:                                    "x",
		`{"type":"event:sub","id":"x","actor":"c","actorId":"a"}`:                                    "x",
		`{"type":"state:unsub","id":"x","actor":"c","actorId":"a"}`:                                  "",
		`{"type":"state:sub","id":"` + strings.Repeat("x", 300) + `","actor":"c","actorId":"a"}`:     "",
		`{"type":"sub:error","id":"x","actor":"c","actorId":"a","refused":"state:sub","error":"no"}`: "x",
		`{"type":"welcome","id":"x","clientId":"c"}`:                                                 "",
		`{"type":"rpc","id":"x","actor":"c","actorId":"a","method":"m"}`:                             "x",
		`{"type":"rpc:result","id":"x","result":1}`:                                                  "x",
	} {
		f, err := protocol.Decode([]byte(in))
		if err != nil || f.ID != want {
			t.Errorf("%s: %+v, %v; want id %q", in, f, err, want)
		}
	}
}
