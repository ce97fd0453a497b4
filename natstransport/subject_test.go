package natstransport_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/zocket-go/zocket/natstransport"
)

var testScope = natstransport.Scope{WorkspaceID: "ws", ProjectID: "proj"}

// hostileIDs are ids a client may send; each must work and stay apart from
// the others. The empty and the over-long id are errors instead.
var hostileIDs = []string{
	"lobby", "a.b", "a b", "*", ">", "a.*", "a>", ".", "..", "\x00", "\t", "\r\n", "\n",
	"é", "日本", "\xff\xfe", "\u00a0", "\u2028", "%", "%25", "%2E", "user@example.com",
	"room.1", "room%2E1", "a/b", `a\b`, "a:b", "-", "_", "$JS", "a,b", "~", strings.Repeat("x", natstransport.MaxTokenLength),
	strings.Repeat(".", natstransport.MaxTokenLength), strings.Repeat("é", natstransport.MaxTokenLength/2),
}

func TestEncodeToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, want string
		wantErr  error
	}{
		{id: "lobby", want: "lobby"},
		{id: "local-workspace", want: "local-workspace"},
		{id: "Az09-_@+=", want: "Az09-_@+="},
		{id: "a.b", want: "a%2Eb"},
		{id: "room.1", want: "room%2E1"},
		{id: "a b", want: "a%20b"},
		{id: "user@example.com", want: "user@example%2Ecom"},
		{id: "*", want: "%2A"},
		{id: ">", want: "%3E"},
		{id: "\x00", want: "%00"},
		{id: "\t\r\n", want: "%09%0D%0A"},
		{id: "%", want: "%25"},
		{id: "%2E", want: "%252E"},
		{id: "é", want: "%C3%A9"},
		{id: "\xff", want: "%FF"},
		{id: `a/b\c:d`, want: "a%2Fb%5Cc%3Ad"},
		{id: "", wantErr: natstransport.ErrInvalidToken},
		{id: strings.Repeat("x", natstransport.MaxTokenLength+1), wantErr: natstransport.ErrInvalidToken},
		{id: strings.Repeat("x", 10<<10), wantErr: natstransport.ErrInvalidToken},
	}
	for _, tt := range tests {
		got, err := natstransport.EncodeToken(tt.id)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("EncodeToken(%q) error = %v, want %v", shorten(tt.id), err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("EncodeToken(%q) = %q, want %q", shorten(tt.id), got, tt.want)
		}
		if err == nil {
			back, err := natstransport.DecodeToken(got)
			if err != nil || back != tt.id {
				t.Errorf("DecodeToken(%q) = %q, %v; want %q", got, back, err, tt.id)
			}
		}
	}
}

func TestEncodeTokenInjectiveAndSafe(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, id := range hostileIDs {
		tok, err := natstransport.EncodeToken(id)
		if err != nil {
			t.Fatalf("EncodeToken(%q): %v", shorten(id), err)
		}
		assertSafeToken(t, tok)
		if other, dup := seen[tok]; dup {
			t.Errorf("ids %q and %q share token %q", shorten(other), shorten(id), tok)
		}
		seen[tok] = id
	}
}

func assertSafeToken(t *testing.T, tok string) {
	t.Helper()
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_@+=%", c) >= 0
		if !ok {
			t.Fatalf("token %q has unsafe byte %q", tok, c)
		}
	}
}

