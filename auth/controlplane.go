package auth

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// AuthorizePath is the control plane's endpoint that authorizes a session.
const AuthorizePath = "/api/registry/authorize"

// DefaultControlPlaneTimeout bounds one authorization request.
const DefaultControlPlaneTimeout = 5 * time.Second

// maxAuthResponse caps the control plane's answer, claims included.
const maxAuthResponse = 1 << 20

// ControlPlane authenticates each connection by asking a control plane:
// POST {URL}/api/registry/authorize with {"host": the request's Host,
// "token": the "token" query parameter or null}. A 2xx answer
// {"workspaceId", "projectId", "userId", "claims"} grants that identity;
// any other status refuses the connection (401); an unreachable, slow or
// malformed control plane makes it 503.
type ControlPlane struct {
	// URL is the control plane's base URL (http or https).
	URL string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Timeout bounds one request; zero means DefaultControlPlaneTimeout.
	Timeout time.Duration
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
}

// Check reports whether c is usable: an error wrapping
// protocol.ErrInvalidOption when it is not.
func (c *ControlPlane) Check() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("auth: %w: control plane URL %q is not an http(s) URL", protocol.ErrInvalidOption, c.URL)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("auth: %w: negative control plane timeout", protocol.ErrInvalidOption)
	}
	return nil
}

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

// Authenticate implements Authenticator.
func (c *ControlPlane) Authenticate(r *http.Request) (Identity, error) {
	req := authRequest{Host: r.Host}
	if q := r.URL.Query(); q.Has("token") {
		tok := q.Get("token")
		req.Token = &tok
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: encode request: %v", ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), cmp.Or(c.Timeout, DefaultControlPlaneTimeout))
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+AuthorizePath, bytes.NewReader(body))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.Token != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.Token)
	}
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: control plane: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthResponse+1))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: control plane: read answer: %v", ErrUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Identity{}, fmt.Errorf("%w: refused by the control plane (status %d)", ErrUnauthenticated, resp.StatusCode)
	}
	if len(data) > maxAuthResponse {
		return Identity{}, fmt.Errorf("%w: control plane answer over %d bytes", ErrUnavailable, maxAuthResponse)
	}
	return parseAuthResponse(data)
}

// parseAuthResponse checks the control plane's answer: both scope ids
// present, userId a string or null, claims an object or null. (The
// gateway checks that the ids are usable in subjects.)
func parseAuthResponse(data []byte) (Identity, error) {
	var ar authResponse
	if err := json.Unmarshal(data, &ar); err != nil {
		return Identity{}, fmt.Errorf("%w: malformed control plane answer: %v", ErrUnavailable, err)
	}
	if ar.WorkspaceID == "" || ar.ProjectID == "" {
		return Identity{}, fmt.Errorf("%w: control plane answer without workspaceId and projectId", ErrUnavailable)
	}
	id := Identity{WorkspaceID: ar.WorkspaceID, ProjectID: ar.ProjectID, Claims: map[string]any{}}
	if ar.UserID != nil {
		id.UserID = *ar.UserID
	}
	if cl := bytes.TrimSpace(ar.Claims); len(cl) > 0 && string(cl) != "null" {
		if cl[0] != '{' {
			return Identity{}, fmt.Errorf("%w: control plane claims are not an object", ErrUnavailable)
		}
		// UseNumber keeps numbers exactly as the control plane wrote them.
		dec := json.NewDecoder(bytes.NewReader(cl))
		dec.UseNumber()
		if err := dec.Decode(&id.Claims); err != nil {
			return Identity{}, fmt.Errorf("%w: control plane claims: %v", ErrUnavailable, err)
		}
	}
	return id, nil
}
