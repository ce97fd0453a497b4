package engine_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

// The state sync tests mutate a nested state at random and check that a
// subscriber that applies the snapshot and then every patch, in order, with
// an independent RFC 6902 implementation (evanphx/json-patch) holds exactly
// the server's state after every call.

type syncItem struct {
	Label string         `json:"label"`
	N     int64          `json:"n"`
	Tags  []string       `json:"tags"`
	Attrs map[string]any `json:"attrs,omitempty"`
	Next  *syncItem      `json:"next,omitempty"`
}

type syncNested struct {
	Inner map[string][]string       `json:"inner"`
	Opt   *string                   `json:"opt"`
	Deep  map[string]map[string]any `json:"deep"`
}

type syncState struct {
	Name     string               `json:"name"`
	Big      int64                `json:"big"`
	Unsigned uint64               `json:"unsigned"`
	Ratio    float64              `json:"ratio"`
	Flag     bool                 `json:"flag"`
	Tags     []string             `json:"tags"`
	Items    map[string]*syncItem `json:"items"`
	List     []syncItem           `json:"list"`
	Grid     [][]int              `json:"grid"`
	Nested   syncNested           `json:"nested"`
	Free     any                  `json:"free"`
}

// mutation is one step of a mutation program: the handler derives every
// choice from Seed, so a program is just a list of (Op, Seed).
type mutation struct {
	Op   uint8  `json:"op"`
	Seed uint64 `json:"seed"`
}

const numOps = 28

// Keys that are hard for JSON Pointers and patch appliers.
var syncKeys = []string{
	"a", "b", "c", "a/b", "/", "//", "~", "~0", "~1", "~01", "a~/b", "", " ", "0", "1", "-", "10",
	"ключ", "键", "emoji😀", `quote"`, `back\slash`, "tab\t", "nul\x00", "<html>&", "\u2028", "bad\xffutf8",
}

var syncStrings = []string{
	"", "x", "hello", "a/b", "~0~1", "日本語", "😀👍🏽", "null", "true", `"quoted"`, "line\nbreak",
	"\u0000", "<script>", "\xff\xfe", "long " + strings.Repeat("ab", 40),
}

type gen struct{ r *rand.Rand }

func (g gen) n(n int) int {
	if n <= 0 {
		return 0
	}
	return g.r.IntN(n)
}

func (g gen) key() string {
	if g.n(4) == 0 {
		return g.str()
	}
	return syncKeys[g.n(len(syncKeys))]
}

func (g gen) str() string {
	switch g.n(3) {
	case 0:
		return syncStrings[g.n(len(syncStrings))]
	case 1:
		b := make([]rune, g.n(8))
		for i := range b {
			b[i] = rune(g.r.IntN(0x2FFFF))
		}
		return string(b)
	}
	return fmt.Sprintf("s%d", g.n(1000))
}

func (g gen) int64() int64 {
	switch g.n(6) {
	case 0:
		return math.MaxInt64 - int64(g.n(3))
	case 1:
		return math.MinInt64 + int64(g.n(3))
	case 2:
		return 1<<53 + int64(g.n(5)) // beyond float64 precision
	case 3:
		return -(1<<53 + int64(g.n(5)))
	}
	return int64(g.n(2000)) - 1000
}

func (g gen) float() float64 {
	switch g.n(8) {
	case 0:
		return math.Copysign(0, -1) // -0: same float, different JSON
	case 1:
		return 0
	case 2:
		return math.SmallestNonzeroFloat64
	case 3:
		return math.MaxFloat64
	case 4:
		return 1e21 // formatted with an exponent
	case 5:
		return 0.1 + 0.2
	}
	return g.r.NormFloat64() * math.Pow(10, float64(g.n(20)-10))
}

// value returns a random JSON value (as encoding/json would decode it).
func (g gen) value(depth int) any {
	k := g.n(8)
	if depth > 3 {
		k = g.n(5)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.n(2) == 0
	case 2:
		return g.float()
	case 3:
		return float64(g.int64()) // as JSON numbers decode
	case 4:
		return g.str()
	case 5, 6:
		m := map[string]any{}
		for range g.n(4) {
			m[g.key()] = g.value(depth + 1)
		}
		return m
	}
	s := make([]any, g.n(4))
	for i := range s {
		s[i] = g.value(depth + 1)
	}
	return s
}