func TestDecodeTokenRejectsOtherSpellings(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{
		"", "a.b", "a b", "*", ">", "%", "%4", "a%", "%2e", "%G0", "%41", "%2D", "é", "a\x00",
		strings.Repeat("%2E", natstransport.MaxTokenLength+1),
	} {
		if id, err := natstransport.DecodeToken(tok); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("DecodeToken(%q) = %q, %v; want ErrInvalidToken", shorten(tok), id, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	sc := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct{ got, want string }{
		{must(natstransport.InboundSubject(sc, "chat", "lobby")), "inbound.local-workspace.local-project.chat.lobby"},
		{must(natstransport.InboundSubject(sc, "chat", "room.1")), "inbound.local-workspace.local-project.chat.room%2E1"},
		{must(natstransport.InboundFilter(sc, "chat")), "inbound.local-workspace.local-project.chat.>"},
		{must(natstransport.OutboundSubject(sc, "s1")), "outbound.local-workspace.local-project.s1"},
		{must(natstransport.SessionConnectedSubject(sc)), "session.connected.local-workspace.local-project"},
		{must(natstransport.SessionDisconnectedSubject(sc)), "session.disconnected.local-workspace.local-project"},
		{must(natstransport.DurableName(sc, "chat")), "rt-local-workspace-local-project-chat"},
		{must(natstransport.DurableName(natstransport.Scope{WorkspaceID: "w.1", ProjectID: "p 1"}, "a*")), "rt-w%2E1-p%201-a%2A"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestSubjectErrorsNameTheField(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10<<10)
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"empty actor id", second(natstransport.InboundSubject(testScope, "chat", "")), "actor id is empty"},
		{"long actor id", second(natstransport.InboundSubject(testScope, "chat", long)), "actor id"},
		{"empty actor type", second(natstransport.InboundSubject(testScope, "", "x")), "actor type is empty"},
		{"empty workspace", second(natstransport.OutboundSubject(natstransport.Scope{ProjectID: "p"}, "s")), "workspace id is empty"},
		{"empty project", second(natstransport.SessionConnectedSubject(natstransport.Scope{WorkspaceID: "w"})), "project id is empty"},
		{"empty session", second(natstransport.OutboundSubject(testScope, "")), "session id is empty"},
		{"long type in durable", second(natstransport.DurableName(testScope, long)), "actor type"},
		{"filter", second(natstransport.InboundFilter(testScope, "")), "actor type is empty"},
		{"scope", natstransport.Scope{}.Validate(), "workspace id is empty"},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, natstransport.ErrInvalidToken) || !strings.Contains(fmtErr(tt.err), tt.field) {
			t.Errorf("%s: error %v, want ErrInvalidToken naming %q", tt.name, tt.err, tt.field)
		}
	}
	// The long id is quoted, but shortened.
	err := second(natstransport.InboundSubject(testScope, "chat", long))
	if len(err.Error()) > 200 {
		t.Errorf("error message is %d bytes long: %q", len(err.Error()), err)
	}
}

func second(_ string, err error) error { return err }

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseSubjects(t *testing.T) {
	t.Parallel()
	for _, id := range hostileIDs {
		subj, err := natstransport.InboundSubject(natstransport.Scope{WorkspaceID: id, ProjectID: id + "p"}, id+"t", id)
		if err != nil {
			if len(id) < natstransport.MaxTokenLength {
				t.Fatal(err)
			}
			continue // id+"p" is too long
		}
		sc, typ, aid, err := natstransport.ParseInboundSubject(subj)
		if err != nil || sc.WorkspaceID != id || sc.ProjectID != id+"p" || typ != id+"t" || aid != id {
			t.Errorf("ParseInboundSubject(%q) = %+v %q %q %v", shorten(subj), sc, shorten(typ), shorten(aid), err)
		}
		out, err := natstransport.OutboundSubject(testScope, id)
		if err != nil {
			t.Fatal(err)
		}
		if sc, sid, err := natstransport.ParseOutboundSubject(out); err != nil || sc != testScope || sid != id {
			t.Errorf("ParseOutboundSubject(%q) = %+v %q %v", shorten(out), sc, shorten(sid), err)
		}
	}
	for _, bad := range []string{"", "inbound", "inbound.a.b.c", "inbound.a.b.c.d.e", "outbound.a.b.c", "inbound.a.b.c.%2e", "inbound.a..c.d"} {
		if _, _, _, err := natstransport.ParseInboundSubject(bad); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("ParseInboundSubject(%q) error = %v, want ErrInvalidToken", bad, err)
		}
	}
}

