package protocol

import "encoding/json"

// Frame types. Client to server: TypeRPC, TypeEventSub, TypeEventUnsub,
// TypeStateSub and TypeStateUnsub. Server to client: the rest.
// TypeSubError answers a state:sub or event:sub the server refused (not
// authorized, unknown actor type, over a limit): clients that do not know
// it ignore it, as they ignore any unknown frame type.
const (
	TypeRPC           = "rpc"
	TypeEventSub      = "event:sub"
	TypeEventUnsub    = "event:unsub"
	TypeStateSub      = "state:sub"
	TypeStateUnsub    = "state:unsub"
	TypeWelcome       = "welcome"
	TypeRPCResult     = "rpc:result"
	TypeEvent         = "event"
	TypeStateSnapshot = "state:snapshot"
	TypeStatePatch    = "state:patch"
	TypeSubError      = "sub:error"
)

// Limits applied by [Decode].
const (
	// MaxIDLength is the longest actor type, actor id, rpc id or method
	// name, in bytes. Both server shapes enforce it so that an id that works
	// standalone also fits in a NATS subject.
	MaxIDLength = 256
	// MaxDepth is the deepest nesting of arrays and objects accepted in a
	// frame (the frame object itself is depth 1).
	MaxDepth = 64
)

// Frame is one protocol frame. Which fields are meaningful depends on Type
// (see the README's "Wire protocol"); JSON values (Input, Result, Payload, State, Patches)
// are kept raw so that hosts can forward them without decoding.
type Frame struct {
	Type     string          `json:"type"`
	ID       string          `json:"id,omitempty"`
	Actor    string          `json:"actor,omitempty"`
	ActorID  string          `json:"actorId,omitempty"`
	Method   string          `json:"method,omitempty"`
	Input    json.RawMessage `json:"input,omitempty"`
	ClientID string          `json:"clientId,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	Event    string          `json:"event,omitempty"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	State    json.RawMessage `json:"state,omitempty"`
	Patches  json.RawMessage `json:"patches,omitempty"`
	// Refused is the client frame type a sub:error answers (state:sub or
	// event:sub).
	Refused string `json:"refused,omitempty"`

	// HasError reports whether an rpc:result carried an "error" field (an
	// empty error message is still a failure).
	HasError bool `json:"-"`
}

// IsClientType reports whether t is a frame type a client sends.
func IsClientType(t string) bool {
	switch t {
	case TypeRPC, TypeEventSub, TypeEventUnsub, TypeStateSub, TypeStateUnsub:
		return true
	}
	return false
}

// isServerType reports whether t is a frame type a server sends.
func isServerType(t string) bool {
	switch t {
	case TypeWelcome, TypeRPCResult, TypeEvent, TypeStateSnapshot, TypeStatePatch, TypeSubError:
		return true
	}
	return false
}
