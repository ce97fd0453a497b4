package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/syncbuf"
	"github.com/zocket-go/zocket/protocol"
)

// logBuffer collects logs written by many goroutines.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// applyPatches applies state:patch frames to doc. Each patch is applied by
// a strict RFC 6902 implementation written for these tests (applyRFC6902)
// and, where it can, by github.com/evanphx/json-patch too; both must agree.
// json-patch cannot apply operations on the document root when the root is
// not an object or array, nor paths with an empty key before the last
// token ("/a//b": it reads "" as the current node); those patches are
// checked by applyRFC6902 alone. The result is normalized as by normJSON.
func applyPatches(t testing.TB, doc []byte, frames []protocol.Frame) []byte {
	t.Helper()
	for _, f := range frames {
		if f.Type != protocol.TypeStatePatch {
			t.Fatalf("frame %s %s is not a state:patch", f.Type, f.Patches)
		}
		next, err := applyRFC6902(doc, f.Patches)
		if err != nil {
			t.Fatalf("apply patch %s to %s: %v", f.Patches, doc, err)
		}
		if evanphxCanApply(t, f.Patches) {
			p, err := jsonpatch.DecodePatch(f.Patches)
			if err != nil {
				t.Fatalf("decode patch %s: %v", f.Patches, err)
			}
			ev, err := p.Apply(doc)
			if err != nil {
				t.Fatalf("json-patch: apply patch %s to %s: %v", f.Patches, doc, err)
			}
			if a, b := normJSON(t, ev), string(next); a != b {
				t.Fatalf("patch appliers disagree on %s\njson-patch: %s\n  rfc6902: %s", f.Patches, a, b)
			}
		}
		doc = next
	}
	return doc
}

type patchOp struct {
	Op    string
	Path  *string
	Value json.RawMessage // nil when absent; "null" is a value
}

func decodeOps(patch []byte) ([]patchOp, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(patch, &raw); err != nil {
		return nil, fmt.Errorf("patch is not an array of operations: %w", err)
	}
	ops := make([]patchOp, len(raw))
	for i, m := range raw {
		if err := json.Unmarshal(m["op"], &ops[i].Op); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
		if p, ok := m["path"]; ok {
			ops[i].Path = new(string)
			if err := json.Unmarshal(p, ops[i].Path); err != nil {
				return nil, fmt.Errorf("op %d: path: %w", i, err)
			}
		}
		ops[i].Value = m["value"]
	}
	return ops, nil
}

func evanphxCanApply(t testing.TB, patch []byte) bool {
	ops, err := decodeOps(patch)
	if err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	for _, op := range ops {
		if op.Path == nil || *op.Path == "" || strings.Contains(*op.Path, "//") {
			return false
		}
	}
	return true
}

// applyRFC6902 applies a JSON Patch that may contain only add, remove and
// replace operations (the protocol's subset), strictly: every path must
// exist (add: its parent), array indices are plain decimal, "-" appends.
func applyRFC6902(doc, patch []byte) ([]byte, error) {
	ops, err := decodeOps(patch)
	if err != nil {
		return nil, err
	}
	root, err := decodeNumbers(doc)
	if err != nil {
		return nil, err
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, fmt.Errorf("op %d: no path", i)
		}
		var val any
		switch op.Op {
		case "add", "replace":
			if op.Value == nil {
				return nil, fmt.Errorf("op %d: %s without value", i, op.Op)
			}
			if val, err = decodeNumbers(op.Value); err != nil {
				return nil, err
			}
		case "remove":
		default:
			return nil, fmt.Errorf("op %d: operation %q outside add/remove/replace", i, op.Op)
		}
		var tokens []string
		if *op.Path != "" {
			if (*op.Path)[0] != '/' {
				return nil, fmt.Errorf("op %d: path %q does not start with /", i, *op.Path)
			}
			for _, tok := range strings.Split((*op.Path)[1:], "/") {
				tokens = append(tokens, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
			}
		}
		if root, err = applyOp(root, tokens, op.Op, val); err != nil {
			return nil, fmt.Errorf("op %d (%s %q): %w", i, op.Op, *op.Path, err)
		}
	}
	return json.Marshal(root)
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// applyOp applies one operation below node and returns the new node.
func applyOp(node any, tokens []string, op string, val any) (any, error) {
	if len(tokens) == 0 {
		if op == "remove" {
			return nil, errors.New("cannot remove the root")
		}
		return val, nil
	}
	tok, last := tokens[0], len(tokens) == 1
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[tok]
		if !last {
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			c, err := applyOp(child, tokens[1:], op, val)
			n[tok] = c
			return n, err
		}
		switch {
		case op == "add":
			n[tok] = val
		case !ok:
			return nil, fmt.Errorf("no member %q to %s", tok, op)
		case op == "replace":
			n[tok] = val
		default:
			delete(n, tok)
		}
		return n, nil
	case []any:
		if last && op == "add" && tok == "-" {
			return append(n, val), nil
		}
		idx := -1
		if tok == "0" || (tok != "" && tok[0] != '0' && strings.Trim(tok, "0123456789") == "") {
			fmt.Sscan(tok, &idx)
		}
		if idx < 0 || idx > len(n) || (idx == len(n) && !(last && op == "add")) {
			return nil, fmt.Errorf("bad array index %q for length %d", tok, len(n))
		}
		if !last {
			c, err := applyOp(n[idx], tokens[1:], op, val)
			n[idx] = c
			return n, err
		}
		switch op {
		case "add":
			return slices.Insert(n, idx, val), nil
		case "replace":
			n[idx] = val
			return n, nil
		}
		return slices.Delete(n, idx, idx+1), nil
	}
	return nil, fmt.Errorf("%q: not a container (%T)", tok, node)
}

// normJSON unmarshals and marshals again (keeping numbers exact), so that
// documents compare independently of key order and whitespace.
func normJSON(t testing.TB, b []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("normalize %s: %v", b, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("normalize %s: %v", b, err)
	}
	return string(out)
}

