package gateway_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// In JWT mode the token's subject and claims travel in the inbound
// envelopes, the scope comes from named claims, and the session ends with
// its token.
func TestJWTSessions(t *testing.T) {
	t.Parallel()
	secret := []byte("gateway test secret")
	a, err := auth.NewJWT(auth.JWTConfig{Secret: secret, WorkspaceClaim: "ws", ProjectClaim: "proj"})
	if err != nil {
		t.Fatal(err)
	}
	scope := natstransport.Scope{WorkspaceID: "acme", ProjectID: "chat.prod"}
	r := newRig(t, gateway.Config{Authenticator: a})
	rt := startRuntime(t, r.srv, scope, true, "chat")

	exp := time.Now().Add(3 * time.Second)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "ada", "ws": "acme", "proj": "chat.prod", "role": "admin", "exp": jwt.NewNumericDate(exp),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, r.url+"?token="+tok)
	c.welcome()
	res := decodeEcho(t, c.call("1", "chat", "lobby", "say", ""))
	if res.Subject != "inbound.acme.chat%2Eprod.chat.lobby" {
		t.Fatalf("subject = %q, want the token's scope", res.Subject)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(rt.next().raw, &env); err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(env["claims"], &claims); err != nil {
		t.Fatal(err)
	}
	if string(env["userId"]) != `"ada"` || claims["role"] != "admin" || claims["sub"] != "ada" {
		t.Fatalf("envelope userId %s, claims %s", env["userId"], env["claims"])
	}
	code, reason := c.closeStatus()
	if code != protocol.CloseAuthExpired || reason != "credential expired" {
		t.Fatalf("session closed with %d %q, want 4002", code, reason)
	}

	// A token without the scope claims is refused.
	bare, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ada"}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tryDial(t, r.url+"?token="+bare); dialStatus(err) != 401 {
		t.Fatalf("token without scope claims: %v, want status 401", err)
	}
	if st := r.gw.Stats(); st.AuthRefused != 1 {
		t.Fatalf("AuthRefused = %d, want 1", st.AuthRefused)
	}
}
