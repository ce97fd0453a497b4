package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/wI2L/jsondiff"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

type taskKind uint8

const (
	taskActivate taskKind = iota
	taskRequest
	taskDisconnect
	taskDeactivate
	taskFlush // PatchInterval's timer fired: send the pending state change
)

type task struct {
	kind    taskKind
	req     *Request
	method  *actordef.Method
	input   any
	session string        // taskRequest, taskDisconnect: whose lane it waits in
	sess    *sessionState // taskRequest: counts it in MaxSessionQueue; nil without a session
	gen     uint64        // taskFlush: the flushGen whose timer fired
}

func (t *task) isRPC() bool { return t.kind == taskRequest && t.method != nil }

// instance is one live actor instance. Fields under "owned by the instance
// goroutine" are touched only while running is true, by the one goroutine
// that drains the queue; the mutex hands that ownership over.
type instance struct {
	e   *Engine
	def *actordef.Def
	id  string
	log *slog.Logger

	mu         sync.Mutex
	box        mailbox
	running    bool
	parked     bool          // running, and the goroutine waits in park for a task
	wake       chan struct{} // capacity 1: a task arrived while parked
	dead       bool          // evicted or shut down: accepts no more work
	pendingRPC int           // rpc requests in box
	lastActive time.Time
	waitFor    chan struct{} // the previous instance with this key, still deactivating
	retired    chan struct{} // closed after this instance's OnDeactivate

	// In the engine's idle list (evict.go): no client, no work.
	idleListed         bool
	idleSince          time.Time // when it entered the list
	idlePrev, idleNext *instance // guarded by e.idleMu
	sweptSlot          bool      // evicted by a sweep: frees a sweep slot once deactivated

	// owned by the instance goroutine
	linger    *time.Timer // park's timer, reused
	state     any         // *S
	lastJSON  []byte
	lastDoc   any // lastJSON decoded, kept only while there are state subscribers
	clients   map[string]struct{}
	stateSubs map[string]struct{}
	eventSubs map[string]struct{}
	epoch     uint64 // with Config.Fanout: this activation's Fanout.Epoch
	fanoutSeq uint64 // the last Fanout.Seq sent
	eventSeq  uint64 // the last Fanout.Events count sent
	// peaks are the largest sizes of clients, stateSubs and eventSubs
	// since they were last rebuilt (shrunk).
	peaks struct{ clients, stateSubs, eventSubs int }

	// PatchInterval (coalesce.go), owned by the instance goroutine too.
	// While pending, state subscribers hold sentJSON (lastDoc is its
	// decoded form, not lastJSON's; a state:sub's snapshot is of it) and
	// flushTimer is armed.
	interval   time.Duration // the actor's PatchInterval; 0 once deactivating
	pending    bool
	sentJSON   []byte
	flushTimer *time.Timer
	flushGen   uint64 // counts armed timers; a taskFlush of an older one is stale
}

func newInstance(e *Engine, def *actordef.Def, id string) *instance {
	return &instance{
		e:         e,
		def:       def,
		id:        id,
		log:       e.log.With(slog.String("actor", def.Name), slog.String("actor_id", id)),
		wake:      make(chan struct{}, 1),
		interval:  def.PatchInterval,
		clients:   make(map[string]struct{}),
		stateSubs: make(map[string]struct{}),
		eventSubs: make(map[string]struct{}),
	}
}