func (g gen) tags() []string {
	switch g.n(5) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	t := make([]string, g.n(5))
	for i := range t {
		t[i] = g.str()
	}
	return t
}

func (g gen) item(depth int) *syncItem {
	it := &syncItem{Label: g.str(), N: g.int64(), Tags: g.tags()}
	if g.n(2) == 0 {
		it.Attrs = map[string]any{g.key(): g.value(2)}
	}
	if depth < 2 && g.n(3) == 0 {
		it.Next = g.item(depth + 1)
	}
	return it
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (g gen) pickKey(keys []string) string {
	if len(keys) == 0 || g.n(4) == 0 {
		return g.key()
	}
	return keys[g.n(len(keys))]
}

// editSlice applies a random positional edit to s: insert, delete,
// replace, move, reverse, truncate or clear.
func editSlice[T any](g gen, s []T, fresh func() T) []T {
	switch op := g.n(9); {
	case op == 0 || len(s) == 0:
		return append(s, fresh())
	case op == 1 && len(s) < 40:
		return slices.Insert(s, g.n(len(s)+1), fresh())
	case op == 2:
		i := g.n(len(s))
		return slices.Delete(s, i, i+1)
	case op == 3:
		s[g.n(len(s))] = fresh()
		return s
	case op == 4:
		i, j := g.n(len(s)), g.n(len(s))
		v := s[i]
		s = slices.Delete(s, i, i+1)
		return slices.Insert(s, min(j, len(s)), v)
	case op == 5:
		slices.Reverse(s)
		return s
	case op == 6:
		return s[:g.n(len(s))]
	case op == 7:
		g.r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		return s
	}
	i := g.n(len(s))
	return slices.Delete(s, i, min(len(s), i+1+g.n(3)))
}

// editAny mutates a decoded JSON value in place where it can.
func (g gen) editAny(v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		keys := sortedKeys(x)
		switch {
		case len(keys) > 0 && g.n(3) == 0:
			delete(x, keys[g.n(len(keys))])
		case len(keys) > 0 && g.n(2) == 0 && depth < 4:
			k := keys[g.n(len(keys))]
			x[k] = g.editAny(x[k], depth+1)
		default:
			x[g.key()] = g.value(depth)
		}
		return x
	case []any:
		if len(x) > 0 && g.n(2) == 0 && depth < 4 {
			i := g.n(len(x))
			x[i] = g.editAny(x[i], depth+1)
			return x
		}
		return editSlice(g, x, func() any { return g.value(depth + 1) })
	}
	return g.value(depth)
}

