package wsconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
)

// Close reasons a Conn sends (or records, for 1006) on its own.
const (
	ReasonSlow           = "send queue full"     // 1008: the peer does not read
	ReasonPing           = "ping timeout"        // 1008: the peer does not answer pings
	ReasonFlood          = "frame rate exceeded" // 1008: calls at twice MaxFrameRate or more, for seconds (Conn.Admit)
	ReasonClosedByClient = "closed by client"    // the peer's close code
	ReasonConnLost       = "connection lost"     // 1000: the socket ended without a close frame
	ReasonReadFailed     = "read failed"         // 1002
	ReasonWriteFailed    = "write failed"        // 1006: never sent, the socket is severed
	ReasonWriteTimeout   = "write timeout"       // 1006: never sent, the socket is severed
)

// ReasonFrameTooBig closes (1009) a connection that sent a frame over
// Config.MaxFrameBytes: protocol's text for a frame over a limit.
var ReasonFrameTooBig = protocol.ErrTooBig.Error()

// Counters are the connection counters of a [Hub], for the host's Stats.
type Counters struct {
	FramesIn  atomic.Int64 // client frames read
	FramesOut atomic.Int64 // frames written to sockets
	Writes    atomic.Int64 // writes of those frames: a backlog goes out in one (FramesOut/Writes frames a write)
	BytesIn   atomic.Int64 // bytes of the client frames read
	BytesOut  atomic.Int64 // bytes of the frames written to sockets
	Queued    atomic.Int64 // frames waiting in send queues now
	Dropped   atomic.Int64 // frames given up: sent to a stopped Conn, or queued when it stopped without flushing
	Slow      atomic.Int64 // connections stopped because their send queue was full
	BadFrames atomic.Int64 // client frames refused by the protocol decoder (Conn.Refuse)
	// RateLimited counts the rpcs refused for going over MaxFrameRate
	// (Conn.Admit).
	RateLimited atomic.Int64
}

// Conn is one accepted WebSocket. Its goroutines, started by [Conn.Start]:
//
//   - the reader passes each frame to the host's handler;
//   - the writer drains the bounded send queue to the socket and performs
//     the close handshake;
//   - the pinger (unless pings are disabled) checks the peer is alive.
//
// The host's handler goroutine owns them: it calls Start, waits for
// [Conn.Stopped], does its own cleanup and calls [Conn.Close].
//
// Reads and writes use contexts without deadlines (coder/websocket then
// skips its per-frame timers). Time limits are enforced on the raw net.Conn
// instead: by a socket deadline around each write, or by the Hub's watchdog
// ([Config.WatchWrites]); the close handshake runs under a socket deadline.
type Conn struct {
	hub *Hub
	id  string
	ws  *websocket.Conn
	// out is the hijacked socket, which coder/websocket writes through;
	// nil when the ResponseWriter could not be hijacked by us (tests).
	out *batchConn
	log *slog.Logger
	// ctx is the base of the host's per-frame contexts; it is cancelled
	// once the socket is closed.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	queue    ring
	qbytes   int
	stopping bool // no more frames are queued
	flush    bool // write what is queued before closing
	code     websocket.StatusCode
	reason   string

	// writing is the Hub's clock when the write in progress began, 0 when
	// the writer is not writing. Used only when the Hub watches writes.
	writing atomic.Int64
	// closeSent is set once the writer has written everything queued and
	// begins the close handshake: Hub.Drain tells these connections, whose
	// peer has been told, from those stuck writing.
	closeSent atomic.Bool

	badFrames int64   // frames passed to Refuse; reader goroutine only
	limit     limiter // MaxFrameRate; reader goroutine only

	batch [][]byte // the frames being written; writer goroutine only

	wake       chan struct{} // capacity 1: the queue gained a frame, or stop began
	stopped    chan struct{} // closed by the first stop
	writerDone chan struct{}
	wg         sync.WaitGroup
}

// ID returns the id the host gave the connection in [Hub.Accept].
func (c *Conn) ID() string { return c.id }

// RequestID returns the request id of the connection's n-th frame,
// "{id}-{n}": what the hosts log as request_id and the gateway sends in
// natstransport.HeaderRequest.
func (c *Conn) RequestID(n uint64) string {
	var buf [24]byte
	return c.id + "-" + string(strconv.AppendUint(buf[:0], n, 10))
}

// Context returns a context that carries the upgrade request's values and is
// cancelled once the socket is closed in [Conn.Close].
func (c *Conn) Context() context.Context { return c.ctx }

