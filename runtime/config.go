package runtime

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/natstransport"
)

// Defaults for the Config fields whose zero value means "default".
const (
	DefaultWorkspaceID    = "local-workspace"
	DefaultProjectID      = "local-project"
	DefaultDeploymentID   = "local"
	DefaultMaxAckPending  = natstransport.DefaultMaxAckPending // 256
	DefaultAckWait        = natstransport.DefaultAckWait       // 30 s
	DefaultPublishWindow  = 4096
	DefaultPublishTimeout = 5 * time.Second
	DefaultPublishRetries = 3
	DefaultNakDelay       = time.Second
	DefaultDrainTimeout   = 20 * time.Second
	DefaultReportTimeout  = 10 * time.Second
	DefaultSessionSweep   = 30 * time.Second
	DefaultLeaseTTL       = 5 * time.Second
)

// Bounds of Config.LeaseTTL. The holder refreshes its lease every third of
// the TTL, so a shorter one costs requests without speeding up much; a
// longer one must stay well under the lease bucket's max age (an hour),
// which only removes the keys of runtimes long gone.
const (
	MinLeaseTTL = 100 * time.Millisecond
	MaxLeaseTTL = 10 * time.Minute
)

// Config configures a [Runtime]. Apart from NATS, the zero value works for
// local development: every field states what its zero value means.
type Config struct {
	// NATS is the connection the runtime uses for JetStream and core NATS.
	// Required. The caller owns it: the runtime never closes or drains it.
	NATS *nats.Conn

	// Scope is the (workspace, project) whose actors the runtime serves. An
	// empty WorkspaceID means DefaultWorkspaceID ("local-workspace"), an
	// empty ProjectID DefaultProjectID ("local-project").
	Scope natstransport.Scope

	// Streams are the settings of INBOUND and OUTBOUND, which the runtime
	// creates or checks at boot. The zero value gives the seed's table
	// (memory storage, 60 s and 30 s max age, one replica). Every gateway
	// and runtime of a deployment must use the same settings.
	Streams natstransport.StreamSettings

	// Delivery is how server frames reach gateways; every gateway of the
	// deployment must use the same. natstransport.DeliveryCore (the zero
	// value's choice) publishes the frames for every subscriber of an
	// instance once, on the instance's subject, and numbers every frame
	// for the gateways' gap detection; DeliveryConsumer publishes a copy
	// per session, unnumbered, as the seed describes.
	Delivery natstransport.Delivery

	// DeploymentID names this deployment in /health and in control-plane
	// reports. Empty means DefaultDeploymentID ("local").
	DeploymentID string

	// MaxAckPending caps the messages of one actor type in processing at
	// once, across all its instances (the durable consumer's max ack
	// pending). ActorMaxAckPending overrides it for the types it names.
	// Zero means DefaultMaxAckPending (256).
	MaxAckPending int

	// ActorMaxAckPending sets MaxAckPending for single actor types, by
	// name: a type whose calls are slow, or must run few at a time,
	// gets a cap of its own. Every name must be an actor type of the app
	// and every value non-negative; zero, or a type not named, means
	// MaxAckPending.
	ActorMaxAckPending map[string]int

	// AckWait is how long JetStream waits for the ack of an inbound message
	// before redelivering it (the consumer's ack wait). Work that takes
	// longer is kept alive with in-progress acks sent every AckWait/3, so
	// AckWait bounds how long a crashed runtime's work waits for
	// redelivery, not how long a handler may run. Zero means
	// DefaultAckWait (30 s).
	AckWait time.Duration

	// PublishWindow caps outbound publishes awaiting their JetStream ack.
	// When it is full, actor instances wait before sending more, so a slow
	// NATS server slows the actors down instead of growing memory. Zero
	// means DefaultPublishWindow (4096).
	PublishWindow int

	// PublishTimeout is how long one outbound publish may wait for its
	// JetStream ack before it counts as failed. Zero means
	// DefaultPublishTimeout (5 s).
	PublishTimeout time.Duration

	// PublishRetries is how many more times a failed outbound publish is
	// tried before the inbound message that produced it is nak'd for
	// redelivery. Zero means DefaultPublishRetries (3); negative means no
	// retries.
	PublishRetries int

	// NakDelay is how long JetStream waits before redelivering an inbound
	// message whose outbound publishes failed. Zero means DefaultNakDelay
	// (1 s).
	NakDelay time.Duration

	// DrainTimeout bounds the graceful shutdown Run performs once its
	// context is cancelled: finishing in-flight calls, OnDeactivate, and
	// the last publishes and acks. Work still unfinished then is nak'd, so
	// another runtime gets it at once. Zero means DefaultDrainTimeout
	// (20 s).
	DrainTimeout time.Duration

	// IdleTimeout is how long an actor instance with no connected session
	// stays in memory before OnDeactivate runs and it is evicted (see
	// engine.Config). Zero means 5 minutes; negative means never.
	IdleTimeout time.Duration

	// MaxQueue caps the requests waiting on one actor instance; past it
	// an rpc is answered with an "actor overloaded" error at once (see
	// engine.Config). Zero means engine.DefaultMaxQueue (4,096).
	MaxQueue int

	// MaxSessionQueue caps the requests of one session waiting or running
	// in this runtime; past it an rpc is answered with an error at once
	// (see engine.Config). Zero means engine.DefaultMaxSessionQueue
	// (4,096); negative means no cap.
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
	// idle a request for a new instance is refused (see
	// engine.Config). Zero means engine.DefaultMaxInstances
	// (100,000); negative means no cap.
	MaxInstances int

	// SessionSweep is how often the runtime checks that the sessions it
	// serves are still held by a gateway: in DeliveryConsumer, that they
	// still have their consumer on OUTBOUND; in DeliveryCore, that a
	// gateway named them on session.alive since the last check. A session
	// missing from two checks in a row is expired: its instances run OnDisconnect, as
	// for a session.disconnected notice, which a gateway that crashed
	// never sent. (A session that speaks again after all connects again.)
	// With the gateway's one-minute inactive threshold (DeliveryConsumer)
	// or its 10-second alive interval (DeliveryCore), a dead gateway's
	// sessions expire one to two minutes after it died. In DeliveryConsumer
	// each check lists all of OUTBOUND's consumers, and is skipped while
	// the runtime has no sessions. Zero means DefaultSessionSweep (30 s); negative turns the
	// checks off.
	SessionSweep time.Duration

	// LeaseTTL is how long the lease that makes this runtime the one
	// serving its scope outlives the runtime's last refresh of it. Only the
	// holder of the lease consumes; every other runtime started for the
	// same scope waits as a standby and takes over once the holder stops
	// (at once when it stops gracefully) or its lease expires, LeaseTTL
	// after its last refresh (a crashed holder). The holder refreshes
	// every LeaseTTL/3 and, when it cannot confirm its lease for 5/6 of
	// LeaseTTL, stops consuming before any standby may take over. Each
	// runtime advertises its own TTL in the lease, so standbys wait as
	// long as the holder asked. Zero means DefaultLeaseTTL (5 s); it must
	// be between MinLeaseTTL and MaxLeaseTTL.
	LeaseTTL time.Duration

	// ControlPlaneURL, when set, is where the runtime reports its boot:
	// POST {ControlPlaneURL}/api/internal/runtime/report with
	// {"deploymentId","status":"ready","actorTypes":[...]} or
	// {"deploymentId","status":"failed","message"}. Empty means no report.
	ControlPlaneURL string

	// ControlPlaneToken is sent as "Authorization: Bearer {token}" with
	// reports. Empty sends no Authorization header.
	ControlPlaneToken string

	// HTTPClient sends control-plane reports. Nil means a client with a
	// DefaultReportTimeout (10 s) timeout.
	HTTPClient *http.Client

	// Logger receives the runtime's and the engine's logs, with the keys
	// component=runtime, ws, proj, actor, actor_id, session_id. Nil
	// discards them.
	Logger *slog.Logger

	// Metrics receives the runtime's and its engine's metrics
	// (docs/METRICS.md) while Run runs: make it with metrics.New on the
	// registry you serve. Nil turns them off.
	Metrics *metrics.Metrics

	// TracerProvider, when set, continues the trace of every rpc a
	// gateway traced: a span from the message's arrival to its ack (the
	// W3C trace context comes in its headers), the engine's handler span
	// under it, and the publish of the answer, whose headers carry the
	// context on. Nil turns tracing off.
	TracerProvider trace.TracerProvider
}

