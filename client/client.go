package client

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/protocol"
)

// Status is the connection state of a [Client].
type Status int

// Statuses, in the order a client goes through them.
const (
	// StatusConnected: a connection is open and its welcome frame arrived.
	StatusConnected Status = iota + 1
	// StatusDisconnected: the connection was lost; the client is
	// reconnecting (unless StatusClosed follows).
	StatusDisconnected
	// StatusClosed: the client stopped for good, after Close or because
	// reconnecting was disabled or gave up. It is the last status.
	StatusClosed
)

func (s Status) String() string {
	switch s {
	case StatusConnected:
		return "connected"
	case StatusDisconnected:
		return "disconnected"
	case StatusClosed:
		return "closed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// StatusEvent describes a status change; [Options.OnStatus] receives it.
type StatusEvent struct {
	Status Status
	// ClientID is the server's id for the new connection (StatusConnected),
	// or for the one that was lost.
	ClientID string
	// Err is why the connection was lost (StatusDisconnected) or why the
	// client stopped (StatusClosed: [Client.Err]).
	Err error
}

// Client is a connection to a Zocket server that reconnects on its own.
// Create it with [Dial] and stop it with [Client.Close]. All methods are
// safe for concurrent use.
type Client struct {
	cfg    config
	url    string // with the token: never log it
	logURL string // token redacted
	rawURL string // as given to Dial, for a TokenFunc's tokens
	dial   *websocket.DialOptions
	cancel context.CancelFunc // cancels dials, backoff waits and writes
	disp   *dispatcher
	done   chan struct{} // closed when every goroutine returned

	mu       sync.Mutex
	cur      *conn         // nil while disconnected
	id       string        // client id of cur, or of the last connection
	status   Status        // last status
	quit     chan struct{} // closed when the client stops serving
	ending   bool          // quit is closed
	closed   bool          // Close was called
	err      error         // why the client stopped
	connWait chan struct{} // closed when cur is set again or the client stops
	nextID   uint64        // rpc ids
	states   map[actorKey]*stateSub
	events   map[actorKey]*eventSubs
	awaiting map[actorKey]int // state:sub frames sent on cur whose snapshot has not arrived
}

type actorKey struct{ typ, id string }

// conn is one WebSocket connection and the calls in flight on it. Its
// mutable fields are guarded by Client.mu.
type conn struct {
	ws      *websocket.Conn
	id      string // the welcome clientId
	pending map[string]chan callResult
	out     [][]byte      // frames waiting for the writer
	outSig  chan struct{} // capacity 1: out is not empty
	dead    chan struct{} // closed when the reader stopped
}

type callResult struct {
	result   []byte
	errMsg   string
	hasError bool
	err      error // local failure: ErrDisconnected or ErrClosed
}

// Dial connects to the Zocket server at url (ws://, wss://, http:// or
// https://) and returns once the server's welcome frame arrived, so that
// [Client.ID] is valid. ctx bounds only this first connection, together with
// [Options.DialTimeout]; Dial does not retry, and automatic reconnection
// starts only after a first success. A nil opts means the defaults. Errors
// wrap [ErrInvalidOption] for bad options and [ErrProtocol] when the server
// does not start with a welcome frame.
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	u, token, err := dialURL(url, cfg.token)
	if err != nil {
		return nil, err
	}
	cfg.token = token
	c := &Client{
		cfg:    cfg,
		url:    u,
		logURL: redactURL(u),
		rawURL: url,
		dial: &websocket.DialOptions{
			HTTPClient: cfg.httpClient,
			HTTPHeader: cfg.header,
		},
		disp:     newDispatcher(cfg.eventBuffer, cfg.log),
		done:     make(chan struct{}),
		quit:     make(chan struct{}),
		states:   make(map[actorKey]*stateSub),
		events:   make(map[actorKey]*eventSubs),
		awaiting: make(map[actorKey]int),
	}
	cn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.install(cn)
	go c.disp.run()
	go c.run(runCtx, cn)
	return c, nil
}

// ID returns the server's id for the current connection (the welcome
// frame's clientId), or for the last one while reconnecting. Each
// reconnection brings a new id; [Options.OnStatus] reports it.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Status returns the current connection status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Done returns a channel that is closed when the client has stopped and
// every goroutine it started has returned: after Close, or when the
// connection was lost and reconnecting was disabled or gave up.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client runs. Once it stopped, Err returns
// ErrClosed after Close, or an error wrapping ErrDisconnected and the cause
// when the connection was lost for good.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the client: it fails pending calls with [ErrClosed], closes
// the connection with status 1000 (normal closure), closes every
// [StateWatch], and returns after every goroutine of the client returned
// (the last OnStatus call included). Close must not be called from an event
// handler or OnStatus, which it waits for. It is safe to call more than
// once, and always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	var cn *conn
	if !c.closed {
		c.closed = true
		c.stopLocked(ErrClosed)
		cn = c.cur
		if cn != nil {
			for id, ch := range cn.pending {
				ch <- callResult{err: ErrClosed}
				delete(cn.pending, id)
			}
		}
	}
	c.mu.Unlock()
	if cn != nil {
		// The reader sees the close handshake end and the manager stops.
		_ = cn.ws.Close(websocket.StatusNormalClosure, "")
	}
	c.cancel()
	<-c.done
	return nil
}

