package zocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// Actor defines one actor type whose instances hold a state of type S.
// Build it with [NewActor], add methods with [Method] and hooks with the
// On* methods, then register it with [NewApp]. An Actor must not be
// modified after it was passed to NewApp.
type Actor[S any] struct {
	def actordef.Def
}

// ActorType is implemented only by *Actor[S]; it lets [NewApp] hold actor
// types with different state types.
type ActorType interface {
	// Name is the actor type's wire name.
	Name() string
	definition() *actordef.Def
}

// Hook is a lifecycle hook. c.ClientID() is the client that connected or
// disconnected for OnConnect and OnDisconnect, and "" otherwise.
type Hook[S any] func(state *S, c *Call) error

// ActorOption configures an actor type in [NewActor].
type ActorOption func(*actordef.Def) error

// Emits declares the events an actor type may emit. Emitting an event that
// was not declared fails.
func Emits(events ...EventType) ActorOption {
	return func(d *actordef.Def) error {
		for _, ev := range events {
			if ev == nil {
				return fmt.Errorf("%w: nil event", ErrInvalidOption)
			}
			name, typ := ev.eventInfo()
			if err := checkName("event", name); err != nil {
				return err
			}
			if _, dup := d.Events[name]; dup {
				return fmt.Errorf("%w: event %q declared twice", ErrInvalidOption, name)
			}
			d.Events[name] = typ
		}
		return nil
	}
}

// PatchInterval makes the actor type's instances send state changes at
// most once per interval d, as one state:patch per state subscriber,
// instead of one state:patch after every call or hook that changed the
// state (the way game servers send state at a fixed patch rate). Zero or
// unset means one patch per change; a negative d is a definition error
// reported by [NewApp].
//
// With d > 0:
//
//   - The first state change after a quiet period (no change pending)
//     arms a timer for d. Changes until it fires send nothing. When it
//     fires, the instance, on its own queue in order with calls and hooks,
//     diffs the state its subscribers hold (the one last sent) against the
//     current state and sends one state:patch to every state subscriber
//     (nothing if the changes cancelled out). The next change arms the
//     timer again. A change while nobody is subscribed to the state arms
//     nothing, and a pending change is dropped when the last state
//     subscriber leaves: the next state:sub's snapshot has it.
//   - A client that applies the snapshot and then every patch in order
//     holds exactly the server's state as of the last patch. A state:sub
//     arriving while a change is pending is answered with a snapshot of
//     the state the subscribers already hold (the one last sent, the base
//     of the pending patch), not of the current state, and flushes
//     nothing: the new subscriber joins the others, and the pending patch,
//     sent to all of them at the timer, brings it up to date. This
//     includes the change made by the state:sub itself (OnConnect, for a
//     session new to the instance, runs before the snapshot), so a client
//     sees its own join in the next patch. So subscriptions coalesce too:
//     n subscribers joining within an interval cost n snapshots and one
//     patch per subscriber, not a patch to every earlier subscriber each.
//     Without a pending change the snapshot is of the current state.
//   - So a subscriber, new or not, may see a state up to one interval
//     old: its snapshot, like every subscriber's copy, lacks the changes
//     made since the pending one was armed (at most d earlier, plus the
//     wait in the instance's queue) until the next patch. A state read
//     by a call is always current.
//   - Events are not delayed: they go out with the call or hook that
//     emitted them, as do rpc:results. So a caller reads its rpc:result
//     before the patch with its change, and a state:patch may arrive after
//     the events of later calls.
//   - A failed call or hook (error, panic) changes nothing and so arms
//     nothing; its partial changes never reach subscribers.
//   - Deactivation (eviction, shutdown) flushes the pending change before
//     OnDeactivate's own frames, in the same delivery; what OnDeactivate
//     changes is sent at once. The timer is stopped then.
//   - A flush made by the timer reaches the host
//     ([github.com/zocket-go/zocket/engine.Host]) as a delivery of its
//     own with req == nil, like other frames the engine sends on its own.
//     With engine.Config.Fanout its patch is a fanout frame like any
//     other (it takes the instance's next Fanout.Seq). The Position of a
//     state:sub answered while a change is pending is the instance's
//     current sequence number, so the pending patch, numbered next, is
//     the first frame after it: the snapshot and then exactly the patches
//     after the Position, as without PatchInterval.
func PatchInterval(d time.Duration) ActorOption {
	return func(def *actordef.Def) error {
		if d < 0 {
			return fmt.Errorf("%w: patch interval %v", ErrInvalidOption, d)
		}
		def.PatchInterval = d
		return nil
	}
}