// withDefaults validates c and fills in defaults. Errors wrap
// zocket.ErrInvalidOption.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("runtime: %w: "+format, append([]any{zocket.ErrInvalidOption}, args...)...)
	}
	if c.NATS == nil {
		return bad("Config.NATS is nil")
	}
	c.Scope.WorkspaceID = cmp.Or(c.Scope.WorkspaceID, DefaultWorkspaceID)
	c.Scope.ProjectID = cmp.Or(c.Scope.ProjectID, DefaultProjectID)
	if err := c.Scope.Validate(); err != nil {
		return bad("scope: %v", err)
	}
	if _, err := natstransport.InboundStreamConfig(c.Streams); err != nil {
		return bad("streams: %v", err)
	}
	c.DeploymentID = cmp.Or(c.DeploymentID, DefaultDeploymentID)
	d, err := natstransport.ParseDelivery(string(c.Delivery))
	if err != nil {
		return c, fmt.Errorf("runtime: %w", err) // wraps zocket.ErrInvalidOption
	}
	c.Delivery = d
	switch {
	case c.MaxAckPending < 0:
		return bad("MaxAckPending %d", c.MaxAckPending)
	case c.AckWait < 0:
		return bad("AckWait %v", c.AckWait)
	case c.PublishWindow < 0:
		return bad("PublishWindow %d", c.PublishWindow)
	case c.PublishTimeout < 0:
		return bad("PublishTimeout %v", c.PublishTimeout)
	case c.NakDelay < 0:
		return bad("NakDelay %v", c.NakDelay)
	case c.DrainTimeout < 0:
		return bad("DrainTimeout %v", c.DrainTimeout)
	case c.LeaseTTL != 0 && (c.LeaseTTL < MinLeaseTTL || c.LeaseTTL > MaxLeaseTTL):
		return bad("LeaseTTL %v, want %v to %v", c.LeaseTTL, MinLeaseTTL, MaxLeaseTTL)
	}
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, DefaultMaxAckPending)
	c.AckWait = cmp.Or(c.AckWait, DefaultAckWait)
	c.PublishWindow = cmp.Or(c.PublishWindow, DefaultPublishWindow)
	c.PublishTimeout = cmp.Or(c.PublishTimeout, DefaultPublishTimeout)
	c.PublishRetries = max(cmp.Or(c.PublishRetries, DefaultPublishRetries), 0) // negative: no retries
	c.NakDelay = cmp.Or(c.NakDelay, DefaultNakDelay)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.SessionSweep = cmp.Or(c.SessionSweep, DefaultSessionSweep)
	c.ControlPlaneURL = strings.TrimRight(c.ControlPlaneURL, "/")
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultReportTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
