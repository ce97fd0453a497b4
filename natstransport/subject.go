package natstransport

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/zocket-go/zocket/protocol"
)

// Stream names, subject prefixes and other names of the NATS fabric (SPEC
// section 4).
const (
	InboundStream  = "INBOUND"
	OutboundStream = "OUTBOUND"

	InboundPrefix             = "inbound"
	OutboundPrefix            = "outbound"
	SessionConnectedPrefix    = "session.connected"
	SessionDisconnectedPrefix = "session.disconnected"
	RuntimeReadyPrefix        = "runtime.ready"
	DurablePrefix             = "rt"

	// LeaseBucket is the JetStream key-value bucket (stream
	// KV_RUNTIME_LEASES) in which the runtime serving a (workspace,
	// project) holds its lease, under LeaseKey: a second runtime for the
	// same scope waits as a standby instead of consuming beside the first.
	LeaseBucket = "RUNTIME_LEASES"

	// MaxTokenLength is the longest identifier, in bytes before escaping,
	// that may go into a subject or durable name; it equals
	// protocol.MaxIDLength. With four tokens at the limit, all escaped, an
	// inbound subject is about 3,100 bytes, which keeps a PUB protocol line
	// with its reply subject under nats-server's default max_control_line
	// of 4,096 bytes.
	MaxTokenLength = protocol.MaxIDLength

	// MaxDurableNameLength is nats-server's limit on consumer names.
	MaxDurableNameLength = 255
)

// Scope is the (workspace, project) that owns actors and sessions.
type Scope struct {
	WorkspaceID string `json:"workspaceId"`
	ProjectID   string `json:"projectId"`
}

// Validate reports whether both ids can go into subjects.
func (s Scope) Validate() error {
	if err := checkToken("workspace id", s.WorkspaceID); err != nil {
		return err
	}
	return checkToken("project id", s.ProjectID)
}

// The token encoding. ASCII letters, digits and "-_@+=" stand for
// themselves; every other byte, including '%' itself, '.', '*', '>',
// whitespace, control characters, '/', '\\', ':' and each byte of a
// non-ASCII character, becomes '%' and two upper-case hex digits. It works
// on bytes, so invalid UTF-8 round-trips too. Because the escape byte is
// itself escaped and every escape has a fixed width, two different ids never
// share a token; decodeToken inverts it and rejects any other spelling.
const escapeByte = '%'

const upperHex = "0123456789ABCDEF"

// safe[c] reports whether byte c stands for itself in a token.
var safe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_@+=" {
		t[c] = true
	}
	return t
}()

// EncodeToken returns id encoded as one subject token (see the package
// documentation for the scheme). It returns ErrInvalidToken for an empty id
// or one longer than MaxTokenLength bytes.
func EncodeToken(id string) (string, error) {
	if err := checkToken("id", id); err != nil {
		return "", err
	}
	if n := encodedLen(id); n != len(id) {
		return string(appendToken(make([]byte, 0, n), id)), nil
	}
	return id, nil
}

// decodeToken inverts EncodeToken. It returns ErrInvalidToken for a string
// EncodeToken never produces: empty, with a byte that should have been
// escaped, or with a malformed or needless escape.
func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", fmt.Errorf("%w: empty token", ErrInvalidToken)
	}
	if strings.IndexByte(tok, escapeByte) < 0 {
		for i := 0; i < len(tok); i++ {
			if !safe[tok[i]] {
				return "", fmt.Errorf("%w: token %s has unescaped byte %q", ErrInvalidToken, quote(tok), tok[i])
			}
		}
		if len(tok) > MaxTokenLength { // no id that long encodes to it
			return "", fmt.Errorf("%w: token %s decodes to %d bytes, limit %d", ErrInvalidToken, quote(tok), len(tok), MaxTokenLength)
		}
		return tok, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case safe[c]:
			b = append(b, c)
		case c == escapeByte:
			if i+2 >= len(tok) {
				return "", fmt.Errorf("%w: token %s ends in a short escape", ErrInvalidToken, quote(tok))
			}
			hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: token %s has a malformed escape", ErrInvalidToken, quote(tok))
			}
			v := byte(hi<<4 | lo)
			if safe[v] {
				return "", fmt.Errorf("%w: token %s escapes %q, which needs no escape", ErrInvalidToken, quote(tok), v)
			}
			b = append(b, v)
			i += 2
		default:
			return "", fmt.Errorf("%w: token %s has unescaped byte %q", ErrInvalidToken, quote(tok), c)
		}
	}
	if len(b) > MaxTokenLength {
		return "", fmt.Errorf("%w: token %s decodes to %d bytes, limit %d", ErrInvalidToken, quote(tok), len(b), MaxTokenLength)
	}
	return string(b), nil
}