// Start starts the reader, the writer and the pinger. The reader calls
// handle with each client frame (data is not reused) until the connection
// stops; handle runs on the reader goroutine. Call Start once.
func (c *Conn) Start(handle func(data []byte)) {
	c.wg.Go(func() { c.readLoop(handle) })
	c.wg.Go(func() {
		defer close(c.writerDone)
		c.writeLoop()
	})
	if c.hub.cfg.PingInterval > 0 {
		c.wg.Go(c.pingLoop)
	}
}

// Stopped is closed when the connection begins to stop.
func (c *Conn) Stopped() <-chan struct{} { return c.stopped }

// IsStopped reports whether the connection has begun to stop.
func (c *Conn) IsStopped() bool {
	select {
	case <-c.stopped:
		return true
	default:
		return false
	}
}

// Close finishes a started connection once it has stopped: it waits for
// the writer's close handshake (bounded by WriteTimeout), closes the
// socket, cancels [Conn.Context], waits for the reader and the pinger, and
// removes the connection from its Hub. It returns the close code and reason
// of the first stop.
func (c *Conn) Close() (websocket.StatusCode, string) {
	<-c.writerDone
	c.Sever()
	_ = c.ws.CloseNow() // releases the websocket.Conn once the socket is closed
	c.cancel()
	c.wg.Wait()
	c.hub.conns.Delete(c.id)
	c.mu.Lock()
	code, reason := c.code, c.reason
	c.mu.Unlock()
	if m := c.hub.cfg.Metrics; m != nil {
		m.ConnectionsClosed.WithLabelValues(metrics.CloseLabels(int(code), reason)).Inc()
	}
	return code, reason
}

// FrameOverhead is what each queued frame counts against
// Config.SendQueueBytes besides its bytes: its queue slot and allocation
// header, so that a flood of tiny frames is bounded too.
const FrameOverhead = 64

// Send queues frame for the writer without blocking. A full queue (the
// frame would take it over SendQueueBytes, and something else is queued)
// stops the connection with 1008 "send queue full" and drops the frame;
// frames sent after a stop are dropped too.
func (c *Conn) Send(frame []byte) {
	if c.enqueue(frame) {
		c.signal()
	}
}

// SendQuiet is Send without waking the writer: it reports whether the
// frame was queued, and the caller must then call [Conn.Wake]. A host
// fanning one frame out to thousands of connections queues it everywhere
// first and wakes the writers after: woken one by one, they would
// compete with the fan-out for the CPU before it is done.
func (c *Conn) SendQuiet(frame []byte) bool { return c.enqueue(frame) }

// Wake wakes the writer after [Conn.SendQuiet].
func (c *Conn) Wake() { c.signal() }

// enqueue is Send without the wake-up.
func (c *Conn) enqueue(frame []byte) bool {
	cs := &c.hub.counters
	cost := len(frame) + FrameOverhead
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		cs.Dropped.Add(1)
		return false
	}
	if c.queue.n > 0 && c.qbytes+cost > c.hub.cfg.SendQueueBytes {
		n, size := c.queue.n, c.qbytes
		c.stopLocked(websocket.StatusPolicyViolation, ReasonSlow, false)
		c.mu.Unlock()
		cs.Slow.Add(1)
		cs.Dropped.Add(1)
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "slow client disconnected",
			slog.Int("queued_frames", n), slog.Int("queued_bytes", size))
		c.finishStop(false)
		return false
	}
	c.queue.push(frame)
	c.qbytes += cost
	c.mu.Unlock()
	cs.Queued.Add(1)
	return true
}

// Logging of refused frames that get no answer: the first badFrameBurst of
// a connection, then every badFrameEvery-th, so that a client sending
// garbage cannot flood the log.
const (
	badFrameBurst = 5
	badFrameEvery = 1000
)

// Refuse handles a client frame the protocol decoder refused with err (a
// *protocol.DecodeError): a frame whose id could be read gets an rpc:result
// error with that id, one whose id cannot be echoed (too long, not UTF-8)
// an rpc:result error with an empty id (DecodeError.Answerable); any other
// frame is dropped and logged, at a bounded rate. Call it from the frame
// handler, on the reader goroutine.
func (c *Conn) Refuse(err error) {
	c.hub.counters.BadFrames.Add(1)
	c.badFrames++
	var de *protocol.DecodeError
	if errors.As(err, &de) && de.Answerable() {
		c.log.LogAttrs(c.ctx, slog.LevelDebug, "bad frame answered", slog.Any("err", err))
		c.Send(protocol.AppendRPCError(nil, de.ID, err.Error()))
		return
	}
	if n := c.badFrames; n <= badFrameBurst || n%badFrameEvery == 0 {
		c.log.LogAttrs(c.ctx, slog.LevelWarn, "bad frame ignored", slog.Any("err", err),
			slog.Int64("bad_frames", n))
	}
}

