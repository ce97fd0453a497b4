package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

type counterState struct {
	Count int `json:"count"`
}

type addInput struct {
	N int `json:"n"`
}

// counterActor is the small actor most engine tests use.
func counterActor(name string) *zocket.Actor[counterState] {
	a := zocket.NewActor(name, func() counterState { return counterState{} })
	zocket.Method(a, "add", func(s *counterState, c *zocket.Call, in addInput) (int, error) {
		s.Count += in.N
		return s.Count, nil
	})
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		return s.Count, nil
	})
	return a
}

// Inputs exercising decoding and both Validate receivers.
type moveInput struct {
	X    int      `json:"x"`
	Y    int      `json:"y"`
	Tags []string `json:"tags"`
}

type valueValidated struct {
	Name string `json:"name"`
}

func (v valueValidated) Validate() error {
	if v.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

type pointerValidated struct {
	Age int `json:"age"`
}

func (p *pointerValidated) Validate() error {
	if p.Age < 0 {
		return fmt.Errorf("age %d is negative", p.Age)
	}
	return nil
}

type resultShape struct {
	Sum   int      `json:"sum"`
	Words []string `json:"words"`
}

func inputActor() *zocket.Actor[counterState] {
	a := zocket.NewActor("in", func() counterState { return counterState{} })
	zocket.Method(a, "move", func(s *counterState, c *zocket.Call, in moveInput) (moveInput, error) { return in, nil })
	zocket.Method(a, "greet", func(s *counterState, c *zocket.Call, in valueValidated) (string, error) {
		return "hello " + in.Name, nil
	})
	zocket.Method(a, "age", func(s *counterState, c *zocket.Call, in pointerValidated) (int, error) { return in.Age, nil })
	zocket.Method(a, "num", func(s *counterState, c *zocket.Call, in float64) (float64, error) { return in * 2, nil })
	zocket.Method(a, "shape", func(s *counterState, c *zocket.Call, in []int) (resultShape, error) {
		r := resultShape{}
		for _, n := range in {
			r.Sum += n
			r.Words = append(r.Words, fmt.Sprint(n))
		}
		return r, nil
	})
	zocket.Method(a, "nothing", func(s *counterState, c *zocket.Call, in struct{}) (*int, error) { return nil, nil })
	return a
}

func TestMethodInputAndResult(t *testing.T) {
	t.Parallel()
	tt := start(t, mustApp(t, inputActor()), engine.Config{})
	ok := []struct {
		method string
		input  any
		want   string
	}{
		{"move", json.RawMessage(`{"x":1,"y":-2,"tags":["a"]}`), `{"x":1,"y":-2,"tags":["a"]}`},
		{"move", nil, `{"x":0,"y":0,"tags":null}`},                                     // absent input: zero value
		{"move", json.RawMessage(`null`), `{"x":0,"y":0,"tags":null}`},                 // null input: zero value
		{"move", json.RawMessage(`{"x":3,"extra":true}`), `{"x":3,"y":0,"tags":null}`}, // unknown fields ignored
		{"greet", map[string]string{"name": "ann"}, `"hello ann"`},
		{"age", map[string]int{"age": 7}, `7`},
		{"age", nil, `0`},
		{"num", 1.25, `2.5`},
		{"shape", []int{1, 2, 3}, `{"sum":6,"words":["1","2","3"]}`},
		{"shape", nil, `{"sum":0,"words":null}`},
		{"nothing", nil, `null`},
	}
	for _, c := range ok {
		_, res := tt.call("s1", "in", "x", c.method, c.input)
		if res.HasError || string(res.Result) != c.want {
			t.Errorf("%s(%v) = %s (error %q), want %s", c.method, c.input, res.Result, res.Error, c.want)
		}
	}

	bad := []struct {
		name, actor, method string
		input               any
		want                []string
	}{
		{"field type", "in", "move", json.RawMessage(`{"x":"one"}`), []string{"invalid input", "in.move", `field "x"`, "string", "integer"}},
		{"nested field type", "in", "move", json.RawMessage(`{"tags":[1]}`), []string{"invalid input", `field "tags"`, "number", "string"}},
		{"top-level type", "in", "move", json.RawMessage(`[1,2]`), []string{"invalid input", "array", "object"}},
		{"scalar type", "in", "num", json.RawMessage(`"x"`), []string{"invalid input", "in.num", "string", "number"}},
		{"malformed JSON", "in", "move", json.RawMessage(`{"x":`), []string{"invalid input", "in.move"}},
		{"value Validate", "in", "greet", json.RawMessage(`{}`), []string{"invalid input", "in.greet", "name is required"}},
		{"value Validate absent input", "in", "greet", nil, []string{"invalid input", "name is required"}},
		{"pointer Validate", "in", "age", map[string]int{"age": -3}, []string{"invalid input", "in.age", "age -3 is negative"}},
		{"unknown method", "in", "fly", nil, []string{"unknown method", `"fly"`, `actor "in"`}},
		{"unknown actor", "nope", "move", nil, []string{"unknown actor type", `"nope"`}},
	}
	for _, c := range bad {
		if got := tt.callErr("s1", c.actor, "x", c.method, c.input); true {
			wantContains(t, got, c.want...)
		}
	}

	// An empty actor id is refused, also for unknown methods.
	req := tt.dispatch(&engine.Request{SessionID: "s1", Frame: protocol.Frame{Type: protocol.TypeRPC, ID: "noid", Actor: "in", Method: "move"}})
	_, res := tt.h.result(t, "s1", req.Frame.ID)
	wantContains(t, res.Error, "actorId")
	// A server frame sent as a client frame: answered with an error.
	req = tt.dispatch(&engine.Request{SessionID: "s1", Frame: protocol.Frame{Type: protocol.TypeWelcome, ID: "w", Actor: "in", ActorID: "x"}})
	tt.waitDelivered(req)
	// Subscriptions to unknown actors are refused with a sub:error that
	// names the sub frame's id.
	tt.dispatch(&engine.Request{SessionID: "s1", Frame: protocol.Frame{Type: protocol.TypeStateSub, ID: "sub-1", Actor: "nope", ActorID: "x"}})
	if fs := tt.h.unread("s1"); len(fs) != 1 || fs[0].Type != protocol.TypeSubError || fs[0].ID != "sub-1" ||
		!strings.HasPrefix(fs[0].Error, "unknown actor type") || fs[0].Refused != protocol.TypeStateSub {
		t.Errorf("frames %+v, want one sub:error", fs)
	}
}

// TestValidatePanicDoesNotCrashDispatch: Validate is user code that runs in
// Dispatch, on the host's goroutine. A panicking Validate (here: a nil
// pointer input, as an absent input leaves it) must become an error, not
// crash the host.
type ptrInput struct{ N int }

func (p *ptrInput) Validate() error {
	if p.N < 0 { // nil p panics
		return errors.New("negative")
	}
	return nil
}

type panicUnmarshal struct{}

func (*panicUnmarshal) UnmarshalJSON([]byte) error { panic("boom in UnmarshalJSON") }

func TestInputDecodePanics(t *testing.T) {
	t.Parallel()
	a := zocket.NewActor("p", func() counterState { return counterState{} })
	zocket.Method(a, "ptr", func(s *counterState, c *zocket.Call, in *ptrInput) (int, error) { return in.N, nil })
	zocket.Method(a, "unm", func(s *counterState, c *zocket.Call, in panicUnmarshal) (int, error) { return 1, nil })
	tt := start(t, mustApp(t, a), engine.Config{})
	var n int
	tt.callOK("s", "p", "x", "ptr", map[string]int{"N": 4}, &n)
	if n != 4 {
		t.Errorf("ptr = %d", n)
	}
	wantContains(t, tt.callErr("s", "p", "x", "ptr", nil), "internal error")
	wantContains(t, tt.callErr("s", "p", "x", "unm", map[string]int{}), "internal error")
	tt.callOK("s", "p", "x", "ptr", map[string]int{"N": 5}, &n)
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	a := zocket.NewActor("e", func() counterState { return counterState{} })
	zocket.Method(a, "plain", func(s *counterState, c *zocket.Call, in struct{}) (int, error) {
		return 0, fmt.Errorf("secret detail: %w", cause)
	})
	zocket.Method(a, "public", func(s *counterState, c *zocket.Call, in addInput) (int, error) {
		return 0, zocket.Errorf("need %d more coins", in.N)
	})
	zocket.Method(a, "wrapped", func(s *counterState, c *zocket.Call, in struct{}) (int, error) {
		return 0, zocket.Errorf("storage unavailable: %w", cause)
	})
	zocket.Method(a, "typednil", func(s *counterState, c *zocket.Call, in struct{}) (int, error) {
		var err *zocket.Error // a classic: a nil *Error in a non-nil error
		return 0, err
	})
	zocket.Method(a, "badresult", func(s *counterState, c *zocket.Call, in struct{}) (func(), error) {
		s.Count = 99 // rolled back: the call fails when its result cannot be encoded
		return func() {}, nil
	})
	zocket.Method(a, "panic", func(s *counterState, c *zocket.Call, in struct{}) (int, error) { panic("oops") })
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, in struct{}) (int, error) { return s.Count, nil })
	tt := start(t, mustApp(t, a), engine.Config{})

	if got := tt.callErr("s", "e", "x", "plain", nil); got != "internal error" {
		t.Errorf("plain error reached the client as %q", got)
	}
	if got := tt.callErr("s", "e", "x", "public", addInput{3}); got != "need 3 more coins" {
		t.Errorf("public error = %q", got)
	}
	if got := tt.callErr("s", "e", "x", "wrapped", nil); got != "storage unavailable: disk on fire" {
		t.Errorf("Errorf with %%w = %q", got)
	}
	if got := tt.callErr("s", "e", "x", "typednil", nil); got != "internal error" {
		t.Errorf("typed nil *Error = %q", got)
	}
	if got := tt.callErr("s", "e", "x", "badresult", nil); got != "internal error" {
		t.Errorf("unencodable result = %q", got)
	}
	if got := tt.callErr("s", "e", "x", "panic", nil); got != "internal error" {
		t.Errorf("panic = %q", got)
	}
	var n int
	tt.callOK("s", "e", "x", "get", nil, &n)
	if n != 0 {
		t.Errorf("state after failed calls = %d, want 0", n)
	}
}
