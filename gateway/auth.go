package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/zocket-go/zocket/natstransport"
)

// AuthorizePath is the control-plane endpoint that authorizes a session.
const AuthorizePath = "/api/registry/authorize"

// maxAuthResponse caps the control plane's answer, claims included.
const maxAuthResponse = 1 << 20

// identity is what authorization grants a session.
type identity struct {
	scope  natstransport.Scope
	userID *string        // nil: no user
	claims map[string]any // never nil
}

// Authorization outcomes that refuse an upgrade.
var (
	// errRefused: the control plane answered with a non-2xx status (401).
	errRefused = errors.New("refused by the control plane")
	// errAuthUnavailable: the control plane could not be reached in time or
	// gave an unusable answer (503).
	errAuthUnavailable = errors.New("control plane unavailable")
)

type authRequest struct {
	Host  string  `json:"host"`
	Token *string `json:"token"`
}

type authResponse struct {
	WorkspaceID string          `json:"workspaceId"`
	ProjectID   string          `json:"projectId"`
	UserID      *string         `json:"userId"`
	Claims      json.RawMessage `json:"claims"`
}

// authorize returns the identity of a session opened by r: the fixed dev
// scope without a control plane, otherwise what the control plane grants.
// Errors wrap errRefused or errAuthUnavailable.
func (g *Gateway) authorize(r *http.Request) (identity, error) {
	if g.cfg.ControlPlaneURL == "" {
		return identity{scope: g.cfg.Scope, claims: map[string]any{}}, nil
	}
	req := authRequest{Host: r.Host}
	if q := r.URL.Query(); q.Has("token") {
		tok := q.Get("token")
		req.Token = &tok
	}
	body, err := json.Marshal(req)
	if err != nil {
		return identity{}, fmt.Errorf("%w: encode request: %v", errAuthUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.AuthTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, g.authURL, bytes.NewReader(body))
	if err != nil {
		return identity{}, fmt.Errorf("%w: %v", errAuthUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if g.cfg.ControlPlaneToken != "" {
		hreq.Header.Set("Authorization", "Bearer "+g.cfg.ControlPlaneToken)
	}
	resp, err := g.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return identity{}, fmt.Errorf("%w: %v", errAuthUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthResponse+1))
	if err != nil {
		return identity{}, fmt.Errorf("%w: read answer: %v", errAuthUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return identity{}, fmt.Errorf("%w: status %d", errRefused, resp.StatusCode)
	}
	if len(data) > maxAuthResponse {
		return identity{}, fmt.Errorf("%w: answer over %d bytes", errAuthUnavailable, maxAuthResponse)
	}
	return parseAuthResponse(data)
}

// parseAuthResponse checks the control plane's answer: both scope ids
// usable in subjects, userId a string or null, claims an object or null.
func parseAuthResponse(data []byte) (identity, error) {
	var ar authResponse
	if err := json.Unmarshal(data, &ar); err != nil {
		return identity{}, fmt.Errorf("%w: malformed answer: %v", errAuthUnavailable, err)
	}
	id := identity{
		scope:  natstransport.Scope{WorkspaceID: ar.WorkspaceID, ProjectID: ar.ProjectID},
		userID: ar.UserID,
		claims: map[string]any{},
	}
	if err := id.scope.Validate(); err != nil {
		return identity{}, fmt.Errorf("%w: unusable scope: %v", errAuthUnavailable, err)
	}
	if c := bytes.TrimSpace(ar.Claims); len(c) > 0 && string(c) != "null" {
		if c[0] != '{' {
			return identity{}, fmt.Errorf("%w: claims are not an object", errAuthUnavailable)
		}
		// UseNumber keeps numbers exactly as the control plane wrote them.
		dec := json.NewDecoder(strings.NewReader(string(c)))
		dec.UseNumber()
		if err := dec.Decode(&id.claims); err != nil {
			return identity{}, fmt.Errorf("%w: claims: %v", errAuthUnavailable, err)
		}
	}
	return id, nil
}
