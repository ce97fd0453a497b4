package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors wrapped by *DecodeError; match them with errors.Is. A
// *DecodeError also matches ErrInvalidFrame, which begins its text.
var (
	ErrMalformed    = errors.New("malformed frame")
	ErrUnknownType  = errors.New("unknown frame type")
	ErrMissingField = errors.New("missing field")
	ErrFieldType    = errors.New("wrong field type")
	ErrTooDeep      = errors.New("frame nested too deeply")
	ErrTooLong      = errors.New("field too long")
	// ErrInvalidUTF8 refuses an id (actor, actorId, method, rpc id, event
	// name, client id) holding bytes that are not UTF-8 or a \u escape of a
	// lone surrogate. encoding/json would replace either with U+FFFD, so
	// different byte strings would name one instance.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
)

// DecodeError describes why a frame was refused. ID is the frame's "id" when
// it could be read, so that a server can answer an rpc with an rpc:result.
// It is read even from frames that are not valid JSON or nest too deeply,
// as long as the frame object's "id" comes before the damage.
type DecodeError struct {
	ID     string // rpc id, "" when absent, unreadable or unusable (see BadID)
	Type   string // frame type, "" when absent or unreadable
	Field  string // offending field, if any
	Err    error  // one of the sentinels above
	Detail string // extra human-readable detail; it never quotes an id
	// BadID reports that the frame's "id" is a string that must not be
	// echoed: longer than MaxIDLength, or not valid UTF-8. ID is then "",
	// and a server answers with an rpc:result whose id is "" (see
	// Answerable): the client learns why, and no server writes back
	// kilobytes or bytes it refused.
	BadID bool
}

// Answerable reports whether a server should answer the refused frame
// with an rpc:result carrying ID (AppendRPCError(nil, e.ID, e.Error())):
// when its "id" was read, or when it had one that cannot be echoed, which
// is answered with an empty id.
func (e *DecodeError) Answerable() bool { return e.ID != "" || e.BadID }

func (e *DecodeError) Error() string {
	msg := ErrInvalidFrame.Error() + ": " + e.Err.Error()
	if e.Field != "" {
		msg += fmt.Sprintf(" %q", e.Field)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidFrame) true.
func (e *DecodeError) Is(target error) bool { return target == ErrInvalidFrame }

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
	Refused  json.RawMessage `json:"refused"`
}

// Decode parses one frame of either direction and checks that it has a known
// type and the fields that type requires, with the right JSON types. Ids
// must be valid UTF-8 (ErrInvalidUTF8); the ids a client sends (actor,
// actorId, method and the rpc id) at most MaxIDLength bytes (ErrTooLong).
// Raw values in the returned Frame alias data. Errors are *DecodeError.
func Decode(data []byte) (Frame, error) {
	f, _, err := decode(data)
	if err == nil && !keepsID(f.Type) {
		f.ID = ""
	}
	return f, err
}

// decode is Decode keeping any string "id". badID reports an "id" that the
// frame's type has no use for and that could not be kept (see
// DecodeError.BadID); the frame is still valid.
func decode(data []byte) (f Frame, badID bool, err error) {
	if f, ok := decodeFast(data); ok {
		return f, false, nil
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
	// A longer id is refused on an rpc and dropped elsewhere, by
	// decodeChecked.
	if !ok || len(str[kID]) > MaxIDLength {
		return Frame{}, false
	}
	f.ID = str[kID]
	return f, true
}

// hasID reports whether frames of type t carry an "id". Other frames may
// hold one; it is read, so that errors can name it, but Decode does not
// keep it: Encode would not write it back.
func hasID(t string) bool { return t == TypeRPC || t == TypeRPCResult }

// keepsID reports whether Decode keeps the "id" of a frame of type t: the
// frames that need one, and those that may carry one to be named by an
// answer (a state:sub or event:sub, answered by a sub:error). An optional
// id that is not usable (too long, not UTF-8) is dropped, not refused.
func keepsID(t string) bool {
	switch t {
	case TypeRPC, TypeRPCResult, TypeStateSub, TypeEventSub, TypeSubError:
		return true
	}
	return false
}

// fitsID is what decodeChecked requires of an id beyond valid UTF-8, which
// the strings decodeStrings returns always are (unquote refuses the rest).
func fitsID(s string) bool {
	return s != "" && len(s) <= MaxIDLength
}

// decodeChecked decodes field by field so that every problem is reported
// by name, with the frame's id when it is readable. badID is as for decode.
func decodeChecked(data []byte) (_ Frame, badID bool, _ error) {
	var f Frame
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return f, false, &DecodeError{Err: ErrMalformed, Detail: "not a JSON object"}
	}
	// Depth first: it costs one scan, and encoding/json refuses input
	// nested over 10,000 deep without a word about the id. Frames that are
	// too deep or not JSON get the id a scan of the frame object finds.
	if err := checkDepth(data); err != nil {
		return Frame{}, false, withScannedID(err, data)
	}
	var w wireFrame
	if err := json.Unmarshal(data, &w); err != nil {
		return f, false, withScannedID(&DecodeError{Err: ErrMalformed, Detail: err.Error()}, data)
	}
	d := decoder{w: &w}
	// Read the id first so that every later error can carry it. Only rpc
	// frames need one; elsewhere an id that is not a string is ignored.
	var idErr *DecodeError
	if len(w.ID) > 0 && w.ID[0] == '"' {
		f.ID, idErr = readID(w.ID)
	}
	// fail completes an error with what is known of the frame.
	fail := func(err *DecodeError) (Frame, bool, error) {
		err.ID, err.BadID, err.Type = f.ID, idErr != nil, f.Type
		return Frame{}, false, err
	}
	if w.Type == nil || isNull(w.Type) {
		return fail(&DecodeError{Err: ErrMissingField, Field: "type"})
	}
	f.Type = d.str("type", w.Type, true)
	if d.err != nil {
		return fail(d.err)
	}
	if idErr != nil && hasID(f.Type) {
		return fail(idErr)
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
		f.ClientID = d.name("clientId", w.ClientID)
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
		f.Actor = d.name("actor", w.Actor)
		f.ActorID = d.name("actorId", w.ActorID)
		f.Event = d.name("event", w.Event)
		f.Payload = w.Payload
	case TypeStateSnapshot:
		f.Actor = d.name("actor", w.Actor)
		f.ActorID = d.name("actorId", w.ActorID)
		d.required("state", w.State)
		f.State = w.State
	case TypeStatePatch:
		f.Actor = d.name("actor", w.Actor)
		f.ActorID = d.name("actorId", w.ActorID)
		d.required("patches", w.Patches)
		if d.err == nil && (len(w.Patches) == 0 || w.Patches[0] != '[') {
			d.fail("patches", ErrFieldType, "must be an array")
		}
		f.Patches = w.Patches
	case TypeSubError:
		f.Actor = d.name("actor", w.Actor)
		f.ActorID = d.name("actorId", w.ActorID)
		f.Refused = d.str("refused", w.Refused, true)
		if d.err == nil && f.Refused != TypeStateSub && f.Refused != TypeEventSub {
			d.fail("refused", ErrFieldType, "must be state:sub or event:sub")
		}
		f.Error = d.str("error", w.Error, true)
	default:
		return fail(&DecodeError{Err: ErrUnknownType, Detail: fmt.Sprintf("%q", truncate(f.Type))})
	}
	if d.err != nil {
		return fail(d.err)
	}
	return f, idErr != nil, nil
}

