package natstransport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/zocket-go/zocket/protocol"
)

// InboundEnvelope is the body of a message on an inbound subject: a client
// frame with the session's identity.
type InboundEnvelope struct {
	Scope     Scope  `json:"scope"`
	SessionID string `json:"sessionId"`
	// UserID is nil when the session has no user; it is encoded as null.
	UserID *string `json:"userId"`
	// Claims are the authorization claims; nil is encoded as {}.
	Claims map[string]any `json:"claims"`
	// Message is the client frame, as JSON.
	Message json.RawMessage `json:"message"`
}

// MarshalJSON encodes e with exactly the SPEC field names, claims as an
// object even when nil. It fails when Message is empty or Claims cannot be
// encoded.
func (e InboundEnvelope) MarshalJSON() ([]byte, error) { return AppendInbound(nil, e) }

// AppendInbound appends e encoded as JSON to b, like MarshalJSON.
// e.Message must hold valid JSON; it is copied as is.
func AppendInbound(b []byte, e InboundEnvelope) ([]byte, error) {
	if len(e.Message) == 0 {
		return b, fmt.Errorf("%w: inbound envelope: message is empty", ErrMalformedEnvelope)
	}
	b = appendHead(b, e.Scope, e.SessionID)
	b = append(b, `,"userId":`...)
	b = appendOptString(b, e.UserID)
	b = append(b, `,"claims":`...)
	if len(e.Claims) == 0 {
		b = append(b, "{}"...)
	} else {
		c, err := json.Marshal(e.Claims)
		if err != nil {
			return b, fmt.Errorf("natstransport: encode claims: %w", err)
		}
		b = append(b, c...)
	}
	b = append(b, `,"message":`...)
	b = append(b, e.Message...)
	return append(b, '}'), nil
}

// DecodeInbound decodes and checks an inbound envelope. It returns
// ErrMalformedEnvelope when data is not a JSON object of that shape or
// lacks the scope ids, the session id or the message. Missing or null
// claims decode as an empty map.
func DecodeInbound(data []byte) (InboundEnvelope, error) {
	if e, ok := decodeInboundFast(data); ok {
		return e, nil
	}
	var e InboundEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return InboundEnvelope{}, malformed("inbound", err.Error())
	}
	if err := checkCommon("inbound", e.Scope, e.SessionID); err != nil {
		return InboundEnvelope{}, err
	}
	if isNull(e.Message) {
		return InboundEnvelope{}, malformed("inbound", `missing "message"`)
	}
	if e.Claims == nil {
		e.Claims = map[string]any{}
	}
	return e, nil
}

// OutboundEnvelope is the body of a message on an outbound subject: a
// server frame for one session.
type OutboundEnvelope struct {
	Scope     Scope  `json:"scope"`
	SessionID string `json:"sessionId"`
	// Message is the server frame, as JSON.
	Message json.RawMessage `json:"message"`
}

// MarshalJSON encodes e with exactly the SPEC field names.
func (e OutboundEnvelope) MarshalJSON() ([]byte, error) {
	if len(e.Message) == 0 {
		return nil, fmt.Errorf("%w: outbound envelope: message is empty", ErrMalformedEnvelope)
	}
	return AppendOutbound(nil, e.Scope, e.SessionID, e.Message), nil
}

// AppendOutbound appends an outbound envelope to b without reflection; it
// is the hot path of a runtime, one call per frame sent to a session. msg
// must hold valid JSON and is copied as is; empty means null.
func AppendOutbound(b []byte, scope Scope, sessionID string, msg json.RawMessage) []byte {
	b = appendHead(b, scope, sessionID)
	b = append(b, `,"message":`...)
	if len(msg) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, msg...)
	}
	return append(b, '}')
}

// DecodeOutbound decodes and checks an outbound envelope, returning
// ErrMalformedEnvelope like DecodeInbound. It is on a gateway's hot path:
// envelopes laid out as AppendOutbound writes them are decoded without
// reflection, and then the returned Message shares data's memory.
func DecodeOutbound(data []byte) (OutboundEnvelope, error) {
	if e, ok := decodeOutboundFast(data); ok {
		return e, nil
	}
	var e OutboundEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return OutboundEnvelope{}, malformed("outbound", err.Error())
	}
	if err := checkCommon("outbound", e.Scope, e.SessionID); err != nil {
		return OutboundEnvelope{}, err
	}
	if isNull(e.Message) {
		return OutboundEnvelope{}, malformed("outbound", `missing "message"`)
	}
	return e, nil
}

// SessionConnected is the body of a session.connected notice.
type SessionConnected struct {
	Scope     Scope  `json:"scope"`
	SessionID string `json:"sessionId"`
	// UserID is nil when the session has no user; it is encoded as null.
	UserID *string `json:"userId"`
	// ConnectedAt is in milliseconds since the Unix epoch.
	ConnectedAt int64 `json:"connectedAt"`
}

// decodeSessionConnected decodes and checks a session.connected notice. It
// returns ErrMalformedEnvelope when the scope ids or the session id are
// missing.
func decodeSessionConnected(data []byte) (SessionConnected, error) {
	var e SessionConnected
	if err := json.Unmarshal(data, &e); err != nil {
		return SessionConnected{}, malformed("session.connected", err.Error())
	}
	if err := checkCommon("session.connected", e.Scope, e.SessionID); err != nil {
		return SessionConnected{}, err
	}
	return e, nil
}

// SessionDisconnected is the body of a session.disconnected notice.
type SessionDisconnected struct {
	Scope     Scope  `json:"scope"`
	SessionID string `json:"sessionId"`
	// DisconnectedAt is in milliseconds since the Unix epoch.
	DisconnectedAt int64 `json:"disconnectedAt"`
}

