package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configures [Dial]. A nil *Options means the defaults; every zero
// field means its default.
type Options struct {
	// HTTPHeader is added to every WebSocket handshake request. Nil adds
	// nothing.
	HTTPHeader http.Header

	// HTTPClient performs the handshakes. Nil means http.DefaultClient.
	HTTPClient *http.Client

	// Token is sent as the "token" query parameter of the URL, where every
	// authenticator of package auth reads it (replacing a token already in
	// the URL). Empty sends none. The client never logs it and removes it
	// from dial errors.
	Token string

	// TokenFunc, when set, is called before every connection attempt, the
	// first and each reconnect, and its token sent as Token is: a server
	// closes a connection whose token expired (protocol.CloseAuthExpired),
	// and the reconnect then gets a fresh one. An error fails that attempt
	// (the client retries with backoff). Set Token or TokenFunc, not both.
	TokenFunc func(ctx context.Context) (string, error)

	// OnSubError, when set, is called (on the client's reader goroutine:
	// return quickly) when the server refuses an event subscription made
	// by OnEvent. Refused state subscriptions fail their WatchState.
	OnSubError func(*SubError)

	// DialTimeout bounds each connection attempt, from the handshake to the
	// welcome frame. Zero means 10 seconds; negative means no limit other
	// than the context given to Dial.
	DialTimeout time.Duration

	// CallTimeout bounds Call and WatchState when their context has no
	// deadline, including the time spent waiting for a reconnect. Zero means
	// 30 seconds; negative means no limit.
	CallTimeout time.Duration

	// WriteTimeout bounds writing one frame; a connection that cannot take a
	// frame in time is dropped (and reconnected). Zero means 10 seconds.
	WriteTimeout time.Duration

	// PingInterval is how often the client pings the server; a pong that
	// does not arrive within the interval drops the connection, so a dead
	// peer is noticed and reconnected. Zero means 30 seconds; negative
	// disables pings.
	PingInterval time.Duration

	// ReadLimit caps the size of one incoming frame in bytes (state
	// snapshots are the large ones). A larger frame drops the connection.
	// Zero means 16 MiB; negative means no limit.
	ReadLimit int64

	// EventBuffer is how many received events may wait for the event
	// dispatch goroutine. When it is full, newly received events are
	// dropped (and a warning is logged) rather than stalling the
	// connection. Zero means 1024.
	EventBuffer int

	// Reconnect sets the backoff between reconnection attempts. Nil means
	// the defaults of [ReconnectPolicy]; set Disabled to turn reconnection
	// off.
	Reconnect *ReconnectPolicy

	// Logger receives the client's logs. Nil discards them.
	Logger *slog.Logger

	// OnStatus, when set, is called on every status change (connected,
	// disconnected, closed), on the event dispatch goroutine, in order with
	// event handlers. It must not block for long and must not call Close.
	OnStatus func(StatusEvent)
}

// ReconnectPolicy is the exponential backoff between reconnection attempts.
// The n-th consecutive attempt (from 0) waits MinDelay·2ⁿ capped at
// MaxDelay, minus a random part of up to Jitter of that delay. The count
// restarts once a connection stayed up for MaxDelay.
type ReconnectPolicy struct {
	// Disabled turns reconnection off: the first lost connection stops the
	// client for good (see [Client.Done]).
	Disabled bool

	// MinDelay is the delay before the first attempt. Zero means 250 ms.
	MinDelay time.Duration

	// MaxDelay caps the delay. Zero means 10 seconds, or MinDelay if that
	// is larger.
	MaxDelay time.Duration

	// Jitter is the fraction of each delay that is random: the delay is
	// drawn uniformly from [d·(1-Jitter), d]. It must be at most 1. Zero
	// means 0.5; negative means no jitter.
	Jitter float64

	// MaxAttempts is how many consecutive failed attempts the client makes
	// before it gives up and stops. Zero means no limit.
	MaxAttempts int
}

const (
	defaultDialTimeout  = 10 * time.Second
	defaultCallTimeout  = 30 * time.Second
	defaultWriteTimeout = 10 * time.Second
	defaultPingInterval = 30 * time.Second
	defaultReadLimit    = 16 << 20
	defaultEventBuffer  = 1024
	defaultMinDelay     = 250 * time.Millisecond
	defaultMaxDelay     = 10 * time.Second
	defaultJitter       = 0.5
)

// config is Options with defaults applied and validated.
type config struct {
	header       http.Header
	httpClient   *http.Client
	token        string // the token sent, to redact from errors
	tokenFunc    func(context.Context) (string, error)
	onSubError   func(*SubError)
	dialTimeout  time.Duration // <= 0: none
	callTimeout  time.Duration // <= 0: none
	writeTimeout time.Duration
	pingInterval time.Duration // <= 0: none
	readLimit    int64         // -1: none
	eventBuffer  int
	reconnect    ReconnectPolicy // defaults applied
	log          *slog.Logger
	onStatus     func(StatusEvent)
}

