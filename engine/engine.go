package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// Outgoing is one encoded server frame for one session. Frame slices may be
// shared between several Outgoing values and must not be modified.
type Outgoing struct {
	SessionID string
	// Frame is the encoded server frame; nil only for a subscription
	// change reported with Config.Fanout (Position set), which is
	// for the host, not the client.
	Frame []byte
	// Fanout, set only with Config.Fanout, marks a frame meant for
	// every state or event subscriber of an instance: the Outgoing values
	// of one such frame share one *Fanout, and a host may send the frame
	// once for all of them (see [Fanout]).
	Fanout *Fanout
	// Position, set only with Config.Fanout, reports that the
	// session's subscription changed, and where in the instance's
	// sequence of fanout frames: on the state:snapshot that answers a
	// state:sub, and on a frame-less Outgoing for event:sub, state:unsub
	// and event:unsub. An unsubscription from an instance that is not
	// live is answered with Epoch 0 and Seq 0: no activation, as the
	// session cannot be subscribed to an instance that does not exist.
	Position *Position
	// After, set only with Config.Fanout on the other frames an
	// instance sends to one session (rpc:result, events narrowed with
	// [zocket.To]), is the instance's fanout position when the frame was
	// made: a session that watches the instance must get the fanout
	// frames up to it first (Sub is empty).
	After *Position
}

// Fanout describes a frame for every subscriber of one instance. Every
// fanout frame of an instance takes the next number of that instance's
// sequence (Seq, from 1 within an Epoch), so a host that receives them
// through a lossy path can tell a gap from a duplicate. Epoch changes
// when the instance is activated again (after eviction, or in another
// engine): numbers of different epochs are unrelated.
type Fanout struct {
	Actor, ActorID string
	// Events is true for an event, false for a state:patch.
	Events bool
	// Except lists the event subscribers the frame is not for
	// ([zocket.Except]); always empty for patches.
	Except []string
	Epoch  uint64
	Seq    uint64
	// EventCount is how many of the instance's fanout frames up to this
	// one (included) are events, so that a host that lost frames can tell
	// how many were patches and how many events.
	EventCount uint64
}

// Position is an instance's place in its fanout sequence when a
// session's subscription changed: the session receives, of that
// instance's fanout frames of the subscription's kind, exactly those with
// Epoch and a sequence number after Seq, until it unsubscribes.
type Position struct {
	Actor, ActorID string
	// Sub is the frame type that changed it: protocol.TypeStateSub,
	// TypeEventSub, TypeStateUnsub or TypeEventUnsub.
	Sub   string
	Epoch uint64
	Seq   uint64
	// Events is how many of the fanout frames up to Seq are events.
	Events uint64
}

// Host carries the frames an [Engine] produces to sessions: package
// standalone writes them to WebSockets, package runtime publishes them to
// NATS. It is the seam between actor semantics and transports.
type Host interface {
	// Deliver hands over the frames produced by one request (req) or by a
	// hook the engine ran on its own (req == nil: eviction, disconnect,
	// shutdown, a [zocket.PatchInterval] flush), in the order each session
	// must receive them. For every request passed to Dispatch, Deliver is
	// called exactly once, after the request was processed (out may be
	// empty). Calls made by one instance are sequential and in order;
	// calls for different instances are concurrent. A request Dispatch
	// refuses at once (unknown actor or method, invalid input, a limit
	// reached, shutdown) is delivered on the caller's goroutine, so its
	// error may overtake the session's earlier, still queued calls; so is
	// the answer to an unsubscription from an instance that is not live.
	// Deliver should not block for long: it holds up the instance.
	Deliver(req *Request, out []Outgoing)
}

// HostFunc adapts a function to [Host].
type HostFunc func(req *Request, out []Outgoing)

// Deliver calls f(req, out).
func (f HostFunc) Deliver(req *Request, out []Outgoing) { f(req, out) }

// Request is one client frame addressed to an actor, with the identity of
// the session that sent it.
type Request struct {
	SessionID string
	UserID    string
	Claims    map[string]any
	Frame     protocol.Frame
	// Context is the base of the call's context; nil means
	// context.Background().
	Context context.Context
	// Tag is for the host's own bookkeeping (for example the NATS message
	// to acknowledge); the engine never reads it.
	Tag any
}