// DecodeSessionDisconnected decodes and checks a session.disconnected
// notice. It returns ErrMalformedEnvelope when the scope ids or the session
// id are missing.
func DecodeSessionDisconnected(data []byte) (SessionDisconnected, error) {
	var e SessionDisconnected
	if err := json.Unmarshal(data, &e); err != nil {
		return SessionDisconnected{}, malformed("session.disconnected", err.Error())
	}
	if err := checkCommon("session.disconnected", e.Scope, e.SessionID); err != nil {
		return SessionDisconnected{}, err
	}
	return e, nil
}

// RuntimeReady is the body of a runtime.ready notice.
type RuntimeReady struct {
	Scope        Scope    `json:"scope"`
	DeploymentID string   `json:"deploymentId"`
	ActorTypes   []string `json:"actorTypes"`
	// ReadyAt is in milliseconds since the Unix epoch.
	ReadyAt int64 `json:"readyAt"`
}

func appendHead(b []byte, scope Scope, sessionID string) []byte {
	b = append(b, `{"scope":{"workspaceId":`...)
	b = protocol.AppendString(b, scope.WorkspaceID)
	b = append(b, `,"projectId":`...)
	b = protocol.AppendString(b, scope.ProjectID)
	b = append(b, `},"sessionId":`...)
	return protocol.AppendString(b, sessionID)
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return protocol.AppendString(b, *s)
}

func checkCommon(kind string, scope Scope, sessionID string) error {
	switch {
	case scope.WorkspaceID == "":
		return malformed(kind, `missing "scope.workspaceId"`)
	case scope.ProjectID == "":
		return malformed(kind, `missing "scope.projectId"`)
	case sessionID == "":
		return malformed(kind, `missing "sessionId"`)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func malformed(kind, detail string) error {
	return fmt.Errorf("%w: %s envelope: %s", ErrMalformedEnvelope, kind, detail)
}

// decodeOutboundFast decodes exactly the layout AppendOutbound writes, with
// strings free of escapes, and reports false for anything else (which the
// general decoder then handles, or rejects).
func decodeOutboundFast(data []byte) (OutboundEnvelope, bool) {
	var e OutboundEnvelope
	rest, ok := cutHead(data, &e.Scope, &e.SessionID)
	if !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"message":`)); !ok {
		return e, false
	}
	if e.Message, ok = cutLastValue(rest); !ok {
		return e, false
	}
	return e, e.Scope.WorkspaceID != "" && e.Scope.ProjectID != "" && e.SessionID != ""
}

// decodeInboundFast decodes exactly the layout AppendInbound writes, with
// strings free of escapes, and reports false for anything else (which the
// general decoder then handles, or rejects). Claims other than {} go
// through encoding/json, which also validates them.
func decodeInboundFast(data []byte) (InboundEnvelope, bool) {
	var e InboundEnvelope
	rest, ok := cutHead(data, &e.Scope, &e.SessionID)
	if !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"userId":`)); !ok {
		return e, false
	}
	if after, isNull := bytes.CutPrefix(rest, []byte("null")); isNull {
		rest = after
	} else {
		var user string
		if user, rest, ok = cutPlainString(rest); !ok {
			return e, false
		}
		e.UserID = &user
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"claims":`)); !ok {
		return e, false
	}
	if after, empty := bytes.CutPrefix(rest, []byte("{}")); empty {
		e.Claims, rest = map[string]any{}, after
	} else {
		end := objectEnd(rest)
		if end < 0 || json.Unmarshal(rest[:end], &e.Claims) != nil || e.Claims == nil {
			return e, false
		}
		rest = rest[end:]
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"message":`)); !ok {
		return e, false
	}
	if e.Message, ok = cutLastValue(rest); !ok {
		return e, false
	}
	return e, e.Scope.WorkspaceID != "" && e.Scope.ProjectID != "" && e.SessionID != ""
}

// cutHead reads the scope and the session id, as appendHead writes them.
func cutHead(data []byte, scope *Scope, sessionID *string) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"scope":{"workspaceId":`))
	if !ok {
		return nil, false
	}
	if scope.WorkspaceID, rest, ok = cutPlainString(rest); !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"projectId":`)); !ok {
		return nil, false
	}
	if scope.ProjectID, rest, ok = cutPlainString(rest); !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`},"sessionId":`)); !ok {
		return nil, false
	}
	*sessionID, rest, ok = cutPlainString(rest)
	return rest, ok
}

// cutLastValue reads the envelope's last value, the message: everything up
// to the closing brace, which must be valid JSON and not null.
func cutLastValue(rest []byte) (json.RawMessage, bool) {
	msg, ok := bytes.CutSuffix(rest, []byte("}"))
	msg = bytes.TrimSpace(msg)
	if !ok || isNull(msg) || !json.Valid(msg) {
		return nil, false
	}
	return msg, true
}

// objectEnd returns the length of the JSON object at the start of b, -1 if
// b does not start with one whose brackets and strings close. It does not
// validate what is inside: the caller decodes the object, which does.
func objectEnd(b []byte) int {
	if len(b) == 0 || b[0] != '{' {
		return -1
	}
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// cutPlainString reads a JSON string at the start of b that has no escapes
// and no control bytes and is valid UTF-8, so its bytes are its value.
func cutPlainString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s := b[1:i]
			if !utf8.Valid(s) {
				return "", nil, false
			}
			return string(s), b[i+1:], true
		case c == '\\' || c < 0x20:
			return "", nil, false
		}
	}
	return "", nil, false
}
