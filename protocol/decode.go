package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors wrapped by *DecodeError; match them with errors.Is.
var (
	ErrMalformed    = errors.New("malformed frame")
	ErrUnknownType  = errors.New("unknown frame type")
	ErrMissingField = errors.New("missing field")
	ErrFieldType    = errors.New("wrong field type")
	ErrTooDeep      = errors.New("frame nested too deeply")
	ErrTooLong      = errors.New("field too long")
)

// DecodeError describes why a frame was refused. ID is the frame's "id" when
// it could be read, so that a server can answer an rpc with an rpc:result.
type DecodeError struct {
	ID     string // rpc id, "" when absent or unreadable
	Type   string // frame type, "" when absent or unreadable
	Field  string // offending field, if any
	Err    error  // one of the sentinels above
	Detail string // extra human-readable detail
}

func (e *DecodeError) Error() string {
	msg := "invalid frame: " + e.Err.Error()
	if e.Field != "" {
		msg += fmt.Sprintf(" %q", e.Field)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *DecodeError) Unwrap() error { return e.Err }

// wireFrame mirrors Frame with every field raw, so that a field of the wrong
// JSON type is reported by name instead of aborting the whole decode.
type wireFrame struct {
	Type     json.RawMessage `json:"type"`
	ID       json.RawMessage `json:"id"`
	Actor    json.RawMessage `json:"actor"`
	ActorID  json.RawMessage `json:"actorId"`
	Method   json.RawMessage `json:"method"`
	Input    json.RawMessage `json:"input"`
	ClientID json.RawMessage `json:"clientId"`
	Result   json.RawMessage `json:"result"`
	Error    json.RawMessage `json:"error"`
	Event    json.RawMessage `json:"event"`
	Payload  json.RawMessage `json:"payload"`
	State    json.RawMessage `json:"state"`
	Patches  json.RawMessage `json:"patches"`
}

// Decode parses one frame of either direction and checks that it has a known
// type and the fields that type requires, with the right JSON types. Raw
// values in the returned Frame alias data. Errors are *DecodeError.
func Decode(data []byte) (Frame, error) {
	f, err := decode(data)
	if err == nil && !hasID(f.Type) {
		f.ID = ""
	}
	return f, err
}

// decode is Decode keeping any string "id".
func decode(data []byte) (Frame, error) {
	if f, ok := decodeFast(data); ok {
		return f, nil
	}
	return decodeChecked(data)
}

// decodeFast handles the common case, a valid frame, in a single pass over
// data without reflection (see scan.go), allocating once for all of the
// frame's strings. It reports false for anything unusual, and decodeChecked
// then gives the precise error or, for rare valid input, the frame; when it
// reports true, the frame is the one decodeChecked would return. Where it
// is stricter than decodeChecked (an empty actor, actorId or event on a
// server frame, an "id" of another JSON type than string on a frame that
// ignores it), the frame takes the slow path.
func decodeFast(data []byte) (Frame, bool) {
	var s frameScan
	if !s.scan(data) {
		return Frame{}, false
	}
	f := Frame{Type: frameType(s.vals[kType])}
	v, str := &s.vals, &s.str
	ok := true
	// decodeChecked reads "id" for every type; the other fields only for the
	// types that have them.
	switch f.Type {
	case TypeRPC:
		ok = s.decodeStrings(kID, kActor, kActorID, kMethod)
		f.Actor, f.ActorID, f.Method, f.Input = str[kActor], str[kActorID], str[kMethod], v[kInput]
		ok = ok && str[kID] != "" && fitsID(f.Actor) && fitsID(f.ActorID) && fitsID(f.Method)
	case TypeEventSub, TypeEventUnsub, TypeStateSub, TypeStateUnsub:
		ok = s.decodeStrings(kID, kActor, kActorID)
		f.Actor, f.ActorID = str[kActor], str[kActorID]
		ok = ok && fitsID(f.Actor) && fitsID(f.ActorID)
	case TypeWelcome:
		ok = s.decodeStrings(kID, kClientID)
		f.ClientID = str[kClientID]
		ok = ok && f.ClientID != ""
	case TypeRPCResult:
		ok = s.decodeStrings(kID, kError) && str[kID] != ""
		if e := v[kError]; e != nil && e[0] == '"' {
			f.Error, f.HasError = str[kError], true
		} else if f.Result = v[kResult]; f.Result == nil {
			f.Result = json.RawMessage("null")
		}
	case TypeEvent:
		ok = s.decodeStrings(kID, kActor, kActorID, kEvent)
		f.Actor, f.ActorID, f.Event, f.Payload = str[kActor], str[kActorID], str[kEvent], v[kPayload]
		ok = ok && f.Actor != "" && f.ActorID != "" && f.Event != ""
	case TypeStateSnapshot:
		ok = s.decodeStrings(kID, kActor, kActorID)
		f.Actor, f.ActorID, f.State = str[kActor], str[kActorID], v[kState]
		ok = ok && f.Actor != "" && f.ActorID != "" && f.State != nil && !isNull(f.State)
	case TypeStatePatch:
		ok = s.decodeStrings(kID, kActor, kActorID)
		f.Actor, f.ActorID, f.Patches = str[kActor], str[kActorID], v[kPatches]
		ok = ok && f.Actor != "" && f.ActorID != "" && len(f.Patches) > 0 && f.Patches[0] == '['
	default: // absent, not a string, or not a known type
		ok = false
	}
	if !ok {
		return Frame{}, false
	}
	f.ID = str[kID]
	return f, true
}

// hasID reports whether frames of type t carry an "id". Other frames may
// hold one; it is read, so that errors can name it, but Decode does not
// keep it: Encode would not write it back.
func hasID(t string) bool { return t == TypeRPC || t == TypeRPCResult }

// fitsID is what decodeChecked requires of an id beyond valid UTF-8, which
// the strings decodeStrings returns always are.
func fitsID(s string) bool {
	return s != "" && len(s) <= MaxIDLength
}

// decodeChecked decodes field by field so that every problem is reported
// by name, with the frame's id when it is readable.
func decodeChecked(data []byte) (Frame, error) {
	var f Frame
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return f, &DecodeError{Err: ErrMalformed, Detail: "not a JSON object"}
	}
	var w wireFrame
	if err := json.Unmarshal(data, &w); err != nil {
		return f, &DecodeError{Err: ErrMalformed, Detail: err.Error()}
	}
	d := decoder{w: &w}
	// Read the id first so that every later error can carry it. Only rpc
	// frames need one; elsewhere an id that is not a string is ignored.
	if len(w.ID) > 0 && w.ID[0] == '"' {
		if err := json.Unmarshal(w.ID, &f.ID); err != nil {
			return Frame{}, &DecodeError{Err: ErrMalformed, Field: "id", Detail: err.Error()}
		}
	}
	if err := checkDepth(data); err != nil {
		err.(*DecodeError).ID = f.ID
		return Frame{}, err
	}
	if w.Type == nil || isNull(w.Type) {
		return f, &DecodeError{ID: f.ID, Err: ErrMissingField, Field: "type"}
	}
	f.Type = d.str("type", w.Type, true)
	if d.err != nil {
		d.err.ID = f.ID
		return f, d.err
	}
	switch f.Type {
	case TypeRPC:
		d.str("id", w.ID, true)
		f.Actor = d.id("actor", w.Actor)
		f.ActorID = d.id("actorId", w.ActorID)
		f.Method = d.id("method", w.Method)
		f.Input = w.Input
	case TypeEventSub, TypeEventUnsub, TypeStateSub, TypeStateUnsub:
		f.Actor = d.id("actor", w.Actor)
		f.ActorID = d.id("actorId", w.ActorID)
	case TypeWelcome:
		f.ClientID = d.str("clientId", w.ClientID, true)
	case TypeRPCResult:
		d.str("id", w.ID, true)
		if w.Error != nil && !isNull(w.Error) {
			f.HasError = true
			f.Error = d.str("error", w.Error, false)
		} else {
			f.Result = w.Result
			if f.Result == nil {
				f.Result = json.RawMessage("null")
			}
		}
	case TypeEvent:
		f.Actor = d.str("actor", w.Actor, true)
		f.ActorID = d.str("actorId", w.ActorID, true)
		f.Event = d.str("event", w.Event, true)
		f.Payload = w.Payload
	case TypeStateSnapshot:
		f.Actor = d.str("actor", w.Actor, true)
		f.ActorID = d.str("actorId", w.ActorID, true)
		d.required("state", w.State)
		f.State = w.State
	case TypeStatePatch:
		f.Actor = d.str("actor", w.Actor, true)
		f.ActorID = d.str("actorId", w.ActorID, true)
		d.required("patches", w.Patches)
		if d.err == nil && (len(w.Patches) == 0 || w.Patches[0] != '[') {
			d.fail("patches", ErrFieldType, "must be an array")
		}
		f.Patches = w.Patches
	default:
		return f, &DecodeError{ID: f.ID, Type: f.Type, Err: ErrUnknownType, Detail: fmt.Sprintf("%q", truncate(f.Type))}
	}
	if d.err != nil {
		d.err.ID = f.ID
		d.err.Type = f.Type
		return f, d.err
	}
	return f, nil
}

