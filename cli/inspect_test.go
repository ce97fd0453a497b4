package cli_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/natsembed/natstest"
)

// inspectGet GETs the inspector's API at base with the bearer token (none
// when empty), waiting until body holds want when the status is 200.
func inspectGet(t *testing.T, base, token, want string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"_inspect/api", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), want) || time.Now().After(deadline) {
			return resp.StatusCode, string(body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeInspector: serve mounts the inspector; with ADMIN_TOKEN every
// request needs the token.
func TestServeInspector(t *testing.T) {
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0", "ADMIN_TOKEN": "adm"}, wsLine, "serve")
	defer stop()
	increment(t, url)
	base := "http" + strings.TrimPrefix(url, "ws")
	if code, body := inspectGet(t, base, "", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d %s", code, body)
	}
	if code, body := inspectGet(t, base, "wrong", ""); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", code, body)
	}
	want := `"id":"cli-test","state":{"count":1`
	if code, body := inspectGet(t, base, "adm", want); code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("with the token: %d %s", code, body)
	}
}

// TestDevInspector: dev mounts the inspector of its runtime, open without
// a token.
func TestDevInspector(t *testing.T) {
	url, stop := started(t, counterApp(t), nil, wsLine, "dev", "-port", "0", "-nats-port", "0")
	defer stop()
	increment(t, url)
	want := `"method":"increment"`
	if code, body := inspectGet(t, "http"+strings.TrimPrefix(url, "ws"), "", want); code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("inspector: %d %s", code, body)
	}
}

var healthLine = regexp.MustCompile(`health at (http://\S+/)health`)

// TestRuntimeInspector: the runtime serves the inspector on its API port
// only with an admin token, and then only to requests that carry it.
func TestRuntimeInspector(t *testing.T) {
	srv := natstest.Run(t)
	env := map[string]string{"NATS_URL": srv.ClientURL(), "API_PORT": "0"}
	base, stop := started(t, counterApp(t), env, healthLine, "runtime")
	if code, body := inspectGet(t, base, "", ""); code != http.StatusNotFound {
		t.Errorf("without -admin-token: %d %s, want 404", code, body)
	}
	_ = stop() // it may not have finished booting: that is no matter here
	base, stop = started(t, counterApp(t), env, healthLine, "runtime", "-admin-token", "adm")
	defer stop()
	if code, body := inspectGet(t, base, "", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d %s", code, body)
	}
	if code, body := inspectGet(t, base, "adm", `"serving":true`); code != http.StatusOK || !strings.Contains(body, `"serving":true`) {
		t.Errorf("with the token: %d %s", code, body)
	}
}
