package auth

import (
	"errors"
	"net/http"
	"time"
)

// Identity is what authentication grants a connection. Hosts attach the
// user id and claims to every call the connection makes (zocket.Call's
// UserID and Claims, and through them middleware and hooks).
type Identity struct {
	// UserID is the authenticated user (a JWT's "sub"); empty for none.
	UserID string
	// Claims are the token's claims, or what the control plane granted;
	// never nil once returned by an Authenticator of this package.
	Claims map[string]any
	// WorkspaceID and ProjectID are the scope a gateway serves the
	// connection in. Empty means the gateway's configured scope; the
	// standalone server has one scope and ignores them.
	WorkspaceID, ProjectID string
	// Expires is when the credential ends; the host closes the connection
	// then, with protocol.CloseAuthExpired. Zero means never.
	Expires time.Time
}

// Authenticator authenticates the HTTP request that opens a WebSocket.
// It is called before the upgrade, concurrently from many connections.
// Errors wrap ErrUnauthenticated (the host answers 401 with the error's
// text) or ErrUnavailable (503); anything else counts as unavailable.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// Func adapts a function to an Authenticator.
type Func func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f Func) Authenticate(r *http.Request) (Identity, error) { return f(r) }

var (
	// ErrUnauthenticated refuses a connection whose credential is missing,
	// invalid or refused: 401 Unauthorized.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrUnavailable refuses a connection because the authority could not
	// be asked: 503 Service Unavailable, the client may retry.
	ErrUnavailable = errors.New("authentication unavailable")
)

// Status is the HTTP status that refuses an upgrade after err: 401 for
// ErrUnauthenticated, 503 for anything else.
func Status(err error) int {
	if errors.Is(err, ErrUnauthenticated) {
		return http.StatusUnauthorized
	}
	return http.StatusServiceUnavailable
}
