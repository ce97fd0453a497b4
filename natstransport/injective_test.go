package natstransport_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
)

// clashingScopes are pairs of scopes whose ids join to the same string
// with '-' or '.', the separators of durable names and subjects.
var clashingScopes = [][2]natstransport.Scope{
	{{WorkspaceID: "a-b", ProjectID: "c"}, {WorkspaceID: "a", ProjectID: "b-c"}},
	{{WorkspaceID: "a.b", ProjectID: "c"}, {WorkspaceID: "a", ProjectID: "b.c"}},
	{{WorkspaceID: "a=2E", ProjectID: "b"}, {WorkspaceID: "a.", ProjectID: "b"}},
	{{WorkspaceID: "a%2E", ProjectID: "b"}, {WorkspaceID: "a.", ProjectID: "b"}},
	{{WorkspaceID: "a b", ProjectID: "c"}, {WorkspaceID: "a", ProjectID: "b c"}},
}

func TestLeaseKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scope natstransport.Scope
		want  string
	}{
		{natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}, "local-workspace.local-project"},
		{natstransport.Scope{WorkspaceID: "ws.8", ProjectID: "proj 8"}, "ws=2E8.proj=208"},
		{natstransport.Scope{WorkspaceID: "a=b", ProjectID: "c@d+e%"}, "a=3Db.c=40d=2Be=25"},
		{natstransport.Scope{WorkspaceID: "é", ProjectID: "_-"}, "=C3=A9._-"},
	} {
		got, err := natstransport.LeaseKey(tc.scope)
		if err != nil || got != tc.want {
			t.Errorf("LeaseKey(%+v) = %q, %v; want %q", tc.scope, got, err, tc.want)
			continue
		}
		back, err := natstransport.ParseLeaseKey(got)
		if err != nil || back != tc.scope {
			t.Errorf("ParseLeaseKey(%q) = %+v, %v; want %+v", got, back, err, tc.scope)
		}
	}
	for _, bad := range []string{"", "a", "a.b.c", ".b", "a.", "a..b", "a=41.b", "a=4.b", "a=4g.b", "a=2e.b", "a@.b", "a%2E.b", "a b.c"} {
		if s, err := natstransport.ParseLeaseKey(bad); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("ParseLeaseKey(%q) = %+v, %v; want ErrInvalidToken", bad, s, err)
		}
	}
	for _, bad := range []natstransport.Scope{{ProjectID: "p"}, {WorkspaceID: "w"}, {WorkspaceID: strings.Repeat("x", natstransport.MaxTokenLength+1), ProjectID: "p"}} {
		if _, err := natstransport.LeaseKey(bad); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("LeaseKey(%+v): %v, want ErrInvalidToken", bad, err)
		}
	}
}

// kvKey is what nats.go accepts as a key-value key.
var kvKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func FuzzLeaseKey(f *testing.F) {
	for _, s := range hostileIDs {
		f.Add(s, "p")
	}
	f.Add("a-b", "c")
	f.Add("a=", "=")
	f.Fuzz(func(t *testing.T, ws, proj string) {
		scope := natstransport.Scope{WorkspaceID: ws, ProjectID: proj}
		key, err := natstransport.LeaseKey(scope)
		if err != nil {
			if scope.Validate() == nil {
				t.Fatalf("LeaseKey(%+v): %v", scope, err)
			}
			return
		}
		if !kvKey.MatchString(key) || strings.Count(key, ".") != 1 {
			t.Fatalf("LeaseKey(%+v) = %q: not one valid key-value key of two tokens", scope, key)
		}
		back, err := natstransport.ParseLeaseKey(key)
		if err != nil || back != scope {
			t.Fatalf("LeaseKey(%+v) = %q parses to %+v, %v", scope, key, back, err)
		}
	})
}