func TestSequentialExecution(t *testing.T) {
	t.Parallel()
	const callers, calls = 100, 100
	// lastSeq is touched by the handler without a lock: the race detector
	// fails the test if two calls ever overlap.
	lastSeq := map[string]int{}
	a := zocket.NewActor("seq", func() counterState { return counterState{} })
	zocket.Method(a, "inc", func(s *counterState, c *zocket.Call, in struct{ Seq int }) (int, error) {
		if prev, ok := lastSeq[c.ClientID()]; (ok && in.Seq != prev+1) || (!ok && in.Seq != 0) {
			return 0, zocket.Errorf("call %d of %s ran after call %d", in.Seq, c.ClientID(), prev)
		}
		lastSeq[c.ClientID()] = in.Seq
		s.Count++
		return s.Count, nil
	})
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) { return s.Count, nil })
	// A full queue answers at once, ahead of queued calls: make room for all.
	tt := start(t, mustApp(t, a), engine.Config{MaxQueue: callers * calls})

	ids := make([][]string, callers)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				req := tt.rpc(fmt.Sprintf("s%03d", g), "seq", "one", "inc", map[string]int{"Seq": i})
				ids[g] = append(ids[g], req.Frame.ID)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, "callers")

	seen := make(map[int]bool, callers*calls)
	for g := range callers {
		session := fmt.Sprintf("s%03d", g)
		last := 0
		for i := range calls {
			f := tt.h.next(t, session)
			if f.Type != protocol.TypeRPCResult || f.ID != ids[g][i] {
				t.Fatalf("%s: frame %d is %s %q, want the result of %q (arrival order)", session, i, f.Type, f.ID, ids[g][i])
			}
			if f.HasError {
				t.Fatalf("%s: %s", session, f.Error)
			}
			var n int
			if err := json.Unmarshal(f.Result, &n); err != nil {
				t.Fatal(err)
			}
			if n <= last || seen[n] {
				t.Fatalf("%s: count %d after %d (seen before: %v)", session, n, last, seen[n])
			}
			seen[n], last = true, n
		}
	}
	var total int
	tt.callOK("reader", "seq", "one", "get", nil, &total)
	if total != callers*calls || len(seen) != callers*calls {
		t.Errorf("count = %d with %d distinct results, want %d", total, len(seen), callers*calls)
	}
}

func TestParallelInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		arrived := make(chan string, 2)
		release := make(chan struct{})
		var mu sync.Mutex
		busy := map[string]bool{}
		var probed []string
		a := zocket.NewActor("par", func() counterState { return counterState{} })
		zocket.Method(a, "block", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
			mu.Lock()
			busy[c.ActorID()] = true
			mu.Unlock()
			arrived <- c.ActorID()
			if err := released(release); err != nil {
				return 0, err
			}
			mu.Lock()
			busy[c.ActorID()] = false
			mu.Unlock()
			return 1, nil
		})
		zocket.Method(a, "probe", func(s *counterState, c *zocket.Call, _ struct{}) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			probed = append(probed, c.ActorID())
			return busy[c.ActorID()], nil
		})
		tt := start(t, mustApp(t, a), engine.Config{})

		ra := tt.rpc("s1", "par", "a", "block", nil)
		rb := tt.rpc("s2", "par", "b", "block", nil)
		// Both handlers are inside at once: only possible if a and b run
		// in parallel, since neither returns before release.
		got := []string{recv(t, arrived, "first handler"), recv(t, arrived, "second handler")}
		sort.Strings(got)
		if fmt.Sprint(got) != "[a b]" {
			t.Fatalf("arrived %v", got)
		}
		// A second call to a must wait for the first one.
		rp := tt.rpc("s3", "par", "a", "probe", nil)
		synctest.Wait() // every goroutine is blocked: the probe had its chance to run
		mu.Lock()
		if len(probed) != 0 {
			t.Errorf("probe entered instance a while block was running")
		}
		mu.Unlock()
		if n := tt.h.deliveredCount(rp); n != 0 {
			t.Errorf("probe answered while a was blocked")
		}
		close(release)
		for _, r := range []*engine.Request{ra, rb} {
			if _, res := tt.h.result(t, r.SessionID, r.Frame.ID); res.HasError {
				t.Errorf("block: %s", res.Error)
			}
		}
		if _, res := tt.h.result(t, "s3", rp.Frame.ID); string(res.Result) != "false" {
			t.Errorf("probe saw a busy instance: %s %s", res.Result, res.Error)
		}
	})
}