// stopLocked marks the client as stopping with err as the reason.
func (c *Client) stopLocked(err error) {
	if c.ending {
		return
	}
	c.ending = true
	c.err = err
	close(c.quit)
	if c.connWait != nil {
		close(c.connWait)
		c.connWait = nil
	}
}

// connect opens one connection and reads its welcome frame.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	if c.cfg.dialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.dialTimeout)
		defer cancel()
	}
	target, token := c.url, c.cfg.token
	if c.cfg.tokenFunc != nil {
		tok, err := c.cfg.tokenFunc(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: token for %s: %w", c.logURL, err)
		}
		if target, token, err = dialURL(c.rawURL, tok); err != nil {
			return nil, err
		}
	}
	ws, _, err := websocket.Dial(ctx, target, c.dial)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", c.logURL, redactError(err, token))
	}
	ws.SetReadLimit(c.cfg.readLimit)
	typ, data, err := ws.Read(ctx)
	if err != nil {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("client: %s: read welcome: %w", c.logURL, err)
	}
	f, err := protocol.Decode(data)
	if err != nil || typ != websocket.MessageText || f.Type != protocol.TypeWelcome {
		_ = ws.Close(websocket.StatusProtocolError, "expected welcome")
		if err == nil {
			err = fmt.Errorf("got a %q frame", f.Type)
		}
		return nil, fmt.Errorf("%w: %s: first frame is not a welcome: %w", ErrProtocol, c.logURL, err)
	}
	return &conn{
		ws:      ws,
		id:      f.ClientID,
		pending: make(map[string]chan callResult),
		outSig:  make(chan struct{}, 1),
		dead:    make(chan struct{}),
	}, nil
}

// install makes cn the current connection and subscribes again to every
// state and event the client holds. It reports false (and closes cn) when
// the client is stopping.
func (c *Client) install(cn *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ending {
		_ = cn.ws.CloseNow()
		return false
	}
	c.cur, c.id = cn, cn.id
	clear(c.awaiting)
	for key := range c.events {
		cn.sendLocked(protocol.AppendSubscription(nil, protocol.TypeEventSub, key.typ, key.id))
	}
	for key, s := range c.states {
		s.synced = false // the fresh snapshot replaces the local copy
		c.subscribeStateLocked(key)
	}
	if c.connWait != nil {
		close(c.connWait)
		c.connWait = nil
	}
	c.setStatusLocked(StatusConnected, cn.id, nil)
	c.cfg.log.LogAttrs(context.Background(), slog.LevelInfo, "connected",
		slog.String("url", c.logURL), slog.String("client_id", cn.id))
	return true
}