// FuzzNamesInjective checks that two different (scope, actor type, id)
// tuples never share a subject of any family, that a runtime consumer's
// filter of one never matches the other's inbound subject, and that two
// different scopes never share a lease key. Durable names are the one
// exception, by design (see DurableName): the filter decides.
func FuzzNamesInjective(f *testing.F) {
	for _, p := range clashingScopes {
		f.Add(p[0].WorkspaceID, p[0].ProjectID, "t", "i", p[1].WorkspaceID, p[1].ProjectID, "t", "i")
	}
	f.Add("w", "p", "a.b", "c", "w", "p", "a", "b.c")
	f.Add("w", "p", "a", "b%2Ec", "w", "p", "a", "b.c")
	f.Fuzz(func(t *testing.T, ws1, p1, a1, i1, ws2, p2, a2, i2 string) {
		s1 := natstransport.Scope{WorkspaceID: ws1, ProjectID: p1}
		s2 := natstransport.Scope{WorkspaceID: ws2, ProjectID: p2}
		same := s1 == s2 && a1 == a2 && i1 == i2
		check := func(what string, f func(natstransport.Scope, string, string) (string, error), sameInput bool) {
			t.Helper()
			x, err1 := f(s1, a1, i1)
			y, err2 := f(s2, a2, i2)
			if err1 != nil || err2 != nil {
				return
			}
			if (x == y) != sameInput {
				t.Fatalf("%s: %+v %q %q gives %q, %+v %q %q gives %q", what, s1, a1, i1, x, s2, a2, i2, y)
			}
		}
		check("inbound subject", natstransport.InboundSubject, same)
		check("instance subject", natstransport.InstanceSubject, same)
		check("session subject", func(s natstransport.Scope, a, _ string) (string, error) {
			return natstransport.OutboundSubject(s, a)
		}, s1 == s2 && a1 == a2)
		check("runtime filter", func(s natstransport.Scope, a, _ string) (string, error) {
			return natstransport.InboundFilter(s, a)
		}, s1 == s2 && a1 == a2)
		for _, g := range []func(natstransport.Scope) (string, error){
			natstransport.SessionConnectedSubject, natstransport.SessionDisconnectedSubject,
			natstransport.SessionAliveSubject, natstransport.RuntimeReadySubject, natstransport.LeaseKey,
		} {
			check("scope name", func(s natstransport.Scope, _, _ string) (string, error) { return g(s) }, s1 == s2)
		}

		// A session subject is never an instance subject.
		if sess, err := natstransport.OutboundSubject(s1, a1); err == nil {
			if inst, err := natstransport.InstanceSubject(s2, a2, i2); err == nil && sess == inst {
				t.Fatalf("session subject %q is also an instance subject", sess)
			}
		}
		// A runtime consumer reads exactly its scope and type.
		filter, err1 := natstransport.InboundFilter(s1, a1)
		subject, err2 := natstransport.InboundSubject(s2, a2, i2)
		if err1 == nil && err2 == nil {
			if matches(filter, subject) != (s1 == s2 && a1 == a2) {
				t.Fatalf("filter %q and subject %q: match %v", filter, subject, matches(filter, subject))
			}
		}
	})
}

// matches reports whether subject matches a filter that may end in ">".
func matches(filter, subject string) bool {
	if prefix, ok := strings.CutSuffix(filter, ">"); ok {
		return strings.HasPrefix(subject, prefix) && len(subject) > len(prefix)
	}
	return filter == subject
}

func TestParseInboundFilter(t *testing.T) {
	t.Parallel()
	scope := natstransport.Scope{WorkspaceID: "a-b", ProjectID: "c.d"}
	filter, err := natstransport.InboundFilter(scope, "led ger")
	if err != nil {
		t.Fatal(err)
	}
	s, typ, err := natstransport.ParseInboundFilter(filter)
	if err != nil || s != scope || typ != "led ger" {
		t.Fatalf("ParseInboundFilter(%q) = %+v, %q, %v", filter, s, typ, err)
	}
	for _, bad := range []string{"inbound.a.b.c", "inbound.a.b.>", "inbound.a.b.c.d.>", "outbound.a.b.c.>", "inbound.a.b.c.*"} {
		if _, _, err := natstransport.ParseInboundFilter(bad); err == nil {
			t.Errorf("ParseInboundFilter(%q) accepted", bad)
		}
	}
}

// TestNamesApartOnServer checks on a real server that scopes whose ids
// join alike keep their messages and lease keys apart: each scope's
// runtime filter reads only its own inbound message, and each lease key is
// its own entry in a key-value bucket.
func TestNamesApartOnServer(t *testing.T) {
	t.Parallel()
	js := setup(t)
	ctx := ctxT(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natstransport.LeaseBucket, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	var scopes []natstransport.Scope
	for _, p := range clashingScopes {
		for _, s := range p {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	for i, s := range scopes {
		key, err := natstransport.LeaseKey(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Create(ctx, key, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("lease key %q of %+v: %v", key, s, err)
		}
		subject, err := natstransport.InboundSubject(s, "t", "i")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subject, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range scopes {
		key, _ := natstransport.LeaseKey(s)
		e, err := kv.Get(ctx, key)
		if err != nil || string(e.Value()) != fmt.Sprint(i) {
			t.Errorf("lease key of %+v holds %v, %v; want %d", s, e, err, i)
		}
		filter, _ := natstransport.InboundFilter(s, "t")
		c, err := js.CreateConsumer(ctx, natstransport.InboundStream, jetstream.ConsumerConfig{
			Name: fmt.Sprint("c", i), FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := c.CachedInfo().NumPending; n != 1 {
			t.Errorf("filter %s of %+v sees %d messages, want its own one", filter, s, n)
		}
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil || string(m.Data()) != fmt.Sprint(i) {
			t.Errorf("filter %s of %+v read %v, %v", filter, s, m, err)
		}
	}
}
