package protocol

// The scanner behind decodeFast: one pass over a frame without reflection.
// Its contract is that whenever decodeFast accepts a frame, the frame is
// exactly what decodeChecked (encoding/json) returns for the same bytes; so
// it accepts what encoding/json accepts (RFC 8259 syntax, and any bytes but
// control characters inside strings, even invalid UTF-8) and refuses,
// leaving the input to decodeChecked, whatever encoding/json would read in a
// way that takes more code to reproduce than it is worth:
//   - a key of the frame object that is not byte-for-byte one of the keys
//     below but might still name a field: one that differs only in case
//     ("Type"), or that has escapes or non-ASCII bytes;
//   - a known key given twice (encoding/json keeps the last);
//   - a string field holding invalid UTF-8 or a \u escape of a lone
//     surrogate (decodeChecked refuses them in ids; encoding/json replaces
//     them with U+FFFD in an error message);
//   - an "id" longer than MaxIDLength (refused on an rpc, dropped elsewhere);
//   - nesting deeper than MaxDepth (decodeChecked's checkDepth error).

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Indexes of the keys of a frame object in frameScan.vals. The string
// fields come first, so that frameScan.str needs only that many entries.
const (
	kID = iota
	kActor
	kActorID
	kMethod
	kClientID
	kError
	kEvent
	numStringKeys

	kType = iota - 1
	kInput
	kResult
	kPayload
	kState
	kPatches
	numKeys
)

var keyNames = [numKeys]string{
	kID: "id", kActor: "actor", kActorID: "actorId", kMethod: "method", kClientID: "clientId",
	kError: "error", kEvent: "event", kType: "type", kInput: "input", kResult: "result",
	kPayload: "payload", kState: "state", kPatches: "patches",
}

var frameTypes = [...]string{
	TypeRPC, TypeEventSub, TypeEventUnsub, TypeStateSub, TypeStateUnsub,
	TypeWelcome, TypeRPCResult, TypeEvent, TypeStateSnapshot, TypeStatePatch,
}

// The bitmask in skipValue has one bit per open container below the frame
// object; this constant fails to compile if MaxDepth outgrows it.
const _ = uint64(1) << (64 - MaxDepth)

// frameScan holds what scan found in a frame object.
type frameScan struct {
	vals [numKeys][]byte       // raw value of each known key; nil when absent
	str  [numStringKeys]string // decoded by decodeStrings
}

// scan checks that data is one valid JSON object, surrounded only by JSON
// whitespace and nested at most MaxDepth deep, and records the raw value of
// each known key. It reports false for anything else and for the inputs
// listed at the top of this file.
func (s *frameScan) scan(data []byte) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	if i = skipSpace(data, i+1); i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		key, next := scanKey(data, i)
		if next < 0 {
			return false
		}
		k := keyIndex(key)
		if k == keyAmbiguous {
			return false
		}
		end := skipValue(data, next)
		if end < 0 {
			return false
		}
		if k >= 0 {
			if s.vals[k] != nil {
				return false // duplicate
			}
			s.vals[k] = data[next:end:end] // appending to it must not overwrite data
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		if data[i] == '}' {
			return skipSpace(data, i+1) == len(data)
		}
		if data[i] != ',' {
			return false
		}
		i = skipSpace(data, i+1)
	}
}

const keyAmbiguous = -2