// DecodeClient is Decode restricted to the frames a client may send.
// A server frame sent by a client is refused with its id, if it has one, so
// that the client hears why.
func DecodeClient(data []byte) (Frame, error) {
	f, err := decode(data)
	if err != nil {
		return f, err
	}
	if !IsClientType(f.Type) {
		return Frame{}, &DecodeError{ID: f.ID, Type: f.Type, Err: ErrUnknownType, Detail: fmt.Sprintf("%q is not a client frame", f.Type)}
	}
	if !hasID(f.Type) {
		f.ID = ""
	}
	return f, nil
}

type decoder struct {
	w   *wireFrame
	err *DecodeError
}

func (d *decoder) fail(field string, err error, detail string) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Err: err, Detail: detail}
	}
}

func (d *decoder) required(field string, raw json.RawMessage) {
	if raw == nil || isNull(raw) {
		d.fail(field, ErrMissingField, "")
	}
}

// str reads a JSON string field. Absent or null is "" (an error if required).
func (d *decoder) str(field string, raw json.RawMessage, required bool) string {
	if raw == nil || isNull(raw) {
		if required {
			d.fail(field, ErrMissingField, "")
		}
		return ""
	}
	if raw[0] != '"' {
		d.fail(field, ErrFieldType, "must be a string")
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.fail(field, ErrMalformed, err.Error())
		return ""
	}
	return s
}

// id reads a required, non-empty string of at most MaxIDLength bytes.
func (d *decoder) id(field string, raw json.RawMessage) string {
	s := d.str(field, raw, true)
	if d.err != nil {
		return ""
	}
	switch {
	case s == "":
		d.fail(field, ErrMissingField, "must not be empty")
	case len(s) > MaxIDLength:
		d.fail(field, ErrTooLong, fmt.Sprintf("%d bytes, limit %d", len(s), MaxIDLength))
	case !utf8.ValidString(s):
		d.fail(field, ErrMalformed, "not valid UTF-8")
	}
	return s
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// checkDepth rejects input nested deeper than MaxDepth without building it,
// so hostile input costs one linear scan. It ignores brackets in strings.
func checkDepth(data []byte) error {
	depth := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return &DecodeError{Err: ErrTooDeep, Detail: fmt.Sprintf("limit %d", MaxDepth)}
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
