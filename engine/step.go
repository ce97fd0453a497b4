package engine

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// process runs one task on the instance's goroutine.
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

// activate gives a new instance its initial state and runs OnActivate.
func (in *instance) activate() {
	in.epoch = in.e.epochs.Add(1)
	in.state = in.def.NewState()
	b, err := json.Marshal(in.state)
	if err != nil { // NewApp checked the initial value; a stateful initial func can still fail
		in.log.Error("encode initial state", slog.Any("err", err))
		b = []byte("null")
	}
	in.lastJSON, in.shownJSON = b, b
	if in.def.View != nil {
		if in.shownJSON, err = in.viewJSON(); err != nil {
			in.log.Error("encode the initial state's view", slog.Any("err", err))
			in.shownJSON = []byte("null")
		}
	}
	if tm := in.tm; tm != nil {
		tm.activations.Inc()
		tm.instances.Inc()
	}
	var out []Outgoing
	in.runHook(actordef.HookActivate, nil, "", &out)
	in.deliver(nil, out)
}

// deactivate runs OnDeactivate, the instance's last task, and leaves the
// registry.
func (in *instance) deactivate() {
	// Subscribers get the pending change first; what OnDeactivate changes
	// goes out at once, as without PatchInterval: there is no later.
	out := in.flush(nil)
	in.interval = 0
	in.runHook(actordef.HookDeactivate, nil, "", &out)
	in.deliver(nil, out)
	in.e.reg.deactivated(in)
}

// disconnect forgets a session that went away and runs OnDisconnect if
// it was a client.
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

// handle runs a session's request: an rpc, or a subscription change.
func (in *instance) handle(t task) {
	req := t.req
	sid := req.SessionID
	f := &req.Frame
	var out []Outgoing
	if in.e.sessions.isGone(sid) {
		in.deliver(req, nil)
		return
	}
	switch f.Type { // leaving needs neither permission nor a connection
	case protocol.TypeStateUnsub:
		in.unsubscribe(in.stateSubs, t.sess, sid)
		in.stateSubs = shrunk(in.stateSubs, &in.peaks.stateSubs)
		in.dropIfUnwatched()
		in.deliver(req, in.position(out, sid, f.Type, nil))
		return
	case protocol.TypeEventUnsub:
		in.unsubscribe(in.eventSubs, t.sess, sid)
		in.eventSubs = shrunk(in.eventSubs, &in.peaks.eventSubs)
		in.deliver(req, in.position(out, sid, f.Type, nil))
		return
	}
	// Middleware guards calls and subscriptions alike, and runs before
	// OnConnect so that a rejected client never counts as connected; so
	// does a subscription's authorization.
	c := in.newCall(req, sid, f.Method)
	if err := in.middleware(c); err != nil {
		out = append(out, in.errorFrame(c, req, err))
		in.deliver(req, out)
		return
	}
	if f.Type != protocol.TypeRPC {
		if err := in.admitSubscription(c, t, &out); err != nil {
			out = append(out, in.errorFrame(c, req, err))
			in.deliver(req, out)
			return
		}
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
		in.subscribe(in.stateSubs, t.sess, sid)
		in.peaks.stateSubs = max(in.peaks.stateSubs, len(in.stateSubs))
		out = in.position(out, sid, f.Type, protocol.AppendSnapshot(nil, in.def.Name, in.id, in.heldJSON()))
	case protocol.TypeEventSub:
		in.subscribe(in.eventSubs, t.sess, sid)
		in.peaks.eventSubs = max(in.peaks.eventSubs, len(in.eventSubs))
		out = in.position(out, sid, f.Type, nil)
	}
	in.deliver(req, out)
}

// admitSubscription checks a state:sub or event:sub against the session's
// subscription cap (Config.MaxSubscriptions) and the actor's
// authorization (zocket.Actor.AuthorizeSubscription), which runs as a
// step: what it changes is committed when it allows, rolled back when it
// refuses. A subscription the session holds already passes the cap.
func (in *instance) admitSubscription(c *actordef.Call, t task, out *[]Outgoing) error {
	f := &t.req.Frame
	subs := in.stateSubs
	if f.Type == protocol.TypeEventSub {
		subs = in.eventSubs
	}
	_, renewing := subs[t.req.SessionID]
	if limit := in.e.cfg.MaxSubscriptions; !renewing && limit > 0 && t.sess != nil && int(t.sess.subs.Load()) >= limit {
		in.e.counters.subscriptions.Add(1)
		return actordef.Publicf(protocol.ErrTooManySubscriptions, "this client holds %d", limit)
	}
	auth := in.def.Authorize
	if auth == nil {
		return nil
	}
	_, err := in.step(c, func() (json.RawMessage, error) { return nil, auth(in.state, c, f.Type) }, out)
	return err
}

// subscribe adds session sid to subs, counting it against its session's
// cap unless it was there already.
func (in *instance) subscribe(subs map[string]struct{}, st *sessionState, sid string) {
	if _, ok := subs[sid]; ok {
		return
	}
	subs[sid] = struct{}{}
	if st != nil {
		st.subs.Add(1)
	}
}

