package standalone

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/protocol"
)

// conn is one WebSocket client. Its goroutines:
//
//   - the HTTP handler goroutine (serveWebSocket) owns the others: it waits
//     for the connection to stop, disconnects the session from the engine,
//     and waits for the rest before returning;
//   - the reader decodes frames and dispatches them to the engine;
//   - the writer drains the bounded send queue to the socket and performs
//     the close handshake;
//   - the pinger (unless pings are disabled) checks the peer is alive.
//
// Reads and writes use contexts without deadlines (coder/websocket then
// skips its per-frame timers). Time limits are enforced on the raw net.Conn
// instead: the server's watchdog severs a socket whose write outlives
// WriteTimeout, and the close handshake runs under a socket deadline.
type conn struct {
	s   *Server
	id  string
	ws  *websocket.Conn
	nc  net.Conn
	log *slog.Logger
	// ctx is the base of the calls' contexts; it is cancelled once the
	// socket is closed.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	queue    ring
	qbytes   int
	stopping bool // no more frames are queued
	flush    bool // write what is queued before closing
	code     websocket.StatusCode
	reason   string

	// writing is the server clock (see Server.clock) when the write in
	// progress began, 0 when the writer is not writing.
	writing atomic.Int64

	wake    chan struct{} // capacity 1: the queue gained a frame, or stop began
	stopped chan struct{} // closed by the first stop
}

// serveWebSocket runs one connection from upgrade to close.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()

	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, s.accept)
	if err != nil { // Accept has answered the request
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "upgrade refused",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		return
	}
	ws.SetReadLimit(s.cfg.MaxFrameBytes)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	id := newClientID()
	c := &conn{
		s:       s,
		id:      id,
		ws:      ws,
		nc:      hw.conn,
		log:     s.log.With(slog.String("client_id", id)),
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	c.send(protocol.AppendWelcome(nil, id)) // first in the queue, before any Deliver can find c
	s.stats.conns.Add(1)
	s.stats.connsTotal.Add(1)
	if !s.register(c) {
		c.stop(websocket.StatusGoingAway, "server shutting down", true)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "connection opened", slog.String("remote", r.RemoteAddr))

	var wg sync.WaitGroup
	writerDone := make(chan struct{})
	wg.Go(c.readLoop)
	wg.Go(func() {
		defer close(writerDone)
		c.writeLoop()
	})
	if s.cfg.PingInterval > 0 {
		wg.Go(c.pingLoop)
	}

	<-c.stopped
	// Run OnDisconnect now, not after the close handshake: the client is
	// gone for the actors as soon as the server decided to close.
	s.engine.Disconnect(id)
	<-writerDone // the close handshake is bounded by WriteTimeout
	c.sever()
	_ = ws.CloseNow() // releases the websocket.Conn once the socket is closed
	cancel()
	wg.Wait()
	s.conns.Delete(id)
	s.stats.conns.Add(-1)
	c.mu.Lock()
	code, reason := c.code, c.reason
	c.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelDebug, "connection closed",
		slog.Int("code", int(code)), slog.String("reason", reason))
}

// send queues frame for the writer without blocking. A full queue stops the
// connection (the client is too slow) and drops the frame.
func (c *conn) send(frame []byte) {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		c.s.stats.dropped.Add(1)
		return
	}
	limit := c.s.cfg.SendQueue
	if c.queue.n >= limit || (c.queue.n > 0 && c.qbytes+len(frame) > c.s.cfg.SendQueueBytes) {
		n, size := c.queue.n, c.qbytes
		c.stopLocked(websocket.StatusPolicyViolation, "send queue full", false)
		c.mu.Unlock()
		c.s.stats.slow.Add(1)
		c.s.stats.dropped.Add(1)
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "slow client disconnected",
			slog.Int("queued_frames", n), slog.Int("queued_bytes", size))
		c.finishStop(false)
		return
	}
	c.queue.push(frame, limit)
	c.qbytes += len(frame)
	c.mu.Unlock()
	c.s.stats.queued.Add(1)
	c.signal()
}

// stop begins closing the connection with code and reason; with flush, the
// frames already queued are written first. Only the first call counts.
func (c *conn) stop(code websocket.StatusCode, reason string, flush bool) {
	c.mu.Lock()
	first := !c.stopping
	if first {
		c.stopLocked(code, reason, flush)
	}
	c.mu.Unlock()
	if first {
		c.finishStop(flush)
	}
}

// stopLocked records the first stop; c.mu is held and c.stopping false.
// The caller must call finishStop after unlocking.
func (c *conn) stopLocked(code websocket.StatusCode, reason string, flush bool) {
	c.stopping, c.flush, c.code, c.reason = true, flush, code, reason
}

// finishStop completes the first stop: it drops the queue unless flushing and
// wakes everyone waiting for the stop.
func (c *conn) finishStop(flush bool) {
	if !flush {
		c.discard()
	}
	close(c.stopped)
	c.signal()
}

// signal wakes the writer if it waits.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// discard drops the queued frames, releasing their memory.
func (c *conn) discard() {
	c.mu.Lock()
	n := c.queue.n
	c.queue.clear()
	c.qbytes = 0
	c.mu.Unlock()
	if n > 0 {
		c.s.stats.queued.Add(-int64(n))
		c.s.stats.dropped.Add(int64(n))
	}
}