// unhex returns the value of an upper-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// checkToken validates an id before encoding; field names it in errors.
func checkToken(field, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidToken, field)
	case len(id) > MaxTokenLength:
		return fmt.Errorf("%w: %s %s is %d bytes, limit %d", ErrInvalidToken, field, quote(id), len(id), MaxTokenLength)
	}
	return nil
}

// quote quotes s for an error message, shortened to 40 bytes.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

func encodedLen(id string) int {
	n := len(id)
	for i := 0; i < len(id); i++ {
		if !safe[id[i]] {
			n += 2
		}
	}
	return n
}

func appendToken(b []byte, id string) []byte {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if safe[c] {
			b = append(b, c)
			continue
		}
		b = append(b, escapeByte, upperHex[c>>4], upperHex[c&0xF])
	}
	return b
}

// field is one named identifier of a subject.
type field struct{ name, id string }

// build joins prefix and the encoded fields with dots, then suffix. It
// allocates once.
func build(prefix string, suffix string, fields ...field) (string, error) {
	for _, f := range fields {
		if err := checkToken(f.name, f.id); err != nil {
			return "", err
		}
	}
	// Assembled on the stack when it fits, and copied once into the
	// string: subjects are built for every message.
	b := make([]byte, 0, 128)
	b = append(b, prefix...)
	for _, f := range fields {
		b = append(b, '.')
		b = appendToken(b, f.id)
	}
	b = append(b, suffix...)
	return string(b), nil
}

// InboundSubject returns inbound.{ws}.{proj}.{actorType}.{actorId}, the
// subject a gateway publishes a client frame for that actor on. Every token
// is encoded; an empty or too long id gives ErrInvalidToken.
func InboundSubject(scope Scope, actorType, actorID string) (string, error) {
	return build(InboundPrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID},
		field{"actor type", actorType}, field{"actor id", actorID})
}

// InboundFilter returns inbound.{ws}.{proj}.{actorType}.>, the filter of
// the runtime consumer for actorType.
func InboundFilter(scope Scope, actorType string) (string, error) {
	return build(InboundPrefix, ".>",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID},
		field{"actor type", actorType})
}

// parseInboundSubject inverts InboundSubject.
func parseInboundSubject(subject string) (scope Scope, actorType, actorID string, err error) {
	toks, err := parse(subject, InboundPrefix, 4)
	if err != nil {
		return Scope{}, "", "", err
	}
	return Scope{WorkspaceID: toks[0], ProjectID: toks[1]}, toks[2], toks[3], nil
}

// OutboundSubject returns outbound.{ws}.{proj}.{sessionId}, the subject
// runtimes publish a session's server frames on.
func OutboundSubject(scope Scope, sessionID string) (string, error) {
	return build(OutboundPrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID},
		field{"session id", sessionID})
}

// parseOutboundSubject inverts OutboundSubject.
func parseOutboundSubject(subject string) (scope Scope, sessionID string, err error) {
	toks, err := parse(subject, OutboundPrefix, 3)
	if err != nil {
		return Scope{}, "", err
	}
	return Scope{WorkspaceID: toks[0], ProjectID: toks[1]}, toks[2], nil
}

// SessionConnectedSubject returns session.connected.{ws}.{proj}, the core
// NATS subject of session-open notices.
func SessionConnectedSubject(scope Scope) (string, error) {
	return build(SessionConnectedPrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID})
}

// SessionDisconnectedSubject returns session.disconnected.{ws}.{proj}, the
// core NATS subject of session-close notices.
func SessionDisconnectedSubject(scope Scope) (string, error) {
	return build(SessionDisconnectedPrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID})
}

