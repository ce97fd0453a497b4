package protocol

import (
	"encoding/json"
	"unicode/utf8"
)

// The Append functions append one encoded server or client frame to b and
// return the extended buffer. Raw JSON arguments must be valid JSON; nil
// means null (or, for optional fields, that the field is left out).

// AppendWelcome appends a welcome frame.
func AppendWelcome(b []byte, clientID string) []byte {
	b = append(b, `{"type":"welcome","clientId":`...)
	b = AppendString(b, clientID)
	return append(b, '}')
}

// AppendRPCResult appends a successful rpc:result; a nil result is null.
func AppendRPCResult(b []byte, id string, result json.RawMessage) []byte {
	b = append(b, `{"type":"rpc:result","id":`...)
	b = AppendString(b, id)
	b = append(b, `,"result":`...)
	b = appendRaw(b, result)
	return append(b, '}')
}

// AppendRPCError appends a failed rpc:result.
func AppendRPCError(b []byte, id, msg string) []byte {
	b = append(b, `{"type":"rpc:result","id":`...)
	b = AppendString(b, id)
	b = append(b, `,"error":`...)
	b = AppendString(b, msg)
	return append(b, '}')
}

// AppendEvent appends an event frame.
func AppendEvent(b []byte, actor, actorID, event string, payload json.RawMessage) []byte {
	b = appendHead(b, TypeEvent, actor, actorID)
	b = append(b, `,"event":`...)
	b = AppendString(b, event)
	b = append(b, `,"payload":`...)
	b = appendRaw(b, payload)
	return append(b, '}')
}

// AppendSnapshot appends a state:snapshot frame.
func AppendSnapshot(b []byte, actor, actorID string, state json.RawMessage) []byte {
	b = appendHead(b, TypeStateSnapshot, actor, actorID)
	b = append(b, `,"state":`...)
	b = appendRaw(b, state)
	return append(b, '}')
}

// AppendPatch appends a state:patch frame; patches is a JSON array of RFC
// 6902 operations.
func AppendPatch(b []byte, actor, actorID string, patches json.RawMessage) []byte {
	b = appendHead(b, TypeStatePatch, actor, actorID)
	b = append(b, `,"patches":`...)
	if patches == nil {
		patches = json.RawMessage("[]")
	}
	b = append(b, patches...)
	return append(b, '}')
}

// AppendRPC appends an rpc frame; a nil input is left out.
func AppendRPC(b []byte, id, actor, actorID, method string, input json.RawMessage) []byte {
	b = append(b, `{"type":"rpc","id":`...)
	b = AppendString(b, id)
	b = append(b, `,"actor":`...)
	b = AppendString(b, actor)
	b = append(b, `,"actorId":`...)
	b = AppendString(b, actorID)
	b = append(b, `,"method":`...)
	b = AppendString(b, method)
	if input != nil {
		b = append(b, `,"input":`...)
		b = append(b, input...)
	}
	return append(b, '}')
}

// AppendSubscription appends an event:sub, event:unsub, state:sub or
// state:unsub frame (typ is one of those types).
func AppendSubscription(b []byte, typ, actor, actorID string) []byte {
	return append(appendHeadID(b, typ, "", actor, actorID), '}')
}

// appendSubscriptionID is AppendSubscription with an optional id (a sub
// frame's, for its sub:error to name).
func appendSubscriptionID(b []byte, typ, id, actor, actorID string) []byte {
	return append(appendHeadID(b, typ, id, actor, actorID), '}')
}

// AppendSubError appends a sub:error: the server refused the subscription
// refused (TypeStateSub or TypeEventSub) to actor/actorID, for msg; id is
// the sub frame's id, left out when empty.
func AppendSubError(b []byte, id, actor, actorID, refused, msg string) []byte {
	b = appendHeadID(b, TypeSubError, id, actor, actorID)
	b = append(b, `,"refused":`...)
	b = AppendString(b, refused)
	b = append(b, `,"error":`...)
	b = AppendString(b, msg)
	return append(b, '}')
}

// appendHeadID is appendHead and, when id is not empty, an "id" member.
func appendHeadID(b []byte, typ, id, actor, actorID string) []byte {
	b = appendHead(b, typ, actor, actorID)
	if id != "" {
		b = append(b, `,"id":`...)
		b = AppendString(b, id)
	}
	return b
}

// encode encodes any frame by its Type, writing exactly the fields that type
// defines. An unknown type is encoded with every non-empty field.
func encode(f Frame) []byte {
	switch f.Type {
	case TypeWelcome:
		return AppendWelcome(nil, f.ClientID)
	case TypeRPCResult:
		if f.HasError || f.Error != "" {
			return AppendRPCError(nil, f.ID, f.Error)
		}
		return AppendRPCResult(nil, f.ID, f.Result)
	case TypeEvent:
		return AppendEvent(nil, f.Actor, f.ActorID, f.Event, f.Payload)
	case TypeStateSnapshot:
		return AppendSnapshot(nil, f.Actor, f.ActorID, f.State)
	case TypeStatePatch:
		return AppendPatch(nil, f.Actor, f.ActorID, f.Patches)
	case TypeRPC:
		return AppendRPC(nil, f.ID, f.Actor, f.ActorID, f.Method, f.Input)
	case TypeEventSub, TypeEventUnsub, TypeStateSub, TypeStateUnsub:
		return appendSubscriptionID(nil, f.Type, f.ID, f.Actor, f.ActorID)
	case TypeSubError:
		return AppendSubError(nil, f.ID, f.Actor, f.ActorID, f.Refused, f.Error)
	}
	b, err := json.Marshal(f)
	if err != nil { // only raw fields holding invalid JSON get here
		return AppendRPCError(nil, f.ID, "encode: "+err.Error())
	}
	return b
}

func appendHead(b []byte, typ, actor, actorID string) []byte {
	b = append(b, `{"type":`...)
	b = AppendString(b, typ)
	b = append(b, `,"actor":`...)
	b = AppendString(b, actor)
	b = append(b, `,"actorId":`...)
	return AppendString(b, actorID)
}

func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so the output is always valid JSON.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript source.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
