package inspect_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/inspect"
	"github.com/zocket-go/zocket/protocol"
)

type counter struct {
	Count int `json:"count"`
}

func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	a := zocket.NewActor("counter", func() counter { return counter{} })
	zocket.Method(a, "add", func(s *counter, c *zocket.Call, n int) (int, error) {
		if n < 0 {
			return 0, zocket.Errorf("no negatives")
		}
		s.Count += n
		return s.Count, nil
	})
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 16)
	e := engine.New(app, engine.Config{Host: engine.HostFunc(func(req *engine.Request, _ []engine.Outgoing) {
		if req != nil {
			done <- struct{}{}
		}
	})})
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	for _, n := range []string{"2", "-1"} {
		e.Dispatch(&engine.Request{SessionID: "s1", Frame: protocol.Frame{
			Type: protocol.TypeRPC, ID: "1", Actor: "counter", ActorID: "main", Method: "add", Input: json.RawMessage(n)}})
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("no answer")
		}
	}
	return e
}

func get(t *testing.T, h http.Handler, target, auth string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// snapshot is the part of the API's answer the tests read.
type snapshot struct {
	Serving   bool `json:"serving"`
	Instances []struct {
		Actor, ID string
		State     json.RawMessage
	} `json:"instances"`
	Calls []struct {
		Method, Error string
		Latency       int64
	} `json:"calls"`
}

func TestAPI(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	h := inspect.Handler(inspect.Config{Engine: func() *engine.Engine { return e }})
	var s snapshot
	deadline := time.Now().Add(10 * time.Second)
	for { // the instance publishes its state just after it answered
		res, body := get(t, h, "/_inspect/api", "")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("api: %d %s", res.StatusCode, body)
		}
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Instances) == 1 && string(s.Instances[0].State) == `{"count":2}` || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !s.Serving || len(s.Instances) != 1 || s.Instances[0].ID != "main" || string(s.Instances[0].State) != `{"count":2}` {
		t.Errorf("instances: %+v", s)
	}
	if len(s.Calls) != 2 || s.Calls[0].Error != "" || s.Calls[1].Error != "no negatives" || s.Calls[0].Latency <= 0 {
		t.Errorf("calls: %+v", s.Calls)
	}

	res, body := get(t, h, "/_inspect/", "")
	if res.StatusCode != 200 || !strings.Contains(body, `src="inspector.js"`) || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("page: %d %v %s", res.StatusCode, res.Header, body)
	}
	for _, path := range []string{"/_inspect/inspector.js", "/_inspect/inspector.css"} {
		if res, _ := get(t, h, path, ""); res.StatusCode != 200 {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
	if res, _ := get(t, h, "/_inspect/nope", ""); res.StatusCode != 404 {
		t.Errorf("unknown file: %d", res.StatusCode)
	}
	if res, _ := get(t, h, "/_inspect?x=1", ""); res.StatusCode != 301 || res.Header.Get("Location") != "/_inspect/?x=1" {
		t.Errorf("without slash: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	none := inspect.Handler(inspect.Config{Engine: func() *engine.Engine { return nil }})
	if _, body := get(t, none, "/_inspect/api", ""); body != `{"serving":false}` {
		t.Errorf("no engine: %s", body)
	}
}

// TestToken: with a token, every request needs it, the page's too.
func TestToken(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	h := inspect.Handler(inspect.Config{Engine: func() *engine.Engine { return e }, Token: "s3cret&"})
	for _, path := range []string{"/_inspect/", "/_inspect/api", "/_inspect/inspector.js", "/_inspect/?token=wrong", "/_inspect"} {
		for _, auth := range []string{"", "Bearer wrong", "Basic s3cret&"} {
			if res, _ := get(t, h, path, auth); res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %q: %d, want 401", path, auth, res.StatusCode)
			}
		}
	}
	if res, body := get(t, h, "/_inspect/api", "Bearer s3cret&"); res.StatusCode != 200 || !strings.Contains(body, `"serving":true`) {
		t.Errorf("bearer: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, h, "/_inspect/api?token=s3cret%26", ""); res.StatusCode != 200 {
		t.Errorf("?token=: %d", res.StatusCode)
	}
	// The page's files carry the token it was opened with.
	res, body := get(t, h, "/_inspect/?token=s3cret%26", "")
	if res.StatusCode != 200 || !strings.Contains(body, `src="inspector.js?token=s3cret%26"`) {
		t.Errorf("page: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, h, "/_inspect/inspector.js?token=s3cret%26", ""); res.StatusCode != 200 {
		t.Errorf("script with token: %d", res.StatusCode)
	}
}

func TestMount(t *testing.T) {
	t.Parallel()
	insp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "inspector") })
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pages") })
	h := inspect.Mount(insp, next)
	for path, want := range map[string]string{"/_inspect/": "inspector", "/_inspect": "inspector", "/_inspect/api": "inspector", "/": "pages", "/_inspector": "pages"} {
		if _, body := get(t, h, path, ""); body != want {
			t.Errorf("%s: %s, want %s", path, body, want)
		}
	}
	// Without pages, a host answers as it did before the inspector was
	// mounted: 426 at "/", 404 elsewhere.
	if res, _ := get(t, inspect.Mount(insp, nil), "/", ""); res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("nil next, /: %d, want 426", res.StatusCode)
	}
	if res, _ := get(t, inspect.Mount(insp, nil), "/other", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("nil next, /other: %d, want 404", res.StatusCode)
	}
}
