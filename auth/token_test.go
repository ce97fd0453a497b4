package auth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/zocket-go/zocket/auth"
)

func TestToken(t *testing.T) {
	req := func(target string, headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
	cases := []struct {
		name string
		r    *http.Request
		want string
		ok   bool
	}{
		{"bearer header", req("/", "Authorization", "Bearer abc.def.ghi"), "abc.def.ghi", true},
		{"scheme any case", req("/", "Authorization", "bearer abc"), "abc", true},
		{"header over query", req("/?token=q", "Authorization", "Bearer h"), "h", true},
		{"subprotocol", req("/", "Sec-WebSocket-Protocol", "zocket, zocket.bearer.abc.def"), "abc.def", true},
		{"subprotocol header repeated", req("/", "Sec-WebSocket-Protocol", "chat", "Sec-WebSocket-Protocol", "zocket.bearer.x"), "x", true},
		{"subprotocol over query", req("/?token=q", "Sec-WebSocket-Protocol", "zocket.bearer.p"), "p", true},
		{"query", req("/?token=q.r.s"), "q.r.s", true},
		{"basic auth is no token", req("/", "Authorization", "Basic dXNlcjpwdw=="), "", false},
		{"basic auth, then query", req("/?token=q", "Authorization", "Basic dXNlcjpwdw=="), "q", true},
		{"empty bearer", req("/", "Authorization", "Bearer "), "", false},
		{"empty query", req("/?token="), "", false},
		{"none", req("/"), "", false},
		{"oversized", req("/?token=" + strings.Repeat("a", 17<<10)), "", false},
	}
	for _, c := range cases {
		got, ok := auth.Token(c.r)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: Token = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// Whatever the request, Token does not panic, and what it returns is
// non-empty, bounded, and found where it looked.
func FuzzToken(f *testing.F) {
	f.Add("Bearer abc", "zocket.bearer.x", "token=y")
	f.Add("bearer", ",,zocket.bearer.,", "token")
	f.Add("Basic x", "", "token=%zz")
	f.Fuzz(func(t *testing.T, authz, proto, query string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{RawQuery: query}}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if proto != "" {
			r.Header.Set("Sec-WebSocket-Protocol", proto)
		}
		tok, ok := auth.Token(r)
		if !ok {
			if tok != "" {
				t.Fatalf("no token, but %q", tok)
			}
			return
		}
		if tok == "" || len(tok) > 16<<10 {
			t.Fatalf("token of %d bytes", len(tok))
		}
		if !strings.Contains(authz, tok) && !strings.Contains(proto, tok) && r.URL.Query().Get("token") != tok {
			t.Fatalf("token %q found nowhere", tok)
		}
	})
}
