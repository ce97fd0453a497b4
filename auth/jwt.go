package auth

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/zocket-go/zocket/protocol"
)

// JWT key refresh defaults.
const (
	// DefaultJWKSRefresh is how often a JWKS is fetched again.
	DefaultJWKSRefresh = time.Hour
	// DefaultJWKSMinRefresh is the least time between two fetches caused
	// by tokens with a key id the cached set lacks: a key rotated in is
	// found at once, and clients sending made-up key ids cost the key
	// server at most one fetch per interval.
	DefaultJWKSMinRefresh = time.Minute
	// jwksTimeout bounds one JWKS fetch.
	jwksTimeout = 10 * time.Second
)

// Algorithm groups for JWTConfig.Algorithms defaults.
var (
	hmacAlgorithms   = []string{"HS256", "HS384", "HS512"}
	publicAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// JWTConfig configures [NewJWT]. At least one of Secret, PublicKeys and
// JWKSURL is required; a token is accepted when one of them verifies it.
type JWTConfig struct {
	// Secret verifies HS256, HS384 and HS512 tokens.
	Secret []byte
	// PublicKeys verify RS*, PS*, ES* and EdDSA tokens (*rsa.PublicKey,
	// *ecdsa.PublicKey, ed25519.PublicKey); ParsePublicKeys reads them from
	// PEM.
	PublicKeys []crypto.PublicKey
	// JWKSURL is a JSON Web Key Set (https, or http on loopback) whose keys
	// verify tokens by their "kid". It is fetched at NewJWT, every
	// JWKSRefresh, and when a token names a key id the set lacks (at most
	// once per JWKSMinRefresh), so keys rotate without a restart.
	JWKSURL string
	// JWKSRefresh and JWKSMinRefresh default to DefaultJWKSRefresh and
	// DefaultJWKSMinRefresh.
	JWKSRefresh, JWKSMinRefresh time.Duration
	// HTTPClient fetches the JWKS; nil means http.DefaultClient.
	HTTPClient *http.Client

	// Algorithms are the accepted "alg" values. Empty means every HMAC
	// algorithm when Secret is set and every public-key one when
	// PublicKeys or JWKSURL is: never "none", never HMAC without a
	// secret.
	Algorithms []string
	// Issuer and Audience, when set, must match the token's "iss" and one
	// of its "aud".
	Issuer, Audience string
	// RequireExpiry refuses tokens without "exp".
	RequireExpiry bool
	// Leeway tolerates clock skew in "exp", "nbf" and "iat".
	Leeway time.Duration

	// WorkspaceClaim and ProjectClaim name string claims that give a
	// gateway's scope (Identity.WorkspaceID, ProjectID); a token without
	// them is refused. Empty means the gateway's configured scope.
	WorkspaceClaim, ProjectClaim string

	// Logger receives failed JWKS refreshes; nil means slog.Default().
	Logger *slog.Logger
}

// JWT authenticates connections by a JSON Web Token (see [Token] for where
// it is read from): the signature, "exp" and "nbf" always, "iss" and "aud"
// when configured. "sub" becomes the user id, and all claims reach
// middleware and hooks. A connection is closed when its token expires.
//
// Signatures are checked by github.com/golang-jwt/jwt/v5, JWKS keys
// fetched and cached by github.com/MicahParks/keyfunc/v3.
type JWT struct {
	cfg    JWTConfig
	parser *jwt.Parser
	jwks   keyfunc.Keyfunc // nil without JWKSURL
	stop   context.CancelFunc
}

// NewJWT checks cfg and, with a JWKSURL, fetches the key set once (a set
// that cannot be fetched yet is retried when tokens need it, and logged).
// Close stops the periodic refresh. A configuration it cannot use is an
// error wrapping protocol.ErrInvalidOption.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	if len(cfg.Secret) == 0 && len(cfg.PublicKeys) == 0 && cfg.JWKSURL == "" {
		return nil, fmt.Errorf("auth: %w: JWT needs a secret, public keys or a JWKS URL", protocol.ErrInvalidOption)
	}
	for _, k := range cfg.PublicKeys {
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("auth: %w: unsupported public key type %T", protocol.ErrInvalidOption, k)
		}
	}
	if len(cfg.Algorithms) == 0 {
		if len(cfg.Secret) > 0 {
			cfg.Algorithms = append(cfg.Algorithms, hmacAlgorithms...)
		}
		if len(cfg.PublicKeys) > 0 || cfg.JWKSURL != "" {
			cfg.Algorithms = append(cfg.Algorithms, publicAlgorithms...)
		}
	}
	for _, alg := range cfg.Algorithms {
		if !slices.Contains(hmacAlgorithms, alg) && !slices.Contains(publicAlgorithms, alg) {
			return nil, fmt.Errorf("auth: %w: unsupported JWT algorithm %q", protocol.ErrInvalidOption, alg)
		}
	}
	if (cfg.WorkspaceClaim == "") != (cfg.ProjectClaim == "") {
		return nil, fmt.Errorf("auth: %w: the workspace and project claims are named together or not at all", protocol.ErrInvalidOption)
	}
	if cfg.JWKSRefresh < 0 || cfg.JWKSMinRefresh < 0 || cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: %w: negative duration", protocol.ErrInvalidOption)
	}
	cfg.JWKSRefresh = cmp.Or(cfg.JWKSRefresh, DefaultJWKSRefresh)
	cfg.JWKSMinRefresh = cmp.Or(cfg.JWKSMinRefresh, DefaultJWKSMinRefresh)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	opts := []jwt.ParserOption{jwt.WithValidMethods(cfg.Algorithms), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.RequireExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	a := &JWT{cfg: cfg, parser: jwt.NewParser(opts...), stop: func() {}}
	if cfg.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWKSURL); err != nil {
			return nil, err
		}
		ctx, stop := context.WithCancel(context.Background())
		log := cfg.Logger
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:          cfg.HTTPClient,
			HTTPTimeout:     jwksTimeout,
			RefreshInterval: cfg.JWKSRefresh,
			// One fetch per JWKSMinRefresh for unknown key ids; a token
			// that finds the limiter empty is refused at once rather than
			// held for the next allowance (the wait is capped by
			// RateLimitWaitMax, which also bounds the fetch itself).
			RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.JWKSMinRefresh), 1),
			RateLimitWaitMax:  jwksTimeout,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					log.LogAttrs(ctx, slog.LevelWarn, "JWKS refresh failed", slog.String("url", u), slog.Any("err", err))
				}
			},
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("auth: %w: JWKS %s: %v", protocol.ErrInvalidOption, cfg.JWKSURL, err)
		}
		a.jwks, a.stop = kf, stop
	}
	return a, nil
}