// Config configures an [Engine]. The zero value works with a Host.
type Config struct {
	// Host receives all outgoing frames. Required.
	Host Host
	// IdleTimeout is how long an instance with no connected client and no
	// work stays in memory before OnDeactivate runs and it is evicted.
	// Zero means 5 minutes; negative means never.
	IdleTimeout time.Duration
	// MaxQueue caps the rpc calls waiting on one instance; more are refused
	// at once with [zocket.ErrOverloaded], except that a session with no
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
	// refused at once with [zocket.ErrTooManyRequests]. A refused rpc gets the
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
	// once with [zocket.ErrTooManyInstances]. Evicted instances still running
	// OnDeactivate do not count. Frames that need no instance
	// (state:unsub, event:unsub for an instance that is not live) never
	// create one. Zero means DefaultMaxInstances (100,000); negative
	// means no cap.
	MaxInstances int
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
}

// Defaults for the Config fields whose zero value means "default".
const (
	DefaultMaxQueue        = 4096
	DefaultMaxSessionQueue = 4096
	DefaultMaxInstances    = 100_000
)

// Engine runs the actor instances of a [zocket.App]: it creates instances
// lazily, queues their work, runs methods and hooks one at a time per
// instance, and turns state changes and events into frames for its [Host].
// All methods are safe for concurrent use.
type Engine struct {
	app  *zocket.App
	defs *actordef.App // app's definitions
	host Host
	cfg  Config
	log  *slog.Logger

	mu        sync.RWMutex
	closed    bool
	instances map[instanceKey]*instance
	retiring  map[instanceKey]chan struct{} // evicted instances still running OnDeactivate
	instPeak  int                           // peak sizes, for shrunk
	retPeak   int
	wg        sync.WaitGroup // instance goroutines

	// idle lists the live instances that have neither a client nor work,
	// the one idle longest first: MaxInstances evicts from its front, and
	// so does a sweep, when sweepTimer fires, after IdleTimeout.
	idleMu     sync.Mutex
	idle       idleList
	sweepTimer *time.Timer
	sweepArmed bool          // sweepTimer is armed or a sweep runs
	sweepMu    sync.Mutex    // held by a running sweep
	sweepSlots chan struct{} // a token per deactivation a sweep started

	epochs     atomic.Uint64 // instance activations, for Fanout.Epoch
	goroutines atomic.Int64  // instance goroutines running
	lingering  atomic.Int64  // of which parked, waiting for work
	counters   counters
	nextWarn   atomic.Int64 // unix nanoseconds before which limit warnings are not logged

	smu       sync.Mutex
	sessions  map[string]*sessionState // sessions that sent frames
	sessPeak  int
	frames    Mark                 // frames from sessions so far
	gone      map[string]time.Time // disconnected sessions
	gonePeak  int
	goneOrder fifo[goneEntry]
}

// counters count what the limits did, for [Engine.Stats].
type counters struct {
	evicted, noRoom, instanceQueue, sessionQueue atomic.Uint64
}

type instanceKey struct{ actor, id string }

// sessionState is what the engine knows of a session.
type sessionState struct {
	// touched holds the instances the session sent requests that need an
	// instance to, so that Disconnect reaches them. Keys of instances no
	// longer live are pruned once it reaches pruneAt.
	touched   map[instanceKey]struct{}
	pruneAt   int
	lastFrame Mark // e.frames after its last frame

	// queued counts the session's requests admitted and not yet
	// processed, for MaxSessionQueue. It grows under e.smu only, so the
	// check in admit is exact; instance goroutines shrink it.
	queued atomic.Int32
	// dispatching counts the session's Dispatch calls between admit and
	// the queueing of their task: while one is, its key in touched may
	// name an instance that does not exist yet, so pruning waits.
	dispatching atomic.Int32
	// ended is set when disconnect or expiry removed the session from
	// e.sessions.
	ended atomic.Bool
}

// pruneMin is the size from which a session's touched map is pruned.
const pruneMin = 1024

// A Mark is a point in the sequence of frames an [Engine] has received
// from sessions, for [Engine.Expire]. It is a counter, not a clock, so
// that recording one costs nothing on the path of every frame.
type Mark uint64