// readID decodes the raw JSON string of an "id". It returns the error that
// stops it from being echoed, with BadID set, when it is longer than
// MaxIDLength or not valid UTF-8.
func readID(raw []byte) (string, *DecodeError) {
	s, ok := strictString(raw)
	switch {
	case !ok:
		return "", &DecodeError{Field: "id", Err: ErrInvalidUTF8, Detail: invalidUTF8Detail, BadID: true}
	case len(s) > MaxIDLength:
		return "", &DecodeError{Field: "id", Err: ErrTooLong, BadID: true,
			Detail: fmt.Sprintf("%d bytes, limit %d", len(s), MaxIDLength)}
	}
	return s, nil
}

const invalidUTF8Detail = "bytes that are not UTF-8, or an escaped lone surrogate"

// strictString decodes a JSON string value that encoding/json has
// accepted, reporting false where encoding/json would have replaced
// something with U+FFFD.
func strictString(raw []byte) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw) - 2)
	if !unquote(&b, raw[1:len(raw)-1]) {
		return "", false
	}
	return b.String(), true
}

// withScannedID completes err, the error of a frame that encoding/json
// cannot read, with the id scanID finds, so that an rpc still gets its
// answer.
func withScannedID(err error, data []byte) error {
	de := err.(*DecodeError)
	if raw := scanID(data); raw != nil {
		var idErr *DecodeError
		de.ID, idErr = readID(raw)
		de.BadID = idErr != nil
	}
	return de
}

// DecodeClient is Decode restricted to the frames a client may send.
// A server frame sent by a client is refused with its id, if it has one, so
// that the client hears why.
func DecodeClient(data []byte) (Frame, error) {
	f, badID, err := decode(data)
	if err != nil {
		return f, err
	}
	if !IsClientType(f.Type) {
		return Frame{}, &DecodeError{ID: f.ID, BadID: badID, Type: f.Type, Err: ErrUnknownType,
			Detail: fmt.Sprintf("%q is not a client frame", f.Type)}
	}
	if !keepsID(f.Type) {
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

// str reads a JSON string field that is not an id. Absent or null is "" (an
// error if required); invalid UTF-8 becomes U+FFFD, as encoding/json does.
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

// name reads a required string field that names something (an actor, an
// instance, a method, an event, a client): it must be valid UTF-8.
func (d *decoder) name(field string, raw json.RawMessage) string {
	d.str(field, raw, true) // the missing and wrong type errors
	if d.err != nil {
		return ""
	}
	s, ok := strictString(raw)
	if !ok {
		d.fail(field, ErrInvalidUTF8, invalidUTF8Detail)
	}
	return s
}

// id reads a required id of a client frame: valid UTF-8, not empty, at
// most MaxIDLength bytes.
func (d *decoder) id(field string, raw json.RawMessage) string {
	s := d.name(field, raw)
	switch {
	case d.err != nil:
	case s == "":
		d.fail(field, ErrMissingField, "must not be empty")
	case len(s) > MaxIDLength:
		d.fail(field, ErrTooLong, fmt.Sprintf("%d bytes, limit %d", len(s), MaxIDLength))
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