// unsubscribe removes session sid from subs, releasing its place in the
// session's cap.
func (in *instance) unsubscribe(subs map[string]struct{}, st *sessionState, sid string) {
	if _, ok := subs[sid]; !ok {
		return
	}
	delete(subs, sid)
	if st != nil {
		st.subs.Add(-1)
	}
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

// call runs an rpc's method and appends its rpc:result.
func (in *instance) call(c *actordef.Call, t task, out *[]Outgoing) {
	req := t.req
	start := time.Now()
	var span trace.Span // with tracing on
	if tr := in.e.tracer; tr != nil {
		c.Ctx, span = tr.Start(c.Ctx, "zocket.handle "+in.def.Name+"."+req.Frame.Method,
			trace.WithAttributes(attribute.String("zocket.actor", in.def.Name), attribute.String("zocket.actor_id", in.id),
				attribute.String("zocket.method", req.Frame.Method), attribute.String("zocket.request", req.RequestID),
				attribute.Int64("zocket.queue_wait_us", start.Sub(req.received).Microseconds())))
		defer span.End()
	}
	if d := in.e.cfg.CallTimeout; d > 0 {
		ctx, cancel := context.WithTimeout(c.Ctx, d)
		defer cancel()
		c.Ctx = ctx
	}
	result, err := in.step(c, func() (json.RawMessage, error) {
		res, err := t.method.Invoke(in.state, c, t.input)
		if errors.Is(c.Ctx.Err(), context.DeadlineExceeded) && in.e.cfg.CallTimeout > 0 {
			// Late: whatever it returned, the caller was told the call
			// fails after CallTimeout, and its changes are undone.
			in.e.counters.callTimeouts.Add(1)
			return nil, actordef.Publicf(protocol.ErrCallTimeout, "%s ran longer than %v", req.Frame.Method, in.e.cfg.CallTimeout)
		}
		return res, err
	}, out)
	in.recordCall(req, start, err)
	if err != nil && span != nil {
		msg, _ := clientMessage(err)
		span.SetStatus(codes.Error, msg)
	}
	if err != nil {
		*out = append(*out, in.errorFrame(c, req, err))
		return
	}
	in.e.metrics.done(req, nil)
	*out = append(*out, Outgoing{SessionID: req.SessionID, Frame: protocol.AppendRPCResult(nil, req.Frame.ID, result)})
}

// errorFrame turns a failed call into its rpc:result, or a refused
// subscription into its sub:error, logging internal errors (their text
// never reaches the client).
func (in *instance) errorFrame(c *actordef.Call, req *Request, err error) Outgoing {
	in.e.metrics.done(req, err)
	msg, internal := clientMessage(err)
	if internal {
		in.log.LogAttrs(c.Ctx, slog.LevelError, "request failed", requestAttrs(req, false, slog.Any("err", err))...)
	} else if req.Frame.Type != protocol.TypeRPC && in.log.Enabled(c.Ctx, slog.LevelDebug) {
		in.log.LogAttrs(c.Ctx, slog.LevelDebug, "subscription refused", requestAttrs(req, false, slog.String("reason", msg))...)
	}
	return refusal(req, msg)
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

// runHook runs the actor's hook of kind, if it has one, as a step. A
// client's arrival or departure is first recorded in the presence the
// actor tracks (zocket.TrackPresence), in a step of its own, so that a
// failing hook does not undo it.
func (in *instance) runHook(kind actordef.HookKind, req *Request, clientID string, out *[]Outgoing) {
	var presence func(any, *actordef.Call)
	switch kind {
	case actordef.HookConnect:
		presence = in.def.PresenceJoin
	case actordef.HookDisconnect:
		presence = in.def.PresenceLeave
	}
	if presence != nil {
		c := in.newCall(req, clientID, "")
		if _, err := in.step(c, func() (json.RawMessage, error) { presence(in.state, c); return nil, nil }, out); err != nil {
			in.log.LogAttrs(c.Ctx, slog.LevelError, "presence update failed", hookAttrs(kind, req, clientID, err)...)
		}
	}
	h := in.def.Hooks[kind]
	if h == nil {
		return
	}
	c := in.newCall(req, clientID, "")
	if _, err := in.step(c, func() (json.RawMessage, error) { return nil, h(in.state, c) }, out); err != nil {
		if in.tm != nil {
			in.tm.hookFailures[kind].Inc()
		}
		in.log.LogAttrs(c.Ctx, slog.LevelError, "hook failed", hookAttrs(kind, req, clientID, err)...)
	}
}

// hookAttrs are the attributes of a line about a hook of kind that failed
// with err, run for req (OnConnect) or for session clientID
// (OnDisconnect), or neither.
func hookAttrs(kind actordef.HookKind, req *Request, clientID string, err error) []slog.Attr {
	attrs := []slog.Attr{slog.String("hook", kind.String()), slog.Any("err", err)}
	if req != nil {
		return requestAttrs(req, false, attrs...)
	}
	if clientID != "" {
		attrs = append(attrs, slog.String(logSession, clientID))
	}
	return attrs
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
	if err := in.commitState(out); err != nil {
		in.rollback()
		return nil, err
	}
	in.appendEvents(c.Events, out)
	return res, nil
}

// appendEvents appends the frames of a successful step's events, after
// its patches.
func (in *instance) appendEvents(events []actordef.Event, out *[]Outgoing) {
	for _, ev := range events {
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
}