// Clients implements actordef.Instance for the calls the instance runs.
func (in *instance) Clients() []string {
	ids := make([]string, 0, len(in.clients))
	for id := range in.clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// EventSubscribed implements actordef.Instance.
func (in *instance) EventSubscribed() bool { return len(in.eventSubs) > 0 }

// pushLocked queues t and starts the instance goroutine if it is idle.
func (in *instance) pushLocked(t task) error {
	if t.isRPC() {
		// A session with no call waiting here gets in even when the
		// queue is full: the sessions that filled it wait their turns
		// anyway, and the one call does not lengthen their wait by more
		// than one call.
		if in.pendingRPC >= in.e.cfg.MaxQueue && in.box.rpcQueued(t.session) > 0 {
			in.e.counters.instanceQueue.Add(1)
			return actordef.Publicf(zocket.ErrOverloaded, "%d calls queued on %s %q", in.pendingRPC, in.def.Name, in.id)
		}
		in.pendingRPC++
	}
	in.box.push(t)
	if in.idleListed {
		in.e.unlistIdle(in)
	}
	switch {
	case !in.running:
		in.running = true
		in.e.wg.Add(1)
		in.e.goroutines.Add(1)
		go in.run()
	case in.parked:
		select {
		case in.wake <- struct{}{}:
		default: // already signalled
		}
	}
	return nil
}

// maxLinger is how long an instance goroutine whose queue ran dry waits for
// another task before it exits (less when the idle timeout is shorter). A
// busy instance so keeps one goroutine, and the stack it has grown, instead
// of starting a fresh one for every call: regrowing that stack through
// json.Marshal and reflection on each call took 15% of the standalone
// server's CPU in the RPC benchmark.
const maxLinger = time.Second

// maxLingering caps the instance goroutines lingering at once, engine-wide;
// a goroutine whose queue ran dry while that many linger exits at once. A
// flood of calls to distinct instances so leaves at most this many
// goroutines behind, not one per instance for a second: the runtime never
// frees the descriptors of goroutines that once existed, so a peak of
// 150,000 goroutines would keep their memory for the life of the process.
const maxLingering = 1024

func (in *instance) lingerTime() time.Duration {
	if idle := in.e.cfg.IdleTimeout; idle > 0 && idle < maxLinger {
		return idle
	}
	return maxLinger
}

func (in *instance) run() {
	defer in.e.wg.Done()
	defer in.e.goroutines.Add(-1)
	if in.waitFor != nil {
		<-in.waitFor
		in.waitFor = nil
	}
	for {
		in.mu.Lock()
		if in.box.empty() {
			in.lastActive = time.Now() // idle from here, lingering included
			if !in.dead && !in.idleListed && len(in.clients) == 0 {
				// Evictable from now on: after IdleTimeout, or earlier
				// to make room (MaxInstances).
				in.e.listIdle(in, in.lastActive)
			}
			for in.box.empty() {
				if in.dead || !in.park() {
					if in.linger != nil { // a new goroutine makes its own
						in.linger.Stop()
						in.linger = nil
					}
					in.running = false
					in.mu.Unlock()
					return
				}
			}
		}
		t := in.box.pop()
		if t.isRPC() {
			in.pendingRPC--
		}
		in.mu.Unlock()
		in.process(t)
		if t.sess != nil {
			t.sess.queued.Add(-1)
		}
	}
}

// park waits until lingerTime has passed since in.lastActive for a task;
// in.mu is held on entry and on return, and released while waiting. It
// reports whether the queue has a task (it may also return true on a stale
// wake-up; the caller rechecks).
//
// The linger timer is not reset on every park: it stays armed while the
// instance works, and when it fires early (the instance was busy since)
// it is re-armed for the rest of the linger.
func (in *instance) park() bool {
	if in.e.lingering.Add(1) > maxLingering {
		in.e.lingering.Add(-1)
		return false
	}
	defer in.e.lingering.Add(-1)
	d := in.lingerTime()
	if in.linger == nil {
		in.linger = time.NewTimer(d)
	}
	in.parked = true
	defer func() { in.parked = false }()
	for {
		in.mu.Unlock()
		select {
		case <-in.wake:
			in.mu.Lock()
			return true
		case <-in.linger.C:
		}
		in.mu.Lock()
		if !in.box.empty() {
			in.linger.Reset(d)
			return true
		}
		idle := time.Since(in.lastActive)
		if idle >= d {
			return false
		}
		in.linger.Reset(d - idle)
	}
}

func (in *instance) process(t task) {
	switch t.kind {
	case taskActivate:
		in.activate()
	case taskRequest:
		in.handle(t)
	case taskDisconnect:
		in.disconnect(t.session)
	case taskDeactivate:
		in.deactivate()
	case taskFlush:
		if in.pending && t.gen == in.flushGen {
			in.deliver(nil, in.flush(nil))
		}
	}
}

func (in *instance) activate() {
	in.epoch = in.e.epochs.Add(1)
	in.state = in.def.NewState()
	b, err := json.Marshal(in.state)
	if err != nil { // NewApp checked the initial value; a stateful initial func can still fail
		in.log.Error("encode initial state", slog.Any("err", err))
		b = []byte("null")
	}
	in.lastJSON = b
	var out []Outgoing
	in.runHook(actordef.HookActivate, nil, "", &out)
	in.deliver(nil, out)
}

func (in *instance) deactivate() {
	// Subscribers get the pending change first; what OnDeactivate changes
	// goes out at once, as without PatchInterval: there is no later.
	out := in.flush(nil)
	in.interval = 0
	in.runHook(actordef.HookDeactivate, nil, "", &out)
	in.deliver(nil, out)
	key := instanceKey{in.def.Name, in.id}
	in.e.mu.Lock()
	if in.e.instances[key] == in { // shutdown: Close leaves instances listed until they are done
		delete(in.e.instances, key)
		in.e.instances = shrunk(in.e.instances, &in.e.instPeak)
	}
	if in.retired != nil && in.e.retiring[key] == in.retired {
		delete(in.e.retiring, key)
		in.e.retiring = shrunk(in.e.retiring, &in.e.retPeak)
	}
	in.e.mu.Unlock()
	if in.retired != nil {
		close(in.retired)
	}
	if in.sweptSlot {
		<-in.e.sweepSlots
	}
}

func (in *instance) disconnect(session string) {
	_, wasClient := in.clients[session]
	delete(in.clients, session)
	delete(in.stateSubs, session)
	delete(in.eventSubs, session)
	in.clients = shrunk(in.clients, &in.peaks.clients)
	in.stateSubs = shrunk(in.stateSubs, &in.peaks.stateSubs)
	in.eventSubs = shrunk(in.eventSubs, &in.peaks.eventSubs)
	in.dropIfUnwatched()
	if !wasClient {
		return
	}
	var out []Outgoing
	in.runHook(actordef.HookDisconnect, nil, session, &out)
	in.deliver(nil, out)
}

func (in *instance) handle(t task) {
	req := t.req
	sid := req.SessionID
	f := &req.Frame
	var out []Outgoing
	if in.e.isGone(sid) {
		in.deliver(req, nil)
		return
	}
	switch f.Type { // leaving needs neither permission nor a connection
	case protocol.TypeStateUnsub:
		delete(in.stateSubs, sid)
		in.stateSubs = shrunk(in.stateSubs, &in.peaks.stateSubs)
		in.dropIfUnwatched()
		in.deliver(req, in.position(out, sid, f.Type, nil))
		return
	case protocol.TypeEventUnsub:
		delete(in.eventSubs, sid)
		in.eventSubs = shrunk(in.eventSubs, &in.peaks.eventSubs)
		in.deliver(req, in.position(out, sid, f.Type, nil))
		return
	}
	// Middleware guards calls and subscriptions alike, and runs before
	// OnConnect so that a rejected client never counts as connected.
	c := in.newCall(req, sid, f.Method)
	if err := in.middleware(c); err != nil {
		if f.Type == protocol.TypeRPC {
			out = append(out, in.errorFrame(c, req, err))
		} else {
			in.log.LogAttrs(c.Ctx, slog.LevelWarn, "subscription rejected", slog.String("client_id", sid),
				slog.String("type", f.Type), slog.Any("err", err))
		}
		in.deliver(req, out)
		return
	}
	if _, ok := in.clients[sid]; !ok {
		in.clients[sid] = struct{}{}
		in.peaks.clients = max(in.peaks.clients, len(in.clients))
		in.runHook(actordef.HookConnect, req, sid, &out)
	}
	switch f.Type {
	case protocol.TypeRPC:
		in.call(c, t, &out)
	case protocol.TypeStateSub:
		in.stateSubs[sid] = struct{}{}
		in.peaks.stateSubs = max(in.peaks.stateSubs, len(in.stateSubs))
		out = in.position(out, sid, f.Type, protocol.AppendSnapshot(nil, in.def.Name, in.id, in.heldJSON()))
	case protocol.TypeEventSub:
		in.eventSubs[sid] = struct{}{}
		in.peaks.eventSubs = max(in.peaks.eventSubs, len(in.eventSubs))
		out = in.position(out, sid, f.Type, nil)
	}
	in.deliver(req, out)
}

// position appends the answer to a subscription change: frame (the
// snapshot of a state:sub, or nil), with the instance's fanout position
// when the host asked for it. Without Config.Fanout a nil frame
// appends nothing.
func (in *instance) position(out []Outgoing, sid, sub string, frame []byte) []Outgoing {
	if !in.e.cfg.Fanout {
		if frame == nil {
			return out
		}
		return append(out, Outgoing{SessionID: sid, Frame: frame})
	}
	pos := in.here()
	pos.Sub = sub
	return append(out, Outgoing{SessionID: sid, Frame: frame, Position: pos})
}

// here is the instance's current fanout position.
func (in *instance) here() *Position {
	return &Position{Actor: in.def.Name, ActorID: in.id, Epoch: in.epoch, Seq: in.fanoutSeq, Events: in.eventSeq}
}

// fanout returns the Fanout of the instance's next frame for every
// subscriber, or nil without Config.Fanout.
func (in *instance) fanout(events bool, except map[string]struct{}) *Fanout {
	if !in.e.cfg.Fanout {
		return nil
	}
	in.fanoutSeq++
	if events {
		in.eventSeq++
	}
	fo := &Fanout{Actor: in.def.Name, ActorID: in.id, Events: events, Epoch: in.epoch, Seq: in.fanoutSeq,
		EventCount: in.eventSeq}
	for id := range except {
		if _, sub := in.eventSubs[id]; sub {
			fo.Except = append(fo.Except, id)
		}
	}
	return fo
}

func (in *instance) deliver(req *Request, out []Outgoing) {
	if req == nil && len(out) == 0 {
		return
	}
	if in.e.cfg.Fanout { // frames for one session follow the fanout frames before them
		var after *Position
		for i := range out {
			if out[i].Fanout == nil && out[i].Position == nil {
				if after == nil {
					after = in.here()
				}
				out[i].After = after
			}
		}
	}
	in.e.host.Deliver(req, out)
}

// newCall returns the runtime side of a call or hook on the instance;
// package zocket wraps it in the *zocket.Call that handlers see.
func (in *instance) newCall(req *Request, clientID, method string) *actordef.Call {
	c := &actordef.Call{Ctx: context.Background(), Def: in.def, Instance: in, Info: actordef.Info{
		ClientID: clientID, Actor: in.def.Name, ActorID: in.id, Method: method,
	}}
	if req != nil {
		c.Info.Frame = req.Frame.Type
		if req.Context != nil {
			c.Ctx = req.Context
		}
		c.Info.UserID, c.Info.Claims = req.UserID, req.Claims
	}
	return c
}

func (in *instance) call(c *actordef.Call, t task, out *[]Outgoing) {
	req := t.req
	result, err := in.step(c, func() (json.RawMessage, error) {
		return t.method.Invoke(in.state, c, t.input)
	}, out)
	if err != nil {
		*out = append(*out, in.errorFrame(c, req, err))
		return
	}
	*out = append(*out, Outgoing{SessionID: req.SessionID, Frame: protocol.AppendRPCResult(nil, req.Frame.ID, result)})
}

// errorFrame turns a failed call into its rpc:result, logging internal
// errors (their text never reaches the client).
func (in *instance) errorFrame(c *actordef.Call, req *Request, err error) Outgoing {
	msg, internal := clientMessage(err)
	if internal {
		in.log.LogAttrs(c.Ctx, slog.LevelError, "call failed", slog.String("client_id", req.SessionID),
			slog.String("method", req.Frame.Method), slog.Any("err", err))
	}
	return Outgoing{SessionID: req.SessionID, Frame: protocol.AppendRPCError(nil, req.Frame.ID, msg)}
}

// middleware runs the app's and the actor type's middleware in order.
func (in *instance) middleware(c *actordef.Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &actordef.PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	for _, chain := range [2][]actordef.Middleware{in.e.defs.Middleware, in.def.Middleware} {
		for _, mw := range chain {
			ctx, err := mw(c.Ctx, &c.Info)
			if err != nil {
				return err
			}
			if ctx != nil {
				c.Ctx = ctx
			}
		}
	}
	return nil
}

func (in *instance) runHook(kind actordef.HookKind, req *Request, clientID string, out *[]Outgoing) {
	h := in.def.Hooks[kind]
	if h == nil {
		return
	}
	c := in.newCall(req, clientID, "")
	if _, err := in.step(c, func() (json.RawMessage, error) { return nil, h(in.state, c) }, out); err != nil {
		in.log.LogAttrs(c.Ctx, slog.LevelError, "hook failed", slog.String("hook", kind.String()),
			slog.String("client_id", clientID), slog.Any("err", err))
	}
}

// step runs fn against the state. On success it appends one state:patch per
// state subscriber (if the state changed; with PatchInterval it arms the
// flush timer instead) and the events fn emitted; on error or panic it
// restores the state from its last JSON form and appends nothing.
func (in *instance) step(c *actordef.Call, fn func() (json.RawMessage, error), out *[]Outgoing) (res json.RawMessage, err error) {
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = &actordef.PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		res, err = fn()
	}()
	if err == nil && c.EmitErr != nil {
		err = c.EmitErr
	}
	if err != nil {
		in.rollback()
		return nil, err
	}
	cur, err := json.Marshal(in.state)
	if err != nil {
		in.rollback()
		return nil, fmt.Errorf("encode state: %w", err)
	}
	if !bytes.Equal(cur, in.lastJSON) {
		switch {
		case len(in.stateSubs) == 0:
		case in.interval > 0:
			if !in.pending {
				in.armFlush() // subscribers hold in.lastJSON until the flush
			}
		default:
			patch, doc, err := diff(in.lastDoc, in.lastJSON, cur)
			if err != nil {
				in.rollback()
				return nil, err
			}
			in.lastDoc = doc
			if patch != nil {
				frame := protocol.AppendPatch(nil, in.def.Name, in.id, patch)
				fo := in.fanout(false, nil)
				for sid := range in.stateSubs {
					*out = append(*out, Outgoing{SessionID: sid, Frame: frame, Fanout: fo})
				}
			}
		}
		in.lastJSON = cur
	}
	if len(in.stateSubs) == 0 {
		in.lastDoc = nil // nobody to diff for: don't hold a second copy
	}
	for _, ev := range c.Events {
		frame := protocol.AppendEvent(nil, in.def.Name, in.id, ev.Name, ev.Payload)
		var fo *Fanout // events narrowed with To go to each session on its own
		first := true
		for sid := range in.eventSubs {
			if !ev.Target.Includes(sid) {
				continue
			}
			if first && ev.Target.Only == nil {
				fo = in.fanout(true, ev.Target.Except)
			}
			first = false
			*out = append(*out, Outgoing{SessionID: sid, Frame: frame, Fanout: fo})
		}
	}
	return res, nil
}

