package cli

import (
	"net/http"

	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/inspect"
)

// adminTokenFlag adds -admin-token, the token the live inspector
// (/_inspect/) requires. serve and dev mount the inspector without one
// too (they are local tools); runtime mounts it only with one.
func (f *flags) adminTokenFlag(required bool) *string {
	usage := "token every request to the live inspector at " + inspect.Prefix + " must carry (Authorization: Bearer, or ?token=); empty: the inspector is open"
	if required {
		usage = "serve the live inspector at " + inspect.Prefix + " on the API port, requiring this token (Authorization: Bearer, or ?token=); empty: no inspector"
	}
	return f.String("admin-token", "ADMIN_TOKEN", "", usage)
}

// mountInspector serves the inspector of the engine eng returns under
// inspect.Prefix and everything else with next.
func mountInspector(eng func() *engine.Engine, token string, next http.Handler) http.Handler {
	return inspect.Mount(inspect.Handler(inspect.Config{Engine: eng, Token: token}), next)
}