// mutate applies mutation m to s; op numOps-1 fails after mutating.
func mutate(s *syncState, m mutation) error {
	g := gen{rand.New(rand.NewPCG(m.Seed, uint64(m.Op)))}
	switch m.Op % numOps {
	case 0:
		s.Name = g.str()
	case 1:
		s.Big = g.int64()
	case 2:
		s.Unsigned = math.MaxUint64 - uint64(g.n(3))
		if g.n(2) == 0 {
			s.Unsigned = uint64(g.n(100))
		}
	case 3:
		s.Ratio = g.float()
	case 4:
		s.Flag = !s.Flag
	case 5, 6:
		s.Tags = editSlice(g, s.Tags, g.str)
	case 7:
		s.Tags = g.tags()
	case 8:
		if s.Items == nil {
			s.Items = map[string]*syncItem{}
		}
		s.Items[g.key()] = g.item(0)
	case 9:
		if keys := sortedKeys(s.Items); len(keys) > 0 {
			delete(s.Items, keys[g.n(len(keys))])
		}
	case 10:
		if s.Items != nil {
			s.Items[g.pickKey(sortedKeys(s.Items))] = nil
		}
	case 11:
		keys := sortedKeys(s.Items)
		if len(keys) == 0 {
			break
		}
		it := s.Items[keys[g.n(len(keys))]]
		if it == nil {
			break
		}
		for it.Next != nil && g.n(2) == 0 {
			it = it.Next
		}
		switch g.n(5) {
		case 0:
			it.Label = g.str()
		case 1:
			it.N = g.int64()
		case 2:
			it.Tags = editSlice(g, it.Tags, g.str)
		case 3:
			if it.Attrs == nil {
				it.Attrs = map[string]any{}
			}
			k := g.pickKey(sortedKeys(it.Attrs))
			it.Attrs[k] = g.editAny(it.Attrs[k], 1)
		default:
			if it.Next == nil {
				it.Next = g.item(1)
			} else {
				it.Next = nil
			}
		}
	case 12:
		switch g.n(8) {
		case 0:
			s.Items = nil
		case 1:
			s.Items = map[string]*syncItem{}
		default:
			if s.Items == nil {
				s.Items = map[string]*syncItem{}
			}
			for range g.n(4) {
				s.Items[g.key()] = g.item(1)
			}
		}
	case 13, 14:
		if len(s.List) > 30 {
			s.List = s.List[:10]
		}
		s.List = editSlice(g, s.List, func() syncItem { return *g.item(1) })
	case 15:
		if len(s.List) > 0 {
			it := &s.List[g.n(len(s.List))]
			it.Tags = editSlice(g, it.Tags, g.str)
			it.N++
		}
	case 16:
		if len(s.Grid) > 0 && g.n(2) == 0 {
			r := g.n(len(s.Grid))
			s.Grid[r] = editSlice(g, s.Grid[r], func() int { return g.n(100) })
		} else {
			s.Grid = editSlice(g, s.Grid, func() []int {
				if g.n(4) == 0 {
					return nil
				}
				return make([]int, g.n(4))
			})
		}
	case 17:
		if s.Nested.Inner == nil {
			s.Nested.Inner = map[string][]string{}
		}
		k := g.pickKey(sortedKeys(s.Nested.Inner))
		if g.n(4) == 0 {
			delete(s.Nested.Inner, k)
		} else {
			s.Nested.Inner[k] = editSlice(g, s.Nested.Inner[k], g.str)
		}
	case 18:
		if s.Nested.Opt == nil {
			v := g.str()
			s.Nested.Opt = &v
		} else if g.n(2) == 0 {
			s.Nested.Opt = nil
		} else {
			*s.Nested.Opt += "!"
		}
	case 19:
		if s.Nested.Deep == nil {
			s.Nested.Deep = map[string]map[string]any{}
		}
		k := g.pickKey(sortedKeys(s.Nested.Deep))
		switch g.n(4) {
		case 0:
			delete(s.Nested.Deep, k)
		case 1:
			s.Nested.Deep[k] = nil
		default:
			if s.Nested.Deep[k] == nil {
				s.Nested.Deep[k] = map[string]any{}
			}
			k2 := g.pickKey(sortedKeys(s.Nested.Deep[k]))
			s.Nested.Deep[k][k2] = g.editAny(s.Nested.Deep[k][k2], 1)
		}
	case 20:
		s.Free = g.value(0) // may change the kind of the subtree
	case 21, 22:
		s.Free = g.editAny(s.Free, 0)
	case 23: // no change: no patch
	case 24: // several changes in one call
		for range 2 + g.n(4) {
			if err := mutate(s, mutation{Op: uint8(g.n(numOps - 1)), Seed: g.r.Uint64()}); err != nil {
				return err
			}
		}
	case 25:
		switch g.n(20) {
		case 0:
			*s = syncState{}
		case 1, 2:
			s.Tags, s.List = nil, nil
		default:
			s.List = append(s.List, *g.item(0), *g.item(0))
		}
	case 26: // assign the same values again: no change, no patch
		s.Tags = slices.Clone(s.Tags)
		s.Name = strings.Clone(s.Name)
	case numOps - 1: // mutate, then fail: everything is rolled back
		for range 1 + g.n(3) {
			_ = mutate(s, mutation{Op: uint8(g.n(numOps - 1)), Seed: g.r.Uint64()})
		}
		return zocket.Errorf("rolled back")
	}
	return nil
}

