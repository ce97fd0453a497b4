package standalone

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/wsconfig"
)

// Config configures a [Server]. The zero value works for local development:
// every field states what its zero value means.
type Config struct {
	// Logger receives the server's and the engine's logs, with the keys
	// component, session_id and, on every line about a client frame,
	// request_id, actor, actor_id and method. Nil discards them.
	Logger *slog.Logger

	// Authenticator authenticates every WebSocket upgrade (see package
	// auth: JWT, or your own); the identity's user id and claims reach
	// every call of the connection (zocket.Call.UserID, Claims), and the
	// connection is closed when it expires. Nil lets everyone in, with no
	// user id and empty claims.
	Authenticator auth.Authenticator

	// WebSocket holds the limits of each client connection (frame size and
	// rate, send queue, write timeout, pings) and the browser origins
	// allowed, with the same meaning and defaults as in the gateway. The
	// zero value gives [wsconfig]'s defaults.
	WebSocket wsconfig.Settings

	// IdleTimeout is how long an actor instance with no connected client
	// stays in memory before OnDeactivate runs and it is evicted (see
	// [engine.Config]). Zero means 5 minutes; negative means never.
	IdleTimeout time.Duration

	// MaxQueue caps the rpc calls waiting on one actor instance; more are
	// answered with an "actor overloaded" error (see
	// [engine.Config]). Zero means 4096.
	MaxQueue int

	// MaxSessionQueue caps the frames of one connection waiting or running
	// on actor instances; more are refused at once ("too many requests in
	// flight"). Zero means 4096; negative means no cap.
	MaxSessionQueue int

	// MaxSubscriptions caps the subscriptions one connection holds; one
	// more is answered with a sub:error (see engine.Config). Zero means
	// engine.DefaultMaxSubscriptions (10,000); negative means no cap.
	MaxSubscriptions int

	// CallTimeout is how long a method handler may run before its context
	// is cancelled and the call fails with "call timed out", its changes
	// rolled back (see engine.Config). Zero means
	// engine.DefaultCallTimeout (30 s); negative means no deadline.
	CallTimeout time.Duration

	// MaxInstances caps the live actor instances: when it is reached, the
	// instance idle the longest is evicted to make room, and with none
	// idle a frame needing a new instance is refused at once ("too many
	// actor instances"). Zero means 100,000; negative means no cap.
	MaxInstances int

	// Pages, when set, serves every request other than /health and a
	// WebSocket upgrade at "/", for example a demo page at "/". When nil, a
	// plain request to "/" gets 426 Upgrade Required and other paths 404.
	Pages http.Handler

	// DrainTimeout bounds the graceful shutdown [Server.Run] and
	// [Server.Serve] perform once their context is cancelled. Zero means
	// 10 seconds.
	DrainTimeout time.Duration

	// Metrics receives the server's and its engine's metrics
	// (docs/METRICS.md); make it with metrics.New on the registry you
	// serve. Nil turns metrics off.
	Metrics *metrics.Metrics

	// TracerProvider, when set, traces every rpc with OpenTelemetry: a
	// span from the frame's read to its rpc:result, with the handler's
	// span under it. Nil turns tracing off.
	TracerProvider trace.TracerProvider
}

// DefaultDrainTimeout is what a zero Config.DrainTimeout means; the
// WebSocket settings' defaults are wsconfig's.
const DefaultDrainTimeout = 10 * time.Second

// withDefaults validates cfg and fills in defaults. Errors wrap
// zocket.ErrInvalidOption.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(field string, v any) (Config, error) {
		return cfg, fmt.Errorf("standalone: %w: %s must not be negative, got %v", zocket.ErrInvalidOption, field, v)
	}
	switch {
	case cfg.MaxQueue < 0:
		return bad("MaxQueue", cfg.MaxQueue)
	case cfg.DrainTimeout < 0:
		return bad("DrainTimeout", cfg.DrainTimeout)
	}
	ws, err := cfg.WebSocket.WithDefaults()
	if err != nil {
		return cfg, fmt.Errorf("standalone: %w", err) // wraps zocket.ErrInvalidOption
	}
	cfg.WebSocket = ws
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout)
	return cfg, nil
}
