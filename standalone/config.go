package standalone

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/zocket-go/zocket"
)

// Config configures a [Server]. The zero value works for local development:
// every field states what its zero value means.
type Config struct {
	// Logger receives the server's and the engine's logs, with the keys
	// component and client_id. Nil discards them.
	Logger *slog.Logger

	// MaxFrameBytes is the largest client frame accepted. A bigger frame
	// closes the connection with close code 1009 (message too big). Zero
	// means 1 MiB.
	MaxFrameBytes int64

	// Deprecated: SendQueue is ignored: the send queue is bounded by
	// SendQueueBytes, so that a client that reads is never cut for a burst
	// of small frames. A negative value is still an error.
	SendQueue int

	// MaxFrameRate caps the frames one connection may send per second,
	// after a burst of as many: a client that sends faster is slowed down
	// (its socket is read more slowly, so TCP pushes back), never cut, and
	// no frame is dropped. It keeps one flooding socket from taking the
	// CPU that other clients need. Zero means DefaultMaxFrameRate (10,000);
	// negative means no limit.
	MaxFrameRate int

	// SendQueueBytes is the budget of one connection's send queue: the
	// bytes of its waiting frames plus 64 per frame. A client that falls
	// further behind (it does not read) is disconnected with close code
	// 1008 and reason "send queue full", so a slow client never grows the
	// server's memory; one whose socket stays blocked is dropped after
	// WriteTimeout. A single frame bigger than the budget is still sent
	// when the queue is otherwise empty. Zero means 16 MiB.
	SendQueueBytes int

	// WriteTimeout bounds one frame write to a socket, the wait for a
	// ping's answer, and the close handshake. A client whose socket stays
	// blocked longer is dropped. Zero means 10 seconds.
	WriteTimeout time.Duration

	// PingInterval is how often the server pings each client; a client that
	// does not answer within WriteTimeout is disconnected, which frees
	// connections whose peer vanished. Zero means 30 seconds; negative
	// disables pings.
	PingInterval time.Duration

	// IdleTimeout is how long an actor instance with no connected client
	// stays in memory before OnDeactivate runs and it is evicted (see
	// [zocket.EngineConfig]). Zero means 5 minutes; negative means never.
	IdleTimeout time.Duration

	// MaxQueue caps the rpc calls waiting on one actor instance; more are
	// answered with an "actor overloaded" error (see
	// [zocket.EngineConfig]). Zero means 4096.
	MaxQueue int

	// MaxSessionQueue caps the frames of one connection waiting or running
	// on actor instances; more are refused at once ("too many requests in
	// flight"). Zero means 4096; negative means no cap.
	MaxSessionQueue int

	// MaxInstances caps the live actor instances: when it is reached, the
	// instance idle the longest is evicted to make room, and with none
	// idle a frame needing a new instance is refused at once ("too many
	// actor instances"). Zero means 100,000; negative means no cap.
	MaxInstances int

	// OriginPatterns lists the browser origins (host patterns as in
	// path.Match, e.g. "*.example.com") allowed to open a WebSocket besides
	// the server's own host. Nil allows only same-origin browsers and
	// clients that send no Origin header (Go clients, CLIs), which guards
	// against cross-site WebSocket hijacking. A single "*" allows every
	// origin: use it only in development.
	OriginPatterns []string

	// Pages, when set, serves every request other than /health and a
	// WebSocket upgrade at "/", for example a demo page at "/". When nil, a
	// plain request to "/" gets 426 Upgrade Required and other paths 404.
	Pages http.Handler

	// DrainTimeout bounds the graceful shutdown [Server.Run] and
	// [Server.Serve] perform once their context is cancelled. Zero means
	// 10 seconds.
	DrainTimeout time.Duration
}

// Defaults for the Config fields whose zero value means "default".
const (
	DefaultMaxFrameBytes  = 1 << 20
	DefaultSendQueue      = 256 // Deprecated: SendQueue is ignored.
	DefaultSendQueueBytes = 16 << 20
	DefaultMaxFrameRate   = 10000
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPingInterval   = 30 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
)

// withDefaults validates cfg and fills in defaults. Errors wrap
// zocket.ErrInvalidOption.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(field string, v any) (Config, error) {
		return cfg, fmt.Errorf("standalone: %w: %s must not be negative, got %v", zocket.ErrInvalidOption, field, v)
	}
	switch {
	case cfg.MaxFrameBytes < 0:
		return bad("MaxFrameBytes", cfg.MaxFrameBytes)
	case cfg.SendQueue < 0:
		return bad("SendQueue", cfg.SendQueue)
	case cfg.SendQueueBytes < 0:
		return bad("SendQueueBytes", cfg.SendQueueBytes)
	case cfg.WriteTimeout < 0:
		return bad("WriteTimeout", cfg.WriteTimeout)
	case cfg.MaxQueue < 0:
		return bad("MaxQueue", cfg.MaxQueue)
	case cfg.DrainTimeout < 0:
		return bad("DrainTimeout", cfg.DrainTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.SendQueue == 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.SendQueueBytes == 0 {
		cfg.SendQueueBytes = DefaultSendQueueBytes
	}
	if cfg.MaxFrameRate == 0 {
		cfg.MaxFrameRate = DefaultMaxFrameRate
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	return cfg, nil
}
