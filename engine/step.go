package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime/debug"

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
	in.lastJSON = b
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

// runHook runs the actor's hook of kind, if it has one, as a step.
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