func newConfig(o *Options) (config, error) {
	if o == nil {
		o = &Options{}
	}
	c := config{
		header:       o.HTTPHeader,
		httpClient:   o.HTTPClient,
		token:        o.Token,
		tokenFunc:    o.TokenFunc,
		onSubError:   o.OnSubError,
		dialTimeout:  o.DialTimeout,
		callTimeout:  o.CallTimeout,
		writeTimeout: o.WriteTimeout,
		pingInterval: o.PingInterval,
		readLimit:    o.ReadLimit,
		eventBuffer:  o.EventBuffer,
		log:          o.Logger,
		onStatus:     o.OnStatus,
	}
	if c.dialTimeout == 0 {
		c.dialTimeout = defaultDialTimeout
	}
	if c.callTimeout == 0 {
		c.callTimeout = defaultCallTimeout
	}
	if c.token != "" && c.tokenFunc != nil {
		return c, fmt.Errorf("client: %w: set Token or TokenFunc, not both", ErrInvalidOption)
	}
	if c.writeTimeout < 0 {
		return c, fmt.Errorf("client: %w: negative WriteTimeout %v", ErrInvalidOption, c.writeTimeout)
	}
	if c.writeTimeout == 0 {
		c.writeTimeout = defaultWriteTimeout
	}
	if c.pingInterval == 0 {
		c.pingInterval = defaultPingInterval
	}
	switch {
	case c.readLimit == 0:
		c.readLimit = defaultReadLimit
	case c.readLimit < 0:
		c.readLimit = -1
	}
	if c.eventBuffer < 0 {
		return c, fmt.Errorf("client: %w: negative EventBuffer %d", ErrInvalidOption, c.eventBuffer)
	}
	if c.eventBuffer == 0 {
		c.eventBuffer = defaultEventBuffer
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With(slog.String("component", "client"))
	var err error
	c.reconnect, err = o.Reconnect.withDefaults()
	return c, err
}

// withDefaults returns p with its zero fields set to their defaults, or an
// error wrapping ErrInvalidOption.
func (p *ReconnectPolicy) withDefaults() (ReconnectPolicy, error) {
	var r ReconnectPolicy
	if p != nil {
		r = *p
	}
	switch {
	case r.MinDelay < 0:
		return r, fmt.Errorf("client: %w: negative Reconnect.MinDelay %v", ErrInvalidOption, r.MinDelay)
	case r.MaxDelay < 0:
		return r, fmt.Errorf("client: %w: negative Reconnect.MaxDelay %v", ErrInvalidOption, r.MaxDelay)
	case r.Jitter > 1:
		return r, fmt.Errorf("client: %w: Reconnect.Jitter %v above 1", ErrInvalidOption, r.Jitter)
	case r.MaxAttempts < 0:
		return r, fmt.Errorf("client: %w: negative Reconnect.MaxAttempts %d", ErrInvalidOption, r.MaxAttempts)
	}
	if r.MinDelay == 0 {
		r.MinDelay = defaultMinDelay
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = max(defaultMaxDelay, r.MinDelay)
	}
	if r.MaxDelay < r.MinDelay {
		return r, fmt.Errorf("client: %w: Reconnect.MaxDelay %v below MinDelay %v", ErrInvalidOption, r.MaxDelay, r.MinDelay)
	}
	switch {
	case r.Jitter == 0:
		r.Jitter = defaultJitter
	case r.Jitter < 0:
		r.Jitter = 0
	}
	return r, nil
}

// delay returns the wait before attempt n (0-based) of a policy with its
// defaults applied; rnd is uniform in [0, 1).
func (p *ReconnectPolicy) delay(n int, rnd float64) time.Duration {
	d := p.MinDelay
	for i := 0; i < n && d < p.MaxDelay; i++ {
		if d > p.MaxDelay/2 {
			d = p.MaxDelay // doubling could overflow
			break
		}
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return d - time.Duration(p.Jitter*rnd*float64(d))
}

// dialURL returns rawURL with the token set as its "token" query parameter,
// and the token the URL carries then (to redact it from errors).
func dialURL(rawURL, token string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.URL could hold a token
		}
		return "", "", fmt.Errorf("client: parse url: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return "", "", fmt.Errorf("client: url %q: scheme must be ws, wss, http or https", redactURL(rawURL))
	}
	q := u.Query()
	if token != "" {
		q.Set("token", token)
		u.RawQuery = q.Encode()
	}
	return u.String(), q.Get("token"), nil
}

// redactURL hides the token query parameter of a URL, for logs and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable url>"
	}
	u.User = nil
	q := u.Query()
	if q.Has("token") {
		q.Set("token", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactedError hides a token in the message of the error it wraps (dial
// errors quote the URL).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactError(err error, token string) error {
	if token == "" {
		return err
	}
	msg := err.Error()
	for _, form := range []string{url.QueryEscape(token), token} {
		msg = strings.ReplaceAll(msg, form, "REDACTED")
	}
	return &redactedError{msg: msg, err: err}
}