func (in *instance) rollback() {
	s, err := in.def.Restore(in.lastJSON)
	if err != nil {
		in.log.Error("restore state after failed call; resetting to initial state", slog.Any("err", err))
		s = in.def.NewState()
	}
	in.state = s
}

// diff returns the RFC 6902 patch from prev to cur as a JSON array (nil
// when they are equal as JSON) and cur decoded. prevDoc is prev decoded, or
// nil; keeping it between steps saves decoding the old state every time,
// which is most of the cost of a diff.
func diff(prevDoc any, prev, cur []byte) (patch []byte, curDoc any, err error) {
	if prevDoc == nil {
		if err := unmarshalNumbers(prev, &prevDoc); err != nil {
			return nil, nil, fmt.Errorf("diff state: %w", err)
		}
	}
	if err := unmarshalNumbers(cur, &curDoc); err != nil {
		return nil, nil, fmt.Errorf("diff state: %w", err)
	}
	ops, err := jsondiff.CompareWithoutMarshal(prevDoc, curDoc)
	if err != nil {
		return nil, nil, fmt.Errorf("diff state: %w", err)
	}
	if len(ops) == 0 {
		return nil, curDoc, nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, nil, fmt.Errorf("encode patch: %w", err)
	}
	return b, curDoc, nil
}

// unmarshalNumbers decodes JSON numbers as json.Number. jsondiff's default
// (float64) loses integers beyond 2^53 (int64, uint64 state fields) and sees
// no change between -0 and 0, so patched clients would drift from the state.
func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