// keyIndex returns the index of a known key given as the raw bytes between
// its quotes, -1 for a key encoding/json would ignore, or keyAmbiguous.
func keyIndex(key []byte) int {
	switch string(key) { // faster than a loop over keyNames
	case "id":
		return kID
	case "actor":
		return kActor
	case "actorId":
		return kActorID
	case "method":
		return kMethod
	case "clientId":
		return kClientID
	case "error":
		return kError
	case "event":
		return kEvent
	case "type":
		return kType
	case "input":
		return kInput
	case "result":
		return kResult
	case "payload":
		return kPayload
	case "state":
		return kState
	case "patches":
		return kPatches
	}
	if bytes.IndexByte(key, '\\') >= 0 || !isASCII(key) {
		return keyAmbiguous // might unescape or Unicode-fold to a known key
	}
	for _, name := range keyNames {
		if len(key) == len(name) && asciiFoldEqual(key, name) {
			return keyAmbiguous // encoding/json matches keys case-insensitively
		}
	}
	return -1
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiFoldEqual compares a with a name made only of ASCII letters: setting
// bit 0x20 lower-cases a letter and maps no other byte onto a letter.
func asciiFoldEqual(a []byte, name string) bool {
	for i := range a {
		if a[i]|0x20 != name[i]|0x20 {
			return false
		}
	}
	return true
}

// frameType returns the frame type named by the raw value v, or "" if v is
// not a string that is exactly one of the frame types.
func frameType(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	for _, t := range frameTypes {
		if string(v[1:len(v)-1]) == t {
			return t
		}
	}
	return ""
}

// decodeStrings decodes the values of the given string keys into s.str, all
// into one allocation; absent or null is "". It reports false for a value
// that is not a string or that unquote refuses.
func (s *frameScan) decodeStrings(keys ...int) bool {
	n := 0
	for _, k := range keys {
		switch v := s.vals[k]; {
		case v == nil || v[0] == 'n': // absent or null
		case v[0] == '"':
			n += len(v) - 2 // unescaping only shrinks a string
		default:
			return false
		}
	}
	if n == 0 {
		return true
	}
	var b strings.Builder
	b.Grow(n)
	var ends [numStringKeys]int
	for _, k := range keys {
		if v := s.vals[k]; v != nil && v[0] == '"' && !unquote(&b, v[1:len(v)-1]) {
			return false
		}
		ends[k] = b.Len()
	}
	all, start := b.String(), 0
	for _, k := range keys {
		s.str[k], start = all[start:ends[k]], ends[k]
	}
	return true
}

// unquote appends the contents of a JSON string, already checked by
// scanString, to b. It reports false for what encoding/json would replace
// with U+FFFD: invalid UTF-8 and \u escapes of lone surrogates.
func unquote(b *strings.Builder, s []byte) bool {
	for {
		n := bytes.IndexByte(s, '\\')
		if n < 0 {
			n = len(s)
		}
		if !utf8.Valid(s[:n]) {
			return false
		}
		b.Write(s[:n])
		if s = s[n:]; len(s) == 0 {
			return true
		}
		if s[1] != 'u' {
			b.WriteByte(unescape[s[1]])
			s = s[2:]
			continue
		}
		r := hex4(s[2:6])
		s = s[6:]
		if utf16.IsSurrogate(r) {
			// Only a high surrogate escape followed by a low one is a rune.
			if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
				return false
			}
			if r = utf16.DecodeRune(r, hex4(s[2:6])); r == utf8.RuneError {
				return false
			}
			s = s[6:]
		}
		b.WriteRune(r)
	}
}

// unescape maps the byte after a backslash to the byte it stands for, and
// every byte JSON does not allow there to 0.
var unescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 decodes four hex digits, already checked by scanString.
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	return i
}

// scanString returns the index just past the JSON string starting at
// data[i], or -1. Like encoding/json, it accepts any byte but a control
// character inside a string, including invalid UTF-8.
func scanString(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c < ' ':
			return -1
		case c == '\\':
			if i++; i >= len(data) {
				return -1
			}
			if data[i] == 'u' {
				if i+4 >= len(data) || !isHex(data[i+1]) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) {
					return -1
				}
				i += 4
			} else if unescape[data[i]] == 0 {
				return -1
			}
		}
	}
	return -1
}

// scanKey reads an object key at data[i] and the colon after it. It returns
// the raw bytes between the key's quotes and the index of the value after
// the colon, or next < 0.
func scanKey(data []byte, i int) (key []byte, next int) {
	end := scanString(data, i)
	if end < 0 {
		return nil, -1
	}
	j := skipSpace(data, end)
	if j >= len(data) || data[j] != ':' {
		return nil, -1
	}
	return data[i+1 : end-1], skipSpace(data, j+1)
}