// Admit holds the connection to MaxFrameRate; the host's frame handler
// calls it, on the reader goroutine, with each decoded frame before serving
// it. A frame within the rate is served at once. Past it, an rpc is
// answered here with an rpc:result error (protocol.ErrRateLimited) and
// Admit returns false: the host drops the frame. Any other frame waits
// until the rate allows it, then is served: subscriptions are not refused
// for speed, and unsubscriptions never are. Refusals are held to the rate
// too, so a flooding client is read at most twice as fast as the rate
// allows; one that keeps the reader waiting for refusals for seconds (it
// sends calls at twice the rate or more) is disconnected with 1008 "frame
// rate exceeded", and Admit returns false.
func (c *Conn) Admit(f protocol.Frame) bool {
	served, flooding := c.limit.admit(c.ctx, f.Type == protocol.TypeRPC)
	if flooding {
		if c.Stop(websocket.StatusPolicyViolation, ReasonFlood, true) {
			c.log.LogAttrs(c.ctx, slog.LevelWarn, "connection closed for flooding",
				slog.Int("max_frame_rate", c.hub.cfg.MaxFrameRate))
		}
		return false
	}
	if !served {
		c.hub.counters.RateLimited.Add(1)
		c.Send(protocol.AppendRPCError(nil, f.ID, c.hub.rateLimited))
	}
	return served
}

// Stop begins closing the connection with code and reason; with flush, the
// frames already queued are written first, otherwise they are dropped. Only
// the first call counts; it reports whether this was it.
func (c *Conn) Stop(code websocket.StatusCode, reason string, flush bool) bool {
	c.mu.Lock()
	first := !c.stopping
	if first {
		c.stopLocked(code, reason, flush)
	}
	c.mu.Unlock()
	if first {
		c.finishStop(flush)
	}
	return first
}

// stopLocked records the first stop; c.mu is held and c.stopping false.
// The caller must call finishStop after unlocking.
func (c *Conn) stopLocked(code websocket.StatusCode, reason string, flush bool) {
	c.stopping, c.flush, c.code, c.reason = true, flush, code, reason
}

// finishStop completes the first stop: it drops the queue unless flushing
// and wakes everyone waiting for the stop.
func (c *Conn) finishStop(flush bool) {
	if !flush {
		c.discard()
	}
	close(c.stopped)
	c.signal()
}

// signal wakes the writer if it waits.
func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// discard drops the queued frames, releasing their memory.
func (c *Conn) discard() {
	c.mu.Lock()
	n := c.queue.n
	c.queue.clear()
	c.qbytes = 0
	c.mu.Unlock()
	if n > 0 {
		c.hub.counters.Queued.Add(-int64(n))
		c.hub.counters.Dropped.Add(int64(n))
	}
}

// Sever closes the socket at once; every blocked read and write returns.
func (c *Conn) Sever() {
	if c.out != nil {
		_ = c.out.Close()
	}
}

func (c *Conn) readLoop(handle func([]byte)) {
	ctx := context.Background() // no per-frame timers; Sever unblocks Read
	var buf bytes.Buffer        // reused; each frame is then copied out at its size
	for {
		data, err := c.read(ctx, &buf)
		if err != nil {
			code, reason := websocket.StatusNormalClosure, ReasonConnLost
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				code, reason = websocket.StatusMessageTooBig, ReasonFrameTooBig
				c.log.LogAttrs(c.ctx, slog.LevelWarn, "frame too big",
					slog.Int64("limit", c.hub.cfg.MaxFrameBytes))
			case websocket.CloseStatus(err) != -1:
				code, reason = websocket.CloseStatus(err), ReasonClosedByClient
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
			default:
				if !c.IsStopped() {
					c.log.LogAttrs(c.ctx, slog.LevelDebug, "read failed", slog.Any("err", err))
				}
				code, reason = websocket.StatusProtocolError, ReasonReadFailed
			}
			c.Stop(code, reason, false)
			return
		}
		if c.IsStopped() {
			continue // keep reading until the peer answers the close
		}
		c.hub.counters.FramesIn.Add(1)
		c.hub.counters.BytesIn.Add(int64(len(data)))
		handle(data)
	}
}

// maxReadBuffer is the largest read buffer a connection keeps between
// frames; a bigger frame's buffer is dropped after it.
const maxReadBuffer = 64 << 10

// read reads one message into buf and returns a copy of exactly its size:
// the handler keeps it (decoded frames alias it), and websocket.Conn.Read
// would allocate at least 512 bytes for every frame of 80.
func (c *Conn) read(ctx context.Context, buf *bytes.Buffer) ([]byte, error) {
	_, r, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	data := bytes.Clone(buf.Bytes())
	if buf.Cap() > maxReadBuffer {
		*buf = bytes.Buffer{}
	}
	return data, nil
}

