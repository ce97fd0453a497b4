package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/zocket-go/zocket/auth"
)

// Authentication modes of -auth.
const (
	authNone         = "none"
	authJWT          = "jwt"
	authControlPlane = "control-plane"
)

// authSettings is what the authentication flags decide.
type authSettings struct {
	// authn is nil for none; for the control plane, the gateway builds it
	// from ControlPlaneURL (cpURL, cpToken).
	authn          auth.Authenticator
	cpURL, cpToken string
	close          func() // stops the JWKS refresh
}

// authFlags adds the authentication flags of the commands that accept
// WebSockets and returns their parser. With gateway, the control plane and
// the JWT scope claims are offered too (the standalone server has one
// scope). The JWT secret is read from $JWT_SECRET or -jwt-secret-file,
// never a flag: flags show in process lists and in -h defaults.
func (f *flags) authFlags(gateway bool) func(log *slog.Logger) (authSettings, error) {
	modes := authNone + " or " + authJWT
	if gateway {
		modes = authNone + ", " + authJWT + " or " + authControlPlane
	}
	mode := f.String("auth", "AUTH", "", "how connections authenticate: "+modes+
		" (default: control-plane when -control-plane is set, else none)")
	secretFile := f.String("jwt-secret-file", "JWT_SECRET_FILE", "", "file holding the HS256/384/512 secret (or set JWT_SECRET)")
	keyFile := f.String("jwt-public-key", "JWT_PUBLIC_KEY_FILE", "", "PEM file of public keys or certificates verifying RS*, PS*, ES* and EdDSA tokens")
	jwksURL := f.String("jwks-url", "JWKS_URL", "", "JSON Web Key Set URL (https); keys are cached, refreshed hourly and on an unknown kid")
	issuer := f.String("jwt-issuer", "JWT_ISSUER", "", "required iss claim (empty: not checked)")
	audience := f.String("jwt-audience", "JWT_AUDIENCE", "", "required aud claim (empty: not checked)")
	algs := f.String("jwt-algorithms", "JWT_ALGORITHMS", "", "comma-separated accepted algorithms (empty: those the configured keys can verify)")
	requireExp := f.String("jwt-require-exp", "JWT_REQUIRE_EXP", "false", "refuse tokens without an exp claim")
	var wsClaim, projClaim, cpURL, cpToken *string
	if gateway {
		wsClaim = f.String("jwt-workspace-claim", "JWT_WORKSPACE_CLAIM", "", "claim naming the session's workspace (empty: -workspace)")
		projClaim = f.String("jwt-project-claim", "JWT_PROJECT_CLAIM", "", "claim naming the session's project (empty: -project)")
		cpURL = f.String("control-plane", "CONTROL_PLANE_URL", "", "control plane base URL, for -auth control-plane")
		cpToken = f.String("control-plane-token", "CONTROL_PLANE_INTERNAL_TOKEN", "", "bearer token for the control plane")
	}
	return func(log *slog.Logger) (authSettings, error) {
		s := authSettings{close: func() {}}
		m := *mode
		if m == "" {
			m = authNone
			if cpURL != nil && *cpURL != "" {
				m = authControlPlane
			}
		}
		jwtSet := *secretFile != "" || *keyFile != "" || *jwksURL != "" || *issuer != "" || *audience != "" || *algs != ""
		switch m {
		case authNone:
			if jwtSet {
				return s, fmt.Errorf("%w: JWT flags need -auth jwt", ErrUsage)
			}
			return s, nil
		case authControlPlane:
			if !gateway {
				return s, fmt.Errorf("%w: -auth %s is for the gateway", ErrUsage, m)
			}
			if *cpURL == "" {
				return s, fmt.Errorf("%w: -auth control-plane needs -control-plane (CONTROL_PLANE_URL)", ErrUsage)
			}
			s.cpURL, s.cpToken = *cpURL, *cpToken
			return s, nil
		case authJWT:
		default:
			return s, fmt.Errorf("%w: -auth %q: want %s", ErrUsage, m, modes)
		}
		cfg := auth.JWTConfig{JWKSURL: *jwksURL, Issuer: *issuer, Audience: *audience, Algorithms: splitList(*algs), Logger: log}
		if gateway {
			if *cpURL != "" {
				return s, fmt.Errorf("%w: -control-plane is for -auth control-plane", ErrUsage)
			}
			cfg.WorkspaceClaim, cfg.ProjectClaim = *wsClaim, *projClaim
		}
		switch strings.ToLower(*requireExp) {
		case "true", "1", "yes":
			cfg.RequireExpiry = true
		case "false", "0", "no", "":
		default:
			return s, fmt.Errorf("%w: -jwt-require-exp %q: want true or false", ErrUsage, *requireExp)
		}
		if secret := f.env.Getenv("JWT_SECRET"); secret != "" {
			cfg.Secret = []byte(secret)
		}
		if *secretFile != "" {
			data, err := os.ReadFile(*secretFile)
			if err != nil {
				return s, fmt.Errorf("%w: -jwt-secret-file: %v", ErrUsage, err)
			}
			cfg.Secret = []byte(strings.TrimRight(string(data), "\r\n"))
		}
		if *keyFile != "" {
			data, err := os.ReadFile(*keyFile)
			if err != nil {
				return s, fmt.Errorf("%w: -jwt-public-key: %v", ErrUsage, err)
			}
			if cfg.PublicKeys, err = auth.ParsePublicKeys(data); err != nil {
				return s, fmt.Errorf("%w: -jwt-public-key %s: %v", ErrUsage, *keyFile, err)
			}
		}
		a, err := auth.NewJWT(cfg)
		if err != nil {
			return s, fmt.Errorf("%w: -auth jwt: %v", ErrUsage, err)
		}
		s.authn, s.close = a, func() { _ = a.Close() }
		return s, nil
	}
}