type goneEntry struct {
	id string
	at time.Time
}

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
	return &Engine{
		app:        app,
		defs:       actordef.AppOf(app),
		host:       host,
		cfg:        cfg,
		log:        log,
		instances:  make(map[instanceKey]*instance),
		retiring:   make(map[instanceKey]chan struct{}),
		sweepSlots: make(chan struct{}, maxSweepDeactivations),
		sessions:   make(map[string]*sessionState),
		gone:       make(map[string]time.Time),
	}
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
	def := e.defs.Types[f.Actor]
	if def == nil {
		e.reject(req, actordef.Publicf(zocket.ErrUnknownActor, "%q", f.Actor))
		return
	}
	if f.ActorID == "" || len(f.ActorID) > protocol.MaxIDLength {
		e.reject(req, &actordef.PublicError{Msg: "invalid frame: actorId must be 1 to 256 bytes"})
		return
	}
	t := task{kind: taskRequest, req: req, session: req.SessionID}
	create := true
	switch f.Type {
	case protocol.TypeRPC:
		m := def.Methods[f.Method]
		if m == nil {
			e.reject(req, actordef.Publicf(zocket.ErrUnknownMethod, "%q on actor %q", f.Method, f.Actor))
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
		e.reject(req, &actordef.PublicError{Msg: "invalid frame: " + f.Type + " is not a client frame"})
		return
	}
	key := instanceKey{def.Name, f.ActorID}
	var st *sessionState
	if req.SessionID != "" {
		var err error
		if st, err = e.admit(req.SessionID, key, create); err != nil {
			if err == errSessionGone {
				e.host.Deliver(req, nil) // nobody to answer; the host may still need to ack
			} else {
				e.reject(req, err)
			}
			return
		}
		t.sess = st
	}
	err := e.enqueue(def, key, t, create)
	if st != nil {
		if err != nil {
			st.queued.Add(-1)
		}
		e.settle(req.SessionID, st, key, create && err == nil)
	}
	switch {
	case err == nil:
	case err == errNotLive:
		e.host.Deliver(req, e.leftAnswer(req))
	default:
		e.reject(req, err)
	}
}

var (
	errSessionGone = errors.New("session disconnected")
	errNotLive     = errors.New("instance not live")
)

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
	limit := errors.Is(err, zocket.ErrOverloaded) || errors.Is(err, zocket.ErrTooManyInstances) ||
		errors.Is(err, zocket.ErrTooManyRequests)
	if limit {
		e.warnLimit(err)
	}
	var out []Outgoing
	if req.Frame.Type == protocol.TypeRPC {
		msg, internal := clientMessage(err)
		if internal {
			e.log.LogAttrs(context.Background(), slog.LevelError, "call failed",
				slog.String("client_id", req.SessionID), slog.String("actor", req.Frame.Actor),
				slog.String("method", req.Frame.Method), slog.Any("err", err))
		}
		out = []Outgoing{{SessionID: req.SessionID, Frame: protocol.AppendRPCError(nil, req.Frame.ID, msg)}}
	} else {
		// A client flooding subscription frames past a limit would
		// flood the log too: those are counted in Stats, and warnLimit
		// says so now and then.
		level := slog.LevelWarn
		if limit {
			level = slog.LevelDebug
		}
		e.log.LogAttrs(context.Background(), level, "frame refused",
			slog.String("client_id", req.SessionID), slog.String("type", req.Frame.Type),
			slog.String("actor", req.Frame.Actor), slog.Any("err", err))
	}
	e.host.Deliver(req, out)
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

// enqueue queues t on the instance key, creating the instance if create is
// set; otherwise an instance that is not live is errNotLive.
func (e *Engine) enqueue(def *actordef.Def, key instanceKey, t task, create bool) error {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return errShuttingDown
	}
	if in := e.instances[key]; in != nil {
		in.mu.Lock()
		err := in.pushLocked(t)
		in.mu.Unlock()
		e.mu.RUnlock()
		return err
	}
	e.mu.RUnlock()
	if !create {
		return errNotLive
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errShuttingDown
	}
	in := e.instances[key]
	if in == nil {
		for limit := e.cfg.MaxInstances; limit > 0 && len(e.instances) >= limit; {
			if !e.evictIdleLocked() {
				e.counters.noRoom.Add(1)
				return actordef.Publicf(zocket.ErrTooManyInstances, "%d live, none idle", len(e.instances))
			}
		}
		in = newInstance(e, def, key.id)
		in.waitFor = e.retiring[key]
		in.box.push(task{kind: taskActivate})
		e.instances[key] = in
		e.instPeak = max(e.instPeak, len(e.instances))
	}
	in.mu.Lock()
	err := in.pushLocked(t)
	in.mu.Unlock()
	return err
}

