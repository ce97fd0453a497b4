package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/protocol"
)

var secret = []byte("test secret, long enough for HS512 to make sense here")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJWT(t *testing.T, cfg auth.JWTConfig) *auth.JWT {
	t.Helper()
	a, err := auth.NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func future() *jwt.NumericDate { return jwt.NewNumericDate(time.Now().Add(time.Hour)) }

func TestJWTSharedSecret(t *testing.T) {
	a := newJWT(t, auth.JWTConfig{Secret: secret, Issuer: "https://issuer.example", Audience: "zocket"})
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		tok := sign(t, m, secret, jwt.MapClaims{
			"sub": "ada", "iss": "https://issuer.example", "aud": []string{"other", "zocket"},
			"exp": jwt.NewNumericDate(exp), "role": "admin",
		}, "")
		id, err := a.Authenticate(bearer(tok))
		if err != nil {
			t.Fatalf("%s: %v", m.Alg(), err)
		}
		if id.UserID != "ada" || id.Claims["role"] != "admin" || !id.Expires.Equal(exp) || id.WorkspaceID != "" {
			t.Fatalf("%s: identity %+v", m.Alg(), id)
		}
	}
}

func TestJWTRefusals(t *testing.T) {
	a := newJWT(t, auth.JWTConfig{Secret: secret, Issuer: "iss", Audience: "aud", RequireExpiry: true})
	ok := jwt.MapClaims{"sub": "ada", "iss": "iss", "aud": "aud", "exp": future()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range ok {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, ok).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"wrong secret":     sign(t, jwt.SigningMethodHS256, []byte("another secret"), ok, ""),
		"expired":          sign(t, jwt.SigningMethodHS256, secret, with("exp", jwt.NewNumericDate(time.Now().Add(-time.Minute))), ""),
		"not yet valid":    sign(t, jwt.SigningMethodHS256, secret, with("nbf", future()), ""),
		"wrong issuer":     sign(t, jwt.SigningMethodHS256, secret, with("iss", "mallory"), ""),
		"wrong audience":   sign(t, jwt.SigningMethodHS256, secret, with("aud", "elsewhere"), ""),
		"no expiry":        sign(t, jwt.SigningMethodHS256, secret, with("exp", nil), ""),
		"alg none":         unsigned,
		"no key for RS256": sign(t, jwt.SigningMethodRS256, rsaKey, ok, ""),
		"garbage":          "not.a.token",
	}
	for name, tok := range cases {
		_, err := a.Authenticate(bearer(tok))
		if !errors.Is(err, auth.ErrUnauthenticated) || auth.Status(err) != http.StatusUnauthorized {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
	if _, err := a.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil)); !errors.Is(err, auth.ErrUnauthenticated) ||
		!strings.Contains(err.Error(), "no token") {
		t.Errorf("no token: err = %v", err)
	}
}

// An HMAC token signed with a public key's bytes as the secret (the
// classic algorithm confusion) is refused when only public keys are
// configured.
func TestJWTNoAlgorithmConfusion(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keys, err := auth.ParsePublicKeys(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	a := newJWT(t, auth.JWTConfig{PublicKeys: keys})
	forged := sign(t, jwt.SigningMethodHS256, pemBytes, jwt.MapClaims{"sub": "mallory"}, "")
	if _, err := a.Authenticate(bearer(forged)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("HS256 token signed with the public key accepted: %v", err)
	}
	good := sign(t, jwt.SigningMethodES256, key, jwt.MapClaims{"sub": "ada"}, "")
	if id, err := a.Authenticate(bearer(good)); err != nil || id.UserID != "ada" {
		t.Fatalf("ES256: %+v, %v", id, err)
	}
}

func pemOf(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestJWTPublicKeysPEM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(append(pemOf(t, &rsaKey.PublicKey), pemOf(t, &ecKey.PublicKey)...), pemOf(t, edPub)...)
	keys, err := auth.ParsePublicKeys(bundle)
	if err != nil || len(keys) != 3 {
		t.Fatalf("ParsePublicKeys: %d keys, %v", len(keys), err)
	}
	a := newJWT(t, auth.JWTConfig{PublicKeys: keys})
	for _, c := range []struct {
		m   jwt.SigningMethod
		key any
	}{{jwt.SigningMethodRS256, rsaKey}, {jwt.SigningMethodPS256, rsaKey}, {jwt.SigningMethodES256, ecKey}, {jwt.SigningMethodEdDSA, edKey}} {
		id, err := a.Authenticate(bearer(sign(t, c.m, c.key, jwt.MapClaims{"sub": c.m.Alg()}, "")))
		if err != nil || id.UserID != c.m.Alg() {
			t.Errorf("%s: %+v, %v", c.m.Alg(), id, err)
		}
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, other, jwt.MapClaims{"sub": "x"}, ""))); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("token of an unknown RSA key: %v", err)
	}
	if _, err := auth.ParsePublicKeys([]byte("no pem here")); !errors.Is(err, protocol.ErrInvalidOption) {
		t.Errorf("ParsePublicKeys(garbage) = %v", err)
	}
}