// NewActor defines an actor type named name (its wire name, as clients send
// it in "actor"). initial returns the state of a fresh instance; it is called
// once per instance. Mistakes (a bad name, an option error, a state that is
// not JSON-serializable) are reported by NewApp.
func NewActor[S any](name string, initial func() S, opts ...ActorOption) *Actor[S] {
	a := &Actor[S]{def: actordef.Def{
		Name:    name,
		State:   reflect.TypeFor[S](),
		Methods: map[string]*actordef.Method{},
		Events:  map[string]reflect.Type{},
	}}
	d := &a.def
	d.AddErr(checkName("actor type", name))
	if initial == nil {
		d.AddErr(fmt.Errorf("nil initial state function"))
		initial = func() S { var s S; return s }
	}
	d.NewState = func() any { s := initial(); return &s }
	d.Restore = func(data []byte) (any, error) {
		var s S
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		return &s, nil
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		d.AddErr(o(d))
	}
	if _, err := json.Marshal(d.NewState()); err != nil {
		d.AddErr(fmt.Errorf("initial state is not JSON-serializable: %w", err))
	}
	return a
}

// Name returns the actor type's wire name.
func (a *Actor[S]) Name() string { return a.def.Name }

func (a *Actor[S]) definition() *actordef.Def { return &a.def }

// Use appends middleware run before each method call of this actor type,
// after the app's middleware.
func (a *Actor[S]) Use(mw ...Middleware) {
	for _, m := range mw {
		if m == nil {
			a.def.AddErr(fmt.Errorf("nil middleware"))
			continue
		}
		a.def.Middleware = append(a.def.Middleware, m.erase())
	}
}

// OnActivate sets the hook run when an instance is created, before anything
// else reaches it.
func (a *Actor[S]) OnActivate(h Hook[S]) { a.def.Hooks[actordef.HookActivate] = eraseHook(h) }

// OnDeactivate sets the hook run when an instance is evicted after being
// idle, or when the engine shuts down.
func (a *Actor[S]) OnDeactivate(h Hook[S]) { a.def.Hooks[actordef.HookDeactivate] = eraseHook(h) }

// OnConnect sets the hook run when a client first interacts with an
// instance (a call or a subscription), before that interaction.
func (a *Actor[S]) OnConnect(h Hook[S]) { a.def.Hooks[actordef.HookConnect] = eraseHook(h) }

// OnDisconnect sets the hook run when a client that interacted with an
// instance goes away.
func (a *Actor[S]) OnDisconnect(h Hook[S]) { a.def.Hooks[actordef.HookDisconnect] = eraseHook(h) }

// Subscription is what a client asks to receive from an instance.
type Subscription string

// The subscriptions a client may ask for.
const (
	SubscribeState  Subscription = "state"  // state:sub: a snapshot, then patches
	SubscribeEvents Subscription = "events" // event:sub: the instance's events
)

// AuthorizeSubscription sets the check run before a client subscribes to an
// instance's state or events, on the instance's goroutine after the
// middleware (c carries the same identity, claims and context) and before
// OnConnect, with the instance's state: "only members of a room see it".
// An error refuses the subscription: the client gets a sub:error frame
// with the message of a [Reject] or [Errorf] error ("internal error" for
// any other, which is logged), and is not connected to the instance by
// it. Changes fn makes to the state are kept, as a hook's are. Without it,
// every subscription the middleware lets through is allowed.
func (a *Actor[S]) AuthorizeSubscription(fn func(state *S, c *Call, sub Subscription) error) {
	if fn == nil {
		a.def.Authorize = nil
		return
	}
	a.def.Authorize = func(state any, c *actordef.Call, sub string) error {
		kind := SubscribeState
		if sub == protocol.TypeEventSub {
			kind = SubscribeEvents
		}
		return fn(state.(*S), &Call{c: c}, kind)
	}
}

// View sets what clients see of the state: snapshots and patches are of
// the JSON form of fn(state), the same for every subscriber and diffed
// like the state itself, so a view can leave out what clients must not
// read (secrets, other users' data). Method results and hooks still see
// the whole state. fn runs on the instance's goroutine after every step
// that changed the state, must not modify it, and must return a value
// that encodes to JSON; a view that fails (panics, or does not encode)
// fails the step, which is rolled back. Without a view, clients see the
// state's own JSON form.
func (a *Actor[S]) View(fn func(state *S) any) {
	if fn == nil {
		a.def.View = nil
		return
	}
	a.def.View = func(state any) any { return fn(state.(*S)) }
}