// admit counts a frame from session and checks MaxSessionQueue. With keep,
// it records that the session interacted with key, so that Disconnect
// reaches the instance. The caller queues the frame's task and then calls
// settle. It fails with errSessionGone when the session already
// disconnected.
func (e *Engine) admit(session string, key instanceKey, keep bool) (*sessionState, error) {
	e.smu.Lock()
	defer e.smu.Unlock()
	if _, gone := e.gone[session]; gone {
		return nil, errSessionGone
	}
	st := e.sessions[session]
	if st == nil {
		st = &sessionState{touched: make(map[instanceKey]struct{}), pruneAt: pruneMin}
		e.sessions[session] = st
		e.sessPeak = max(e.sessPeak, len(e.sessions))
	}
	e.frames++
	st.lastFrame = e.frames // a refused frame still shows the session alive
	if limit := e.cfg.MaxSessionQueue; limit > 0 && int(st.queued.Load()) >= limit {
		e.counters.sessionQueue.Add(1)
		return nil, actordef.Publicf(zocket.ErrTooManyRequests, "%d from this client wait for their answers", limit)
	}
	st.queued.Add(1)
	st.dispatching.Add(1)
	if keep {
		st.touched[key] = struct{}{}
		if len(st.touched) >= st.pruneAt {
			e.pruneTouched(st, key)
		}
	}
	return st, nil
}

// pruneTouched drops from st.touched the instances that are no longer
// live (evicted: the session was not their client), so that a session
// addressing ever new instances does not grow it without bound. current
// is the key being dispatched, whose instance may not exist yet. e.smu is
// held.
func (e *Engine) pruneTouched(st *sessionState, current instanceKey) {
	if st.dispatching.Load() != 1 {
		// Another frame of the session is between admit and settle: its
		// instance may not exist yet either. Try again on the next frame.
		return
	}
	fresh := make(map[instanceKey]struct{}, len(st.touched)/2)
	e.mu.RLock()
	for k := range st.touched {
		if k == current || e.instances[k] != nil {
			fresh[k] = struct{}{}
		}
	}
	e.mu.RUnlock()
	st.touched = fresh
	st.pruneAt = max(pruneMin, 2*len(fresh))
}

// settle ends what admit began, once the frame's task is queued (queued:
// on the instance key) or refused. If the session was disconnected or
// expired meanwhile, its OnDisconnect may have missed the instance the
// task was queued on, which did not exist yet: the key is recorded again,
// in the session's next state (unless it is gone for good, in which case
// the task finds that out itself), so that the next Disconnect reaches it.
func (e *Engine) settle(session string, st *sessionState, key instanceKey, queued bool) {
	st.dispatching.Add(-1)
	if !queued || !st.ended.Load() {
		return
	}
	e.smu.Lock()
	defer e.smu.Unlock()
	if _, gone := e.gone[session]; gone {
		return
	}
	cur := e.sessions[session]
	if cur == nil {
		cur = &sessionState{touched: make(map[instanceKey]struct{}), pruneAt: pruneMin, lastFrame: e.frames}
		e.sessions[session] = cur
		e.sessPeak = max(e.sessPeak, len(e.sessions))
	}
	cur.touched[key] = struct{}{}
}

func (e *Engine) isGone(session string) bool {
	e.smu.Lock()
	defer e.smu.Unlock()
	_, gone := e.gone[session]
	return gone
}

// Disconnect ends a session: every instance it touched runs OnDisconnect
// and forgets its subscriptions. Frames from the session that arrive later
// are ignored. Safe to call more than once.
func (e *Engine) Disconnect(session string) { e.disconnect(session, true, 0) }

// Expire ends a session that looks dead without word from its transport
// (in distributed mode: its gateway stopped consuming its frames), as
// Disconnect does, unless the session sent a frame after quietSince (a
// [Engine.Mark] taken earlier): then it is alive after all, and Expire
// reports false, as it does for a session it does not know. Unlike a disconnected session, an expired one is not
// remembered as gone: if it speaks again, its next frame connects it
// again, and OnConnect runs again.
func (e *Engine) Expire(session string, quietSince Mark) bool {
	return e.disconnect(session, false, quietSince)
}

// Mark returns the current point in the sequence of frames, for Expire.
func (e *Engine) Mark() Mark {
	e.smu.Lock()
	defer e.smu.Unlock()
	return e.frames
}