// RuntimeReadySubject returns runtime.ready.{ws}.{proj}, the core NATS
// subject on which a runtime announces that it booted. Subscriptions live in
// the runtime's memory, so gateways send their sessions' subscriptions again
// when they hear it, instead of leaving the sessions waiting for patches and
// events that never come.
func RuntimeReadySubject(scope Scope) (string, error) {
	return build(RuntimeReadyPrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID})
}

// ParseRuntimeReadySubject returns the scope of a runtime.ready subject.
func ParseRuntimeReadySubject(subject string) (Scope, error) {
	toks, err := parse(subject, RuntimeReadyPrefix, 2)
	if err != nil {
		return Scope{}, err
	}
	return Scope{WorkspaceID: toks[0], ProjectID: toks[1]}, nil
}

// parseInboundFilter inverts InboundFilter: it returns the scope and actor
// type whose runtime consumer filter is filter.
func parseInboundFilter(filter string) (scope Scope, actorType string, err error) {
	rest, ok := strings.CutSuffix(filter, ".>")
	if !ok {
		return Scope{}, "", fmt.Errorf("%w: filter %s does not end in \".>\"", ErrInvalidToken, quote(filter))
	}
	toks, err := parse(rest, InboundPrefix, 3)
	if err != nil {
		return Scope{}, "", err
	}
	return Scope{WorkspaceID: toks[0], ProjectID: toks[1]}, toks[2], nil
}

// The lease key encoding. Key-value keys allow fewer bytes than subjects
// ('@', '+' and '%' are refused), so LeaseKey escapes differently from
// EncodeToken: ASCII letters, digits, '-' and '_' stand for themselves and
// every other byte, '=' included, becomes '=' and two upper-case hex
// digits. As with EncodeToken, the escape byte is itself escaped and every
// escape has a fixed width, so the encoding is injective; the two tokens
// are joined by '.', which the encoding never produces.
const leaseEscape = '='

func leaseSafe(c byte) bool {
	return c == '-' || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func appendLeaseToken(b []byte, id string) []byte {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if leaseSafe(c) {
			b = append(b, c)
			continue
		}
		b = append(b, leaseEscape, upperHex[c>>4], upperHex[c&0xF])
	}
	return b
}

// LeaseKey returns {ws}.{proj}, the key of scope's runtime lease in
// LeaseBucket, each id escaped for key-value keys (letters, digits, '-' and
// '_' stay, any other byte becomes =XX). Two scopes never share a key. It returns ErrInvalidToken for unusable ids.
func LeaseKey(scope Scope) (string, error) {
	if err := scope.Validate(); err != nil {
		return "", err
	}
	b := make([]byte, 0, 3*(len(scope.WorkspaceID)+len(scope.ProjectID))+1)
	b = appendLeaseToken(b, scope.WorkspaceID)
	b = append(b, '.')
	b = appendLeaseToken(b, scope.ProjectID)
	return string(b), nil
}

// parseLeaseKey inverts LeaseKey. It rejects every spelling LeaseKey never
// produces, so a key names exactly one scope.
func parseLeaseKey(key string) (Scope, error) {
	parts := strings.Split(key, ".")
	if len(parts) != 2 {
		return Scope{}, fmt.Errorf("%w: lease key %s has %d tokens, want 2", ErrInvalidToken, quote(key), len(parts))
	}
	for i, p := range parts {
		if p == "" {
			return Scope{}, fmt.Errorf("%w: lease key %s has an empty token", ErrInvalidToken, quote(key))
		}
		b := make([]byte, 0, len(p))
		for j := 0; j < len(p); j++ {
			c := p[j]
			switch {
			case leaseSafe(c):
				b = append(b, c)
			case c == leaseEscape && j+2 < len(p):
				hi, lo := unhex(p[j+1]), unhex(p[j+2])
				if hi < 0 || lo < 0 || leaseSafe(byte(hi<<4|lo)) {
					return Scope{}, fmt.Errorf("%w: lease key %s has a malformed or needless escape", ErrInvalidToken, quote(key))
				}
				b = append(b, byte(hi<<4|lo))
				j += 2
			default:
				return Scope{}, fmt.Errorf("%w: lease key %s has unescaped byte %q", ErrInvalidToken, quote(key), c)
			}
		}
		parts[i] = string(b)
	}
	scope := Scope{WorkspaceID: parts[0], ProjectID: parts[1]}
	if err := scope.Validate(); err != nil {
		return Scope{}, err
	}
	return scope, nil
}

