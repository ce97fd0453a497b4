package zocket

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// Outgoing is one encoded server frame for one session. Frame slices may be
// shared between several Outgoing values and must not be modified.
type Outgoing struct {
	SessionID string
	// Frame is the encoded server frame; nil only for a subscription
	// change reported with EngineConfig.Fanout (Position set), which is
	// for the host, not the client.
	Frame []byte
	// Fanout, set only with EngineConfig.Fanout, marks a frame meant for
	// every state or event subscriber of an instance: the Outgoing values
	// of one such frame share one *Fanout, and a host may send the frame
	// once for all of them (see [Fanout]).
	Fanout *Fanout
	// Position, set only with EngineConfig.Fanout, reports that the
	// session's subscription changed, and where in the instance's
	// sequence of fanout frames: on the state:snapshot that answers a
	// state:sub, and on a frame-less Outgoing for event:sub, state:unsub
	// and event:unsub.
	Position *Position
	// After, set only with EngineConfig.Fanout on the other frames an
	// instance sends to one session (rpc:result, events narrowed with
	// [To]), is the instance's fanout position when the frame was made:
	// a session that watches the instance must get the fanout frames up
	// to it first (Sub is empty).
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
	// ([Except]); always empty for patches.
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
	// shutdown, a [PatchInterval] flush), in the order each session must
	// receive them. For every request passed to Dispatch, Deliver is
	// called exactly once, after the request was processed (out may be
	// empty). Calls made by one instance are sequential and in order;
	// calls for different instances are concurrent. A request Dispatch
	// refuses at once (unknown actor or method, invalid input, overload,
	// shutdown) is delivered on the caller's goroutine, so its error may
	// overtake the session's earlier, still queued calls. Deliver should
	// not block for long: it holds up the instance.
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

// EngineConfig configures an [Engine]. The zero value works with a Host.
type EngineConfig struct {
	// Host receives all outgoing frames. Required.
	Host Host
	// IdleTimeout is how long an instance with no connected client and no
	// work stays in memory before OnDeactivate runs and it is evicted.
	// Zero means 5 minutes; negative means never.
	IdleTimeout time.Duration
	// MaxQueue caps the rpc calls waiting on one instance; more are refused
	// with ErrOverloaded. Zero means 4096.
	MaxQueue int
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

// Engine runs the actor instances of an [App]: it creates instances lazily,
// queues their work, runs methods and hooks one at a time per instance, and
// turns state changes and events into frames for its [Host]. All methods are
// safe for concurrent use.
type Engine struct {
	app  *App
	host Host
	cfg  EngineConfig
	log  *slog.Logger

	mu        sync.RWMutex
	closed    bool
	instances map[instanceKey]*instance
	retiring  map[instanceKey]chan struct{} // evicted instances still running OnDeactivate
	wg        sync.WaitGroup                // instance goroutines

	epochs atomic.Uint64 // instance activations, for Fanout.Epoch

	smu       sync.Mutex
	sessions  map[string]*sessionState // sessions that sent frames
	frames    Mark                     // frames from sessions so far
	gone      map[string]time.Time     // disconnected sessions
	goneOrder []goneEntry
}

type instanceKey struct{ actor, id string }

// sessionState is what the engine knows of a session.
type sessionState struct {
	touched   map[instanceKey]struct{} // instances the session sent frames to
	lastFrame Mark                     // e.frames after its last frame
}

// A Mark is a point in the sequence of frames an [Engine] has received
// from sessions, for [Engine.Expire]. It is a counter, not a clock, so
// that recording one costs nothing on the path of every frame.
type Mark uint64

type goneEntry struct {
	id string
	at time.Time
}

// NewEngine returns an engine running app's actor types. Stop it with
// [Engine.Close].
func NewEngine(app *App, cfg EngineConfig) *Engine {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 4096
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
		app:       app,
		host:      host,
		cfg:       cfg,
		log:       log,
		instances: make(map[instanceKey]*instance),
		retiring:  make(map[instanceKey]chan struct{}),
		sessions:  make(map[string]*sessionState),
		gone:      make(map[string]time.Time),
	}
}

// App returns the app the engine runs.
func (e *Engine) App() *App { return e.app }

// Dispatch queues a client frame (rpc, event:sub, event:unsub, state:sub,
// state:unsub) on its instance, creating the instance if needed. It does not
// wait for processing: results reach the Host. Unknown actor types and
// methods, undecodable or invalid input and a full queue are answered at
// once. req must not be modified afterwards.
func (e *Engine) Dispatch(req *Request) {
	f := &req.Frame
	def := e.app.types[f.Actor]
	if def == nil {
		e.reject(req, publicf(ErrUnknownActor, "%q", f.Actor))
		return
	}
	if f.ActorID == "" || len(f.ActorID) > protocol.MaxIDLength {
		e.reject(req, &publicError{msg: "invalid frame: actorId must be 1 to 256 bytes"})
		return
	}
	t := task{kind: taskRequest, req: req}
	switch f.Type {
	case protocol.TypeRPC:
		m := def.methods[f.Method]
		if m == nil {
			e.reject(req, publicf(ErrUnknownMethod, "%q on actor %q", f.Method, f.Actor))
			return
		}
		in, err := m.decode(f.Input)
		if err != nil {
			e.reject(req, err)
			return
		}
		t.method, t.input = m, in
	case protocol.TypeStateSub, protocol.TypeStateUnsub, protocol.TypeEventSub, protocol.TypeEventUnsub:
	default:
		e.reject(req, &publicError{msg: "invalid frame: " + f.Type + " is not a client frame"})
		return
	}
	switch err := e.enqueue(def, f.ActorID, req.SessionID, t); {
	case err == errSessionGone:
		e.host.Deliver(req, nil) // nobody to answer; the host may still need to ack
	case err != nil:
		e.reject(req, err)
	}
}

var errSessionGone = errors.New("session disconnected")

func (e *Engine) reject(req *Request, err error) {
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
		e.log.LogAttrs(context.Background(), slog.LevelWarn, "frame refused",
			slog.String("client_id", req.SessionID), slog.String("type", req.Frame.Type),
			slog.String("actor", req.Frame.Actor), slog.Any("err", err))
	}
	e.host.Deliver(req, out)
}