// Sessions returns the ids of the sessions that have sent frames to
// instances and have not been disconnected, in no particular order.
func (e *Engine) Sessions() []string {
	e.smu.Lock()
	defer e.smu.Unlock()
	ids := make([]string, 0, len(e.sessions))
	for id := range e.sessions {
		ids = append(ids, id)
	}
	return ids
}

// disconnect queues OnDisconnect on the instances session touched. With
// remember, the session is gone for good; otherwise (expiry) nothing
// happens if it sent a frame after quietSince. The disconnect tasks
// are queued under smu, which every frame's admit takes first, so a frame
// that arrives meanwhile lands after them and connects the session again.
func (e *Engine) disconnect(session string, remember bool, quietSince Mark) bool {
	now := time.Now()
	e.smu.Lock()
	defer e.smu.Unlock()
	st := e.sessions[session]
	if !remember && (st == nil || st.lastFrame > quietSince) {
		return false
	}
	if st != nil {
		st.ended.Store(true)
		delete(e.sessions, session)
		e.sessions = shrunk(e.sessions, &e.sessPeak)
	}
	if _, dup := e.gone[session]; remember && !dup {
		e.gone[session] = now
		e.gonePeak = max(e.gonePeak, len(e.gone))
		e.goneOrder.push(goneEntry{session, now})
	}
	for e.goneOrder.len() > 0 && now.Sub(e.goneOrder.items[e.goneOrder.head].at) > e.cfg.GoneTTL {
		delete(e.gone, e.goneOrder.pop().id)
	}
	e.gone = shrunk(e.gone, &e.gonePeak)
	if st == nil {
		return true
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return true
	}
	for key := range st.touched {
		if in := e.instances[key]; in != nil {
			in.mu.Lock()
			_ = in.pushLocked(task{kind: taskDisconnect, session: session})
			in.mu.Unlock()
		}
	}
	return true
}

// Len returns the number of live instances; after Close, those that have
// not finished OnDeactivate yet.
func (e *Engine) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.instances)
}

// Stats is a snapshot of an engine's instances and of what its limits
// did, for monitoring and tests.
type Stats struct {
	Instances     int // live instances (Config.MaxInstances caps them)
	IdleInstances int // live instances with no client and no work: the first evicted
	Deactivating  int // evicted instances still running OnDeactivate
	// Goroutines counts the instances' goroutines, working or lingering
	// for more work (at most a fixed number linger: an idle instance has
	// none).
	Goroutines int
	Sessions   int // sessions that sent frames and did not disconnect

	Evicted              uint64 // idle instances evicted early to make room (MaxInstances)
	RefusedNoRoom        uint64 // requests refused with ErrTooManyInstances
	RefusedInstanceQueue uint64 // calls refused with ErrOverloaded (MaxQueue)
	RefusedSessionQueue  uint64 // requests refused with ErrTooManyRequests (MaxSessionQueue)
}

// Stats returns the engine's current counts.
func (e *Engine) Stats() Stats {
	var s Stats
	e.mu.RLock()
	s.Instances, s.Deactivating = len(e.instances), len(e.retiring)
	e.mu.RUnlock()
	e.idleMu.Lock()
	s.IdleInstances = e.idle.n
	e.idleMu.Unlock()
	e.smu.Lock()
	s.Sessions = len(e.sessions)
	e.smu.Unlock()
	s.Goroutines = int(e.goroutines.Load())
	s.Evicted = e.counters.evicted.Load()
	s.RefusedNoRoom = e.counters.noRoom.Load()
	s.RefusedInstanceQueue = e.counters.instanceQueue.Load()
	s.RefusedSessionQueue = e.counters.sessionQueue.Load()
	return s
}

// Close stops accepting work, lets every instance finish its queue, runs
// OnDeactivate on each, and waits for all of it or for ctx. Later Dispatch
// calls are answered with ErrShuttingDown.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		for _, in := range e.instances {
			in.mu.Lock()
			in.dead = true
			_ = in.pushLocked(task{kind: taskDeactivate}) // leaves the idle list
			in.mu.Unlock()
		}
	}
	e.mu.Unlock()
	e.idleMu.Lock()
	if e.sweepTimer != nil {
		e.sweepTimer.Stop()
	}
	e.idleMu.Unlock()
	e.sweepMu.Lock() // a running sweep sees closed and ends
	e.sweepMu.Unlock()
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
