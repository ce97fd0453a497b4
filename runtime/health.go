package runtime

import (
	"encoding/json"
	"net/http"
)

// healthBody is the JSON of GET /health and GET /ready (the runtime
// contract, docs/ARCHITECTURE.md, plus role and serving).
type healthBody struct {
	OK           bool     `json:"ok"`
	DeploymentID string   `json:"deploymentId"`
	ActorTypes   []string `json:"actorTypes"`
	DeployCount  int64    `json:"deployCount"`
	WorkspaceID  string   `json:"workspaceId"`
	ProjectID    string   `json:"projectId"`
	Role         Role     `json:"role"`
	Serving      bool     `json:"serving"`
	Ready        bool     `json:"ready"`
	Reason       string   `json:"reason,omitempty"`
}

// Reasons /ready gives for a runtime that does not serve, besides its role
// ("starting", "standby", "draining", "stopped").
const (
	notReadyNATS   = "NATS disconnected"            // the NATS connection is down or closed
	notReadyFabric = "streams or consumers missing" // the last check found them gone, and they are not back yet
)

// notReady returns why the runtime does not serve its scope, or "".
func (rt *Runtime) notReady(role Role) string {
	switch {
	case role != RoleActive:
		return string(role)
	case !rt.cfg.NATS.IsConnected():
		return notReadyNATS
	case !rt.fabricOK.Load():
		return notReadyFabric
	}
	return ""
}

// Handler returns the runtime's HTTP API. GET /health answers 200 with
// {"ok":true,"deploymentId","actorTypes":[...],"deployCount","workspaceId",
// "projectId","role","serving","ready","reason"}: the process is alive
// whatever it does.
// deployCount is 1 once Run has first served (the app's code is compiled
// in, so there is one deployment per process) and 0 before. role is
// "starting", "standby" (another runtime serves the scope; this one waits
// to take over), "active", "draining" or "stopped"; serving is true only
// when active, connected to NATS, and its streams and consumers were in
// place at the last check (every 2 s: after a nats-server restart lost
// them, the runtime puts them back and serves again); ready is serving
// again, and reason, only when not serving, says why: the role
// ("starting", "standby", "draining", "stopped"), "NATS disconnected" or
// "streams or consumers missing". GET /ready answers the same body, with
// 200 when serving and 503 otherwise, for readiness probes and load
// balancers that must tell the active runtime from its standbys. Other paths get 404. The handler
// may be served before and after Run.
func (rt *Runtime) Handler() http.Handler { return rt.health }

func (rt *Runtime) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" && r.URL.Path != "/ready" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	role := rt.Role()
	reason := rt.notReady(role)
	serving := reason == ""
	b, err := json.Marshal(healthBody{
		OK:           true,
		DeploymentID: rt.cfg.DeploymentID,
		ActorTypes:   rt.names,
		DeployCount:  rt.deployCount.Load(),
		WorkspaceID:  rt.cfg.Scope.WorkspaceID,
		ProjectID:    rt.cfg.Scope.ProjectID,
		Role:         role,
		Serving:      serving,
		Ready:        serving,
		Reason:       reason,
	})
	if err != nil { // strings and numbers only: cannot happen
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/ready" && !serving {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write(b)
}
