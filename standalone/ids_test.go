package standalone_test

import (
	"strings"
	"testing"

	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
)

// Ids that are not UTF-8 never reach an instance: encoding/json would turn
// "a\xff" and "a\xfe" into the same "a\ufffd". An rpc id that cannot be
// echoed (10 KB, or not UTF-8) is answered without it; one readable in a
// frame nested 10,000 deep is answered with it.
func TestUnusableIDs(t *testing.T) {
	t.Parallel()
	h := start(t, standalone.Config{})
	c := h.dial()
	long := strings.Repeat("L", 10<<10)
	for _, tc := range []struct {
		name, frame string
		answer      bool   // an rpc:result comes before the probe's
		id          string // its id
		err         string // in its error
	}{
		{"raw invalid UTF-8 actorId", "{\"type\":\"rpc\",\"id\":\"u1\",\"actor\":\"counter\",\"actorId\":\"a\xff\",\"method\":\"increment\"}", true, "u1", "invalid UTF-8 \"actorId\""},
		{"other invalid bytes", "{\"type\":\"rpc\",\"id\":\"u2\",\"actor\":\"counter\",\"actorId\":\"a\xfe\",\"method\":\"increment\"}", true, "u2", "invalid UTF-8"},
		{"lone surrogate", `{"type":"rpc","id":"u3","actor":"counter","actorId":"a\udc00","method":"increment"}`, true, "u3", "invalid UTF-8"},
		{"invalid actor type", "{\"type\":\"rpc\",\"id\":\"u4\",\"actor\":\"counter\xc3\",\"actorId\":\"a\",\"method\":\"increment\"}", true, "u4", "invalid UTF-8 \"actor\""},
		{"invalid method", "{\"type\":\"rpc\",\"id\":\"u5\",\"actor\":\"counter\",\"actorId\":\"a\",\"method\":\"incr\xffement\"}", true, "u5", "invalid UTF-8 \"method\""},
		{"subscription", "{\"type\":\"state:sub\",\"actor\":\"counter\",\"actorId\":\"a\xff\"}", false, "", ""},
		{"invalid rpc id", "{\"type\":\"rpc\",\"id\":\"r\xff\",\"actor\":\"counter\",\"actorId\":\"a\",\"method\":\"increment\"}", true, "", "invalid UTF-8 \"id\""},
		{"10 KB rpc id", `{"type":"rpc","id":"` + long + `","actor":"counter","actorId":"a","method":"increment"}`, true, "", "field too long \"id\": 10240 bytes, limit 256"},
		{"10,000 levels deep", `{"type":"rpc","id":"d1","actor":"counter","actorId":"a","method":"set","input":` +
			strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`, true, "d1", "nested too deeply"},
	} {
		c.write(tc.frame)
		probe := c.rpc("probe", "increment", nil)
		if tc.answer {
			data, err := c.readRaw()
			if err != nil {
				t.Fatalf("%s: read: %v", tc.name, err)
			}
			if len(data) > 512 {
				t.Errorf("%s: answer of %d bytes: the id must not be echoed", tc.name, len(data))
			}
			f, err := protocol.Decode(data)
			if err != nil || f.Type != protocol.TypeRPCResult || f.ID != tc.id || !strings.Contains(f.Error, tc.err) {
				t.Fatalf("%s: answer %.300s (%v), want an rpc:result %q with an error containing %q", tc.name, data, err, tc.id, tc.err)
			}
		}
		if f := c.result(probe); f.HasError {
			t.Fatalf("%s: probe failed: %s", tc.name, f.Error)
		}
	}
	// None of the calls ran: in particular none reached the instance that
	// both invalid spellings would have become.
	for _, id := range []string{"a", "a\ufffd"} {
		if s := c.state(id); s.Count != 0 {
			t.Errorf("instance %q: count %d, want 0", id, s.Count)
		}
	}
}
