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

	"github.com/zocket-go/zocket/protocol"
)

// Actor defines one actor type whose instances hold a state of type S.
// Build it with [NewActor], add methods with [Method] and hooks with the
// On* methods, then register it with [NewApp]. An Actor must not be
// modified after it was passed to NewApp.
type Actor[S any] struct {
	def actorDef
}

// ActorType is implemented only by *Actor[S]; it lets [NewApp] hold actor
// types with different state types.
type ActorType interface {
	// Name is the actor type's wire name.
	Name() string
	definition() *actorDef
}

// Hook is a lifecycle hook. c.ClientID() is the client that connected or
// disconnected for OnConnect and OnDisconnect, and "" otherwise.
type Hook[S any] func(state *S, c *Call) error

// ActorOption configures an actor type in [NewActor].
type ActorOption func(*actorDef) error

// ErrInvalidOption is wrapped by every option that refuses its argument.
var ErrInvalidOption = errors.New("invalid option")

// Emits declares the events an actor type may emit. Emitting an event that
// was not declared fails.
func Emits(events ...EventType) ActorOption {
	return func(d *actorDef) error {
		for _, ev := range events {
			if ev == nil {
				return fmt.Errorf("%w: nil event", ErrInvalidOption)
			}
			name, typ := ev.eventInfo()
			if err := checkName("event", name); err != nil {
				return err
			}
			if _, dup := d.events[name]; dup {
				return fmt.Errorf("%w: event %q declared twice", ErrInvalidOption, name)
			}
			d.events[name] = typ
		}
		return nil
	}
}

// NewActor defines an actor type named name (its wire name, as clients send
// it in "actor"). initial returns the state of a fresh instance; it is called
// once per instance. Mistakes (a bad name, an option error, a state that is
// not JSON-serializable) are reported by NewApp.
func NewActor[S any](name string, initial func() S, opts ...ActorOption) *Actor[S] {
	a := &Actor[S]{def: actorDef{
		name:    name,
		methods: map[string]*methodDef{},
		events:  map[string]reflect.Type{},
	}}
	d := &a.def
	d.addErr(checkName("actor type", name))
	if initial == nil {
		d.addErr(fmt.Errorf("nil initial state function"))
		initial = func() S { var s S; return s }
	}
	d.newState = func() any { s := initial(); return &s }
	d.restore = func(data []byte) (any, error) {
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
		d.addErr(o(d))
	}
	if _, err := json.Marshal(d.newState()); err != nil {
		d.addErr(fmt.Errorf("initial state is not JSON-serializable: %w", err))
	}
	return a
}

// Name returns the actor type's wire name.
func (a *Actor[S]) Name() string { return a.def.name }

func (a *Actor[S]) definition() *actorDef { return &a.def }

// Use appends middleware run before each method call of this actor type,
// after the app's middleware.
func (a *Actor[S]) Use(mw ...Middleware) {
	for _, m := range mw {
		if m == nil {
			a.def.addErr(fmt.Errorf("nil middleware"))
			continue
		}
		a.def.middleware = append(a.def.middleware, m)
	}
}

// OnActivate sets the hook run when an instance is created, before anything
// else reaches it.
func (a *Actor[S]) OnActivate(h Hook[S]) { a.def.hooks[hookActivate] = eraseHook(h) }

// OnDeactivate sets the hook run when an instance is evicted after being
// idle, or when the engine shuts down.
func (a *Actor[S]) OnDeactivate(h Hook[S]) { a.def.hooks[hookDeactivate] = eraseHook(h) }

// OnConnect sets the hook run when a client first interacts with an
// instance (a call or a subscription), before that interaction.
func (a *Actor[S]) OnConnect(h Hook[S]) { a.def.hooks[hookConnect] = eraseHook(h) }

// OnDisconnect sets the hook run when a client that interacted with an
// instance goes away.
func (a *Actor[S]) OnDisconnect(h Hook[S]) { a.def.hooks[hookDisconnect] = eraseHook(h) }

func eraseHook[S any](h Hook[S]) func(any, *Call) error {
	if h == nil {
		return nil
	}
	return func(state any, c *Call) error { return h(state.(*S), c) }
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
		d.addErr(err)
		return
	}
	if fn == nil {
		d.addErr(fmt.Errorf("method %q: nil handler", name))
		return
	}
	if _, dup := d.methods[name]; dup {
		d.addErr(fmt.Errorf("method %q defined twice", name))
		return
	}
	d.methods[name] = &methodDef{
		decode: func(raw json.RawMessage) (_ any, err error) {
			// Decoding and Validate run user code on the host's goroutine
			// (in Dispatch): a panic there must fail the call, not the host.
			defer func() {
				if r := recover(); r != nil {
					err = &panicError{value: r, stack: debug.Stack()}
				}
			}()
			var in In
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &in); err != nil {
					return nil, publicf(ErrInvalidInput, "%s.%s: %s", d.name, name, inputError(err))
				}
			}
			if err := validate(&in); err != nil {
				return nil, publicf(ErrInvalidInput, "%s.%s: %s", d.name, name, err.Error())
			}
			return in, nil
		},
		invoke: func(state any, c *Call, in any) (json.RawMessage, error) {
			out, err := fn(state.(*S), c, in.(In))
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(out)
			if err != nil {
				return nil, fmt.Errorf("encode result of %s.%s: %w", d.name, name, err)
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

type hookKind int

const (
	hookActivate hookKind = iota
	hookDeactivate
	hookConnect
	hookDisconnect
	numHooks
)

func (k hookKind) String() string {
	return [...]string{"OnActivate", "OnDeactivate", "OnConnect", "OnDisconnect"}[k]
}

// actorDef is the type-erased form of an Actor[S] that the engine runs.
type actorDef struct {
	name          string
	newState      func() any // returns *S
	restore       func([]byte) (any, error)
	methods       map[string]*methodDef
	events        map[string]reflect.Type
	hooks         [numHooks]func(any, *Call) error
	middleware    []Middleware
	patchInterval time.Duration // 0: one state:patch per change ([PatchInterval])
	errs          []error
}

type methodDef struct {
	decode func(json.RawMessage) (any, error)
	invoke func(state any, c *Call, in any) (json.RawMessage, error)
}

func (d *actorDef) addErr(err error) {
	if err != nil {
		d.errs = append(d.errs, err)
	}
}

func (d *actorDef) methodNames() []string {
	names := make([]string, 0, len(d.methods))
	for n := range d.methods {
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
