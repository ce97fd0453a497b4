package zocket

import (
	"context"

	"github.com/zocket-go/zocket/internal/actordef"
)

// CallInfo says who calls what. Middleware receives it.
type CallInfo struct {
	ClientID string         // the connection (distributed: the session id)
	UserID   string         // "" when the client is anonymous
	Claims   map[string]any // from authorization; nil when none
	Actor    string         // actor type
	ActorID  string
	Method   string // "" for hooks and subscriptions
	// Frame is the client frame being authorized: "rpc", "state:sub" or
	// "event:sub" ("" for hooks). Middleware runs for subscriptions too, so
	// a client it rejects can neither call nor watch the instance.
	Frame string
}

// Call is what a method or hook sees besides its state: the caller, the
// instance, the context built by middleware, and event emission. A Call is
// valid only during the handler it was passed to, and must not be used from
// other goroutines.
type Call struct {
	c *actordef.Call // filled in by the engine; nil in a Call made outside one
}

// Context returns the call's context, carrying values added by middleware.
func (c *Call) Context() context.Context {
	if c.c == nil {
		return nil
	}
	return c.c.Ctx
}

// Info returns who calls what.
func (c *Call) Info() CallInfo {
	if c.c == nil {
		return CallInfo{}
	}
	return CallInfo(c.c.Info)
}

// ClientID returns the calling client's id ("" in OnActivate and
// OnDeactivate).
func (c *Call) ClientID() string { return c.Info().ClientID }

// UserID returns the authenticated user id, "" when anonymous.
func (c *Call) UserID() string { return c.Info().UserID }

// Claims returns the claims from authorization (nil when none). Treat them
// as read-only.
func (c *Call) Claims() map[string]any { return c.Info().Claims }

// ActorID returns the instance's id.
func (c *Call) ActorID() string { return c.Info().ActorID }

// Clients returns, sorted, the ids of the clients currently connected to
// this instance: those that interacted with it and have not disconnected.
// In OnConnect the connecting client is included; in OnDisconnect the
// leaving one is not.
func (c *Call) Clients() []string {
	if c.c == nil || c.c.Instance == nil {
		return nil
	}
	return c.c.Instance.Clients()
}

// Key is a typed context key for values middleware hands to handlers.
// Create one per value with [NewKey]; keys compare by identity.
type Key[T any] struct {
	name string
}

// NewKey returns a new key; name is only for debugging.
func NewKey[T any](name string) *Key[T] { return &Key[T]{name: name} }

// With returns a copy of ctx carrying v under k.
func (k *Key[T]) With(ctx context.Context, v T) context.Context {
	return context.WithValue(ctx, k, v)
}

// From returns the value stored under k in ctx.
func (k *Key[T]) From(ctx context.Context) (T, bool) {
	v, ok := ctx.Value(k).(T)
	return v, ok
}

// Get returns the value stored under k in the call's context.
func (k *Key[T]) Get(c *Call) (T, bool) { return k.From(c.Context()) }

func (k *Key[T]) String() string { return "zocket.Key(" + k.name + ")" }