func syncActor() *zocket.Actor[syncState] {
	a := zocket.NewActor("sync", func() syncState { return syncState{} })
	zocket.Method(a, "mutate", func(s *syncState, c *zocket.Call, m mutation) (json.RawMessage, error) {
		if err := mutate(s, m); err != nil {
			return nil, err
		}
		return json.Marshal(s) // the server's state, for the check
	})
	zocket.Method(a, "dump", func(s *syncState, c *zocket.Call, _ struct{}) (*syncState, error) { return s, nil })
	return a
}

// syncChecker runs a mutation program against one instance. Session "sub"
// calls and is subscribed from the start; session "late" subscribes and
// resubscribes along the way to check snapshots taken mid-stream.
type syncChecker struct {
	t       testing.TB
	tt      *tester
	doc     []byte // sub's copy
	late    []byte // late's copy, nil when not subscribed
	server  string // normalized server state after the last call
	steps   int
	patches int
}

func newSyncChecker(t testing.TB) *syncChecker {
	tt := start(t, mustApp(t, syncActor()), engine.Config{IdleTimeout: -1})
	c := &syncChecker{t: t, tt: tt}
	c.server = normJSON(t, tt.subState("sub", "sync", "x"))
	c.doc = []byte(c.server)
	return c
}

func (c *syncChecker) step(m mutation) {
	t := c.t
	t.Helper()
	c.steps++
	frames, res := c.tt.call("sub", "sync", "x", "mutate", m)
	var patches []protocol.Frame
	for _, f := range frames {
		if f.Type != protocol.TypeStatePatch {
			t.Fatalf("step %d (%+v): unexpected %s", c.steps, m, f.Type)
		}
		patches = append(patches, f)
	}
	if res.HasError {
		if len(patches) != 0 {
			t.Fatalf("step %d (%+v): failed call sent %d patches", c.steps, m, len(patches))
		}
	} else {
		want := normJSON(t, res.Result)
		if changed := want != c.server; changed != (len(patches) == 1) || len(patches) > 1 {
			t.Fatalf("step %d (%+v): state changed: %v, but %d patches were sent", c.steps, m, changed, len(patches))
		}
		c.server = want
	}
	c.patches += len(patches)
	c.doc = applyPatches(t, c.doc, patches) // normalized: compare bytes
	if got := string(c.doc); got != c.server {
		t.Fatalf("step %d (%+v): subscriber diverged\npatch %s\n  got %s\n want %s", c.steps, m, patchText(patches), got, c.server)
	}
	if c.late != nil {
		c.late = applyPatches(t, c.late, c.tt.h.unread("late"))
		if got := string(c.late); got != c.server {
			t.Fatalf("step %d: late subscriber diverged\n  got %s\n want %s", c.steps, got, c.server)
		}
	}
	switch {
	case c.steps%97 == 0:
		c.tt.send("late", protocol.TypeStateUnsub, "sync", "x")
		c.late = nil
		if fs := c.tt.h.unread("late"); len(fs) != 0 {
			t.Fatalf("late received %v before unsub", types(fs))
		}
	case c.steps%31 == 0 && c.late == nil:
		c.late = []byte(normJSON(t, c.tt.subState("late", "sync", "x")))
		if got := string(c.late); got != c.server {
			t.Fatalf("step %d: snapshot %s\n want %s", c.steps, got, c.server)
		}
	}
}

func patchText(fs []protocol.Frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.Write(f.Patches)
	}
	return b.String()
}

