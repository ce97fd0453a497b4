package zocket

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Event is a declared event with a payload of type T. Create events once
// (usually as package variables) with [NewEvent], declare them on the actor
// type with [Emits], and emit them from handlers with [Event.Emit].
type Event[T any] struct {
	name string
}

// EventType is implemented by *Event[T]; [Emits] takes it.
type EventType interface {
	Name() string
	eventInfo() (string, reflect.Type)
}

// NewEvent returns an event named name (its wire name) with payload type T.
func NewEvent[T any](name string) *Event[T] { return &Event[T]{name: name} }

// Name returns the event's wire name.
func (e *Event[T]) Name() string { return e.name }

func (e *Event[T]) eventInfo() (string, reflect.Type) {
	return e.name, reflect.TypeFor[T]()
}

// Emit sends the event with payload to the instance's event subscribers,
// narrowed by [To] and [Except]. Events are sent only if the call or hook
// succeeds, after its state patch. Emit fails with [ErrUndeclaredEvent] when
// the actor type did not declare e; a call whose Emit failed fails too, even
// if the handler ignored the error. The payload is encoded to JSON only when
// the instance has event subscribers, so a payload that cannot be encoded
// fails the call only then.
func (e *Event[T]) Emit(c *Call, payload T, opts ...EmitOption) error {
	return c.emit(e.name, reflect.TypeFor[T](), payload, opts)
}

// EmitOption narrows the recipients of an event.
type EmitOption func(*emitTarget)

type emitTarget struct {
	only   map[string]struct{} // nil: every subscriber
	except map[string]struct{}
}

// To restricts an event to the given client ids (among event subscribers).
func To(clientIDs ...string) EmitOption {
	return func(t *emitTarget) {
		if t.only == nil {
			t.only = make(map[string]struct{}, len(clientIDs))
		}
		for _, id := range clientIDs {
			t.only[id] = struct{}{}
		}
	}
}

// Except sends an event to every event subscriber but the given client ids.
func Except(clientIDs ...string) EmitOption {
	return func(t *emitTarget) {
		if t.except == nil {
			t.except = make(map[string]struct{}, len(clientIDs))
		}
		for _, id := range clientIDs {
			t.except[id] = struct{}{}
		}
	}
}

func (t *emitTarget) includes(id string) bool {
	if t.only != nil {
		if _, ok := t.only[id]; !ok {
			return false
		}
	}
	_, excluded := t.except[id]
	return !excluded
}

type pendingEvent struct {
	name    string
	payload json.RawMessage
	target  emitTarget
}

// Emit sends a declared event by name. payload must be assignable to the
// type the event was declared with; otherwise Emit fails with
// [ErrEventPayload] (and so does the call). Prefer the typed [Event.Emit].
func (c *Call) Emit(name string, payload any, opts ...EmitOption) error {
	return c.emit(name, reflect.TypeOf(payload), payload, opts)
}

func (c *Call) emit(name string, typ reflect.Type, payload any, opts []EmitOption) error {
	err := c.tryEmit(name, typ, payload, opts)
	if err != nil && c.emitErr == nil {
		c.emitErr = err
	}
	return err
}

func (c *Call) tryEmit(name string, typ reflect.Type, payload any, opts []EmitOption) error {
	if c.inst == nil {
		return fmt.Errorf("emit %q: call is not running", name)
	}
	want, ok := c.inst.def.events[name]
	if !ok {
		return fmt.Errorf("%w %q on actor %q", ErrUndeclaredEvent, name, c.inst.def.name)
	}
	if typ == nil { // untyped nil: only fine for types that have nil
		switch want.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		default:
			return fmt.Errorf("%w: event %q wants %s, got nil", ErrEventPayload, name, want)
		}
	} else if !typ.AssignableTo(want) {
		return fmt.Errorf("%w: event %q wants %s, got %s", ErrEventPayload, name, want, typ)
	}
	if len(c.inst.eventSubs) == 0 {
		// Nobody can receive it: the subscribers cannot change during the
		// call, so skip encoding (the counter's event was 6% of a
		// standalone server's CPU under load with no event subscriber).
		return nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode event %q: %w", name, err)
	}
	ev := pendingEvent{name: name, payload: b}
	for _, o := range opts {
		if o != nil {
			o(&ev.target)
		}
	}
	c.events = append(c.events, ev)
	return nil
}