// Nested state for rollback tests.
type richItem struct {
	ID    int               `json:"id"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

type richPerson struct {
	Name    string   `json:"name"`
	Friends []string `json:"friends"`
}

type richState struct {
	Name   string                `json:"name"`
	Scores map[string]int        `json:"scores"`
	Items  []richItem            `json:"items"`
	Owner  *richPerson           `json:"owner"`
	Matrix [][]string            `json:"matrix"`
	Meta   map[string][]richItem `json:"meta"`
}

func TestRollback(t *testing.T) {
	t.Parallel()
	changed := zocket.NewEvent[int]("changed")
	undeclared := zocket.NewEvent[int]("undeclared")
	var logs logBuffer
	emitErrs := make(chan error, 10)
	a := zocket.NewActor("rb", func() richState { return richState{} }, zocket.Emits(changed))
	zocket.Method(a, "setup", func(s *richState, c *zocket.Call, _ struct{}) (struct{}, error) {
		*s = richState{
			Name:   "orig",
			Scores: map[string]int{"a": 1, "b/c": 2, "~d": 3},
			Items:  []richItem{{ID: 1, Tags: []string{"x", "y"}, Attrs: map[string]string{"k": "v"}}, {ID: 2}},
			Owner:  &richPerson{Name: "ann", Friends: []string{"bob"}},
			Matrix: [][]string{{"a", "b"}, {"c"}},
			Meta:   map[string][]richItem{"m": {{ID: 3, Tags: []string{"t"}}}},
		}
		return struct{}{}, nil
	})
	zocket.Method(a, "fail", func(s *richState, c *zocket.Call, mode string) (int, error) {
		// Mutate everything, in place where possible, and emit.
		s.Name = "mutated"
		s.Scores["a"] = 100
		delete(s.Scores, "b/c")
		s.Scores["new"] = 1
		s.Items[0].Tags[0] = "changed"
		s.Items[0].Attrs["k"] = "changed"
		s.Items = append(s.Items, richItem{ID: 9})
		s.Owner.Friends = append(s.Owner.Friends[:0], "eve", "mallory")
		s.Owner.Name = "mallory"
		s.Matrix[1] = nil
		s.Matrix[0][1] = "z"
		s.Meta["m"][0].ID = 42
		s.Meta["n"] = nil
		if err := changed.Emit(c, 1); err != nil {
			return 0, err
		}
		switch mode {
		case "error":
			return 0, zocket.Errorf("refused")
		case "panic":
			panic("handler panicked")
		case "undeclared":
			emitErrs <- undeclared.Emit(c, 1) // error ignored by the handler
		case "wrong payload":
			emitErrs <- c.Emit("changed", "not an int")
		case "nil payload":
			emitErrs <- c.Emit("changed", nil)
		case "unknown by name":
			emitErrs <- c.Emit("nope", 1)
		}
		return 1, nil
	})
	zocket.Method(a, "touch", func(s *richState, c *zocket.Call, _ struct{}) (struct{}, error) {
		s.Name += "!"
		s.Items[0].Tags = append(s.Items[0].Tags, "z")
		return struct{}{}, changed.Emit(c, len(s.Name))
	})
	zocket.Method(a, "dump", func(s *richState, c *zocket.Call, _ struct{}) (richState, error) { return *s, nil })
	tt := start(t, mustApp(t, a), engine.Config{Logger: logs.logger()})

	tt.callOK("c", "rb", "x", "setup", nil, nil)
	doc := tt.subState("c", "rb", "x")
	tt.send("c", protocol.TypeEventSub, "rb", "x")
	_, before := tt.call("c", "rb", "x", "dump", nil)
	want := normJSON(t, before.Result)
	if got := normJSON(t, doc); got != want {
		t.Fatalf("snapshot %s != state %s", got, want)
	}

	for _, mode := range []string{"error", "panic", "undeclared", "wrong payload", "nil payload", "unknown by name"} {
		frames, res := tt.call("c", "rb", "x", "fail", mode)
		if !res.HasError {
			t.Errorf("%s: call succeeded", mode)
		}
		if len(frames) != 0 {
			t.Errorf("%s: failed call sent %v", mode, types(frames))
		}
		var got json.RawMessage
		if frames := tt.callOK("c", "rb", "x", "dump", nil, &got); len(frames) != 0 {
			t.Errorf("%s: dump sent %v", mode, types(frames))
		}
		if normJSON(t, got) != want {
			t.Errorf("%s: state after failed call\n got %s\nwant %s", mode, got, want)
		}
	}
	for _, want := range []error{zocket.ErrUndeclaredEvent, zocket.ErrEventPayload, zocket.ErrEventPayload, zocket.ErrUndeclaredEvent} {
		if err := <-emitErrs; !errors.Is(err, want) {
			t.Errorf("Emit error = %v, want %v", err, want)
		}
	}
	wantContains(t, logs.String(), "undeclared event", "wrong event payload type", "handler panicked")

	// The instance keeps serving, and patches continue from the restored
	// state.
	frames := tt.callOK("c", "rb", "x", "touch", nil, nil)
	if fmt.Sprint(types(frames)) != "[state:patch event]" {
		t.Fatalf("touch sent %v", types(frames))
	}
	doc = applyPatches(t, doc, frames[:1])
	var got json.RawMessage
	tt.callOK("c", "rb", "x", "dump", nil, &got)
	if normJSON(t, doc) != normJSON(t, got) {
		t.Errorf("patched snapshot\n %s\n!= state\n %s", doc, got)
	}
	wantContains(t, string(got), `"name":"orig!"`, `"tags":["x","y","z"]`)
}

// TestHookRollback: a failing hook rolls back its own changes only; the
// call that triggered it still runs.
func TestHookRollback(t *testing.T) {
	t.Parallel()
	type st struct {
		Joined []string `json:"joined"`
		Calls  int      `json:"calls"`
	}
	a := zocket.NewActor("hr", func() st { return st{} })
	a.OnConnect(func(s *st, c *zocket.Call) error {
		s.Joined = append(s.Joined, c.ClientID())
		if c.ClientID() == "bad" {
			return errors.New("bad client")
		}
		return nil
	})
	zocket.Method(a, "call", func(s *st, c *zocket.Call, _ struct{}) (st, error) { s.Calls++; return *s, nil })
	tt := start(t, mustApp(t, a), engine.Config{})
	var got st
	tt.callOK("good", "hr", "x", "call", nil, &got)
	tt.callOK("bad", "hr", "x", "call", nil, &got)
	if fmt.Sprint(got) != "{[good] 2}" {
		t.Errorf("state = %v, want {[good] 2}", got)
	}
}

func TestEventTargets(t *testing.T) {
	t.Parallel()
	ping := zocket.NewEvent[string]("ping")
	type target struct {
		To     []string
		Except []string
		Empty  bool // zocket.To() with no ids
	}
	a := zocket.NewActor("ev", func() counterState { return counterState{} }, zocket.Emits(ping))
	zocket.Method(a, "ping", func(s *counterState, c *zocket.Call, in target) (struct{}, error) {
		var opts []zocket.EmitOption
		if in.To != nil || in.Empty {
			opts = append(opts, zocket.To(in.To...))
		}
		if in.Except != nil {
			opts = append(opts, zocket.Except(in.Except...))
		}
		return struct{}{}, ping.Emit(c, "from "+c.ClientID(), opts...)
	})
	tt := start(t, mustApp(t, a), engine.Config{})
	for _, s := range []string{"A", "B", "C"} {
		tt.send(s, protocol.TypeEventSub, "ev", "x")
	}
	tt.send("D", protocol.TypeStateSub, "ev", "x") // a client, but not an event subscriber
	tt.h.unread("D")

	check := func(name string, in target, want ...string) {
		t.Helper()
		req := tt.rpc("D", "ev", "x", "ping", in)
		tt.waitDelivered(req)
		var got []string
		for _, s := range []string{"A", "B", "C", "D"} {
			for _, f := range tt.h.unread(s) {
				switch {
				case f.Type == protocol.TypeEvent:
					if f.Actor != "ev" || f.ActorID != "x" || f.Event != "ping" || string(f.Payload) != `"from D"` {
						t.Errorf("%s: bad event frame %+v", name, f)
					}
					got = append(got, s)
				case f.Type == protocol.TypeRPCResult && s == "D":
				default:
					t.Errorf("%s: unexpected %s for %s", name, f.Type, s)
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: event reached %v, want %v", name, got, want)
		}
	}
	check("broadcast", target{}, "A", "B", "C")
	check("to B", target{To: []string{"B"}}, "B")
	check("to A and C", target{To: []string{"A", "C"}}, "A", "C")
	check("to a non-subscriber", target{To: []string{"D", "Z"}})
	check("to nobody", target{Empty: true})
	check("except A", target{Except: []string{"A"}}, "B", "C")
	check("to A,B except A", target{To: []string{"A", "B"}, Except: []string{"A"}}, "B")
	tt.send("B", protocol.TypeEventUnsub, "ev", "x")
	check("after B unsubscribed", target{}, "A", "C")
	tt.send("B", protocol.TypeEventSub, "ev", "x")
	tt.send("B", protocol.TypeEventSub, "ev", "x") // subscribing twice is one subscription
	check("B again", target{}, "A", "B", "C")
	tt.e.Disconnect("C")
	check("after C disconnected", target{}, "A", "B")
}

// TestFrameOrder checks the ordering contract of instance.step and
// instance.call: the patch of a call, then its events in emit order, then
// its rpc:result, all in one delivery; hook output comes first.
func TestFrameOrder(t *testing.T) {
	t.Parallel()
	hello := zocket.NewEvent[string]("hello")
	bumped := zocket.NewEvent[int]("bumped")
	a := zocket.NewActor("ord", func() counterState { return counterState{} }, zocket.Emits(hello, bumped))
	a.OnConnect(func(s *counterState, c *zocket.Call) error {
		s.Count += 100
		return hello.Emit(c, c.ClientID(), zocket.Except(c.ClientID()))
	})
	zocket.Method(a, "bump", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		if err := bumped.Emit(c, 1); err != nil {
			return 0, err
		}
		s.Count++
		if err := bumped.Emit(c, 2); err != nil {
			return 0, err
		}
		return s.Count, nil
	})
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) { return s.Count, nil })
	tt := start(t, mustApp(t, a), engine.Config{})
	doc := tt.subState("A", "ord", "x")
	tt.send("A", protocol.TypeEventSub, "ord", "x")

	frames := tt.callOK("A", "ord", "x", "bump", nil, nil)
	if got := fmt.Sprint(types(frames)); got != "[state:patch event event]" {
		t.Fatalf("frames before result: %s", got)
	}
	if string(frames[1].Payload) != "1" || string(frames[2].Payload) != "2" {
		t.Errorf("events out of emit order: %s, %s", frames[1].Payload, frames[2].Payload)
	}
	doc = applyPatches(t, doc, frames[:1])

	// B's first call runs OnConnect first: A gets the hook's patch and event,
	// then the call's patch and events, in one delivery.
	req := tt.rpc("B", "ord", "x", "bump", nil)
	tt.waitDelivered(req)
	fs := tt.h.unread("A")
	var got []string
	for _, f := range fs {
		got = append(got, f.Type+":"+string(f.Payload))
	}
	if fmt.Sprint(got) != `[state:patch: event:"B" state:patch: event:1 event:2]` {
		t.Errorf("A received %v", got)
	}
	doc = applyPatches(t, doc, []protocol.Frame{fs[0], fs[2]})
	if normJSON(t, doc) != `{"count":202}` {
		t.Errorf("state = %s", doc)
	}
	// No change, no patch.
	if frames := tt.callOK("A", "ord", "x", "get", nil, nil); len(frames) != 0 {
		t.Errorf("get sent %v", types(frames))
	}
	// state:unsub stops patches.
	tt.send("A", protocol.TypeStateUnsub, "ord", "x")
	tt.send("A", protocol.TypeEventUnsub, "ord", "x")
	if frames := tt.callOK("A", "ord", "x", "bump", nil, nil); len(frames) != 0 {
		t.Errorf("after unsubscribing: %v", types(frames))
	}
	// A new subscription gets a fresh snapshot.
	if got := normJSON(t, tt.subState("A", "ord", "x")); got != `{"count":203}` {
		t.Errorf("snapshot = %s", got)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	type who struct {
		User, Trace, Base string
		Order             []string
	}
	userKey := zocket.NewKey[string]("user")
	traceKey := zocket.NewKey[string]("trace")
	orderKey := zocket.NewKey[[]string]("order")
	baseKey := zocket.NewKey[string]("base")
	infos := make(chan zocket.CallInfo, 100)
	step := func(name string) zocket.Middleware {
		return func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
			prev, _ := orderKey.From(ctx)
			return orderKey.With(ctx, append(slices.Clip(prev), name)), nil
		}
	}
	a := zocket.NewActor("mw", func() counterState { return counterState{} })
	zocket.Method(a, "whoami", func(s *counterState, c *zocket.Call, _ struct{}) (who, error) {
		var w who
		w.User, _ = userKey.Get(c)
		w.Trace, _ = traceKey.Get(c)
		w.Base, _ = baseKey.From(c.Context())
		w.Order, _ = orderKey.Get(c)
		s.Count++
		return w, nil
	})
	for _, m := range []string{"forbidden", "broken", "explode", "nilerr"} {
		zocket.Method(a, m, func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
			s.Count = -1000
			return 0, errors.New("handler must not run")
		})
	}
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) { return s.Count, nil })
	a.Use(step("actor1"), func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		infos <- info
		user, ok := userKey.From(ctx) // set by the app middleware: the context built so far
		if !ok {
			return nil, errors.New("app middleware did not run first")
		}
		switch info.Method {
		case "forbidden":
			return nil, zocket.Reject("go away " + user)
		case "broken":
			return nil, errors.New("database password is hunter2")
		case "explode":
			panic("middleware panicked")
		case "nilerr":
			var err *zocket.Error
			return ctx, err
		}
		return traceKey.With(ctx, "t-"+info.ActorID), nil
	}, step("actor2"))
	app := mustApp(t, a)
	app.Use(step("app"), func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		return userKey.With(ctx, info.UserID), nil
	}, nil) // nil middleware is ignored by App.Use
	tt := start(t, app, engine.Config{})

	call := func(method string) protocol.Frame {
		t.Helper()
		req := tt.dispatch(&engine.Request{
			SessionID: "sess", UserID: "u1", Claims: map[string]any{"role": "admin"},
			Context: baseKey.With(context.Background(), "from host"),
			Frame:   protocol.Frame{Type: protocol.TypeRPC, ID: "id-" + method, Actor: "mw", ActorID: "room", Method: method},
		})
		_, res := tt.h.result(t, "sess", req.Frame.ID)
		return res
	}
	res := call("whoami")
	var w who
	if err := json.Unmarshal(res.Result, &w); err != nil {
		t.Fatalf("whoami: %s %s", res.Result, res.Error)
	}
	if w.User != "u1" || w.Trace != "t-room" || w.Base != "from host" || fmt.Sprint(w.Order) != "[app actor1 actor2]" {
		t.Errorf("handler saw %+v", w)
	}
	info := <-infos
	want := zocket.CallInfo{ClientID: "sess", UserID: "u1", Claims: map[string]any{"role": "admin"}, Actor: "mw", ActorID: "room", Method: "whoami", Frame: "rpc"}
	if fmt.Sprint(info) != fmt.Sprint(want) {
		t.Errorf("middleware saw %+v, want %+v", info, want)
	}
	for method, wantErr := range map[string]string{
		"forbidden": "go away u1",
		"broken":    "internal error",
		"explode":   "internal error",
		"nilerr":    "internal error",
	} {
		if res := call(method); res.Error != wantErr {
			t.Errorf("%s: error %q, want %q", method, res.Error, wantErr)
		}
	}
	var n int
	tt.callOK("sess", "mw", "room", "get", nil, &n)
	if n != 1 {
		t.Errorf("count = %d, want 1: a rejected call reached its handler", n)
	}
}

func TestHooks(t *testing.T) {
	t.Parallel()
	type roomState struct {
		Online []string `json:"online"`
		Calls  int      `json:"calls"`
	}
	hooks := make(chan string, 100)
	record := func(name string) zocket.Hook[roomState] {
		return func(s *roomState, c *zocket.Call) error {
			hooks <- fmt.Sprintf("%s %s client=%q clients=%v", c.ActorID(), name, c.ClientID(), c.Clients())
			if name == "connect" || name == "disconnect" {
				s.Online = c.Clients()
			}
			return nil
		}
	}
	a := zocket.NewActor("room", func() roomState { return roomState{} })
	a.OnActivate(record("activate"))
	a.OnConnect(record("connect"))
	a.OnDisconnect(record("disconnect"))
	a.OnDeactivate(record("deactivate"))
	zocket.Method(a, "hello", func(s *roomState, c *zocket.Call, _ struct{}) (roomState, error) {
		hooks <- fmt.Sprintf("%s call client=%q clients=%v", c.ActorID(), c.ClientID(), c.Clients())
		s.Calls++
		return *s, nil
	})
	tt := start(t, mustApp(t, a), engine.Config{})
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if got := recv(t, hooks, w); got != w {
				t.Errorf("hook %q, want %q", got, w)
			}
		}
		select {
		case got := <-hooks:
			t.Errorf("unexpected hook %q", got)
		default:
		}
	}

	doc := tt.subState("B", "room", "x")
	expect(`x activate client="" clients=[]`, `x connect client="B" clients=[B]`)
	if normJSON(t, doc) != `{"calls":0,"online":["B"]}` {
		t.Errorf("snapshot %s", doc)
	}
	tt.callOK("A", "room", "x", "hello", nil, nil)
	expect(`x connect client="A" clients=[A B]`, `x call client="A" clients=[A B]`)
	tt.callOK("A", "room", "x", "hello", nil, nil)
	tt.send("A", protocol.TypeEventSub, "room", "x")
	tt.send("A", protocol.TypeStateSub, "room", "x")
	expect(`x call client="A" clients=[A B]`) // OnConnect once per client
	tt.callOK("A", "room", "y", "hello", nil, nil)
	expect(`y activate client="" clients=[]`, `y connect client="A" clients=[A]`, `y call client="A" clients=[A]`)
	// The hooks' state changes reached the subscriber B.
	doc = applyPatches(t, doc, tt.h.unread("B"))
	tt.callOK("B", "room", "z", "hello", nil, nil)
	expect(`z activate client="" clients=[]`, `z connect client="B" clients=[B]`, `z call client="B" clients=[B]`)
	if normJSON(t, doc) != `{"calls":2,"online":["A","B"]}` {
		t.Errorf("B's copy %s", doc)
	}
	tt.h.unread("A")

	// Disconnect runs OnDisconnect on x and y (touched by A), not z; B gets
	// the patch in a delivery of its own (req == nil).
	tt.e.Disconnect("A")
	tt.e.Disconnect("A") // idempotent
	got := []string{recv(t, hooks, "disconnect"), recv(t, hooks, "disconnect")}
	sort.Strings(got)
	want := []string{`x disconnect client="A" clients=[B]`, `y disconnect client="A" clients=[]`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("disconnect hooks %q, want %q", got, want)
	}
	doc = applyPatches(t, doc, []protocol.Frame{tt.h.next(t, "B")})
	if normJSON(t, doc) != `{"calls":2,"online":["B"]}` {
		t.Errorf("B's copy after disconnect %s", doc)
	}

	// Frames from the disconnected session are ignored but still
	// delivered (with nothing to send) exactly once.
	req := tt.rpc("A", "room", "x", "hello", nil)
	tt.waitDelivered(req)
	tt.send("A", protocol.TypeStateSub, "room", "x")
	tt.send("A", protocol.TypeEventSub, "room", "w") // would create instance w
	if fs := tt.h.unread("A"); len(fs) != 0 {
		t.Errorf("disconnected session received %v", types(fs))
	}
	var st roomState
	tt.callOK("B", "room", "x", "hello", nil, &st)
	if st.Calls != 3 || fmt.Sprint(st.Online) != "[B]" {
		t.Errorf("x state %+v", st)
	}
	expect(`x call client="B" clients=[B]`)
	if tt.e.Len() != 3 {
		t.Errorf("Len = %d, want 3 (x, y, z)", tt.e.Len())
	}
}

// Lifecycle hooks of the eviction tests report to a channel.
func lifecycleActor(hooks chan<- string, gate <-chan struct{}) *zocket.Actor[counterState] {
	a := counterActor("life")
	a.OnActivate(func(s *counterState, c *zocket.Call) error {
		hooks <- "activate " + c.ActorID()
		return nil
	})
	a.OnDeactivate(func(s *counterState, c *zocket.Call) error {
		if gate != nil {
			if err := released(gate); err != nil {
				return err
			}
		}
		hooks <- fmt.Sprintf("deactivate %s %d", c.ActorID(), s.Count)
		return nil
	})
	return a
}

func TestEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 20 * time.Millisecond
		hooks := make(chan string, 100)
		tt := start(t, mustApp(t, lifecycleActor(hooks, nil)), engine.Config{IdleTimeout: idle})
		var n int
		tt.callOK("A", "life", "x", "add", addInput{5}, &n)
		tt.callOK("A", "life", "y", "add", addInput{1}, &n)
		tt.send("B", protocol.TypeStateSub, "life", "z") // B is a client of z
		// Connected clients keep instances alive however long they idle.
		time.Sleep(time.Hour)
		synctest.Wait()
		if tt.e.Len() != 3 {
			t.Fatalf("Len = %d after an idle hour with clients, want 3", tt.e.Len())
		}
		got := []string{<-hooks, <-hooks, <-hooks}
		sort.Strings(got)
		if fmt.Sprint(got) != "[activate x activate y activate z]" {
			t.Fatalf("hooks %v", got)
		}

		// Without clients, x and y go after exactly the idle timeout.
		t0 := time.Now()
		tt.e.Disconnect("A")
		got = []string{recv(t, hooks, "deactivate"), recv(t, hooks, "deactivate")}
		sort.Strings(got)
		if fmt.Sprint(got) != "[deactivate x 5 deactivate y 1]" {
			t.Errorf("hooks %v", got)
		}
		if d := time.Since(t0); d != idle {
			t.Errorf("evicted after %v, want %v", d, idle)
		}
		synctest.Wait()
		if tt.e.Len() != 1 {
			t.Errorf("Len = %d after eviction, want 1", tt.e.Len())
		}

		// A new call recreates x with fresh state.
		tt.callOK("C", "life", "x", "get", nil, &n)
		if n != 0 {
			t.Errorf("recreated x has count %d", n)
		}
		if got := <-hooks; got != "activate x" {
			t.Errorf("hook %q", got)
		}
		// Disconnect of a session that never came, and GoneTTL pruning.
		tt.e.Disconnect("nobody")
		time.Sleep(time.Hour)
		synctest.Wait()
		if tt.e.Len() != 2 {
			t.Errorf("Len = %d, want 2 (x with C, z with B)", tt.e.Len())
		}
	})
}

// TestEvictionRace: a call that arrives while the evicted instance is still
// in OnDeactivate gets a new instance, which activates only after the old
// one finished deactivating.
func TestEvictionWhileDeactivating(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hooks := make(chan string, 100)
		gate := make(chan struct{})
		tt := start(t, mustApp(t, lifecycleActor(hooks, gate)), engine.Config{IdleTimeout: time.Second})
		tt.callOK("A", "life", "x", "add", addInput{7}, nil)
		if got := <-hooks; got != "activate x" {
			t.Fatalf("hook %q", got)
		}
		tt.e.Disconnect("A")
		time.Sleep(2 * time.Second)
		synctest.Wait() // OnDeactivate of the old x is blocked on gate
		if tt.e.Len() != 0 {
			t.Fatalf("Len = %d, want 0", tt.e.Len())
		}
		req := tt.rpc("B", "life", "x", "add", addInput{1})
		synctest.Wait()
		if n := tt.h.deliveredCount(req); n != 0 {
			t.Fatalf("call on the new x ran before the old x deactivated")
		}
		select {
		case h := <-hooks:
			t.Fatalf("hook %q ran while the old x was deactivating", h)
		default:
		}
		close(gate)
		_, res := tt.h.result(t, "B", req.Frame.ID)
		if string(res.Result) != "1" {
			t.Errorf("new x: %s %s", res.Result, res.Error)
		}
		if got := fmt.Sprint(<-hooks, ", ", <-hooks); got != "deactivate x 7, activate x" {
			t.Errorf("hooks: %s", got)
		}
	})
}

func TestNoEvictionWithNegativeIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hooks := make(chan string, 100)
		tt := start(t, mustApp(t, lifecycleActor(hooks, nil)), engine.Config{IdleTimeout: -1})
		tt.callOK("A", "life", "x", "add", addInput{1}, nil)
		tt.e.Disconnect("A")
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if tt.e.Len() != 1 {
			t.Errorf("Len = %d, want 1", tt.e.Len())
		}
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hooks := make(chan string, 100)
		entered := make(chan struct{}, 1)
		release := make(chan struct{})
		a := lifecycleActor(hooks, nil)
		zocket.Method(a, "block", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
			entered <- struct{}{}
			if err := released(release); err != nil {
				return 0, err
			}
			s.Count += 1000
			return s.Count, nil
		})
		tt := start(t, mustApp(t, a), engine.Config{})
		tt.callOK("A", "life", "y", "add", addInput{2}, nil)
		tt.send("B", protocol.TypeStateSub, "life", "z")
		blocked := tt.rpc("A", "life", "x", "block", nil)
		<-entered
		var queued []*engine.Request
		for range 50 {
			queued = append(queued, tt.rpc("A", "life", "x", "add", addInput{1}))
		}

		// Close with a deadline that passes while x is busy.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := tt.e.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		// Intake is closed: new work is refused.
		if got := tt.callErr("A", "life", "y", "add", addInput{1}); got != "server shutting down" {
			t.Errorf("after Close: %q", got)
		}
		tt.send("C", protocol.TypeStateSub, "life", "y") // refused with a sub:error
		tt.e.Disconnect("B")                             // no hooks after Close

		closed := make(chan error, 1)
		go func() { closed <- tt.e.Close(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v while a call was running", err)
		default:
		}
		close(release)
		if err := <-closed; err != nil {
			t.Errorf("Close = %v", err)
		}
		// Everything queued was answered, in order, before OnDeactivate.
		if _, res := tt.h.result(t, "A", blocked.Frame.ID); string(res.Result) != "1000" {
			t.Errorf("blocked call: %s %s", res.Result, res.Error)
		}
		for i, r := range queued {
			_, res := tt.h.result(t, "A", r.Frame.ID)
			if want := fmt.Sprint(1001 + i); string(res.Result) != want {
				t.Errorf("queued call %d = %s %s, want %s", i, res.Result, res.Error, want)
			}
		}
		var got []string
		for len(hooks) > 0 {
			got = append(got, <-hooks)
		}
		sort.Strings(got)
		want := "[activate x activate y activate z deactivate x 1050 deactivate y 2 deactivate z 0]"
		if fmt.Sprint(got) != want {
			t.Errorf("hooks %v\nwant  %s", got, want)
		}
		if fs := tt.h.unread("C"); len(fs) != 1 || fs[0].Type != protocol.TypeSubError || fs[0].Error != "server shutting down" {
			t.Errorf("C received %v, want one sub:error", fs)
		}
	})
}

func TestOverload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := counterActor("ov")
		entered, release := addBlock(a)
		tt := start(t, mustApp(t, a), engine.Config{MaxQueue: 2})
		blocked := tt.rpc("A", "ov", "x", "block", nil)
		<-entered
		q1 := tt.rpc("A", "ov", "x", "add", addInput{1})
		q2 := tt.rpc("B", "ov", "x", "add", addInput{1})
		// The queue is full: sessions with a call waiting are refused at
		// once.
		for _, s := range []string{"A", "B"} {
			got := tt.callErr(s, "ov", "x", "add", addInput{1})
			wantContains(t, got, "actor overloaded", `ov "x"`)
		}
		// A session with no call waiting gets one in anyway, so flooding
		// sessions cannot lock it out; its second is refused.
		q3 := tt.rpc("C", "ov", "x", "add", addInput{1})
		wantContains(t, tt.callErr("C", "ov", "x", "add", addInput{1}), "actor overloaded")
		sub := tt.dispatch(&engine.Request{SessionID: "D", Frame: protocol.Frame{Type: protocol.TypeStateSub, Actor: "ov", ActorID: "x"}})
		if n := tt.h.deliveredCount(sub); n != 0 { // subscriptions are not counted: queued
			t.Errorf("state:sub answered at once")
		}
		// Other instances are not affected.
		tt.callOK("C", "ov", "y", "add", addInput{1}, nil)
		close(release)
		for _, r := range []*engine.Request{blocked, q1, q2, q3} {
			if _, res := tt.h.result(t, r.SessionID, r.Frame.ID); res.HasError {
				t.Errorf("%s: %s", r.Frame.ID, res.Error)
			}
		}
		var n int
		tt.callOK("E", "ov", "x", "get", nil, &n)
		if n != 3 {
			t.Errorf("count %d, want 3", n)
		}
		tt.waitDelivered(sub)
		if fs := tt.h.unread("D"); len(fs) != 1 || string(fs[0].State) != `{"count":3}` {
			t.Errorf("D received %v", fs)
		}
		if got := tt.e.Stats().RefusedInstanceQueue; got != 3 {
			t.Errorf("Stats().RefusedInstanceQueue = %d, want 3", got)
		}
	})
}

func TestGoneSessionsExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tt := start(t, mustApp(t, counterActor("c")), engine.Config{GoneTTL: time.Minute, IdleTimeout: -1})
		tt.callOK("A", "c", "x", "add", addInput{1}, nil)
		tt.e.Disconnect("A")
		req := tt.rpc("A", "c", "x", "add", addInput{1})
		tt.waitDelivered(req)
		time.Sleep(2 * time.Minute)
		tt.e.Disconnect("B") // prunes expired entries
		var n int
		tt.callOK("A", "c", "x", "add", addInput{1}, &n)
		if n != 2 {
			t.Errorf("count %d, want 2", n)
		}
		if fs := tt.h.unread("A"); len(fs) != 0 {
			t.Errorf("unexpected %v", types(fs))
		}
	})
}

func TestDeliverFromHookOnly(t *testing.T) {
	t.Parallel()
	// A host that ignores req == nil deliveries of an app without hooks
	// never sees one: hook deliveries happen only when there are frames.
	tt := start(t, mustApp(t, counterActor("c")), engine.Config{})
	tt.callOK("A", "c", "x", "add", addInput{1}, nil)
	tt.e.Disconnect("A")
	tt.callOK("B", "c", "x", "add", addInput{1}, nil)
	tt.h.mu.Lock()
	defer tt.h.mu.Unlock()
	if tt.h.hookCalls != 0 {
		t.Errorf("%d empty hook deliveries", tt.h.hookCalls)
	}
}

// addBlock gives a the method "block", which signals entered and waits
// for release to close (see released) before it returns 0.
func addBlock(a *zocket.Actor[counterState]) (entered <-chan struct{}, release chan struct{}) {
	in := make(chan struct{}, 1)
	release = make(chan struct{})
	zocket.Method(a, "block", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		in <- struct{}{}
		return 0, released(release)
	})
	return in, release
}

// released waits for ch to close, so that a handler blocked by a test
// still returns (with an error) when the test fails before releasing it.
func released(ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-time.After(waitTimeout):
		return errors.New("never released")
	}
}

// TestHookFailures: a hook that panics, fails or emits an undeclared event
// is logged and rolled back (no patch, no events); the instance and the
// call that triggered it carry on.
func TestHookFailures(t *testing.T) {
	t.Parallel()
	type st struct {
		Log []string `json:"log"`
	}
	ok := zocket.NewEvent[string]("ok")
	undeclared := zocket.NewEvent[string]("undeclared")
	var logs logBuffer
	a := zocket.NewActor("hf", func() st { return st{} }, zocket.Emits(ok))
	a.OnActivate(func(s *st, c *zocket.Call) error {
		s.Log = append(s.Log, "activate")
		panic("activate panicked")
	})
	a.OnConnect(func(s *st, c *zocket.Call) error {
		s.Log = append(s.Log, "connect "+c.ClientID())
		if err := ok.Emit(c, "connect "+c.ClientID()); err != nil {
			return err
		}
		if c.ClientID() == "B" {
			_ = undeclared.Emit(c, "x") // error ignored: the hook fails anyway
		}
		return nil
	})
	a.OnDisconnect(func(s *st, c *zocket.Call) error {
		s.Log = append(s.Log, "disconnect "+c.ClientID())
		return errors.New("disconnect failed")
	})
	zocket.Method(a, "log", func(s *st, c *zocket.Call, _ struct{}) ([]string, error) { return s.Log, nil })
	tt := start(t, mustApp(t, a), engine.Config{Logger: logs.logger()})

	doc := tt.subState("A", "hf", "x")
	tt.send("A", protocol.TypeEventSub, "hf", "x")
	if normJSON(t, doc) != `{"log":["connect A"]}` {
		t.Errorf("snapshot %s: OnActivate's change was not rolled back", doc)
	}
	frames := tt.callOK("B", "hf", "x", "log", nil, nil)
	if len(frames) != 0 {
		t.Errorf("B's failed OnConnect sent %v to B", types(frames))
	}
	if fs := tt.h.unread("A"); len(fs) != 0 {
		t.Errorf("B's failed OnConnect sent %v to A", types(fs))
	}
	tt.e.Disconnect("B")
	var log []string
	tt.callOK("A", "hf", "x", "log", nil, &log)
	if fmt.Sprint(log) != "[connect A]" {
		t.Errorf("log %v", log)
	}
	wantContains(t, logs.String(), "OnActivate", "activate panicked", "OnConnect", "undeclared event", "OnDisconnect", "disconnect failed")
}

// TestChurn races calls, disconnects, idle eviction (1ms) and recreation
// of the same instances, then Close. Invariants: every request is answered
// once, calls succeed, there is never more than one live instance per id
// (a recreated instance activates only after its predecessor deactivated),
// and after Close every activation has its deactivation.
func TestChurn(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	live := map[string]int{}
	var problems []string
	activations := 0
	a := counterActor("churn")
	a.OnActivate(func(s *counterState, c *zocket.Call) error {
		mu.Lock()
		defer mu.Unlock()
		activations++
		if live[c.ActorID()]++; live[c.ActorID()] != 1 {
			problems = append(problems, "two live instances of "+c.ActorID())
		}
		return nil
	})
	a.OnDeactivate(func(s *counterState, c *zocket.Call) error {
		mu.Lock()
		defer mu.Unlock()
		live[c.ActorID()]--
		return nil
	})
	h := newTestHost()
	e := engine.New(mustApp(t, a), engine.Config{Host: h, IdleTimeout: time.Millisecond})
	const workers, rounds = 8, 150
	var wg sync.WaitGroup
	reqs := make([][]*engine.Request, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				session := fmt.Sprintf("w%d-%d", w, r)
				for i := range 3 {
					req := &engine.Request{SessionID: session, Frame: protocol.Frame{
						Type: protocol.TypeRPC, ID: fmt.Sprint(i), Actor: "churn", ActorID: fmt.Sprint("x", (w*7+r*3+i)%16),
						Method: "add", Input: json.RawMessage(`{"n":1}`),
					}}
					reqs[w] = append(reqs[w], req)
					e.Dispatch(req)
				}
				if r%4 != 0 { // mostly wait for the answers; sometimes leave at once
					last := reqs[w][len(reqs[w])-1]
					if !h.wait(func() bool { return h.delivered[last] > 0 }) {
						return
					}
				}
				e.Disconnect(session)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, "workers")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	answered := 0
	for _, rs := range reqs {
		for _, r := range rs {
			if n := h.delivered[r]; n != 1 {
				t.Fatalf("request of %s delivered %d times", r.SessionID, n)
			}
		}
	}
	for _, fs := range h.inbox {
		for _, f := range fs {
			if f.HasError {
				t.Errorf("call failed: %s", f.Error)
			}
			answered++
		}
	}
	t.Logf("%d calls answered (the others came after their session's disconnect), %d activations", answered, activations)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	for id, n := range live {
		if n != 0 {
			t.Errorf("%s: %d activations without deactivation after Close", id, n)
		}
	}
	for _, p := range h.problems {
		t.Error(p)
	}
}

// Middleware guards subscriptions too: a rejected client gets no snapshot,
// no events and does not count as connected.
func TestMiddlewareGuardsSubscriptions(t *testing.T) {
	a := counterActor("guarded")
	a.OnConnect(func(s *counterState, c *zocket.Call) error { s.Count += 100; return nil })
	var seen sync.Map // frame types middleware was asked about
	a.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		seen.Store(info.Frame, true)
		if info.UserID == "" {
			return nil, zocket.Reject("login required")
		}
		return ctx, nil
	})
	tt := start(t, mustApp(t, a), engine.Config{})
	for _, typ := range []string{protocol.TypeStateSub, protocol.TypeEventSub} {
		tt.send("anon", typ, "guarded", "x")
	}
	got := tt.h.unread("anon")
	if len(got) != 2 {
		t.Fatalf("rejected subscriber received %v, want two sub:errors", types(got))
	}
	for i, f := range got {
		if f.Type != protocol.TypeSubError || f.Error != "login required" || f.Actor != "guarded" || f.ActorID != "x" ||
			f.Refused != []string{protocol.TypeStateSub, protocol.TypeEventSub}[i] {
			t.Fatalf("refusal %d: %+v", i, f)
		}
	}
	if msg := tt.callErr("anon", "guarded", "x", "get", nil); msg != "login required" {
		t.Fatalf("rejected call: %q", msg)
	}
	req := tt.dispatch(&engine.Request{SessionID: "user", UserID: "u1", Frame: protocol.Frame{
		Type: protocol.TypeStateSub, Actor: "guarded", ActorID: "x"}})
	tt.waitDelivered(req)
	var snap counterState
	frames := tt.h.unread("user")
	if len(frames) != 1 || json.Unmarshal(frames[0].State, &snap) != nil || snap.Count != 100 {
		t.Fatalf("allowed subscriber got %v; want one snapshot with only its own OnConnect (count 100)", frames)
	}
	for _, typ := range []string{"rpc", "state:sub", "event:sub"} {
		if _, ok := seen.Load(typ); !ok {
			t.Errorf("middleware never saw a %s frame", typ)
		}
	}
}

// An instance goroutine lingers after its queue drains, waiting for the next
// call, but neither Close nor eviction waits for the linger to end.
func TestLingerDoesNotDelayCloseOrEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hooks := make(chan string, 100)
		tt := start(t, mustApp(t, lifecycleActor(hooks, nil)), engine.Config{IdleTimeout: time.Hour})
		var n int
		tt.callOK("A", "life", "x", "add", addInput{1}, &n)
		if got := <-hooks; got != "activate x" {
			t.Fatalf("hook %q", got)
		}
		synctest.Wait() // x's goroutine is now parked, waiting for work
		// The parked goroutine takes the next call at once.
		t0 := time.Now()
		tt.callOK("A", "life", "x", "add", addInput{1}, &n)
		if n != 2 || time.Since(t0) != 0 {
			t.Fatalf("second call: n = %d after %v, want 2 after 0s", n, time.Since(t0))
		}
		// Close wakes it: no wait for the linger.
		t0 = time.Now()
		if err := tt.e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d != 0 {
			t.Errorf("Close took %v with a lingering instance goroutine, want 0s", d)
		}
		if n := tt.e.Len(); n != 0 {
			t.Errorf("Len = %d after Close, want 0", n)
		}
		if got := recv(t, hooks, "deactivate"); got != "deactivate x 2" {
			t.Errorf("hook %q", got)
		}
	})
}

// An event is encoded only when the instance has event subscribers: with
// none, even a payload JSON cannot encode does not fail the call.
func TestEmitEncodesOnlyForSubscribers(t *testing.T) {
	t.Parallel()
	ev := zocket.NewEvent[map[string]any]("odd")
	a := zocket.NewActor("em", func() counterState { return counterState{} }, zocket.Emits(ev))
	zocket.Method(a, "emit", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		s.Count++
		return s.Count, ev.Emit(c, map[string]any{"ch": make(chan int)}) // json: unsupported type
	})
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) { return s.Count, nil })
	tt := start(t, mustApp(t, a), engine.Config{})
	var n int
	tt.callOK("A", "em", "x", "emit", nil, &n)
	if n != 1 {
		t.Fatalf("emit without event subscribers = %d, want 1", n)
	}
	tt.send("B", protocol.TypeEventSub, "em", "x")
	if got := tt.callErr("A", "em", "x", "emit", nil); got != "internal error" { // the cause is logged, not sent
		t.Fatalf("emit with an event subscriber: error %q, want %q", got, "internal error")
	}
	tt.callOK("A", "em", "x", "get", nil, &n)
	if n != 1 {
		t.Fatalf("count after the failed emit = %d, want 1 (rolled back)", n)
	}
}

func TestExpireLetsTheSessionComeBack(t *testing.T) {
	t.Parallel()
	hooks := make(chan string, 100)
	a := zocket.NewActor("room", func() counterState { return counterState{} })
	a.OnConnect(func(_ *counterState, c *zocket.Call) error { hooks <- "connect " + c.ClientID(); return nil })
	a.OnDisconnect(func(_ *counterState, c *zocket.Call) error { hooks <- "disconnect " + c.ClientID(); return nil })
	zocket.Method(a, "hello", func(s *counterState, _ *zocket.Call, _ struct{}) (int, error) {
		s.Count++
		return s.Count, nil
	})
	tt := start(t, mustApp(t, a), engine.Config{})
	sessions := func() string {
		ids := tt.e.Sessions()
		sort.Strings(ids)
		return strings.Join(ids, ",")
	}
	if got := sessions(); got != "" {
		t.Fatalf("sessions before any frame: %q", got)
	}
	tt.callOK("A", "room", "x", "hello", nil, nil)
	tt.callOK("B", "room", "x", "hello", nil, nil)
	for _, want := range []string{"connect A", "connect B"} {
		if got := recv(t, hooks, want); got != want {
			t.Fatalf("hook %q, want %q", got, want)
		}
	}
	if got := sessions(); got != "A,B" {
		t.Fatalf("sessions = %q, want A,B", got)
	}

	// A session that sent a frame after the mark is alive.
	beforeB := tt.e.Mark()
	tt.callOK("B", "room", "x", "hello", nil, nil)
	if tt.e.Expire("B", beforeB) {
		t.Fatal("Expire took B for dead although it sent a frame after the mark")
	}
	if !tt.e.Expire("A", tt.e.Mark()) {
		t.Fatal("Expire(A, now) = false, want true")
	}
	if tt.e.Expire("nobody", tt.e.Mark()) { // unknown sessions are ignored
		t.Fatal("Expire of an unknown session = true")
	}
	if got := recv(t, hooks, "disconnect A"); got != "disconnect A" {
		t.Fatalf("hook %q, want disconnect A", got)
	}
	if got := sessions(); got != "B" {
		t.Fatalf("sessions after Expire(A) = %q, want B", got)
	}
	// Unlike a disconnected session, an expired one that speaks again is
	// served, and connects again.
	var n int
	tt.callOK("A", "room", "x", "hello", nil, &n)
	if n != 4 {
		t.Errorf("count %d, want 4 (A, B, B, A)", n)
	}
	if got := recv(t, hooks, "connect A"); got != "connect A" {
		t.Fatalf("hook %q, want connect A again", got)
	}
	if got := sessions(); got != "A,B" {
		t.Fatalf("sessions after A came back = %q, want A,B", got)
	}

	// Expire does not undo Disconnect: a disconnected session stays gone.
	tt.e.Disconnect("B")
	if tt.e.Expire("B", tt.e.Mark()) {
		t.Error("Expire of a disconnected session = true")
	}
	if got := recv(t, hooks, "disconnect B"); got != "disconnect B" {
		t.Fatalf("hook %q, want disconnect B", got)
	}
	tt.waitDelivered(tt.rpc("B", "room", "x", "hello", nil))
	if fs := tt.h.unread("B"); len(fs) != 0 {
		t.Errorf("gone session B got %v", types(fs))
	}
	select {
	case h := <-hooks:
		t.Errorf("unexpected hook %q", h)
	default:
	}
}
