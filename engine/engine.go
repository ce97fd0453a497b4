package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
)

// Config configures an [Engine]. The zero value works with a Host.
type Config struct {
	// Host receives all outgoing frames. Required.
	Host Host
	// IdleTimeout is how long an instance with no connected client and no
	// work stays in memory before OnDeactivate runs and it is evicted.
	// Zero means 5 minutes; negative means never.
	IdleTimeout time.Duration
	// MaxQueue caps the rpc calls waiting on one instance; more are refused
	// at once with [protocol.ErrOverloaded], except that a session with no
	// call waiting on the instance may always queue one: sessions flooding an
	// instance cannot lock out the clients that call it one at a time.
	// Zero means DefaultMaxQueue (4096).
	//
	// An instance serves the sessions with waiting requests in turn, one
	// request each, and each session's requests in the order Dispatch
	// received them. So a request waits for at most one request of every
	// other session for each request of its own session queued before
	// it, however many the others queued; requests of different sessions
	// may run in another order than they arrived in. The engine's own
	// work goes first (OnActivate, [zocket.PatchInterval] flushes) and
	// OnDeactivate last; a session's OnDisconnect runs after the
	// requests it had queued.
	MaxQueue int
	// MaxSessionQueue caps the requests (calls and subscription changes)
	// of one session that wait or run on instances at once; more are
	// refused at once with [protocol.ErrTooManyRequests]. A refused rpc gets the
	// error as its rpc:result; a refused subscription change is dropped
	// and logged, as the protocol has no answer for it. It bounds the
	// memory one connection can hold in queues, while a client may still
	// send thousands of subscriptions at once. Zero means
	// DefaultMaxSessionQueue (4096); negative means no cap.
	MaxSessionQueue int
	// MaxInstances caps the live instances. A request that needs a new
	// instance while the cap is reached first evicts the instance idle
	// the longest (no connected client and no work; it runs OnDeactivate
	// as after IdleTimeout), or, when no instance is idle, is refused at
	// once with [protocol.ErrTooManyInstances]. Evicted instances still running
	// OnDeactivate do not count. Frames that need no instance
	// (state:unsub, event:unsub for an instance that is not live) never
	// create one. Zero means DefaultMaxInstances (100,000); negative
	// means no cap.
	MaxInstances int
	// MaxSubscriptions caps the subscriptions (state or events, to any
	// instances) one session holds at once; one more is refused with a
	// sub:error ([protocol.ErrTooManySubscriptions]). Zero means
	// DefaultMaxSubscriptions (10,000); negative means no cap.
	MaxSubscriptions int
	// CallTimeout is how long a method handler may run: its context
	// (zocket.Call.Context) is cancelled then, and a call that returns
	// after it fails with [protocol.ErrCallTimeout], its changes rolled
	// back, whatever it returned. Handlers hold their instance while they
	// run, so they should honour the context. Zero means
	// DefaultCallTimeout (30 s); negative means no deadline.
	CallTimeout time.Duration
	// GoneTTL is how long the ids of disconnected sessions are remembered,
	// so that a frame arriving after the disconnect (possible in distributed
	// mode) does not reconnect a dead session. Zero means 2 minutes.
	GoneTTL time.Duration
	// Fanout makes the engine describe the frames it sends to every
	// subscriber of an instance (Outgoing.Fanout) and report subscription
	// changes (Outgoing.Position), for a host that publishes such frames
	// once per instance rather than once per session. Off, every Outgoing
	// has a frame and nothing else.
	Fanout bool
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// Metrics receives the engine's metrics (RPC latency by actor type,
	// method and outcome, instances, activations, evictions, queue depth,
	// hook failures, and Stats at every scrape); nil turns them off.
	Metrics *metrics.Metrics
	// TracerProvider, when set, gives every rpc a span around its handler
	// ("zocket.handle"), a child of the span in Request.Context (the
	// host's), with the time it waited in the instance's queue. Nil turns
	// tracing off.
	TracerProvider trace.TracerProvider
}

// Defaults for the Config fields whose zero value means "default".
const (
	DefaultMaxQueue         = 4096
	DefaultMaxSessionQueue  = 4096
	DefaultMaxInstances     = 100_000
	DefaultMaxSubscriptions = 10_000
	DefaultCallTimeout      = 30 * time.Second
)