// checkJWKSURL refuses key sets fetched in the clear from another host:
// whoever can change them in transit can sign tokens.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("auth: %w: JWKS URL: %v", protocol.ErrInvalidOption, err)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" {
			return nil
		}
		return fmt.Errorf("auth: %w: JWKS URL %s: use https (http only on loopback)", protocol.ErrInvalidOption, raw)
	}
	return fmt.Errorf("auth: %w: JWKS URL %s: not an http(s) URL", protocol.ErrInvalidOption, raw)
}

// Close stops refreshing the JWKS.
func (a *JWT) Close() error {
	a.stop()
	return nil
}

// Authenticate implements Authenticator.
func (a *JWT) Authenticate(r *http.Request) (Identity, error) {
	raw, ok := Token(r)
	if !ok {
		return Identity{}, fmt.Errorf("%w: no token", ErrUnauthenticated)
	}
	return a.Verify(r.Context(), raw)
}

// Verify checks a token and returns the identity it grants; errors wrap
// ErrUnauthenticated.
func (a *JWT) Verify(ctx context.Context, raw string) (Identity, error) {
	claims := jwt.MapClaims{}
	if _, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) { return a.key(ctx, t) }); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	id := Identity{Claims: map[string]any(claims)}
	if sub, err := claims.GetSubject(); err == nil {
		id.UserID = sub
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.Expires = exp.Time
	}
	if a.cfg.WorkspaceClaim != "" {
		ws, _ := claims[a.cfg.WorkspaceClaim].(string)
		proj, _ := claims[a.cfg.ProjectClaim].(string)
		if ws == "" || proj == "" {
			return Identity{}, fmt.Errorf("%w: token has no %q and %q string claims", ErrUnauthenticated,
				a.cfg.WorkspaceClaim, a.cfg.ProjectClaim)
		}
		id.WorkspaceID, id.ProjectID = ws, proj
	}
	return id, nil
}

// key returns the keys that may have signed t: the secret for HMAC, else
// the configured public keys and the JWKS key the token names.
func (a *JWT) key(ctx context.Context, t *jwt.Token) (any, error) {
	if _, hmac := t.Method.(*jwt.SigningMethodHMAC); hmac {
		if len(a.cfg.Secret) == 0 {
			return nil, errors.New("no secret for HMAC tokens")
		}
		return a.cfg.Secret, nil
	}
	var set jwt.VerificationKeySet
	for _, k := range a.cfg.PublicKeys {
		set.Keys = append(set.Keys, k)
	}
	if a.jwks != nil {
		k, err := a.jwks.KeyfuncCtx(ctx)(t)
		switch {
		case err == nil:
			if vk, ok := k.(jwt.VerificationKeySet); ok {
				set.Keys = append(set.Keys, vk.Keys...)
			} else {
				set.Keys = append(set.Keys, k)
			}
		case len(set.Keys) == 0:
			return nil, err
		}
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no key for this token")
	}
	return set, nil
}

// ParsePublicKeys reads every public key in PEM data: "PUBLIC KEY"
// (PKIX: RSA, ECDSA, Ed25519), "RSA PUBLIC KEY" (PKCS #1) and
// "CERTIFICATE" blocks (the certificate's key). Data without any, or with
// a block it cannot read, is an error wrapping protocol.ErrInvalidOption.
func ParsePublicKeys(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var k crypto.PublicKey
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("auth: %w: PEM %s block: %v", protocol.ErrInvalidOption, block.Type, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: %w: no public key in the PEM data", protocol.ErrInvalidOption)
	}
	return keys, nil
}
