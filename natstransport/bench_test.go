package natstransport_test

import (
	"encoding/json"
	"testing"

	"github.com/zocket-go/zocket/natstransport"
)

var benchFrame = json.RawMessage(`{"type":"state:patch","actor":"chat","actorId":"lobby","patches":[{"op":"add","path":"/messages/-","value":{"from":"c1","text":"hello there"}}]}`)

func BenchmarkAppendOutbound(b *testing.B) {
	sc := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = natstransport.AppendOutbound(buf[:0], sc, "3f2c8a9e-1b2c", benchFrame)
	}
}

func BenchmarkMarshalOutbound(b *testing.B) {
	env := natstransport.OutboundEnvelope{Scope: natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"},
		SessionID: "3f2c8a9e-1b2c", Message: benchFrame}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOutbound(b *testing.B) {
	data := natstransport.AppendOutbound(nil, natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}, "3f2c8a9e-1b2c", benchFrame)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := natstransport.DecodeOutbound(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInboundSubject(b *testing.B) {
	sc := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := natstransport.InboundSubject(sc, "chat", "room.1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInbound(b *testing.B) {
	data, err := natstransport.AppendInbound(nil, natstransport.InboundEnvelope{
		Scope:     natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"},
		SessionID: "3f2c8a9e-1b2c",
		Message:   json.RawMessage(`{"type":"rpc","id":"17","actor":"counter","actorId":"bench-3","method":"increment"}`),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := natstransport.DecodeInbound(data); err != nil {
			b.Fatal(err)
		}
	}
}