// Engine runs the actor instances of a [zocket.App]: it creates instances
// lazily, queues their work, runs methods and hooks one at a time per
// instance, and turns state changes and events into frames for its [Host].
// All methods are safe for concurrent use.
//
// The engine itself only checks and routes requests; the instances are
// the registry's (registry.go), the sessions the session table's
// (sessions.go).
type Engine struct {
	app  *zocket.App
	defs *actordef.App // app's definitions
	host Host
	cfg  Config
	log  *slog.Logger

	reg      registry
	sessions sessionTable

	epochs   atomic.Uint64 // instance activations, for Fanout.Epoch
	counters counters
	calls    callLog      // recent calls and their rate, for Inspect
	tracer   trace.Tracer // Config.TracerProvider's; nil: tracing off
	nextWarn atomic.Int64 // unix nanoseconds before which limit warnings are not logged

	metrics       *engineMetrics // nil when Config.Metrics is
	detachMetrics func()         // stops reporting Stats to Config.Metrics
}

// counters count what the limits did, for [Engine.Stats].
type counters struct {
	evicted, noRoom, instanceQueue, sessionQueue atomic.Uint64
	subscriptions, callTimeouts                  atomic.Uint64
}

// A Mark is a point in the sequence of frames an [Engine] has received
// from sessions, for [Engine.Expire]. It is a counter, not a clock, so
// that recording one costs nothing on the path of every frame.
type Mark uint64

