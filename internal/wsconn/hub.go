package wsconn

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/wsconfig"
)

// Config holds the limits of a Hub's connections.
type Config struct {
	// Settings are the host's WebSocket settings, validated and with their
	// defaults filled in (wsconfig.Settings.WithDefaults): the sizes and
	// WriteTimeout must be positive. A send beyond SendQueueBytes (each
	// frame counting FrameOverhead besides its bytes) stops the connection
	// with 1008 "send queue full"; a frame over MaxFrameBytes with 1009
	// "frame too big"; a ping unanswered within Settings.PongTimeout with
	// 1008 "ping timeout". Frames are held to MaxFrameRate (zero or
	// negative: no limit), with a burst of as many: see Conn.Admit.
	wsconfig.Settings
	// WatchWrites enforces WriteTimeout with one watchdog goroutine per Hub
	// (checking every quarter of it) instead of a socket deadline set and
	// cleared around each write. The watchdog stops the connection with
	// 1006 "write timeout", a failed write with 1006 "write failed".
	WatchWrites bool
	// Metrics, if not nil, counts closed connections by reason and code.
	Metrics *metrics.Metrics
}

// Hub is a host's set of live connections and of the handler goroutines
// that run them, which [Hub.Drain] waits for at shutdown.
type Hub struct {
	cfg      Config
	accept   *websocket.AcceptOptions
	counters Counters

	conns sync.Map // id → *Conn; read on every delivered frame

	mu       sync.Mutex // guards closing, watchdog and wg.Add against Drain's wg.Wait
	closing  bool
	wg       sync.WaitGroup // one per tracked handler goroutine
	down     chan struct{}  // closed by EndShutdown
	watchdog chan struct{}  // closed to stop the watchdog; nil until the first Track
	dogDone  chan struct{}  // closed when the watchdog has returned
	epoch    time.Time      // origin of clock

	rateLimited string // the error of an rpc over MaxFrameRate
}

// NewHub returns an empty Hub for connections with cfg's limits.
func NewHub(cfg Config) *Hub {
	h := &Hub{
		cfg:    cfg,
		accept: &websocket.AcceptOptions{OriginPatterns: cfg.OriginPatterns},
		down:   make(chan struct{}),
		epoch:  time.Now(),
	}
	h.rateLimited = fmt.Sprintf("%s: at most %d frames a second", protocol.ErrRateLimited, cfg.MaxFrameRate)
	if len(cfg.OriginPatterns) == 1 && cfg.OriginPatterns[0] == "*" {
		h.accept = &websocket.AcceptOptions{InsecureSkipVerify: true}
	}
	return h
}

// Counters returns the Hub's counters; hosts may add to Dropped.
func (h *Hub) Counters() *Counters { return &h.counters }

// Track counts one handler goroutine, or reports false once shutting down.
// The handler calls [Hub.Untrack] when it returns.
func (h *Hub) Track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	if h.cfg.WatchWrites && h.watchdog == nil {
		h.watchdog, h.dogDone = make(chan struct{}), make(chan struct{})
		go h.watch(h.watchdog, h.dogDone)
	}
	h.wg.Add(1)
	return true
}

// Untrack ends what [Hub.Track] counted.
func (h *Hub) Untrack() { h.wg.Done() }

// Accept upgrades the request to a WebSocket connection with id (unique in
// the Hub) that logs to log. On error Accept has answered the request. The
// connection is not yet registered (see [Hub.Register]) nor started.
func (h *Hub) Accept(w http.ResponseWriter, r *http.Request, id string, log *slog.Logger) (*Conn, error) {
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, h.accept)
	if err != nil {
		return nil, err // the host logs it
	}
	ws.SetReadLimit(h.cfg.MaxFrameBytes)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	return &Conn{
		hub:        h,
		id:         id,
		ws:         ws,
		out:        hw.out,
		log:        log,
		ctx:        ctx,
		cancel:     cancel,
		wake:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		writerDone: make(chan struct{}),
		limit:      newLimiter(h.cfg.MaxFrameRate, h.cfg.MaxFrameRate),
	}, nil
}