func (c *Client) setStatusLocked(s Status, id string, err error) {
	c.status = s
	if c.cfg.onStatus != nil {
		ev := StatusEvent{Status: s, ClientID: id, Err: err}
		c.disp.push(func() { c.cfg.onStatus(ev) }, false)
	}
}

// subscribeStateLocked sends state:sub for key on the current connection.
func (c *Client) subscribeStateLocked(key actorKey) {
	if c.cur == nil {
		return
	}
	c.awaiting[key]++
	c.cur.sendLocked(protocol.AppendSubscription(nil, protocol.TypeStateSub, key.typ, key.id))
}

// sendLocked queues a frame for the connection's writer. Client.mu must be
// held: frames leave in the order they were queued.
func (cn *conn) sendLocked(frame []byte) {
	cn.out = append(cn.out, frame)
	select {
	case cn.outSig <- struct{}{}:
	default:
	}
}

// run is the client's manager goroutine: it reads the current connection,
// and when it is lost, reconnects with backoff. It owns the dispatcher and
// every per-connection goroutine.
func (c *Client) run(ctx context.Context, cn *conn) {
	defer close(c.done)
	defer c.disp.stop() // after the last status was queued
	policy := c.cfg.reconnect
	backoff := 0 // exponent of the next delay
	for {
		up := time.Now()
		err := c.serve(ctx, cn)
		if !c.lost(cn, err) {
			return
		}
		if policy.Disabled {
			c.giveUp(err)
			return
		}
		if time.Since(up) >= policy.MaxDelay {
			backoff = 0 // the connection was stable
		}
		for failures := 0; ; {
			if policy.MaxAttempts > 0 && failures >= policy.MaxAttempts {
				c.giveUp(err)
				return
			}
			t := time.NewTimer(policy.delay(backoff, rand.Float64()))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				c.giveUp(ctx.Err())
				return
			}
			backoff++
			cn, err = c.connect(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				c.giveUp(ctx.Err())
				return
			}
			failures++
			c.cfg.log.LogAttrs(ctx, slog.LevelWarn, "reconnect failed",
				slog.Int("failures", failures), slog.Any("err", err))
		}
		if !c.install(cn) {
			c.giveUp(ErrClosed)
			return
		}
	}
}

// giveUp stops the client after the connection was lost for good.
func (c *Client) giveUp(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ending {
		c.stopLocked(fmt.Errorf("%w: %w", ErrDisconnected, cause))
	}
	c.finishLocked()
}

// finishLocked closes every watch and reports StatusClosed.
func (c *Client) finishLocked() {
	for _, s := range c.states {
		for w := range s.watches {
			w.closeLocked()
		}
	}
	c.setStatusLocked(StatusClosed, c.id, c.err)
}

// lost cleans up after a connection ended: pending calls fail, the client
// becomes disconnected. It reports whether the client should reconnect.
func (c *Client) lost(cn *conn, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = nil
	fail := ErrDisconnected
	if c.ending {
		fail = ErrClosed
	}
	for id, ch := range cn.pending {
		ch <- callResult{err: fail}
		delete(cn.pending, id)
	}
	cn.out = nil
	if c.ending {
		c.finishLocked()
		return false
	}
	c.connWait = make(chan struct{})
	c.cfg.log.LogAttrs(context.Background(), slog.LevelWarn, "connection lost",
		slog.String("client_id", cn.id), slog.Any("err", err))
	c.setStatusLocked(StatusDisconnected, cn.id, err)
	return true
}

// serve runs one connection: a writer, a pinger, and the reader on this
// goroutine. It returns when the connection is gone, after its goroutines.
func (c *Client) serve(ctx context.Context, cn *conn) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx, cn) })
	if c.cfg.pingInterval > 0 {
		wg.Go(func() { c.pingLoop(ctx, cn) })
	}
	err := c.readLoop(ctx, cn)
	close(cn.dead)
	_ = cn.ws.CloseNow()
	wg.Wait()
	return err
}

