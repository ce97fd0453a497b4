package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
)

// controlPlane is a test control plane; answer decides each reply.
type controlPlane struct {
	*httptest.Server
	seen chan authCall
}

type authCall struct {
	method, path, auth, contentType string
	body                            map[string]json.RawMessage
}

func newControlPlane(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, call authCall)) *controlPlane {
	t.Helper()
	cp := &controlPlane{seen: make(chan authCall, 16)}
	cp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		call := authCall{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		if err := json.Unmarshal(data, &call.body); err != nil {
			t.Errorf("control plane: body %s: %v", data, err)
		}
		cp.seen <- call
		answer(w, r, call)
	}))
	t.Cleanup(cp.Close)
	return cp
}

func TestControlPlaneAuthorizes(t *testing.T) {
	t.Parallel()
	scope := natstransport.Scope{WorkspaceID: "ws-1", ProjectID: "proj.a"}
	cp := newControlPlane(t, func(w http.ResponseWriter, r *http.Request, call authCall) {
		w.Header().Set("Content-Type", "application/json")
		if string(call.body["token"]) == "null" {
			_, _ = w.Write([]byte(`{"workspaceId":"ws-1","projectId":"proj.a","userId":null,"claims":null}`))
			return
		}
		_, _ = w.Write([]byte(`{"workspaceId":"ws-1","projectId":"proj.a","userId":"user-7","claims":{"role":"admin","big":12345678901234567890,"tags":["a"]}}`))
	})
	r := newRig(t, gateway.Config{ControlPlaneURL: cp.URL + "/", ControlPlaneToken: "s3cret"})
	rt := startRuntime(t, r.srv, scope, true, "chat")
	connectedSubj, _ := natstransport.SessionConnectedSubject(scope)
	connected := notices(t, r.nc, connectedSubj)

	c := dial(t, r.url+"?token=tok%20en")
	id := c.welcome()
	call := <-cp.seen
	host := strings.TrimPrefix(r.hs.URL, "http://")
	if call.method != http.MethodPost || call.path != "/api/registry/authorize" || call.auth != "Bearer s3cret" ||
		call.contentType != "application/json" {
		t.Fatalf("authorize request = %+v", call)
	}
	if len(call.body) != 2 || string(call.body["host"]) != `"`+host+`"` || string(call.body["token"]) != `"tok en"` {
		t.Fatalf("authorize body = %v, want host %q and token \"tok en\"", call.body, host)
	}
	res := decodeEcho(t, c.call("1", "chat", "lobby", "say", ""))
	if res.Subject != "inbound.ws-1.proj%2Ea.chat.lobby" {
		t.Fatalf("subject = %q, want the control plane's scope", res.Subject)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(rt.next().raw, &env); err != nil {
		t.Fatal(err)
	}
	if string(env["scope"]) != `{"workspaceId":"ws-1","projectId":"proj.a"}` || string(env["sessionId"]) != `"`+id+`"` ||
		string(env["userId"]) != `"user-7"` || string(env["claims"]) != `{"big":12345678901234567890,"role":"admin","tags":["a"]}` {
		t.Fatalf("envelope = %v", env)
	}
	var cn natstransport.SessionConnected
	err := json.Unmarshal(nextMsg(t, connected).Data, &cn)
	if err != nil || cn.SessionID != id || cn.UserID == nil || *cn.UserID != "user-7" || cn.Scope != scope {
		t.Fatalf("session.connected = %+v (%v)", cn, err)
	}

	// Without ?token= the body says null; null claims become {}.
	c2 := dial(t, r.url)
	c2.welcome()
	if call := <-cp.seen; string(call.body["token"]) != "null" {
		t.Fatalf("token without ?token= = %s, want null", call.body["token"])
	}
	decodeEcho(t, c2.call("2", "chat", "lobby", "say", ""))
	if err := json.Unmarshal(rt.next().raw, &env); err != nil {
		t.Fatal(err)
	}
	if string(env["userId"]) != "null" || string(env["claims"]) != "{}" {
		t.Fatalf("anonymous envelope: userId %s, claims %s", env["userId"], env["claims"])
	}
}

func TestControlPlaneRefusals(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	answers := map[string]func(http.ResponseWriter, *http.Request){
		"forbidden": func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusForbidden) },
		"error":     func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
		"slow": func(w http.ResponseWriter, r *http.Request) {
			select { // until the gateway gives up (or the test ends)
			case <-r.Context().Done():
			case <-release:
			}
		},
		"no scope": func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"userId":"u"}`)) },
		"not json": func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`<html>`)) },
		"bad claims": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"workspaceId":"w","projectId":"p","claims":[1]}`))
		},
	}
	cp := newControlPlane(t, func(w http.ResponseWriter, r *http.Request, call authCall) {
		var tok string
		_ = json.Unmarshal(call.body["token"], &tok)
		answers[tok](w, r)
	})
	r := newRig(t, gateway.Config{ControlPlaneURL: cp.URL, AuthTimeout: 300 * time.Millisecond})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	unreachable := newRigOn(t, r.srv, gateway.Config{ControlPlaneURL: dead.URL})

	tests := []struct {
		name, url string
		want      int
	}{
		{"non-2xx refuses with 401", r.url + "?token=forbidden", http.StatusUnauthorized},
		{"5xx refuses with 401", r.url + "?token=error", http.StatusUnauthorized},
		{"slow control plane: 503 after AuthTimeout", r.url + "?token=slow", http.StatusServiceUnavailable},
		{"answer without scope: 503", r.url + "?token=no%20scope", http.StatusServiceUnavailable},
		{"answer not JSON: 503", r.url + "?token=not%20json", http.StatusServiceUnavailable},
		{"claims not an object: 503", r.url + "?token=bad%20claims", http.StatusServiceUnavailable},
		{"unreachable control plane: 503", unreachable.url, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := tryDial(t, tt.url)
		if got := dialStatus(err); got != tt.want {
			t.Errorf("%s: dial = %v, want status %d", tt.name, err, tt.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: refusal took %v", tt.name, d)
		}
	}
	if s := r.gw.Stats(); s.AuthRefused != 2 || s.AuthUnavailable != 4 || s.SessionsTotal != 0 {
		t.Fatalf("stats = %+v", s)
	}
}
