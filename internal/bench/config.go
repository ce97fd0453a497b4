package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// Defaults of the settings every mode shares.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultGrace            = 5 * time.Second
	DefaultProgressInterval = time.Second
	DefaultActor            = "counter"
	DefaultMethod           = "increment"
	DefaultID               = "bench"
)

// Options are the settings every mode shares. The zero value is ready to
// use.
type Options struct {
	// ConnectTimeout bounds each connection's handshake and welcome. Zero
	// means DefaultConnectTimeout (5 s).
	ConnectTimeout time.Duration
	// Grace bounds the wait for answers still in flight when the
	// measurement ends; then every connection is closed and what is still
	// missing is counted. Zero means DefaultGrace (5 s).
	Grace time.Duration
	// Progress receives a progress line every ProgressInterval. Nil means
	// none.
	Progress io.Writer
	// ProgressInterval is the time between progress lines. Zero means
	// DefaultProgressInterval (1 s).
	ProgressInterval time.Duration
	// PIDs are server processes whose resident memory (VmRSS) and CPU time
	// are read from /proc before and after the run. Empty means none.
	PIDs []int
	// LocalAddrs are local IP addresses the tool's WebSocket connections
	// are made from, in turn. A source address has one range of ephemeral
	// ports (about 28,000 by default on Linux) towards a server address,
	// so a loopback run with more connections than that must spread them
	// over several, such as 127.0.0.1, 127.0.0.2 and so on (all of
	// 127.0.0.0/8 is local on Linux). On Linux the port is then chosen at
	// connect time (IP_BIND_ADDRESS_NO_PORT), per destination. Empty means
	// the system's choice.
	LocalAddrs []netip.Addr
}

func (o Options) withDefaults() (Options, error) {
	if o.ConnectTimeout < 0 || o.Grace < 0 || o.ProgressInterval < 0 {
		return o, fmt.Errorf("bench: %w: timeouts must not be negative", protocol.ErrInvalidOption)
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	for _, p := range o.PIDs {
		if p <= 0 {
			return o, fmt.Errorf("bench: %w: pid %d", protocol.ErrInvalidOption, p)
		}
	}
	for _, a := range o.LocalAddrs {
		if !a.IsValid() {
			return o, fmt.Errorf("bench: %w: local address %v", protocol.ErrInvalidOption, a)
		}
	}
	return o, nil
}

// Load is the call loop that the rpc mode and the floors share: Clients
// connections, each with one call in flight.
type Load struct {
	// Clients is the number of connections; it must be at least 1.
	Clients int
	// Shared makes every client call the one instance ID; otherwise client
	// i calls its own instance "ID-i".
	Shared bool
	// Actor, Method and Input make the rpc frame. Empty Actor and Method
	// mean DefaultActor and DefaultMethod (counter.increment); nil Input
	// sends no input.
	Actor  string
	Method string
	Input  json.RawMessage
	// ID is the actor id (Shared) or the prefix of the per-client ids.
	// Empty means DefaultID.
	ID string
	// Duration is how long calls are measured; it must be positive.
	Duration time.Duration
	// Warmup is how long calls run before the measurement starts. Zero
	// means none.
	Warmup time.Duration
	// Rate is the target total of calls per second over all clients. Zero
	// means a closed loop (each client calls again as soon as it has its
	// answer). With a rate each client sends on its own schedule and
	// latency is measured from the intended send time, so a stalled server
	// shows as latency instead of fewer samples (no coordinated omission).
	Rate float64
}

func (l Load) withDefaults() (Load, error) {
	if l.Clients < 1 {
		return l, fmt.Errorf("bench: %w: clients must be at least 1 (got %d)", protocol.ErrInvalidOption, l.Clients)
	}
	if l.Duration <= 0 {
		return l, fmt.Errorf("bench: %w: duration must be positive (got %v)", protocol.ErrInvalidOption, l.Duration)
	}
	if l.Warmup < 0 {
		return l, fmt.Errorf("bench: %w: warmup must not be negative (got %v)", protocol.ErrInvalidOption, l.Warmup)
	}
	if l.Rate < 0 {
		return l, fmt.Errorf("bench: %w: rate must not be negative (got %v)", protocol.ErrInvalidOption, l.Rate)
	}
	if l.Actor == "" {
		l.Actor = DefaultActor
	}
	if l.Method == "" {
		l.Method = DefaultMethod
	}
	if l.ID == "" {
		l.ID = DefaultID
	}
	if l.Input != nil && !json.Valid(l.Input) {
		return l, fmt.Errorf("bench: %w: input is not valid JSON: %.100s", protocol.ErrInvalidOption, l.Input)
	}
	return l, nil
}

// actorID is the instance client i calls.
func (l Load) actorID(i int) string {
	if l.Shared {
		return l.ID
	}
	return fmt.Sprintf("%s-%d", l.ID, i)
}
