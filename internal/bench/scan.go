package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// A load generator decodes every frame the servers send, so it must cost far
// less than the server's own work: encoding/json spends about 10 µs and 17
// allocations on an rpc:result (protocol.Decode), this scanner about 0.1 µs
// and none. It walks the top level of a JSON object and hands out the raw
// bytes of the fields it is asked for; it does not validate the parts it
// skips beyond what is needed to find their end, which is enough for
// frames from a server (a malformed frame yields errBadJSON, never a panic
// or a loop).

var errBadJSON = errors.New("malformed JSON")

// frame holds the fields of a server frame the bench tool looks at. Byte
// slices alias the scanned data.
type frame struct {
	typ      []byte // raw string contents, escapes not processed
	id       []byte // raw string contents
	actor    []byte
	actorID  []byte
	errMsg   []byte // raw JSON value of "error", nil when absent
	hasError bool
	patches  []byte // raw JSON array
	state    []byte // raw JSON value
}

var (
	keyType    = []byte("type")
	keyID      = []byte("id")
	keyActor   = []byte("actor")
	keyActorID = []byte("actorId")
	keyError   = []byte("error")
	keyPatches = []byte("patches")
	keyState   = []byte("state")
	keyOp      = []byte("op")
	keyPath    = []byte("path")
	keyValue   = []byte("value")
)

// scanFrame reads the fields of a server frame. String fields whose raw
// form contains a backslash are unescaped (rare: ids are plain).
func scanFrame(b []byte, f *frame) error {
	*f = frame{}
	return eachField(b, func(k, v []byte) error {
		switch {
		case bytes.Equal(k, keyType):
			return str(v, &f.typ)
		case bytes.Equal(k, keyID):
			if len(v) > 0 && v[0] == '"' {
				return str(v, &f.id)
			}
		case bytes.Equal(k, keyActor):
			return str(v, &f.actor)
		case bytes.Equal(k, keyActorID):
			return str(v, &f.actorID)
		case bytes.Equal(k, keyError):
			f.errMsg, f.hasError = v, true
		case bytes.Equal(k, keyPatches):
			f.patches = v
		case bytes.Equal(k, keyState):
			f.state = v
		}
		return nil
	})
}

// str sets *dst to the contents of the JSON string v.
func str(v []byte, dst *[]byte) error {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return errBadJSON
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		*dst = in
		return nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return errBadJSON
	}
	*dst = []byte(s)
	return nil
}

// eachField calls fn with the raw key (string contents) and raw value of
// each member of the JSON object b, in order.
func eachField(b []byte, fn func(k, v []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errBadJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errBadJSON
		}
		end, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if json.Unmarshal(b[i:end], &s) != nil {
				return errBadJSON
			}
			key = []byte(s)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errBadJSON
		}
		i = skipSpace(b, i+1)
		end, err = skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if err := fn(key, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errBadJSON
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return nil
		default:
			return errBadJSON
		}
	}
}

// eachElem calls fn with the raw bytes of each element of the JSON array b.
func eachElem(b []byte, fn func(v []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return errBadJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for {
		end, err := skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if err := fn(b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errBadJSON
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return nil
		default:
			return errBadJSON
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped byte; \uXXXX's digits are plain bytes
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

const maxScanDepth = 128

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth >= maxScanDepth {
			return 0, errBadJSON
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		j := skipSpace(b, i+1)
		if j < len(b) && b[j] == closer {
			return j + 1, nil
		}
		for {
			if c == '{' {
				if j >= len(b) || b[j] != '"' {
					return 0, errBadJSON
				}
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = skipSpace(b, end)
				if j >= len(b) || b[j] != ':' {
					return 0, errBadJSON
				}
				j = skipSpace(b, j+1)
			}
			end, err := skipValue(b, j, depth+1)
			if err != nil {
				return 0, err
			}
			j = skipSpace(b, end)
			if j >= len(b) {
				return 0, errBadJSON
			}
			if b[j] == closer {
				return j + 1, nil
			}
			if b[j] != ',' {
				return 0, errBadJSON
			}
			j = skipSpace(b, j+1)
		}
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] >= 'a' && b[j] <= 'z' ||
			b[j] == '.' || b[j] == '+' || b[j] == '-' || b[j] == 'E') {
			j++
		}
		return j, nil
	}
	return 0, errBadJSON
}

// patchValue returns the number that the JSON Patch array patches sets at
// path (an "add" or "replace" operation; the last one wins), and whether
// there was one.
func patchValue(patches []byte, path string) (v int64, ok bool, err error) {
	err = eachElem(patches, func(op []byte) error {
		var kind, p, val []byte
		if err := eachField(op, func(k, v []byte) error {
			switch {
			case bytes.Equal(k, keyOp):
				return str(v, &kind)
			case bytes.Equal(k, keyPath):
				return str(v, &p)
			case bytes.Equal(k, keyValue):
				val = v
			}
			return nil
		}); err != nil {
			return err
		}
		if string(p) != path || string(kind) != "replace" && string(kind) != "add" {
			return nil
		}
		n, err := parseNumber(val)
		if err != nil {
			return err
		}
		v, ok = n, true
		return nil
	})
	return v, ok, err
}

// parseNumber parses a JSON number holding an integer (1, -3, 2.0, 1e3).
func parseNumber(b []byte) (int64, error) {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, errors.New("not an integer: " + string(b))
	}
	return int64(f), nil
}

// pointerValue returns the number at the JSON Pointer path inside the JSON
// document doc (used once per subscriber, on the snapshot).
func pointerValue(doc []byte, path string) (int64, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, err
	}
	if path != "" {
		if path[0] != '/' {
			return 0, errors.New("JSON pointer must start with /: " + path)
		}
		for _, tok := range bytes.Split([]byte(path[1:]), []byte("/")) {
			key := string(bytes.ReplaceAll(bytes.ReplaceAll(tok, []byte("~1"), []byte("/")), []byte("~0"), []byte("~")))
			switch c := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = c[key]; !ok {
					return 0, errors.New("no member " + strconv.Quote(key) + " in state")
				}
			case []any:
				idx, err := strconv.Atoi(key)
				if err != nil || idx < 0 || idx >= len(c) {
					return 0, errors.New("no index " + strconv.Quote(key) + " in state")
				}
				v = c[idx]
			default:
				return 0, errors.New("path " + path + " goes through a scalar")
			}
		}
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, errors.New("state at " + path + " is not a number")
	}
	return parseNumber([]byte(n))
}
