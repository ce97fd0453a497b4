package runtime

import (
	"encoding/json"
	"net/http"
)

// healthBody is the JSON of GET /health (the runtime contract, docs/ARCHITECTURE.md).
type healthBody struct {
	OK           bool     `json:"ok"`
	DeploymentID string   `json:"deploymentId"`
	ActorTypes   []string `json:"actorTypes"`
	DeployCount  int64    `json:"deployCount"`
	WorkspaceID  string   `json:"workspaceId"`
	ProjectID    string   `json:"projectId"`
}

// Handler returns the runtime's HTTP API: GET /health answers 200 with
// {"ok":true,"deploymentId","actorTypes":[...],"deployCount","workspaceId",
// "projectId"}. deployCount is 1 once Run has booted (the app's code is
// compiled in, so there is one deployment per process) and 0 before. Other
// paths get 404. The handler may be served before and after Run.
func (rt *Runtime) Handler() http.Handler { return rt.health }

func (rt *Runtime) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, err := json.Marshal(healthBody{
		OK:           true,
		DeploymentID: rt.cfg.DeploymentID,
		ActorTypes:   rt.names,
		DeployCount:  rt.deployCount.Load(),
		WorkspaceID:  rt.cfg.Scope.WorkspaceID,
		ProjectID:    rt.cfg.Scope.ProjectID,
	})
	if err != nil { // strings and numbers only: cannot happen
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