func TestJWTScopeClaims(t *testing.T) {
	a := newJWT(t, auth.JWTConfig{Secret: secret, WorkspaceClaim: "ws", ProjectClaim: "proj"})
	id, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"ws": "acme", "proj": "chat"}, "")))
	if err != nil || id.WorkspaceID != "acme" || id.ProjectID != "chat" {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if _, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"ws": "acme"}, ""))); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("token without a project claim: %v", err)
	}
}

func TestJWTConfigErrors(t *testing.T) {
	for name, cfg := range map[string]auth.JWTConfig{
		"no keys":          {},
		"bad algorithm":    {Secret: secret, Algorithms: []string{"none"}},
		"half a scope":     {Secret: secret, WorkspaceClaim: "ws"},
		"plain http JWKS":  {JWKSURL: "http://keys.example.com/jwks.json"},
		"not a URL":        {JWKSURL: "ftp://keys.example.com"},
		"negative leeway":  {Secret: secret, Leeway: -time.Second},
		"unsupported type": {PublicKeys: []crypto.PublicKey{"a string"}},
	} {
		if _, err := auth.NewJWT(cfg); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
}

// jwksServer serves a key set that the test can replace, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve replaces the set with the public halves of keys, by key id.
func (s *jwksServer) serve(t *testing.T, keys map[string]any) {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for kid, pub := range keys {
		k, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	body, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

// Keys rotate without a restart: a token naming a key id the cached set
// lacks makes the authenticator fetch the set again, at most once per
// JWKSMinRefresh; a key removed from the set stops verifying tokens after
// the next refresh.
func TestJWTJWKSRotation(t *testing.T) {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, k3, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t)
	srv.serve(t, map[string]any{"k1": &k1.PublicKey})
	a := newJWT(t, auth.JWTConfig{JWKSURL: srv.URL, JWKSMinRefresh: time.Hour})
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	tok1 := sign(t, jwt.SigningMethodRS256, k1, jwt.MapClaims{"sub": "one"}, "k1")
	if id, err := a.Authenticate(bearer(tok1)); err != nil || id.UserID != "one" {
		t.Fatalf("k1: %+v, %v", id, err)
	}

	// Rotation: k2 replaces k1 at the key server.
	srv.serve(t, map[string]any{"k2": &k2.PublicKey})
	tok2 := sign(t, jwt.SigningMethodES256, k2, jwt.MapClaims{"sub": "two"}, "k2")
	if id, err := a.Authenticate(bearer(tok2)); err != nil || id.UserID != "two" {
		t.Fatalf("k2 after rotation: %+v, %v", id, err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want 2", n)
	}
	// k1 left the set with that refresh.
	if _, err := a.Authenticate(bearer(tok1)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("k1 after it left the set: %v", err)
	}

	// Another unknown key id within JWKSMinRefresh: refused at once, no
	// fetch (clients cannot make the key server busy).
	srv.serve(t, map[string]any{"k2": &k2.PublicKey, "k3": k3.Public()})
	tok3 := sign(t, jwt.SigningMethodEdDSA, k3, jwt.MapClaims{"sub": "three"}, "k3")
	start := time.Now()
	if _, err := a.Authenticate(bearer(tok3)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("k3 within the refresh limit: %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("refused after %v: held for the rate limit", waited)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2", n)
	}
}

// A key server down at start does not prevent starting; keys are fetched
// when a token needs them.
func TestJWTJWKSLateKeyServer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t)
	down := atomic.Bool{}
	down.Store(true)
	inner := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		inner.ServeHTTP(w, r)
	})
	srv.serve(t, map[string]any{"k": &key.PublicKey})
	a := newJWT(t, auth.JWTConfig{JWKSURL: srv.URL})
	down.Store(false)
	if id, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": "late"}, "k"))); err != nil || id.UserID != "late" {
		t.Fatalf("%+v, %v", id, err)
	}
}