// New returns an engine running app's actor types. Stop it with
// [Engine.Close].
func New(app *zocket.App, cfg Config) *Engine {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.MaxSessionQueue == 0 {
		cfg.MaxSessionQueue = DefaultMaxSessionQueue
	}
	if cfg.MaxInstances == 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.GoneTTL <= 0 {
		cfg.GoneTTL = 2 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := cfg.Host
	if host == nil {
		host = HostFunc(func(*Request, []Outgoing) {})
	}
	e := &Engine{
		app:    app,
		defs:   actordef.AppOf(app),
		host:   host,
		cfg:    cfg,
		log:    log,
		tracer: tracing.Tracer(cfg.TracerProvider),
	}
	e.reg.init(&e.cfg, &e.counters, func(def *actordef.Def, id string) *instance { return newInstance(e, def, id) })
	e.sessions.init(&e.reg, &e.counters, &e.cfg)
	e.metrics = newEngineMetrics(cfg.Metrics, e.defs)
	e.detachMetrics = metrics.Attach(cfg.Metrics, e.Stats)
	return e
}

// App returns the app the engine runs.
func (e *Engine) App() *zocket.App { return e.app }

// Dispatch queues a client frame (rpc, event:sub, event:unsub, state:sub,
// state:unsub) on its instance, creating the instance if needed. It does not
// wait for processing: results reach the Host. Unknown actor types and
// methods, undecodable or invalid input and a limit reached (MaxQueue,
// MaxSessionQueue, MaxInstances) are answered at once. An unsubscription
// from an instance that is not live creates none: it is answered at once
// too, as it changes nothing. req must not be modified afterwards.
func (e *Engine) Dispatch(req *Request) {
	f := &req.Frame
	if f.Type == protocol.TypeRPC {
		e.metrics.start(req)
		if e.tracer != nil && req.received.IsZero() {
			req.received = time.Now() // the start of the queue wait
		}
	}
	def := e.defs.Types[f.Actor]
	if def == nil {
		e.reject(req, actordef.Publicf(protocol.ErrUnknownActor, "%q", f.Actor))
		return
	}
	if f.ActorID == "" || len(f.ActorID) > protocol.MaxIDLength {
		e.reject(req, actordef.Publicf(protocol.ErrInvalidFrame, "actorId must be 1 to %d bytes", protocol.MaxIDLength))
		return
	}
	t := task{kind: taskRequest, req: req, session: req.SessionID}
	create := true
	switch f.Type {
	case protocol.TypeRPC:
		m := def.Methods[f.Method]
		if m == nil {
			e.reject(req, actordef.Publicf(protocol.ErrUnknownMethod, "%q on actor %q", f.Method, f.Actor))
			return
		}
		in, err := m.Decode(f.Input)
		if err != nil {
			e.reject(req, err)
			return
		}
		t.method, t.input = m, in
	case protocol.TypeStateSub, protocol.TypeEventSub:
	case protocol.TypeStateUnsub, protocol.TypeEventUnsub:
		// Leaving needs an instance only if there is one: a session
		// cannot be subscribed to an instance that is not live. Creating
		// one let a single socket fill the process with instances.
		create = false
	default:
		e.reject(req, actordef.Publicf(protocol.ErrInvalidFrame, "%s is not a client frame", f.Type))
		return
	}
	key := instanceKey{def.Name, f.ActorID}
	var st *sessionState
	if req.SessionID != "" {
		var err error
		if st, err = e.sessions.admit(req.SessionID, key, create); err != nil {
			if err == errSessionGone {
				e.host.Deliver(req, nil) // nobody to answer; the host may still need to ack
			} else {
				e.reject(req, err)
			}
			return
		}
		t.sess = st
	}
	err := e.reg.enqueue(def, key, t, create)
	if st != nil {
		if err != nil {
			st.queued.Add(-1)
		}
		e.sessions.settle(req.SessionID, st, key, create && err == nil)
	}
	switch {
	case err == nil:
	case err == errNotLive:
		e.host.Deliver(req, e.leftAnswer(req))
	default:
		e.reject(req, err)
	}
}

// leftAnswer answers an unsubscription from an instance that is not live
// as the instance would: nothing for the client and, with Fanout, the
// subscription change, at position zero.
func (e *Engine) leftAnswer(req *Request) []Outgoing {
	if !e.cfg.Fanout {
		return nil
	}
	f := &req.Frame
	return []Outgoing{{SessionID: req.SessionID, Position: &Position{Actor: f.Actor, ActorID: f.ActorID, Sub: f.Type}}}
}

func (e *Engine) reject(req *Request, err error) {
	limit := errors.Is(err, protocol.ErrOverloaded) || errors.Is(err, protocol.ErrTooManyInstances) ||
		errors.Is(err, protocol.ErrTooManyRequests)
	if limit {
		e.warnLimit(err)
	}
	var out []Outgoing
	switch req.Frame.Type {
	case protocol.TypeRPC, protocol.TypeStateSub, protocol.TypeEventSub:
		e.metrics.done(req, err) // rpcs only
		msg, internal := clientMessage(err)
		if internal {
			e.log.LogAttrs(context.Background(), slog.LevelError, "request failed",
				requestAttrs(req, true, slog.Any("err", err))...)
		}
		out = []Outgoing{refusal(req, msg)}
		if req.Frame.Type == protocol.TypeRPC { // refused before it ran: latency 0
			f := &req.Frame
			e.calls.record(&CallRecord{At: time.Now(), Actor: f.Actor, ActorID: f.ActorID, Method: f.Method, Session: req.SessionID, Error: msg})
		}
	default:
		// A client flooding subscription frames past a limit would
		// flood the log too: those are counted in Stats, and warnLimit
		// says so now and then.
		level := slog.LevelWarn
		if limit {
			level = slog.LevelDebug
		}
		if e.log.Enabled(context.Background(), level) {
			e.log.LogAttrs(context.Background(), level, "frame refused", requestAttrs(req, true, slog.Any("err", err))...)
		}
	}
	e.host.Deliver(req, out)
}

// refusal is the answer to a request refused with msg: an rpc's error
// rpc:result, or a subscription's sub:error.
func refusal(req *Request, msg string) Outgoing {
	f := &req.Frame
	if f.Type == protocol.TypeRPC {
		return Outgoing{SessionID: req.SessionID, Frame: protocol.AppendRPCError(nil, f.ID, msg)}
	}
	return Outgoing{SessionID: req.SessionID, Frame: protocol.AppendSubError(nil, f.ID, f.Actor, f.ActorID, f.Type, msg)}
}

// limitWarnEvery is how often, at most, the engine logs that limits refuse
// requests.
const limitWarnEvery = 10 * time.Second

// warnLimit logs a refusal by a limit, with the counts so far, unless
// another was logged less than limitWarnEvery ago.
func (e *Engine) warnLimit(err error) {
	now := time.Now().UnixNano()
	next := e.nextWarn.Load()
	if now < next || !e.nextWarn.CompareAndSwap(next, now+int64(limitWarnEvery)) {
		return
	}
	s := e.Stats()
	e.log.LogAttrs(context.Background(), slog.LevelWarn, "limit reached: requests refused", slog.Any("err", err),
		slog.Int("instances", s.Instances), slog.Uint64("refused_no_room", s.RefusedNoRoom),
		slog.Uint64("refused_instance_queue", s.RefusedInstanceQueue),
		slog.Uint64("refused_session_queue", s.RefusedSessionQueue))
}

// Disconnect ends a session: every instance it touched runs OnDisconnect
// and forgets its subscriptions. Frames from the session that arrive later
// are ignored. Safe to call more than once.
func (e *Engine) Disconnect(session string) { e.sessions.end(session, true, 0) }

// Expire ends a session that looks dead without word from its transport
// (in distributed mode: its gateway stopped consuming its frames), as
// Disconnect does, unless the session sent a frame after quietSince (a
// [Engine.Mark] taken earlier): then it is alive after all, and Expire
// reports false, as it does for a session it does not know. Unlike a disconnected session, an expired one is not
// remembered as gone: if it speaks again, its next frame connects it
// again, and OnConnect runs again.
func (e *Engine) Expire(session string, quietSince Mark) bool {
	return e.sessions.end(session, false, quietSince)
}

// Mark returns the current point in the sequence of frames, for Expire.
func (e *Engine) Mark() Mark { return e.sessions.mark() }

// Sessions returns the ids of the sessions that have sent frames to
// instances and have not been disconnected, in no particular order.
func (e *Engine) Sessions() []string { return e.sessions.ids() }

// Len returns the number of live instances; after Close, those that have
// not finished OnDeactivate yet.
func (e *Engine) Len() int { return e.reg.len() }

// Stats is a snapshot of an engine's instances and of what its limits
// did, for monitoring and tests. With Config.Metrics, every scrape reads
// the fields with a metric tag (docs/METRICS.md); live instances and
// evictions are counted there by actor type instead.
type Stats struct {
	Instances     int // live instances (Config.MaxInstances caps them)
	IdleInstances int `metric:"zocket_instances_idle"`         // live instances with no client and no work: the first evicted
	Deactivating  int `metric:"zocket_instances_deactivating"` // evicted instances still running OnDeactivate
	// Goroutines counts the instances' goroutines, working or lingering
	// for more work (at most a fixed number linger: an idle instance has
	// none).
	Goroutines int `metric:"zocket_instance_goroutines"`
	Sessions   int `metric:"zocket_engine_sessions"` // sessions that sent frames and did not disconnect

	Evicted              uint64 // idle instances evicted early to make room (MaxInstances)
	RefusedNoRoom        uint64 `metric:"zocket_engine_refused_total,limit=instances"`      // requests refused with ErrTooManyInstances
	RefusedInstanceQueue uint64 `metric:"zocket_engine_refused_total,limit=instance_queue"` // calls refused with ErrOverloaded (MaxQueue)
	RefusedSessionQueue  uint64 `metric:"zocket_engine_refused_total,limit=session_queue"`  // requests refused with ErrTooManyRequests (MaxSessionQueue)
	RefusedSubscriptions uint64 `metric:"zocket_engine_refused_total,limit=subscriptions"`  // subscriptions refused with ErrTooManySubscriptions (MaxSubscriptions)
	CallTimeouts         uint64 // calls failed with ErrCallTimeout (CallTimeout); zocket_rpc_duration_seconds counts them with outcome "timeout"
}

// Stats returns the engine's current counts.
func (e *Engine) Stats() Stats {
	var s Stats
	e.reg.stats(&s)
	s.Sessions = e.sessions.len()
	s.Evicted = e.counters.evicted.Load()
	s.RefusedNoRoom = e.counters.noRoom.Load()
	s.RefusedInstanceQueue = e.counters.instanceQueue.Load()
	s.RefusedSessionQueue = e.counters.sessionQueue.Load()
	s.RefusedSubscriptions = e.counters.subscriptions.Load()
	s.CallTimeouts = e.counters.callTimeouts.Load()
	return s
}

// Close stops accepting work, lets every instance finish its queue, runs
// OnDeactivate on each, and waits for all of it or for ctx. Later Dispatch
// calls are answered with [protocol.ErrShuttingDown]. The engine's Stats
// leave Config.Metrics, whose counters keep what it counted.
func (e *Engine) Close(ctx context.Context) error {
	defer e.detachMetrics()
	return e.reg.close(ctx)
}
