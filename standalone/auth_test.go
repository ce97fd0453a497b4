package standalone_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/standalone"
)

var testSecret = []byte("standalone test secret")

func hs256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jwtServer(t *testing.T) *harness {
	t.Helper()
	a, err := auth.NewJWT(auth.JWTConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return start(t, standalone.Config{Authenticator: a})
}

// dialStatus tries an upgrade and returns the refusal's status and body
// (0 when the upgrade succeeded).
func dialStatus(t *testing.T, url string, opts *websocket.DialOptions) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), readTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, opts)
	if err == nil {
		_ = ws.CloseNow()
		return 0, ""
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The token's subject and claims reach the actor's methods, whichever of
// the three places carries it.
func TestJWTIdentityReachesCalls(t *testing.T) {
	t.Parallel()
	h := jwtServer(t)
	tok := hs256(t, jwt.MapClaims{"sub": "ada", "role": "admin"})
	for name, dial := range map[string]func() *client{
		"bearer header": func() *client {
			return dialURLWith(t, h.url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
		},
		"subprotocol": func() *client {
			return dialURLWith(t, h.url, &websocket.DialOptions{Subprotocols: []string{auth.SubprotocolPrefix + tok}})
		},
		"query": func() *client { return dialURL(t, h.url+"?token="+tok) },
	} {
		c := dial()
		if f := c.read(); f.Type != protocol.TypeWelcome {
			t.Fatalf("%s: first frame %+v", name, f)
		}
		var who whoami
		if err := json.Unmarshal(c.call("x", "whoami", nil), &who); err != nil {
			t.Fatal(err)
		}
		if who.User != "ada" || who.Role != "admin" {
			t.Errorf("%s: the call saw %+v, want ada/admin", name, who)
		}
	}
	if st := h.srv.Stats(); st.AuthRefused != 0 {
		t.Fatalf("AuthRefused = %d", st.AuthRefused)
	}
}

func TestJWTRefusedUpgrade(t *testing.T) {
	t.Parallel()
	h := jwtServer(t)
	status, body := dialStatus(t, h.url, nil)
	if status != http.StatusUnauthorized || !strings.Contains(body, "no token") {
		t.Fatalf("no token: %d %q, want 401 saying so", status, body)
	}
	expired := hs256(t, jwt.MapClaims{"sub": "ada", "exp": jwt.NewNumericDate(time.Now().Add(-time.Minute))})
	status, body = dialStatus(t, h.url+"?token="+expired, nil)
	if status != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("expired token: %d %q, want 401 saying so", status, body)
	}
	if st := h.srv.Stats(); st.AuthRefused != 2 {
		t.Fatalf("AuthRefused = %d, want 2", st.AuthRefused)
	}
}

// A connection whose token expires is closed with CloseAuthExpired.
func TestJWTExpiryClosesConnection(t *testing.T) {
	t.Parallel()
	h := jwtServer(t)
	exp := time.Now().Add(1500 * time.Millisecond)
	c := dialURL(t, h.url+"?token="+hs256(t, jwt.MapClaims{"sub": "ada", "exp": jwt.NewNumericDate(exp)}))
	c.expect(protocol.TypeWelcome)
	c.call("x", "increment", nil)
	for {
		if _, err := c.readRaw(); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != protocol.CloseAuthExpired {
				t.Fatalf("connection ended with %v, want %d", err, protocol.CloseAuthExpired)
			}
			break
		}
	}
	if early := time.Until(exp); early > time.Second { // exp has second precision
		t.Fatalf("closed %v before the token expired", early)
	}
}