// sever closes the socket at once; every blocked read and write returns.
func (c *conn) sever() {
	if c.nc != nil {
		_ = c.nc.Close()
	}
}

func (c *conn) isStopping() bool {
	select {
	case <-c.stopped:
		return true
	default:
		return false
	}
}

func (c *conn) readLoop() {
	ctx := context.Background() // no per-frame timers; sever unblocks Read
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			code, reason := websocket.StatusNormalClosure, ""
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				code, reason = websocket.StatusMessageTooBig, "frame too big"
				c.log.LogAttrs(c.ctx, slog.LevelWarn, "frame too big",
					slog.Int64("limit", c.s.cfg.MaxFrameBytes))
			case websocket.CloseStatus(err) != -1:
				code, reason = websocket.CloseStatus(err), "closed by client"
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
				reason = "connection lost"
			default:
				if !c.isStopping() {
					c.log.LogAttrs(c.ctx, slog.LevelDebug, "read failed", slog.Any("err", err))
				}
				code, reason = websocket.StatusProtocolError, "read failed"
			}
			c.stop(code, reason, false)
			return
		}
		if c.isStopping() {
			continue // keep reading until the peer answers the close
		}
		c.s.stats.framesIn.Add(1)
		c.handle(data)
	}
}

// handle decodes one client frame and dispatches it. data is not reused:
// the frame's raw fields alias it.
func (c *conn) handle(data []byte) {
	f, err := protocol.DecodeClient(data)
	if err != nil {
		c.s.stats.badFrames.Add(1)
		var de *protocol.DecodeError
		if errors.As(err, &de) && de.ID != "" {
			c.log.LogAttrs(c.ctx, slog.LevelDebug, "bad frame answered", slog.Any("err", err))
			c.send(protocol.AppendRPCError(nil, de.ID, err.Error()))
			return
		}
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "bad frame ignored", slog.Any("err", err))
		return
	}
	if c.log.Enabled(c.ctx, slog.LevelDebug) {
		c.log.LogAttrs(c.ctx, slog.LevelDebug, "frame", slog.String("type", f.Type),
			slog.String("actor", f.Actor), slog.String("actor_id", f.ActorID), slog.String("method", f.Method))
	}
	c.s.engine.Dispatch(&zocket.Request{SessionID: c.id, Frame: f, Context: c.ctx})
}

func (c *conn) writeLoop() {
	ctx := context.Background() // no per-frame timers; the server's watchdog bounds writes
	timeout := c.s.cfg.WriteTimeout
	for {
		c.mu.Lock()
		for c.queue.n == 0 && !c.stopping {
			c.mu.Unlock()
			<-c.wake // send and stop signal it; the state is rechecked under mu
			c.mu.Lock()
		}
		if c.queue.n == 0 { // stopping, and nothing (left) to flush
			c.mu.Unlock()
			break
		}
		frame := c.queue.pop()
		c.qbytes -= len(frame)
		c.mu.Unlock()
		c.s.stats.queued.Add(-1)

		// The server's watchdog severs the socket if this write outlives
		// WriteTimeout; that is cheaper than a socket deadline per frame
		// (which would also have to be cleared after each write, since it
		// sticks to the socket and would hit later pings).
		c.writing.Store(int64(c.s.clock()))
		err := c.ws.Write(ctx, websocket.MessageText, frame)
		c.writing.Store(0)
		if err != nil {
			if !c.isStopping() {
				c.log.LogAttrs(c.ctx, slog.LevelInfo, "write failed; dropping client", slog.Any("err", err))
			}
			c.stop(websocket.StatusAbnormalClosure, "write failed", false)
			c.discard() // also when an earlier stop asked for a flush
			c.sever()
			return
		}
		c.s.stats.framesOut.Add(1)
	}
	c.mu.Lock()
	code, reason := c.code, c.reason
	c.mu.Unlock()
	if code == websocket.StatusAbnormalClosure {
		code = websocket.StatusInternalError // 1006 cannot be sent
	}
	// The deadline bounds both writing the close frame and the reader's wait
	// for the peer's answer.
	if c.nc != nil {
		_ = c.nc.SetDeadline(time.Now().Add(timeout))
	}
	_ = c.ws.Close(code, reason)
}

func (c *conn) pingLoop() {
	t := time.NewTicker(c.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stopped:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.WriteTimeout)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			if !c.isStopping() {
				c.log.LogAttrs(c.ctx, slog.LevelInfo, "ping unanswered; dropping client", slog.Any("err", err))
			}
			c.stop(websocket.StatusPolicyViolation, "ping timeout", false)
			return
		}
	}
}

// newClientID returns a fresh URL-safe random id (26 characters of base32,
// 130 bits of entropy).
func newClientID() string { return rand.Text() }

// hijackWriter records the net.Conn that websocket.Accept hijacks, so that
// the server can set deadlines on it and sever it.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	w.conn = nc
	return nc, brw, nil
}

func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ring is a FIFO of frames that grows up to a limit.
type ring struct {
	buf  [][]byte
	head int
	n    int
}

func (r *ring) push(b []byte, limit int) {
	if r.n == len(r.buf) {
		size := min(max(8, 2*len(r.buf)), limit)
		buf := make([][]byte, size)
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

func (r *ring) pop() []byte {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b
}

func (r *ring) clear() {
	r.buf, r.head, r.n = nil, 0, 0
}
