package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/natstransport"
)

// AuthorizePath is the control-plane endpoint that authorizes a session.
const AuthorizePath = auth.AuthorizePath

// identity is what authentication grants a session.
type identity struct {
	scope   natstransport.Scope
	userID  *string        // nil: no user
	claims  map[string]any // never nil
	expires time.Time      // zero: never
}

// authenticator returns the gateway's authenticator: Config.Authenticator,
// else the control plane when one is configured, else none (nil). Its
// identities get the configured scope unless they name one, which must be
// usable in subjects.
func (g *Gateway) authenticator() auth.Authenticator {
	a := g.cfg.Authenticator
	if a == nil && g.cfg.ControlPlaneURL != "" {
		a = &auth.ControlPlane{URL: g.cfg.ControlPlaneURL, Token: g.cfg.ControlPlaneToken,
			Timeout: g.cfg.AuthTimeout, Client: g.cfg.HTTPClient}
	}
	if a == nil {
		return nil
	}
	return auth.Func(func(r *http.Request) (auth.Identity, error) {
		id, err := a.Authenticate(r)
		if err != nil {
			return id, err
		}
		if id.WorkspaceID == "" && id.ProjectID == "" {
			id.WorkspaceID, id.ProjectID = g.cfg.Scope.WorkspaceID, g.cfg.Scope.ProjectID
		}
		scope := natstransport.Scope{WorkspaceID: id.WorkspaceID, ProjectID: id.ProjectID}
		if err := scope.Validate(); err != nil {
			return auth.Identity{}, fmt.Errorf("%w: unusable scope: %v", auth.ErrUnavailable, err)
		}
		return id, nil
	})
}

// identityOf is the session identity of an admitted request.
func (g *Gateway) identityOf(r *http.Request) identity {
	a := wsconn.IdentityOf(r)
	id := identity{scope: natstransport.Scope{WorkspaceID: a.WorkspaceID, ProjectID: a.ProjectID},
		claims: a.Claims, expires: a.Expires}
	if id.scope == (natstransport.Scope{}) {
		id.scope = g.cfg.Scope
	}
	if a.UserID != "" {
		id.userID = &a.UserID
	}
	return id
}