func TestDurableNameLongIDs(t *testing.T) {
	t.Parallel()
	worst := strings.Repeat(".", natstransport.MaxTokenLength)
	sc := natstransport.Scope{WorkspaceID: worst, ProjectID: worst}
	seen := map[string]bool{}
	for _, typ := range []string{worst, worst[:255] + "*", "chat", "x" + worst[1:], strings.Repeat("a", 256)} {
		name, err := natstransport.DurableName(sc, typ)
		if err != nil {
			t.Fatal(err)
		}
		if len(name) > natstransport.MaxDurableNameLength {
			t.Errorf("durable name is %d bytes, limit %d", len(name), natstransport.MaxDurableNameLength)
		}
		if !strings.Contains(name, "%h") || strings.ContainsAny(name, ".*> \t\r\n/\\") {
			t.Errorf("durable name %q is not a shortened, safe name", name)
		}
		again, _ := natstransport.DurableName(sc, typ)
		if again != name {
			t.Errorf("DurableName is not deterministic: %q then %q", name, again)
		}
		if seen[name] {
			t.Errorf("two actor types share durable name %q", name)
		}
		seen[name] = true
	}
	// Cutting never splits an escape: what precedes "%h" decodes.
	for n := 1; n < 12; n++ {
		sc := natstransport.Scope{WorkspaceID: strings.Repeat("a", n), ProjectID: worst}
		name, err := natstransport.DurableName(sc, worst)
		if err != nil {
			t.Fatal(err)
		}
		prefix, _, _ := strings.Cut(name, "%h")
		last := prefix[strings.LastIndexByte(prefix, '-')+1:]
		if _, err := natstransport.DecodeToken(last); err != nil && last != "" {
			t.Errorf("n=%d: cut inside an escape: %q: %v", n, last, err)
		}
	}
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func FuzzInboundSubject(f *testing.F) {
	for _, s := range []string{"lobby", "a.b", "*", ">", " ", "", "é", "%", "%2E", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		subj, err := natstransport.InboundSubject(testScope, "chat", id)
		if err != nil {
			if !errors.Is(err, natstransport.ErrInvalidToken) || (id != "" && len(id) <= natstransport.MaxTokenLength) {
				t.Fatalf("id %q: unexpected error %v", id, err)
			}
			return
		}
		if strings.Count(subj, ".") != 4 || strings.ContainsAny(subj, "*> \t\r\n\x00") {
			t.Fatalf("id %q produced unsafe subject %q", id, subj)
		}
		_, _, got, err := natstransport.ParseInboundSubject(subj)
		if err != nil || got != id {
			t.Fatalf("id %q: subject %q parses to %q, %v", id, subj, got, err)
		}
	})
}

func FuzzTokenRoundTrip(f *testing.F) {
	for _, s := range []string{"lobby", "a.b", "%41", "%2e", "%2E", "%", "a%", "\x00", "é", "%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Encode then decode gives the id back.
		if tok, err := natstransport.EncodeToken(s); err == nil {
			if back, err := natstransport.DecodeToken(tok); err != nil || back != s {
				t.Fatalf("id %q: token %q decodes to %q, %v", s, tok, back, err)
			}
		}
		// Whatever decodes is the one canonical spelling of its id.
		if id, err := natstransport.DecodeToken(s); err == nil {
			if tok, err := natstransport.EncodeToken(id); err != nil || tok != s {
				t.Fatalf("token %q decodes to %q, which encodes to %q, %v", s, id, tok, err)
			}
		}
	})
}

func TestRuntimeReadySubject(t *testing.T) {
	scope := natstransport.Scope{WorkspaceID: "w.1", ProjectID: "p 2"}
	subj, err := natstransport.RuntimeReadySubject(scope)
	if err != nil || subj != "runtime.ready.w%2E1.p%202" {
		t.Fatalf("RuntimeReadySubject = %q, %v", subj, err)
	}
	back, err := natstransport.ParseRuntimeReadySubject(subj)
	if err != nil || back != scope {
		t.Fatalf("ParseRuntimeReadySubject(%q) = %+v, %v", subj, back, err)
	}
	if _, err := natstransport.RuntimeReadySubject(natstransport.Scope{ProjectID: "p"}); err == nil {
		t.Fatal("empty workspace id accepted")
	}
	for _, bad := range []string{"runtime.ready.a", "runtime.ready.a.b.c", "session.disconnected.a.b"} {
		if _, err := natstransport.ParseRuntimeReadySubject(bad); err == nil {
			t.Errorf("ParseRuntimeReadySubject(%q) accepted", bad)
		}
	}
}

// IsInboundSubject agrees with building the subject: true for exactly the
// subject InboundSubject returns, false for any other string and for ids
// InboundSubject refuses.
func FuzzIsInboundSubject(f *testing.F) {
	f.Add("lobby", "lobby", "inbound.w.p.chat.lobby")
	f.Add("a.b", "a%2Eb", "inbound.w.p.chat.a%2Eb")
	f.Add("", "", "inbound.w.p.chat.")
	f.Add("x", "y", "inbound.w.p.chat.x.y")
	f.Add("é", "%C3%A9", "inbound.w.p.chat")
	f.Fuzz(func(t *testing.T, id, other, subject string) {
		scope := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}
		want, err := natstransport.InboundSubject(scope, "chat", id)
		if got := natstransport.IsInboundSubject(want, scope, "chat", id); err == nil && !got {
			t.Fatalf("IsInboundSubject(%q, id %q) = false", want, id)
		}
		for _, s := range []string{subject, other, want + other} {
			got := natstransport.IsInboundSubject(s, scope, "chat", id)
			if got != (err == nil && s == want) {
				t.Fatalf("IsInboundSubject(%q, id %q) = %v; InboundSubject = %q, %v", s, id, got, want, err)
			}
		}
	})
}