func (c *Client) readLoop(ctx context.Context, cn *conn) error {
	for {
		typ, data, err := cn.ws.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			c.cfg.log.LogAttrs(ctx, slog.LevelWarn, "binary frame ignored", slog.String("client_id", cn.id))
			continue
		}
		f, err := protocol.Decode(data)
		if err != nil {
			c.cfg.log.LogAttrs(ctx, slog.LevelWarn, "invalid frame ignored",
				slog.String("client_id", cn.id), slog.Any("err", err))
			continue
		}
		c.handle(cn, &f)
	}
}

// handle processes one server frame, on the reader goroutine.
func (c *Client) handle(cn *conn, f *protocol.Frame) {
	switch f.Type {
	case protocol.TypeRPCResult:
		c.mu.Lock()
		ch := cn.pending[f.ID]
		delete(cn.pending, f.ID)
		c.mu.Unlock()
		if ch == nil {
			c.cfg.log.LogAttrs(context.Background(), slog.LevelDebug, "late or unknown rpc result",
				slog.String("client_id", cn.id), slog.String("id", f.ID))
			return
		}
		ch <- callResult{result: f.Result, errMsg: f.Error, hasError: f.HasError}
	case protocol.TypeEvent:
		c.handleEvent(f)
	case protocol.TypeStateSnapshot:
		c.handleSnapshot(f)
	case protocol.TypeStatePatch:
		c.handlePatch(f)
	case protocol.TypeSubError:
		c.handleSubError(f)
	default:
		c.cfg.log.LogAttrs(context.Background(), slog.LevelWarn, "unexpected frame ignored",
			slog.String("client_id", cn.id), slog.String("type", f.Type))
	}
}

// writeLoop writes queued frames in order until the connection dies.
func (c *Client) writeLoop(ctx context.Context, cn *conn) {
	for {
		select {
		case <-cn.outSig:
		case <-cn.dead:
			return
		}
		c.mu.Lock()
		batch := cn.out
		cn.out = nil
		c.mu.Unlock()
		for _, frame := range batch {
			wctx, cancel := context.WithTimeout(ctx, c.cfg.writeTimeout)
			err := cn.ws.Write(wctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				c.cfg.log.LogAttrs(ctx, slog.LevelWarn, "write failed",
					slog.String("client_id", cn.id), slog.Any("err", err))
				_ = cn.ws.CloseNow() // the reader fails and the manager reconnects
				return
			}
		}
	}
}

// pingLoop drops the connection when the server stops answering pings.
func (c *Client) pingLoop(ctx context.Context, cn *conn) {
	t := time.NewTicker(c.cfg.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-cn.dead:
			return
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.pingInterval)
		err := cn.ws.Ping(pctx)
		cancel()
		if err != nil {
			select {
			case <-cn.dead:
			default:
				c.cfg.log.LogAttrs(ctx, slog.LevelWarn, "ping failed",
					slog.String("client_id", cn.id), slog.Any("err", err))
				_ = cn.ws.CloseNow()
			}
			return
		}
	}
}

// roundTrip sends one rpc frame and waits for its result. It waits for a
// connection while the client is reconnecting.
func (c *Client) roundTrip(ctx context.Context, typ, id, method string, input []byte) (callResult, error) {
	for {
		c.mu.Lock()
		if c.ending {
			c.mu.Unlock()
			return callResult{}, ErrClosed
		}
		cn := c.cur
		if cn == nil {
			wait := c.connWait
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return callResult{}, ctx.Err()
			}
		}
		c.nextID++
		rid := strconv.FormatUint(c.nextID, 36)
		ch := make(chan callResult, 1)
		cn.pending[rid] = ch
		cn.sendLocked(protocol.AppendRPC(nil, rid, typ, id, method, input))
		c.mu.Unlock()
		select {
		case r := <-ch:
			return r, r.err
		case <-ctx.Done():
			c.mu.Lock()
			delete(cn.pending, rid)
			c.mu.Unlock()
			select {
			case r := <-ch: // it arrived meanwhile
				return r, r.err
			default:
				return callResult{}, ctx.Err()
			}
		}
	}
}

// withTimeout applies the default call timeout to a ctx without deadline.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.cfg.callTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.callTimeout)
}
