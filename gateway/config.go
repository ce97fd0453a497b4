package gateway

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/wsconfig"
)

// Config configures a [Gateway]. Only NATS is required; every other field
// states what its zero value means.
type Config struct {
	// NATS is the connection to the NATS server or cluster, with JetStream
	// enabled. Required. The caller owns it: the gateway never closes it.
	// Close it after [Gateway.Shutdown] has returned, so that the last
	// session.disconnected notices get out.
	NATS *nats.Conn

	// Streams are the operator settings of INBOUND and OUTBOUND. [New]
	// ensures both streams with them (natstransport.EnsureStreams) before it
	// returns. The zero value gives the seed's table. Every gateway and
	// runtime of a deployment must use the same settings.
	Streams natstransport.StreamSettings

	// Scope is the workspace and project of every session whose
	// authentication names none (no authenticator, or a JWT without scope
	// claims). Zero means local-workspace/local-project; a partly set Scope
	// is an error. The control plane names the scope of each session.
	Scope natstransport.Scope

	// Authenticator authenticates every upgrade (see package auth: JWT,
	// the control plane, or your own). Nil means the control plane when
	// ControlPlaneURL is set, else none: every session gets Scope, a null
	// user id and empty claims.
	Authenticator auth.Authenticator

	// ControlPlaneURL is the base URL of the control plane, for example
	// "https://cp.example.com": with no Authenticator, every upgrade is
	// authorized with POST {ControlPlaneURL}/api/registry/authorize
	// (auth.ControlPlane).
	ControlPlaneURL string

	// ControlPlaneToken is sent to the control plane as
	// "Authorization: Bearer {token}". Empty sends no Authorization header.
	ControlPlaneToken string

	// AuthTimeout bounds one authorization request to the control plane. A
	// control plane that does not answer in time refuses the upgrade with
	// 503 Service Unavailable. Zero means 5 seconds.
	AuthTimeout time.Duration

	// HTTPClient makes the authorization requests. Nil means a client of
	// its own with the standard transport (AuthTimeout still applies).
	HTTPClient *http.Client

	// WebSocket holds the limits of each client connection (frame size and
	// rate, send queue, write timeout, pings) and the browser origins
	// allowed, with the same meaning and defaults as in the standalone
	// server, except MaxFrameBytes: zero means the server's max payload
	// (nats.Conn.MaxPayload) minus EnvelopeReserve, but at least half the
	// max payload, so that the inbound envelope around the frame still fits
	// in one NATS message, and a set value must be below the max payload.
	// A frame whose envelope does not fit (huge claims) gets an rpc:result
	// error. The frames of a session disconnected for a full send queue
	// stay in OUTBOUND until they age out.
	WebSocket wsconfig.Settings

	// ActorCheckTTL is how long the answer to "does a runtime serve this
	// actor type?" (does its durable consumer exist on INBOUND?) is cached,
	// whether yes or no. A frame for a type nobody serves is never published;
	// an rpc gets an "unknown actor type" error at once. Zero means 2
	// seconds: a runtime that has just booted is reachable after at most
	// that long.
	ActorCheckTTL time.Duration

	// PublishTimeout bounds the JetStream acknowledgement of one client
	// frame published to INBOUND. An rpc whose publish fails or times out
	// gets an rpc:result error. Zero means 5 seconds.
	PublishTimeout time.Duration

	// CallTimeout is how long the gateway waits for the rpc:result of a
	// call it published. A call unanswered by then gets an rpc:result
	// error [protocol.ErrCallTimeout] at once, which says that it may or
	// may not have run; an answer that arrives later is dropped, so that the client
	// never hears twice about one call. Zero means DefaultCallTimeout
	// (30 s); negative waits forever.
	CallTimeout time.Duration

	// MaxCallsInFlight is the window of one session's calls: with that
	// many published and unanswered, the gateway reads the session's next
	// frame only once one is answered (or times out), so a client that
	// pipelines more is slowed down by TCP backpressure, not refused. It
	// bounds how many calls of one session can be stored in INBOUND ahead
	// of other sessions' calls to the same actor type, which the runtime
	// consumes in stream order. Zero means DefaultMaxCallsInFlight (64).
	MaxCallsInFlight int

	// JetStreamTimeout bounds the other JetStream API requests: creating a
	// session's consumer (a session whose consumer is not created in time is
	// closed with code 1013), deleting it, and the actor check. Zero means
	// 10 seconds.
	JetStreamTimeout time.Duration

	// BootTimeout bounds EnsureStreams in [New]. Zero means 30 seconds.
	BootTimeout time.Duration

	// DrainTimeout bounds the graceful shutdown [Gateway.Run] and
	// [Gateway.Serve] perform when their context is cancelled. Zero means
	// 10 seconds.
	DrainTimeout time.Duration

	// Pages, when set, serves every plain (non-WebSocket) request except
	// GET /health, for example a landing page at "/". When nil, a plain
	// request to "/" gets 426 Upgrade Required and other paths 404.
	Pages http.Handler

	// Delivery is how server frames reach this gateway; every runtime of
	// the deployment must use the same. natstransport.DeliveryCore (the
	// zero value's choice): core NATS subscriptions, one per session and
	// one per watched instance, with gap detection and recovery from
	// OUTBOUND. natstransport.DeliveryConsumer: one ordered consumer per
	// session, as the seed describes.
	Delivery natstransport.Delivery

	// DeliveryBuffer is how many live messages (DeliveryCore) may wait
	// for the gateway's dispatcher; past it NATS drops them and the gateway
	// recovers them from OUTBOUND. Zero means DefaultDeliveryBuffer
	// (65,536).
	DeliveryBuffer int

	// RecoveryTimeout bounds the recovery of missed frames from OUTBOUND
	// (DeliveryCore). A session whose frames could not be recovered in
	// time is closed with protocol.CloseFramesLost, except that a state subscriber
	// missing only patches gets a fresh snapshot instead. Zero means
	// DefaultRecoveryTimeout (3 s).
	RecoveryTimeout time.Duration

	// AliveInterval is how often the gateway names its open sessions on
	// session.alive (DeliveryCore), so that runtimes can expire the
	// sessions of a gateway that died. Zero means DefaultAliveInterval
	// (10 s); it should be well under the runtimes' session sweep (30 s).
	AliveInterval time.Duration

	// Logger receives the gateway's logs, with component=gateway and, per
	// session, ws, proj and session_id; a line about a client frame adds
	// request_id (also sent to the runtime in natstransport.HeaderRequest),
	// actor, actor_id and method. Nil discards them.
	Logger *slog.Logger

	// Metrics receives the gateway's metrics (docs/METRICS.md): make it
	// with metrics.New on the registry you serve. Nil turns them off.
	Metrics *metrics.Metrics

	// TracerProvider, when set, traces every rpc with OpenTelemetry: a
	// span from the frame's read to its rpc:result, with its publish to
	// INBOUND as a child, and the W3C trace context in the message's
	// headers, so that the runtime's spans join the same trace. Nil turns
	// tracing off.
	TracerProvider trace.TracerProvider
}

