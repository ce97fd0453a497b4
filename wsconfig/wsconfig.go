// Package wsconfig holds the WebSocket settings of the two hosts that
// terminate client sockets, standalone.Server and gateway.Gateway (the
// WebSocket field of their Config). One type with one set of defaults means
// that a client meets the same limits, and the same ping deadline,
// whichever host it reaches.
package wsconfig

import (
	"cmp"
	"fmt"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// Defaults of the Settings fields whose zero value means "default".
const (
	DefaultMaxFrameBytes   = 1 << 20
	DefaultSendQueueBytes  = 16 << 20
	DefaultMaxFrameRate    = 1_000
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPingInterval    = 30 * time.Second
	DefaultMaxConnsPerIP   = 1_000
	DefaultMaxConnsPerUser = 100
)

// Settings are the limits of each client connection and the origins allowed
// to open one. The zero value gives the defaults: every field states what
// its zero value means.
type Settings struct {
	// MaxFrameBytes is the largest client frame accepted. A bigger frame
	// closes the connection with close code 1009 (message too big). Zero
	// means DefaultMaxFrameBytes (1 MiB); the gateway derives its default
	// from the NATS server's max payload instead (see gateway.Config).
	MaxFrameBytes int64

	// SendQueueBytes is the budget of one connection's send queue: the
	// bytes of its waiting frames plus 64 per frame, so that a flood of
	// tiny frames is bounded too. A budget in bytes, not frames, lets a
	// client that reads get a burst of thousands of small frames (3,000
	// state:sub at once, pipelined calls). A client that falls further
	// behind (it does not read) is disconnected with close code 1008 and
	// reason "send queue full", so a slow client never grows the host's
	// memory. A single frame bigger than the budget is still sent when the
	// queue is otherwise empty. Zero means DefaultSendQueueBytes (16 MiB).
	SendQueueBytes int

	// MaxFrameRate caps the frames one connection may send per second,
	// after a burst of as many at once. Past it, an rpc is answered at once
	// with protocol.ErrRateLimited ("rate limit exceeded") and not run;
	// any other frame waits (the socket is read more slowly, so TCP
	// pushes back), since a burst of subscriptions is normal and an
	// unsubscription must not be lost. Refusals are held to the same rate,
	// so one flooding socket costs the host at most twice the rate in
	// frames read and cannot take the CPU that other clients need. A
	// client that keeps sending calls at twice the rate or more, for more
	// than five seconds of ten, is disconnected with close code 1008 and
	// reason "frame rate exceeded"; other frames are only paced.
	// Zero means DefaultMaxFrameRate (1,000); negative means no limit (for
	// load tests from few connections).
	MaxFrameRate int

	// WriteTimeout bounds one write to a socket (a frame, the frames that
	// were queued together, or a ping) and the close handshake. A client whose socket stays blocked longer is
	// dropped (close code 1006). Zero means DefaultWriteTimeout (10 s).
	WriteTimeout time.Duration

	// PingInterval is how often each client is pinged. A client must
	// answer a ping within PingInterval or WriteTimeout, whichever is
	// longer, or it is disconnected with close code 1008 and reason "ping
	// timeout": that frees the connections of peers that vanished without
	// a close. The deadline is never shorter than PingInterval, so that a
	// client need only answer before the next ping is due however short
	// the interval, nor shorter than WriteTimeout, since writing the ping
	// is a write like any other. With the defaults a silent peer is dropped
	// within a minute. Zero means DefaultPingInterval (30 s); negative
	// disables pings.
	PingInterval time.Duration

	// MaxConnsPerIP caps the open connections from one client address
	// (IPv4, or IPv6 /64); one more is refused before the upgrade with 429
	// Too Many Requests. Loopback addresses are exempt: behind a proxy on
	// the same host, or in a load test, every client has one. Zero means
	// DefaultMaxConnsPerIP (1,000); negative means no cap.
	MaxConnsPerIP int

	// MaxConnsPerUser caps the open connections of one authenticated user
	// (the identity's user id), refused the same way. Zero means
	// DefaultMaxConnsPerUser (100); negative means no cap.
	MaxConnsPerUser int

	// OriginPatterns lists the browser origins (host patterns as in
	// path.Match, e.g. "*.example.com") allowed to open a WebSocket besides
	// the host's own. Nil allows only same-origin browsers and clients that
	// send no Origin header (Go clients, CLIs), which guards against
	// cross-site WebSocket hijacking. A single "*" allows every origin: use
	// it only in development.
	OriginPatterns []string
}

// PongTimeout returns how long a client has to answer a ping:
// PingInterval or WriteTimeout, whichever is longer (see
// Settings.PingInterval). Call it on settings with defaults filled in.
func (s Settings) PongTimeout() time.Duration {
	return max(s.PingInterval, s.WriteTimeout)
}

// Validate reports a field out of range, wrapping
// protocol.ErrInvalidOption, so that a process can refuse its settings
// before it starts serving.
func (s Settings) Validate() error {
	negative := func(field string, v any) error {
		return fmt.Errorf("%w: WebSocket setting %s must not be negative, got %v", protocol.ErrInvalidOption, field, v)
	}
	switch {
	case s.MaxFrameBytes < 0:
		return negative("MaxFrameBytes", s.MaxFrameBytes)
	case s.SendQueueBytes < 0:
		return negative("SendQueueBytes", s.SendQueueBytes)
	case s.WriteTimeout < 0:
		return negative("WriteTimeout", s.WriteTimeout)
	}
	return nil
}

// WithDefaults validates s and returns it with each zero field set to its
// default. The hosts call it in their New; a host with a default of its
// own (the gateway's MaxFrameBytes) sets that field first.
func (s Settings) WithDefaults() (Settings, error) {
	if err := s.Validate(); err != nil {
		return s, err
	}
	s.MaxFrameBytes = cmp.Or(s.MaxFrameBytes, DefaultMaxFrameBytes)
	s.SendQueueBytes = cmp.Or(s.SendQueueBytes, DefaultSendQueueBytes)
	s.MaxFrameRate = cmp.Or(s.MaxFrameRate, DefaultMaxFrameRate)
	s.WriteTimeout = cmp.Or(s.WriteTimeout, DefaultWriteTimeout)
	s.PingInterval = cmp.Or(s.PingInterval, DefaultPingInterval)
	s.MaxConnsPerIP = cmp.Or(s.MaxConnsPerIP, DefaultMaxConnsPerIP)
	s.MaxConnsPerUser = cmp.Or(s.MaxConnsPerUser, DefaultMaxConnsPerUser)
	return s, nil
}