// scanNumber returns the index just past the JSON number at data[i], or -1.
func scanNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		if j := skipDigits(data, i+1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		if i++; i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if j := skipDigits(data, i); j > i {
			i = j
		} else {
			return -1
		}
	}
	return i
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at data[i],
// a value of a key of the frame object, or -1 if it is not valid JSON or
// nests deeper than MaxDepth (the frame object being depth 1). It keeps its
// own stack, one bit per open container, instead of recursing.
func skipValue(data []byte, i int) int {
	var objects uint64 // bit 0 is the innermost open container: 1 if an object
	open := 0          // containers open inside the value
	for {
		// A value starts at data[i].
		if i >= len(data) {
			return -1
		}
		switch c := data[i]; c {
		case '{', '[':
			if 2+open > MaxDepth { // this container's depth
				return -1
			}
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == c+2 { // '}' or ']'
				i++
				break // an empty container is a complete value
			}
			open++
			objects <<= 1
			if c == '{' {
				objects |= 1
				if _, i = scanKey(data, i); i < 0 {
					return -1
				}
			}
			continue
		case '"':
			i = scanString(data, i)
		case 't':
			i = scanLiteral(data, i, "true")
		case 'f':
			i = scanLiteral(data, i, "false")
		case 'n':
			i = scanLiteral(data, i, "null")
		default:
			i = scanNumber(data, i)
		}
		if i < 0 {
			return -1
		}
		// After a value: close containers until one has another element.
		for {
			if open == 0 {
				return i
			}
			if i = skipSpace(data, i); i >= len(data) {
				return -1
			}
			if data[i] == ',' {
				if i = skipSpace(data, i+1); objects&1 == 1 {
					if _, i = scanKey(data, i); i < 0 {
						return -1
					}
				}
				break
			}
			if closer := "]}"[objects&1]; data[i] != closer {
				return -1
			}
			i++
			objects >>= 1
			open--
		}
	}
}

// scanLiteral returns the index just past lit at data[i], or -1.
func scanLiteral(data []byte, i int, lit string) int {
	if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

// scanID returns the raw JSON string that is the "id" of the frame object
// in data, or nil. It serves frames that encoding/json refuses (broken
// syntax, or nested deeper than it goes) so that an rpc still gets its
// answer: it reads the frame object's members in order for as long as they
// are well formed, skipping values without checking them and however deep
// they nest, and keeps the value of the last key that encoding/json would
// take for "id" when that value is a string.
func scanID(data []byte) []byte {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil
	}
	i = skipSpace(data, i+1)
	var id []byte
	for {
		key, next := scanKey(data, i)
		if next < 0 {
			return id
		}
		end := skipLoose(data, next)
		if end < 0 {
			return id
		}
		if data[next] == '"' && isIDKey(key) {
			id = data[next:end:end]
		}
		if i = skipSpace(data, end); i >= len(data) || data[i] != ',' {
			return id
		}
		i = skipSpace(data, i+1)
	}
}

// isIDKey reports whether encoding/json matches the raw key (the bytes
// between its quotes, checked by scanString) to the field "id": it
// unescapes keys and compares them case-insensitively, and no other rune
// folds to 'i' or 'd'.
func isIDKey(key []byte) bool {
	if bytes.IndexByte(key, '\\') >= 0 {
		var b strings.Builder
		if !unquote(&b, key) {
			return false
		}
		key = []byte(b.String())
	}
	return len(key) == 2 && asciiFoldEqual(key, "id")
}

// skipLoose returns the index just past the value that starts at data[i],
// or -1. Unlike skipValue it checks strings only (so that a quote inside
// one is not taken for its end) and finds the end of a container by
// counting brackets, without limit: enough to step over a member of a
// frame encoding/json has refused.
func skipLoose(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			if i = scanString(data, i); i < 0 {
				return -1
			}
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return -1 // a closing bracket where a value should start
			}
			depth--
			i++
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return -1 // no value
			}
			i++
		default: // a number or literal, checked no further
			start := i
			for i < len(data) && !isDelimiter(data[i]) {
				i++
			}
			if depth == 0 && i > start {
				return i
			}
			continue
		}
		if depth == 0 {
			return i
		}
	}
	return -1
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ':', '{', '}', '[', ']', '"', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
