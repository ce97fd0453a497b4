// Package actordef holds what package zocket (the actor definition API)
// and package engine (which runs the actors) share: actor definitions in
// type-erased form, the runtime side of a call, and the errors whose text
// a client may read.
//
// Package zocket builds Defs from typed actors and wraps the runtime
// side of a call in the *zocket.Call its handlers see; the engine only
// fills in and reads these types, so it never constructs zocket's types
// and zocket never imports the engine.
package actordef

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// AppOf returns the definitions an *zocket.App holds (nil for a nil
// *zocket.App). Package zocket sets it once, in its init function, and
// nothing writes it again; the engine calls it to run an App.
//
// The function variable lets the engine read an App's definitions without
// an exported method on App that application authors would see.
var AppOf func(app any) *App

// App is the content of a zocket.App: its actor types by name and the
// middleware that runs before every actor type's own.
type App struct {
	Types      map[string]*Def
	Middleware []Middleware
}

// Def is the type-erased form of a zocket.Actor[S] that the engine runs.
type Def struct {
	Name     string
	NewState func() any // returns *S
	// Restore decodes a state from its JSON form, into a fresh *S.
	Restore    func([]byte) (any, error)
	Methods    map[string]*Method
	Events     map[string]reflect.Type // declared events and their payload types
	Hooks      [NumHooks]func(state any, c *Call) error
	Middleware []Middleware
	// PatchInterval is zocket.PatchInterval's d; 0 means one state:patch
	// per change.
	PatchInterval time.Duration
	// View, when set, returns what subscribers see of a state (a *S):
	// snapshots and patches are of its JSON form (zocket.Actor.View).
	View func(state any) any
	// Authorize, when set, decides whether a client may subscribe to an
	// instance's state (sub is protocol.TypeStateSub) or events
	// (TypeEventSub); an error refuses it (zocket.Actor.AuthorizeSubscription).
	Authorize func(state any, c *Call, sub string) error
	// PresenceJoin and PresenceLeave, when set (zocket.TrackPresence),
	// record a client's arrival and departure in the state; they run in
	// steps of their own, before OnConnect and before OnDisconnect.
	PresenceJoin, PresenceLeave func(state any, c *Call)
	// Errs are the definition mistakes found so far; NewApp reports them.
	Errs []error
	// State is S, the type NewState returns a pointer to, for tools that
	// describe an app (zocket gen ts); the engine does not read it.
	State reflect.Type
}

// AddErr records a definition mistake; a nil err is ignored.
func (d *Def) AddErr(err error) {
	if err != nil {
		d.Errs = append(d.Errs, err)
	}
}

// Method is one method of an actor type, with its input and result types
// erased.
type Method struct {
	// Decode turns the client's input into the method's input type, and
	// validates it. It runs on the host's goroutine, so it turns a panic
	// of user code (UnmarshalJSON, Validate) into an error.
	Decode func(json.RawMessage) (any, error)
	// Invoke runs the handler on state (a *S) with the decoded input and
	// returns its result in JSON.
	Invoke func(state any, c *Call, in any) (json.RawMessage, error)
	// In and Out are the handler's input and result types, for tools that
	// describe an app (zocket gen ts); the engine does not read them.
	In, Out reflect.Type
}

// HookKind names a lifecycle hook; it indexes Def.Hooks.
type HookKind int

// The lifecycle hooks, as zocket.Actor's On* methods set them.
const (
	HookActivate HookKind = iota
	HookDeactivate
	HookConnect
	HookDisconnect
	NumHooks
)

// String returns the name of the zocket.Actor method that sets the hook.
func (k HookKind) String() string {
	return [...]string{"OnActivate", "OnDeactivate", "OnConnect", "OnDisconnect"}[k]
}

// Middleware is a zocket.Middleware as the engine runs it: package zocket
// wraps each one to hand it the call's Info as a zocket.CallInfo.
type Middleware func(ctx context.Context, info *Info) (context.Context, error)

// Info is what a zocket.CallInfo says. It has zocket.CallInfo's fields in
// the same order, so that one converts to the other.
type Info struct {
	ClientID string
	UserID   string
	Claims   map[string]any
	Actor    string
	ActorID  string
	Method   string
	Frame    string
}

// Instance is what a call may ask of the instance it runs on. The engine
// implements it; it is only used on the instance's goroutine, during the
// call.
type Instance interface {
	// Clients returns, sorted, the ids of the clients connected to the
	// instance.
	Clients() []string
	// EventSubscribed reports whether any session subscribes to the
	// instance's events.
	EventSubscribed() bool
}

// Call is the runtime side of a zocket.Call: the engine fills in the
// context, the caller and the instance, and reads back the events the
// handler emitted and the first emit error.
type Call struct {
	Ctx      context.Context
	Info     Info
	Def      *Def
	Instance Instance
	// Events are the events emitted so far, sent only if the call or hook
	// succeeds.
	Events []Event
	// EmitErr is the first error an Emit returned: it fails the call even
	// if the handler ignored it.
	EmitErr error
}

// Event is an emitted event, its payload already encoded.
type Event struct {
	Name    string
	Payload json.RawMessage
	Target  Target
}

// Target is whom an event is for, among the instance's event subscribers
// (zocket.To and zocket.Except set it).
type Target struct {
	Only   map[string]struct{} // nil: every subscriber
	Except map[string]struct{}
}

// Includes reports whether the event is for the session id.
func (t *Target) Includes(id string) bool {
	if t.Only != nil {
		if _, ok := t.Only[id]; !ok {
			return false
		}
	}
	_, excluded := t.Except[id]
	return !excluded
}

// PublicError is an error whose text is safe to show to clients, made
// for a failure the engine or the definition API found (unknown method,
// invalid input, a limit reached).
type PublicError struct {
	Msg string
	Err error // the sentinel it wraps, or nil
}

func (e *PublicError) Error() string { return e.Msg }
func (e *PublicError) Unwrap() error { return e.Err }

// Publicf returns a PublicError that wraps sentinel and reads
// "<sentinel>: <format>".
func Publicf(sentinel error, format string, args ...any) error {
	return &PublicError{Msg: sentinel.Error() + ": " + fmt.Sprintf(format, args...), Err: sentinel}
}

// PanicError is a panic of user code recovered as an error: the client
// reads "internal error", the log gets the value and the stack.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.Value, p.Stack) }