func (c *Conn) writeLoop() {
	ctx := context.Background() // no per-frame timers: see Conn
	for {
		frames := c.nextBatch()
		if frames == nil { // stopping, and nothing (left) to flush
			break
		}
		err := c.writeBatch(ctx, frames)
		clear(frames) // the queue let go of them; so does the batch
		if cap(frames) > keepSlots {
			c.batch = nil // a burst of tiny frames does not pin its list
		}
		if err != nil {
			if !c.IsStopped() {
				c.log.LogAttrs(c.ctx, slog.LevelInfo, "write failed; dropping client", slog.Any("err", err))
			}
			c.Stop(websocket.StatusAbnormalClosure, ReasonWriteFailed, false)
			c.discard() // also when an earlier stop asked for a flush
			c.Sever()
			return
		}
	}
	c.mu.Lock()
	code, reason := c.code, c.reason
	c.mu.Unlock()
	if code == websocket.StatusAbnormalClosure || code == websocket.StatusNoStatusRcvd {
		code = websocket.StatusInternalError // 1005 and 1006 cannot be sent
	}
	// The deadline bounds both writing the close frame and the reader's wait
	// for the peer's answer.
	if c.out != nil {
		_ = c.out.SetDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	}
	c.closeSent.Store(true) // a few bytes, which go out unless the socket's buffers are full
	_ = c.ws.Close(code, reason)
}

// nextBatch waits for queued frames and takes them off the queue: all of
// them, up to maxBatchBytes, and at least one. It returns nil once the
// connection stops with nothing left to write.
func (c *Conn) nextBatch() [][]byte {
	c.mu.Lock()
	for c.queue.n == 0 && !c.stopping {
		c.mu.Unlock()
		<-c.wake // Send and Stop signal it; the state is rechecked under mu
		c.mu.Lock()
	}
	batch, size := c.batch[:0], 0
	for c.queue.n > 0 && (len(batch) == 0 || size+len(c.queue.peek()) <= maxBatchBytes) {
		frame := c.queue.pop()
		c.qbytes -= len(frame) + FrameOverhead
		size += len(frame)
		batch = append(batch, frame)
	}
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	c.batch = batch
	c.hub.counters.Queued.Add(-int64(len(batch)))
	return batch
}

// writeBatch writes frames to the socket within WriteTimeout: several
// frames with one system call (batchConn).
func (c *Conn) writeBatch(ctx context.Context, frames [][]byte) error {
	cfg := &c.hub.cfg
	switch {
	case cfg.WatchWrites:
		// The Hub's watchdog severs the socket if this write outlives
		// WriteTimeout; that is cheaper than a socket deadline per write.
		c.writing.Store(int64(c.hub.clock()))
		defer c.writing.Store(0)
	case c.out != nil:
		_ = c.out.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		// Deadlines stick to the socket: clear it, or the next ping,
		// written long after, would inherit a deadline already past.
		defer func() { _ = c.out.SetWriteDeadline(time.Time{}) }()
	}
	held := len(frames) > 1 && c.out != nil
	if held {
		c.out.holdWrites()
	}
	var err error
	size := 0
	for _, frame := range frames {
		if err = c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
			break
		}
		size += len(frame)
	}
	if held {
		if rerr := c.out.release(); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return err
	}
	c.hub.counters.Writes.Add(1)
	c.hub.counters.FramesOut.Add(int64(len(frames)))
	c.hub.counters.BytesOut.Add(int64(size))
	return nil
}

func (c *Conn) pingLoop() {
	t := time.NewTicker(c.hub.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stopped:
			return
		case <-t.C:
		}
		// The pong comes through the reader, which the pacer or a host's
		// handler may hold up a while: hence a deadline no shorter than
		// the interval (wsconfig.Settings.PingInterval).
		ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.PongTimeout())
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			if c.Stop(websocket.StatusPolicyViolation, ReasonPing, false) {
				c.log.LogAttrs(c.ctx, slog.LevelInfo, "ping unanswered; dropping client", slog.Any("err", err))
			}
			return
		}
	}
}

// CloseAt stops the connection at t with code and reason, flushing what is
// queued: a credential that expires ends the connection it opened. A zero
// t means never; the timer ends with the connection.
func (c *Conn) CloseAt(t time.Time, code websocket.StatusCode, reason string) {
	if t.IsZero() {
		return
	}
	timer := time.AfterFunc(time.Until(t), func() { c.Stop(code, reason, true) })
	context.AfterFunc(c.ctx, func() { timer.Stop() })
}