func runRandomSync(t *testing.T, seed uint64, steps int) {
	t.Helper()
	c := newSyncChecker(t)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for range steps {
		c.step(mutation{Op: uint8(r.IntN(numOps)), Seed: r.Uint64()})
	}
	// The final state, read through a method, equals the subscriber's copy
	// byte for byte.
	_, res := c.tt.call("sub", "sync", "x", "dump", nil)
	if got, want := normJSON(t, c.doc), normJSON(t, res.Result); got != want {
		t.Fatalf("final state\n got %s\nwant %s", got, want)
	}
	if c.patches < steps/3 {
		t.Errorf("only %d patches in %d steps: the program barely changed the state", c.patches, steps)
	}
	t.Logf("seed %d: %d steps, %d patches, final state %d bytes", seed, steps, c.patches, len(c.doc))
}

func TestStateSyncRandomized(t *testing.T) {
	steps := 2000 // the fixed seed; random seeds run a quarter each
	if raceEnabled {
		steps = 1000
	}
	if testing.Short() {
		steps = 400
	}
	seeds := []uint64{1}
	for range 3 {
		seeds = append(seeds, uint64(time.Now().UnixNano())+rand.Uint64())
	}
	for i, seed := range seeds {
		n := steps
		if i > 0 {
			n = steps / 4
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runRandomSync(t, seed, n) // a failing seed is in the test name
		})
	}
}

// TestStateSyncRootChanges: the state's root changes kind (object, null,
// array, scalar), which makes the diff replace the whole document.
func TestStateSyncRootChanges(t *testing.T) {
	t.Parallel()
	a := zocket.NewActor("root", func() any { return map[string]any{"a": 1} })
	zocket.Method(a, "set", func(s *any, c *zocket.Call, v json.RawMessage) (any, error) {
		var x any // absent and null input leave v empty
		if err := json.Unmarshal(v, &x); len(v) > 0 && err != nil {
			return nil, err
		}
		*s = x
		return x, nil
	})
	m := zocket.NewActor("map", func() map[string]int { return map[string]int{} })
	zocket.Method(m, "nil", func(s *map[string]int, c *zocket.Call, _ struct{}) (int, error) { *s = nil; return 0, nil })
	zocket.Method(m, "put", func(s *map[string]int, c *zocket.Call, k string) (int, error) {
		if *s == nil {
			*s = map[string]int{}
		}
		(*s)[k]++
		return (*s)[k], nil
	})
	tt := start(t, mustApp(t, a, m), engine.Config{})
	doc := tt.subState("s", "root", "x")
	for _, v := range []string{`null`, `{"b":[1,2]}`, `[1,{"c":null}]`, `"str"`, `-0`, `0`, `1e300`, `[]`, `{}`, `false`, `{"a/b":{"~":1}}`, `{"":{"":[{"":0}]}}`} {
		frames, res := tt.call("s", "root", "x", "set", json.RawMessage(v))
		doc = applyPatches(t, doc, frames)
		if got, want := normJSON(t, doc), normJSON(t, res.Result); got != want {
			t.Errorf("after set %s: subscriber has %s, server %s (patch %s)", v, got, want, patchText(frames))
		}
	}
	mdoc := tt.subState("s", "map", "x")
	for _, op := range []string{"put", "nil", "put", "put", "nil", "nil"} {
		var in any
		if op == "put" {
			in = "k~/"
		}
		frames := tt.callOK("s", "map", "x", op, in, nil)
		mdoc = applyPatches(t, mdoc, frames)
	}
	if got := normJSON(t, mdoc); got != "null" {
		t.Errorf("map state: subscriber has %s, want null", got)
	}
}

// FuzzStateSync interprets the fuzz input as a mutation program: each
// 9-byte group is an op and a seed.
func FuzzStateSync(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x01\x03\x00\x00\x00\x00\x00\x00\x00\x07"))
	for i := range numOps {
		prog := make([]byte, 0, 9*8)
		for j := range 8 {
			prog = append(prog, byte((i+j*5)%numOps))
			prog = binary.LittleEndian.AppendUint64(prog, uint64(i*131+j))
		}
		f.Add(prog)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 9*200 {
			prog = prog[:9*200]
		}
		c := newSyncChecker(t)
		for len(prog) >= 9 {
			c.step(mutation{Op: prog[0] % numOps, Seed: binary.LittleEndian.Uint64(prog[1:9])})
			prog = prog[9:]
		}
	})
}