// Defaults of the Config fields whose zero value means "default"; the
// WebSocket settings' defaults are wsconfig's.
const (
	DefaultWorkspaceID      = "local-workspace"
	DefaultProjectID        = "local-project"
	DefaultAuthTimeout      = 5 * time.Second
	DefaultActorCheckTTL    = 2 * time.Second
	DefaultPublishTimeout   = 5 * time.Second
	DefaultJetStreamTimeout = 10 * time.Second
	DefaultBootTimeout      = 30 * time.Second
	DefaultDrainTimeout     = 10 * time.Second
	DefaultDeliveryBuffer   = 1 << 16
	DefaultRecoveryTimeout  = 3 * time.Second
	DefaultAliveInterval    = 10 * time.Second
	DefaultCallTimeout      = 30 * time.Second
	DefaultMaxCallsInFlight = 64

	// EnvelopeReserve is the room left for the inbound envelope (scope,
	// session id, user id, claims) when MaxFrameBytes is derived from the
	// server's max payload.
	EnvelopeReserve = 64 << 10
)

// withDefaults validates cfg and fills in defaults. Errors wrap
// protocol.ErrInvalidOption.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return cfg, fmt.Errorf("gateway: %w: %s", protocol.ErrInvalidOption, fmt.Sprintf(format, args...))
	}
	if cfg.NATS == nil {
		return bad("NATS connection is required")
	}
	for name, d := range map[string]time.Duration{
		"AuthTimeout": cfg.AuthTimeout, "ActorCheckTTL": cfg.ActorCheckTTL,
		"PublishTimeout": cfg.PublishTimeout, "JetStreamTimeout": cfg.JetStreamTimeout,
		"BootTimeout": cfg.BootTimeout, "DrainTimeout": cfg.DrainTimeout,
		"RecoveryTimeout": cfg.RecoveryTimeout, "AliveInterval": cfg.AliveInterval,
	} {
		if d < 0 {
			return bad("%s must not be negative, got %v", name, d)
		}
	}
	switch {
	case cfg.MaxCallsInFlight < 0:
		return bad("MaxCallsInFlight must not be negative, got %d", cfg.MaxCallsInFlight)
	case cfg.DeliveryBuffer < 0:
		return bad("DeliveryBuffer must not be negative, got %d", cfg.DeliveryBuffer)
	}
	d, err := natstransport.ParseDelivery(string(cfg.Delivery))
	if err != nil {
		return cfg, fmt.Errorf("gateway: %w", err) // wraps protocol.ErrInvalidOption
	}
	cfg.Delivery = d
	if cfg.Authenticator != nil && cfg.ControlPlaneURL != "" {
		return bad("set Authenticator or ControlPlaneURL, not both")
	}
	if cfg.ControlPlaneURL != "" {
		if err := (&auth.ControlPlane{URL: cfg.ControlPlaneURL, Timeout: cfg.AuthTimeout}).Check(); err != nil {
			return bad("ControlPlaneURL: %v", err)
		}
	}
	if cfg.Scope == (natstransport.Scope{}) {
		cfg.Scope = natstransport.Scope{WorkspaceID: DefaultWorkspaceID, ProjectID: DefaultProjectID}
	}
	if err := cfg.Scope.Validate(); err != nil {
		return bad("Scope: %v", err)
	}
	maxPayload := cfg.NATS.MaxPayload()
	if maxPayload <= 0 {
		return bad("NATS connection is not connected (max payload unknown)")
	}
	ws := &cfg.WebSocket
	if ws.MaxFrameBytes == 0 {
		ws.MaxFrameBytes = max(maxPayload-EnvelopeReserve, maxPayload/2)
	} else if ws.MaxFrameBytes >= maxPayload {
		return bad("WebSocket.MaxFrameBytes %d leaves no room for the envelope under the server's max payload of %d bytes", ws.MaxFrameBytes, maxPayload)
	}
	if *ws, err = ws.WithDefaults(); err != nil {
		return cfg, fmt.Errorf("gateway: %w", err) // wraps protocol.ErrInvalidOption
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cfg.AuthTimeout = cmp.Or(cfg.AuthTimeout, DefaultAuthTimeout)
	cfg.ActorCheckTTL = cmp.Or(cfg.ActorCheckTTL, DefaultActorCheckTTL)
	cfg.PublishTimeout = cmp.Or(cfg.PublishTimeout, DefaultPublishTimeout)
	cfg.JetStreamTimeout = cmp.Or(cfg.JetStreamTimeout, DefaultJetStreamTimeout)
	cfg.BootTimeout = cmp.Or(cfg.BootTimeout, DefaultBootTimeout)
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout)
	cfg.DeliveryBuffer = cmp.Or(cfg.DeliveryBuffer, DefaultDeliveryBuffer)
	cfg.RecoveryTimeout = cmp.Or(cfg.RecoveryTimeout, DefaultRecoveryTimeout)
	cfg.AliveInterval = cmp.Or(cfg.AliveInterval, DefaultAliveInterval)
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, DefaultCallTimeout)
	cfg.MaxCallsInFlight = cmp.Or(cfg.MaxCallsInFlight, DefaultMaxCallsInFlight)
	return cfg, nil
}