// Register adds c to the live connections, or reports false once shutting
// down (the caller then stops c itself). [Conn.Close] removes it.
func (h *Hub) Register(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.conns.Store(c.id, c)
	return true
}

// Get returns the live connection with id, or nil.
func (h *Hub) Get(id string) *Conn {
	if v, ok := h.conns.Load(id); ok {
		return v.(*Conn)
	}
	return nil
}

// Closing reports whether [Hub.BeginShutdown] has been called.
func (h *Hub) Closing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// BeginShutdown makes Track and Register refuse from now on. It reports
// whether this was the first call; a later call waits for the first one's
// [Hub.EndShutdown] (nil) or for ctx (its error).
func (h *Hub) BeginShutdown(ctx context.Context) (first bool, err error) {
	h.mu.Lock()
	first = !h.closing
	h.closing = true
	h.mu.Unlock()
	if first {
		return true, nil
	}
	select {
	case <-h.down:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Drain stops every live connection with code and reason, flushing their
// queues, and waits for every tracked handler goroutine. When ctx expires
// first it calls expired (if not nil), severs the remaining sockets and
// waits for the handlers all the same. It returns ctx's error only when a
// connection was severed before its close frame: one still writing its
// queue (a client that does not read). One that had sent it and waited for
// the peer's answer has been told; cutting that wait short is no failure.
// Call it after [Hub.BeginShutdown].
func (h *Hub) Drain(ctx context.Context, code websocket.StatusCode, reason string, expired func()) error {
	h.conns.Range(func(_, v any) bool {
		v.(*Conn).Stop(code, reason, true)
		return true
	})
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	if expired != nil {
		expired()
	}
	// Out of time: sever every socket; that unblocks all their goroutines.
	unclosed := 0
	h.conns.Range(func(_, v any) bool {
		c := v.(*Conn)
		if !c.closeSent.Load() {
			unclosed++
		}
		c.Sever()
		return true
	})
	<-done
	if unclosed > 0 {
		return fmt.Errorf("%d connections severed before their close frame: %w", unclosed, ctx.Err())
	}
	return nil
}

// EndShutdown stops the watchdog and releases the callers waiting in
// BeginShutdown. Call it once, after the first BeginShutdown and Drain.
func (h *Hub) EndShutdown() {
	// No handler can start the watchdog any more (closing is set).
	if h.watchdog != nil {
		close(h.watchdog)
		<-h.dogDone
	}
	close(h.down)
}

// clock returns the time since NewHub, monotonic and never 0 in practice.
func (h *Hub) clock() time.Duration { return time.Since(h.epoch) }

// watch severs connections whose current write has outlived WriteTimeout,
// checking every quarter of it, until stop is closed.
func (h *Hub) watch(stop, done chan struct{}) {
	defer close(done)
	limit := h.cfg.WriteTimeout
	t := time.NewTicker(max(limit/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := h.clock()
		h.conns.Range(func(_, v any) bool {
			c := v.(*Conn)
			if since := c.writing.Load(); since != 0 && now-time.Duration(since) > limit {
				c.log.LogAttrs(context.Background(), slog.LevelInfo, "write timed out; dropping client",
					slog.Duration("timeout", limit))
				c.Stop(websocket.StatusAbnormalClosure, ReasonWriteTimeout, false)
				c.Sever()
			}
			return true
		})
	}
}

// hijackWriter puts a batchConn around the net.Conn that websocket.Accept
// hijacks, and records it, so that the Conn can batch writes, set
// deadlines on the socket and sever it.
type hijackWriter struct {
	http.ResponseWriter
	out *batchConn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	if err := brw.Writer.Flush(); err != nil { // empty after a hijack; Reset would drop what is not
		_ = nc.Close()
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	w.out = &batchConn{Conn: nc}
	brw.Writer.Reset(w.out)
	return w.out, brw, nil
}

func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