// enqueue records that session touched the instance and queues t on it.
func (e *Engine) enqueue(def *actorDef, id, session string, t task) error {
	key := instanceKey{def.name, id}
	if session != "" && !e.touch(session, key) {
		return errSessionGone
	}
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

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errShuttingDown
	}
	in := e.instances[key]
	if in == nil {
		in = newInstance(e, def, id)
		in.waitFor = e.retiring[key]
		in.queue = append(in.queue, task{kind: taskActivate})
		e.instances[key] = in
	}
	in.mu.Lock()
	err := in.pushLocked(t)
	in.mu.Unlock()
	return err
}

// errShuttingDown is ErrShuttingDown in the form clients read.
var errShuttingDown error = &publicError{msg: ErrShuttingDown.Error(), err: ErrShuttingDown}

// touch records that session interacted with key; false means the session
// already disconnected.
func (e *Engine) touch(session string, key instanceKey) bool {
	e.smu.Lock()
	defer e.smu.Unlock()
	if _, gone := e.gone[session]; gone {
		return false
	}
	st := e.sessions[session]
	if st == nil {
		st = &sessionState{touched: make(map[instanceKey]struct{})}
		e.sessions[session] = st
	}
	st.touched[key] = struct{}{}
	e.frames++
	st.lastFrame = e.frames
	return true
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
// are queued under smu, which every frame's touch takes first, so a frame
// that arrives meanwhile lands after them and connects the session again.
func (e *Engine) disconnect(session string, remember bool, quietSince Mark) bool {
	now := time.Now()
	e.smu.Lock()
	defer e.smu.Unlock()
	st := e.sessions[session]
	if !remember && (st == nil || st.lastFrame > quietSince) {
		return false
	}
	delete(e.sessions, session)
	if _, dup := e.gone[session]; remember && !dup {
		e.gone[session] = now
		e.goneOrder = append(e.goneOrder, goneEntry{session, now})
	}
	for len(e.goneOrder) > 0 && now.Sub(e.goneOrder[0].at) > e.cfg.GoneTTL {
		delete(e.gone, e.goneOrder[0].id)
		e.goneOrder[0] = goneEntry{}
		e.goneOrder = e.goneOrder[1:]
	}
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

// Close stops accepting work, lets every instance finish its queue, runs
// OnDeactivate on each, and waits for all of it or for ctx. Later Dispatch
// calls are answered with ErrShuttingDown.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		for _, in := range e.instances {
			in.mu.Lock()
			if in.idleTimer != nil {
				in.idleTimer.Stop()
			}
			in.dead = true
			_ = in.pushLocked(task{kind: taskDeactivate})
			in.mu.Unlock()
		}
	}
	e.mu.Unlock()
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
