package runtime_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/runtime"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chat := zocket.NewActor("chat", func() int { return 0 })
	zocket.Method(chat, "noop", func(*int, *zocket.Call, struct{}) (int, error) { return 0, nil })
	app := newApp(t, counterActor(nil), chat)
	rt, err := runtime.New(app, runtime.Config{NATS: e.nc, Scope: e.scope, DeploymentID: "dep-7"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt.Handler())
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
		return resp.StatusCode, string(b)
	}
	want := func(deployCount, role string, serving bool) string {
		return `{"ok":true,"deploymentId":"dep-7","actorTypes":["chat","counter"],"deployCount":` + deployCount +
			`,"workspaceId":"` + e.scope.WorkspaceID + `","projectId":"` + e.scope.ProjectID +
			`","role":"` + role + `","serving":` + strconv.FormatBool(serving) + `,"ready":` + strconv.FormatBool(serving) +
			map[bool]string{true: ``, false: `,"reason":"` + role + `"`}[serving] + `}`
	}
	if code, body := get("/health"); code != http.StatusOK {
		t.Fatalf("before Run: %d %s", code, body)
	} else {
		jsonEq(t, json.RawMessage(body), want("0", "starting", false))
	}
	if code, body := get("/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready before Run: %d %s", code, body)
	} else {
		jsonEq(t, json.RawMessage(body), want("0", "starting", false))
	}

	if _, err := e.run(rt, nil); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/health", "/ready"} {
		if code, body := get(path); code != http.StatusOK {
			t.Fatalf("%s after boot: %d %s", path, code, body)
		} else {
			jsonEq(t, json.RawMessage(body), want("1", "active", true))
		}
	}
	if code, _ := get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d", code)
	}
	resp, err := srv.Client().Post(srv.URL+"/health", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /health: %d", resp.StatusCode)
	}
}

// controlPlane records the reports it receives.
type controlPlane struct {
	*httptest.Server
	reports chan report
}

type report struct {
	auth string
	body map[string]any
}

func newControlPlane(t *testing.T) *controlPlane {
	cp := &controlPlane{reports: make(chan report, 10)}
	cp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != runtime.ReportPath {
			http.NotFound(w, r)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cp.reports <- report{auth: r.Header.Get("Authorization"), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cp.Close)
	return cp
}

func (cp *controlPlane) next(t *testing.T) report {
	t.Helper()
	select {
	case r := <-cp.reports:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no report")
		return report{}
	}
}

func TestReportReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cp := newControlPlane(t)
	e.start(newApp(t, counterActor(nil)), func(c *runtime.Config) {
		c.DeploymentID = "dep-1"
		c.ControlPlaneURL = cp.URL + "/"
		c.ControlPlaneToken = "secret-token"
		c.HTTPClient = cp.Client()
	})
	r := cp.next(t)
	if r.auth != "Bearer secret-token" {
		t.Errorf("authorization %q", r.auth)
	}
	b, _ := json.Marshal(r.body)
	jsonEq(t, b, `{"deploymentId":"dep-1","status":"ready","actorTypes":["counter"]}`)
}

// TestReportFailed boots against a NATS server without JetStream: Run
// fails and the control plane hears why.
func TestReportFailed(t *testing.T) {
	t.Parallel()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(waitTimeout) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cp := newControlPlane(t)
	rt, err := runtime.New(newApp(t, counterActor(nil)), runtime.Config{
		NATS: nc, DeploymentID: "dep-2", ControlPlaneURL: cp.URL, ControlPlaneToken: "tok", HTTPClient: cp.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Run(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "boot") {
		t.Fatalf("Run: %v, want a boot error", err)
	}
	r := cp.next(t)
	if r.auth != "Bearer tok" || r.body["deploymentId"] != "dep-2" || r.body["status"] != "failed" {
		t.Fatalf("report %+v", r)
	}
	if msg, _ := r.body["message"].(string); !strings.Contains(strings.ToLower(msg), "jetstream") {
		t.Errorf("message %q does not say what failed", msg)
	}
	if _, ok := r.body["actorTypes"]; ok {
		t.Errorf("failed report lists actor types: %+v", r.body)
	}
	select {
	case <-rt.Ready():
		t.Error("Ready closed after a failed boot")
	default:
	}
	if nc.IsClosed() {
		t.Error("Run closed the caller's connection")
	}
}
