package zocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
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

func TestNewAppDefinitionErrors(t *testing.T) {
	type chanState struct {
		C chan int `json:"c"`
	}
	noop := func(s *counterState, c *zocket.Call, in struct{}) (int, error) { return 0, nil }
	long := strings.Repeat("x", protocol.MaxIDLength+1)
	tests := []struct {
		name    string
		actors  func() []zocket.ActorType
		want    []string // substrings of the joined error
		wantErr error    // also matched with errors.Is, beside ErrInvalidDefinition
	}{
		{"no actors", func() []zocket.ActorType { return nil }, []string{"no actor types"}, nil},
		{"nil actor", func() []zocket.ActorType { return []zocket.ActorType{nil} }, []string{"actor 0 is nil"}, nil},
		{"typed nil actor", func() []zocket.ActorType {
			var a *zocket.Actor[counterState]
			return []zocket.ActorType{counterActor("ok"), a}
		}, []string{"actor 1 is nil"}, nil},
		{"duplicate type", func() []zocket.ActorType {
			return []zocket.ActorType{counterActor("c"), counterActor("c")}
		}, []string{`actor type "c" registered twice`}, nil},
		{"empty name", func() []zocket.ActorType { return []zocket.ActorType{counterActor("")} }, []string{"empty actor type name"}, nil},
		{"long name", func() []zocket.ActorType { return []zocket.ActorType{counterActor(long)} }, []string{"actor type name longer than 256 bytes"}, nil},
		{"invalid utf-8 name", func() []zocket.ActorType { return []zocket.ActorType{counterActor("a\xff")} }, []string{"not valid UTF-8"}, nil},
		{"duplicate method", func() []zocket.ActorType {
			a := counterActor("c")
			zocket.Method(a, "add", noop)
			return []zocket.ActorType{a}
		}, []string{`method "add" defined twice`}, nil},
		{"empty method name", func() []zocket.ActorType {
			a := counterActor("c")
			zocket.Method(a, "", noop)
			return []zocket.ActorType{a}
		}, []string{"empty method name"}, nil},
		{"long method name", func() []zocket.ActorType {
			a := counterActor("c")
			zocket.Method(a, long, noop)
			return []zocket.ActorType{a}
		}, []string{"method name longer than 256 bytes"}, nil},
		{"nil handler", func() []zocket.ActorType {
			a := counterActor("c")
			zocket.Method[counterState, struct{}, int](a, "nop", nil)
			return []zocket.ActorType{a}
		}, []string{`method "nop": nil handler`}, nil},
		{"state not serializable", func() []zocket.ActorType {
			return []zocket.ActorType{zocket.NewActor("ch", func() chanState { return chanState{} })}
		}, []string{`actor "ch"`, "initial state is not JSON-serializable", "chan int"}, nil},
		{"nil initial", func() []zocket.ActorType {
			return []zocket.ActorType{zocket.NewActor[counterState]("c", nil)}
		}, []string{"nil initial state function"}, nil},
		{"bad option", func() []zocket.ActorType {
			return []zocket.ActorType{zocket.NewActor("c", func() counterState { return counterState{} }, zocket.PatchInterval(-time.Second))}
		}, []string{"patch interval -1s"}, zocket.ErrInvalidOption},
		{"nil event", func() []zocket.ActorType {
			return []zocket.ActorType{zocket.NewActor("c", func() counterState { return counterState{} }, zocket.Emits(nil))}
		}, []string{"nil event"}, zocket.ErrInvalidOption},
		{"event declared twice", func() []zocket.ActorType {
			return []zocket.ActorType{zocket.NewActor("c", func() counterState { return counterState{} },
				zocket.Emits(zocket.NewEvent[int]("e"), zocket.NewEvent[string]("e")))}
		}, []string{`event "e" declared twice`}, zocket.ErrInvalidOption},
		{"empty event name", func() []zocket.ActorType {
			return []zocket.ActorType{zocket.NewActor("c", func() counterState { return counterState{} }, zocket.Emits(zocket.NewEvent[int]("")))}
		}, []string{"empty event name"}, nil},
		{"nil middleware", func() []zocket.ActorType {
			a := counterActor("c")
			a.Use(nil)
			return []zocket.ActorType{a}
		}, []string{"nil middleware"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := zocket.NewApp(tc.actors()...)
			if err == nil {
				t.Fatalf("NewApp succeeded (%v), want error", app.ActorTypes())
			}
			if app != nil {
				t.Errorf("NewApp returned an app with an error")
			}
			if !errors.Is(err, zocket.ErrInvalidDefinition) {
				t.Errorf("error %v does not wrap ErrInvalidDefinition", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
			wantContains(t, err.Error(), tc.want...)
		})
	}

	t.Run("all mistakes joined", func(t *testing.T) {
		bad := counterActor("c")
		zocket.Method(bad, "add", noop)
		zocket.Method[counterState, struct{}, int](bad, "nop", nil)
		_, err := zocket.NewApp(bad, counterActor(""), counterActor("c"),
			zocket.NewActor("ch", func() chanState { return chanState{} }, zocket.PatchInterval(-5*time.Second)))
		if !errors.Is(err, zocket.ErrInvalidDefinition) || !errors.Is(err, zocket.ErrInvalidOption) {
			t.Fatalf("err = %v, want ErrInvalidDefinition and ErrInvalidOption", err)
		}
		wantContains(t, err.Error(), `method "add" defined twice`, `method "nop": nil handler`, "empty actor type name",
			`actor type "c" registered twice`, "initial state is not JSON-serializable", "patch interval -5s")
	})
}

func TestAppDescribesActors(t *testing.T) {
	said := zocket.NewEvent[string]("said")
	left := zocket.NewEvent[int]("left")
	chat := zocket.NewActor("chat", func() counterState { return counterState{} }, zocket.Emits(said, left))
	zocket.Method(chat, "send", func(s *counterState, c *zocket.Call, in string) (struct{}, error) { return struct{}{}, nil })
	zocket.Method(chat, "leave", func(s *counterState, c *zocket.Call, in struct{}) (struct{}, error) { return struct{}{}, nil })
	app := mustApp(t, counterActor("counter"), chat)
	if got, want := fmt.Sprint(app.ActorTypes()), "[chat counter]"; got != want {
		t.Errorf("ActorTypes = %s, want %s", got, want)
	}
	got, _ := json.Marshal(app.Actors())
	want := `[{"Name":"chat","Methods":["leave","send"],"Events":["left","said"]},` +
		`{"Name":"counter","Methods":["add","get"],"Events":[]}]`
	if string(got) != want {
		t.Errorf("Actors = %s\nwant      %s", got, want)
	}
	if chat.Name() != "chat" || said.Name() != "said" {
		t.Errorf("Name() = %q, %q", chat.Name(), said.Name())
	}
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
	tt := start(t, mustApp(t, inputActor()), zocket.EngineConfig{})
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
	req := tt.dispatch(&zocket.Request{SessionID: "s1", Frame: protocol.Frame{Type: protocol.TypeRPC, ID: "noid", Actor: "in", Method: "move"}})
	_, res := tt.h.result(t, "s1", req.Frame.ID)
	wantContains(t, res.Error, "actorId")
	// A server frame sent as a client frame: answered with an error.
	req = tt.dispatch(&zocket.Request{SessionID: "s1", Frame: protocol.Frame{Type: protocol.TypeWelcome, ID: "w", Actor: "in", ActorID: "x"}})
	tt.waitDelivered(req)
	// Subscriptions to unknown actors are refused without an answer.
	tt.send("s1", protocol.TypeStateSub, "nope", "x")
	if fs := tt.h.unread("s1"); len(fs) != 0 {
		t.Errorf("unexpected frames %v", types(fs))
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
	tt := start(t, mustApp(t, a), zocket.EngineConfig{})
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
	tt := start(t, mustApp(t, a), zocket.EngineConfig{})

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

func TestErrorValues(t *testing.T) {
	cause := errors.New("cause")
	e := zocket.Errorf("wrapped %d: %w", 1, cause)
	if e.Error() != "wrapped 1: cause" || e.Message != e.Error() || !errors.Is(e, cause) {
		t.Errorf("Errorf = %#v", e)
	}
	if e := zocket.Errorf("plain"); e.Err != nil || e.Error() != "plain" {
		t.Errorf("Errorf without %%w = %#v", e)
	}
	r := zocket.Reject("no entry")
	if r.Error() != "no entry" || errors.Unwrap(r) != nil {
		t.Errorf("Reject = %#v", r)
	}
	var ze *zocket.Error
	if !errors.As(fmt.Errorf("layer: %w", r), &ze) || ze != r {
		t.Errorf("errors.As does not find a wrapped *Error")
	}
}

func TestKey(t *testing.T) {
	k := zocket.NewKey[int]("n")
	k2 := zocket.NewKey[int]("n")
	ctx := k.With(context.Background(), 7)
	if v, ok := k.From(ctx); !ok || v != 7 {
		t.Errorf("From = %v, %v", v, ok)
	}
	if _, ok := k2.From(ctx); ok {
		t.Errorf("keys with the same name collide")
	}
	if got := fmt.Sprint(k); got != "zocket.Key(n)" {
		t.Errorf("String = %q", got)
	}
}
