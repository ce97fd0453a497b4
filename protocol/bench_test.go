package protocol_test

import (
	"encoding/json"
	"testing"

	"github.com/zocket-go/zocket/protocol"
)

var rpcFrame = []byte(`{"type":"rpc","id":"17","actor":"counter","actorId":"main","method":"set","input":{"value":3}}`)

func BenchmarkDecodeClientRPC(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(rpcFrame)))
	for b.Loop() {
		if _, err := protocol.DecodeClient(rpcFrame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineUnmarshal is encoding/json into a plain struct: the floor
// for a decoder that also validates and reports errors per field.
func BenchmarkBaselineUnmarshal(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(rpcFrame)))
	for b.Loop() {
		var f protocol.Frame
		if err := json.Unmarshal(rpcFrame, &f); err != nil {
			b.Fatal(err)
		}
	}
}