// parse splits subject after prefix into n decoded tokens.
func parse(subject, prefix string, n int) ([]string, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return nil, fmt.Errorf("%w: subject %s does not start with %q", ErrInvalidToken, quote(subject), prefix+".")
	}
	parts := strings.Split(rest, ".")
	if len(parts) != n {
		return nil, fmt.Errorf("%w: subject %s has %d tokens after %q, want %d", ErrInvalidToken, quote(subject), len(parts), prefix, n)
	}
	for i, p := range parts {
		id, err := decodeToken(p)
		if err != nil {
			return nil, err
		}
		parts[i] = id
	}
	return parts, nil
}

// DurableName returns rt-{ws}-{proj}-{actorType}, the durable name of the
// runtime consumer for actorType, with each id encoded as in EncodeToken.
//
// The encoding leaves '-' alone so that names read as the seed shows them
// (rt-local-workspace-local-project-chat), and the wire spec fixes the
// format. As a consequence, ids that contain '-' can spell the same name
// for two different triples (ws "a-b", proj "c" and ws "a", proj "b-c");
// their filter subjects still differ, and the filter, not the name, is
// what identifies the consumer's scope: EnsureConsumer refuses to re-point
// an existing durable to another filter (a *DurableClashError naming the
// scope that holds it), so the second runtime fails at boot, and a gateway
// that finds the durable checks its filter before it counts the actor type
// as served.
//
// A name longer than MaxDurableNameLength (possible only with long,
// heavily escaped ids) is cut to a prefix and given the suffix "%h"
// followed by 32 hex digits of the SHA-256 of the length-prefixed triple.
// "%h" never occurs in an unshortened name (escapes are '%' and two
// upper-case hex digits), so shortened and plain names never meet, and two
// shortened names meet only if 128 bits of SHA-256 collide.
func DurableName(scope Scope, actorType string) (string, error) {
	name, err := build(DurablePrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID},
		field{"actor type", actorType})
	if err != nil {
		return "", err
	}
	name = strings.ReplaceAll(name, ".", "-") // tokens never contain '.'
	if len(name) <= MaxDurableNameLength {
		return name, nil
	}
	h := sha256.New()
	for _, id := range []string{scope.WorkspaceID, scope.ProjectID, actorType} {
		h.Write(binary.AppendUvarint(nil, uint64(len(id))))
		h.Write([]byte(id))
	}
	suffix := "%h" + hex.EncodeToString(h.Sum(nil)[:16])
	cut := MaxDurableNameLength - len(suffix)
	// Do not cut inside an escape: a '%' in the last two kept bytes starts
	// one that would be split.
	if i := strings.LastIndexByte(name[cut-2:cut], escapeByte); i >= 0 {
		cut = cut - 2 + i
	}
	return name[:cut] + suffix, nil
}

// IsInboundSubject reports whether subject is InboundSubject(scope,
// actorType, actorID), without building it: a runtime checks every inbound
// message's subject against the frame it carries.
func IsInboundSubject(subject string, scope Scope, actorType, actorID string) bool {
	fields := [...]string{scope.WorkspaceID, scope.ProjectID, actorType, actorID}
	rest, ok := strings.CutPrefix(subject, InboundPrefix)
	if !ok {
		return false
	}
	var buf [MaxTokenLength * 3]byte
	for _, id := range fields {
		if checkToken("", id) != nil || len(rest) == 0 || rest[0] != '.' {
			return false
		}
		tok := appendToken(buf[:0], id)
		if len(rest) < 1+len(tok) || rest[1:1+len(tok)] != string(tok) {
			return false
		}
		rest = rest[1+len(tok):]
	}
	return rest == ""
}