func eraseHook[S any](h Hook[S]) func(any, *actordef.Call) error {
	if h == nil {
		return nil
	}
	return func(state any, c *actordef.Call) error { return h(state.(*S), &Call{c: c}) }
}

// Validator is implemented by method inputs that check themselves. Validate
// runs after decoding and before the handler; its error's text is sent to
// the client.
type Validator interface {
	Validate() error
}

// Method adds a method named name to actor type a. The client's "input" is
// decoded into In (absent or null input leaves the zero In), validated when
// In or *In implements [Validator], and passed to fn with the instance's
// state. fn's result is encoded as JSON into the rpc:result. Use struct{} for
// methods without input.
//
// Go methods cannot have type parameters, so this is a function; method
// expressions fit it: zocket.Method(a, "send", (*Room).Send).
func Method[S, In, Out any](a *Actor[S], name string, fn func(state *S, c *Call, in In) (Out, error)) {
	d := &a.def
	if err := checkName("method", name); err != nil {
		d.AddErr(err)
		return
	}
	if fn == nil {
		d.AddErr(fmt.Errorf("method %q: nil handler", name))
		return
	}
	if _, dup := d.Methods[name]; dup {
		d.AddErr(fmt.Errorf("method %q defined twice", name))
		return
	}
	d.Methods[name] = &actordef.Method{
		In:  reflect.TypeFor[In](),
		Out: reflect.TypeFor[Out](),
		Decode: func(raw json.RawMessage) (_ any, err error) {
			// Decoding and Validate run user code on the host's goroutine
			// (in Dispatch): a panic there must fail the call, not the host.
			defer func() {
				if r := recover(); r != nil {
					err = &actordef.PanicError{Value: r, Stack: debug.Stack()}
				}
			}()
			var in In
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &in); err != nil {
					return nil, actordef.Publicf(ErrInvalidInput, "%s.%s: %s", d.Name, name, inputError(err))
				}
			}
			if err := validate(&in); err != nil {
				return nil, actordef.Publicf(ErrInvalidInput, "%s.%s: %s", d.Name, name, err.Error())
			}
			return in, nil
		},
		Invoke: func(state any, c *actordef.Call, in any) (json.RawMessage, error) {
			out, err := fn(state.(*S), &Call{c: c}, in.(In))
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(out)
			if err != nil {
				return nil, fmt.Errorf("encode result of %s.%s: %w", d.Name, name, err)
			}
			return b, nil
		},
	}
}

// validate runs Validate on *In or In, whichever implements Validator.
func validate[In any](in *In) error {
	if v, ok := any(in).(Validator); ok {
		return v.Validate()
	}
	if v, ok := any(*in).(Validator); ok {
		return v.Validate()
	}
	return nil
}

// inputError rewords encoding/json errors for clients without Go type names
// where a field name says more.
func inputError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q: cannot use JSON %s as %s", te.Field, te.Value, jsonKind(te.Type))
		}
		return fmt.Sprintf("cannot use JSON %s as %s", te.Value, jsonKind(te.Type))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "malformed JSON: " + se.Error()
	}
	return err.Error()
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

// methodNames returns the names of d's methods, sorted.
func methodNames(d *actordef.Def) []string {
	names := make([]string, 0, len(d.Methods))
	for n := range d.Methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkName refuses names that could never be addressed by a client.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s name", what)
	case len(name) > protocol.MaxIDLength:
		return fmt.Errorf("%s name longer than %d bytes", what, protocol.MaxIDLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name %q is not valid UTF-8", what, name)
	}
	return nil
}

// Middleware runs before a method call. It sees who calls what and the
// context built so far, and returns the context the next step (and finally
// the handler, via [Call.Context]) sees, or an error that rejects the call
// (use [Reject] for a message the client may read).
type Middleware func(ctx context.Context, info CallInfo) (context.Context, error)

// erase wraps m for the engine, which hands it the call's info in
// actordef's form.
func (m Middleware) erase() actordef.Middleware {
	return func(ctx context.Context, info *actordef.Info) (context.Context, error) {
		return m(ctx, CallInfo(*info))
	}
}
