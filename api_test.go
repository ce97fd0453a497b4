package zocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/protocol"
)

// Tests of the definition API that need no engine; package engine tests
// how definitions run.

type counterState struct {
	Count int `json:"count"`
}

func counterActor(name string) *zocket.Actor[counterState] {
	a := zocket.NewActor(name, func() counterState { return counterState{} })
	zocket.Method(a, "add", func(s *counterState, c *zocket.Call, in struct{ N int }) (int, error) {
		s.Count += in.N
		return s.Count, nil
	})
	zocket.Method(a, "get", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		return s.Count, nil
	})
	return a
}

func mustApp(t testing.TB, actors ...zocket.ActorType) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(actors...)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	return app
}

func wantContains(t testing.TB, got string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(got, s) {
			t.Errorf("%q does not contain %q", got, s)
		}
	}
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

// TestCallOutsideEngine: a handler may be called directly, as in a unit
// test of its own, with a Call no engine made: it reads as empty, and
// emitting fails instead of crashing.
func TestCallOutsideEngine(t *testing.T) {
	said := zocket.NewEvent[string]("said")
	var c zocket.Call
	if c.Context() != nil || !reflect.DeepEqual(c.Info(), zocket.CallInfo{}) || c.ClientID() != "" || c.Clients() != nil {
		t.Errorf("zero Call: context %v, info %+v, clients %v", c.Context(), c.Info(), c.Clients())
	}
	if err := said.Emit(&c, "hi"); err == nil || !strings.Contains(err.Error(), "call is not running") {
		t.Errorf("Emit = %v, want call is not running", err)
	}
	if err := c.Emit("said", "hi"); err == nil {
		t.Errorf("Call.Emit succeeded outside an engine")
	}
}
