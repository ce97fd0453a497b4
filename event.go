package zocket

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/zocket-go/zocket/internal/actordef"
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
type EmitOption func(*actordef.Target)

// To restricts an event to the given client ids (among event subscribers).
func To(clientIDs ...string) EmitOption {
	return func(t *actordef.Target) {
		if t.Only == nil {
			t.Only = make(map[string]struct{}, len(clientIDs))
		}
		for _, id := range clientIDs {
			t.Only[id] = struct{}{}
		}
	}
}

// Except sends an event to every event subscriber but the given client ids.
func Except(clientIDs ...string) EmitOption {
	return func(t *actordef.Target) {
		if t.Except == nil {
			t.Except = make(map[string]struct{}, len(clientIDs))
		}
		for _, id := range clientIDs {
			t.Except[id] = struct{}{}
		}
	}
}

// Emit sends a declared event by name. payload must be assignable to the
// type the event was declared with; otherwise Emit fails with
// [ErrEventPayload] (and so does the call). Prefer the typed [Event.Emit].
func (c *Call) Emit(name string, payload any, opts ...EmitOption) error {
	return c.emit(name, reflect.TypeOf(payload), payload, opts)
}

func (c *Call) emit(name string, typ reflect.Type, payload any, opts []EmitOption) error {
	err := c.tryEmit(name, typ, payload, opts)
	if err != nil && c.c != nil && c.c.EmitErr == nil {
		c.c.EmitErr = err
	}
	return err
}

func (c *Call) tryEmit(name string, typ reflect.Type, payload any, opts []EmitOption) error {
	if c.c == nil || c.c.Instance == nil {
		return fmt.Errorf("emit %q: call is not running", name)
	}
	def := c.c.Def
	want, ok := def.Events[name]
	if !ok {
		return fmt.Errorf("%w %q on actor %q", ErrUndeclaredEvent, name, def.Name)
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
	if !c.c.Instance.EventSubscribed() {
		// Nobody can receive it: the subscribers cannot change during the
		// call, so skip encoding (the counter's event was 6% of a
		// standalone server's CPU under load with no event subscriber).
		return nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode event %q: %w", name, err)
	}
	ev := actordef.Event{Name: name, Payload: b}
	for _, o := range opts {
		if o != nil {
			o(&ev.Target)
		}
	}
	c.c.Events = append(c.c.Events, ev)
	return nil
}
