package engine_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

// room is the state of the actor the access tests use: members may watch
// it, everyone else is refused; Secret never leaves the server.
type room struct {
	Members []string `json:"members"`
	Topic   string   `json:"topic"`
	Secret  string   `json:"secret"`
	Checks  int      `json:"checks"`
}

type publicRoom struct {
	Members []string `json:"members"`
	Topic   string   `json:"topic"`
}

func roomActor() *zocket.Actor[room] {
	a := zocket.NewActor("room", func() room { return room{Members: []string{"ada"}, Secret: "s3cret"} })
	connects := 0
	a.OnConnect(func(s *room, c *zocket.Call) error { connects++; return nil })
	a.AuthorizeSubscription(func(s *room, c *zocket.Call, sub zocket.Subscription) error {
		s.Checks++ // changes made by an allowing check are kept
		if !slices.Contains(s.Members, c.UserID()) {
			return zocket.Reject("not a member of this room")
		}
		if sub == zocket.SubscribeEvents && c.Claims()["events"] != true {
			return zocket.Reject("no events for you")
		}
		return nil
	})
	a.View(func(s *room) any { return publicRoom{Members: s.Members, Topic: s.Topic} })
	zocket.Method(a, "join", func(s *room, c *zocket.Call, _ struct{}) (int, error) {
		s.Members = append(s.Members, c.UserID())
		return len(s.Members), nil
	})
	zocket.Method(a, "topic", func(s *room, c *zocket.Call, in struct {
		Topic  string `json:"topic"`
		Secret string `json:"secret"`
	}) (string, error) {
		s.Topic, s.Secret = in.Topic, in.Secret
		return s.Topic, nil
	})
	zocket.Method(a, "secret", func(s *room, c *zocket.Call, _ struct{}) (string, error) { return s.Secret, nil })
	zocket.Method(a, "connects", func(s *room, c *zocket.Call, _ struct{}) (int, error) { return connects, nil })
	return a
}

func subAs(tt *tester, session, user string, claims map[string]any, typ string) []protocol.Frame {
	tt.t.Helper()
	req := tt.dispatch(&engine.Request{SessionID: session, UserID: user, Claims: claims,
		Frame: protocol.Frame{Type: typ, ID: "sub-" + session, Actor: "room", ActorID: "r1"}})
	tt.waitDelivered(req)
	return tt.h.unread(session)
}

func TestAuthorizeSubscription(t *testing.T) {
	tt := start(t, mustApp(t, roomActor()), engine.Config{})

	// A stranger is refused, with the check's message and the sub's id, and
	// is not connected by it.
	fs := subAs(tt, "eve", "eve", nil, protocol.TypeStateSub)
	if len(fs) != 1 || fs[0].Type != protocol.TypeSubError || fs[0].Error != "not a member of this room" ||
		fs[0].ID != "sub-eve" || fs[0].Refused != protocol.TypeStateSub || fs[0].Actor != "room" || fs[0].ActorID != "r1" {
		t.Fatalf("stranger's state:sub answered %+v", fs)
	}
	var connects int
	tt.callOK("admin", "room", "r1", "connects", nil, &connects)
	if connects != 1 { // admin's own call
		t.Fatalf("%d OnConnect runs, want 1: the refused stranger must not count", connects)
	}

	// A member gets the snapshot; the events need a claim.
	fs = subAs(tt, "ada", "ada", nil, protocol.TypeStateSub)
	if len(fs) != 1 || fs[0].Type != protocol.TypeStateSnapshot {
		t.Fatalf("member's state:sub answered %v", types(fs))
	}
	if fs = subAs(tt, "ada", "ada", nil, protocol.TypeEventSub); len(fs) != 1 || fs[0].Error != "no events for you" ||
		fs[0].Refused != protocol.TypeEventSub {
		t.Fatalf("event:sub without the claim answered %+v", fs)
	}
	if fs = subAs(tt, "ada", "ada", map[string]any{"events": true}, protocol.TypeEventSub); len(fs) != 0 {
		t.Fatalf("allowed event:sub answered %v", types(fs))
	}

	// Once eve joins, she may watch.
	join := tt.dispatch(&engine.Request{SessionID: "eve", UserID: "eve",
		Frame: protocol.Frame{Type: protocol.TypeRPC, ID: "j1", Actor: "room", ActorID: "r1", Method: "join"}})
	if _, res := tt.h.result(t, "eve", join.Frame.ID); res.Error != "" {
		t.Fatalf("join: %s", res.Error)
	}
	if fs = subAs(tt, "eve", "eve", nil, protocol.TypeStateSub); len(fs) != 1 || fs[0].Type != protocol.TypeStateSnapshot {
		t.Fatalf("after joining: %v", types(fs))
	}
}

// A refusal by a failing check that is not a Reject says only "internal
// error".
func TestAuthorizeSubscriptionInternalError(t *testing.T) {
	a := counterActor("c")
	a.AuthorizeSubscription(func(*counterState, *zocket.Call, zocket.Subscription) error {
		return errors.New("database down: secret details")
	})
	tt := start(t, mustApp(t, a), engine.Config{})
	tt.send("s", protocol.TypeStateSub, "c", "x")
	if fs := tt.h.unread("s"); len(fs) != 1 || fs[0].Error != "internal error" {
		t.Fatalf("answered %+v", fs)
	}
}

// Subscribers see the View: snapshots and patches never carry the secret,
// method results still see the whole state.
func TestView(t *testing.T) {
	tt := start(t, mustApp(t, roomActor()), engine.Config{})
	fs := subAs(tt, "ada2", "ada", nil, protocol.TypeStateSub)
	if len(fs) != 1 || strings.Contains(string(fs[0].State), "s3cret") || strings.Contains(string(fs[0].State), "checks") {
		t.Fatalf("snapshot %s shows more than the view", fs[0].State)
	}
	var shown publicRoom
	if err := json.Unmarshal(fs[0].State, &shown); err != nil || !slices.Equal(shown.Members, []string{"ada"}) {
		t.Fatalf("snapshot %s", fs[0].State)
	}
	before, _ := tt.call("ada2", "room", "r1", "topic", map[string]string{"topic": "go", "secret": "new secret"})
	var patch protocol.Frame
	for _, f := range before {
		if f.Type == protocol.TypeStatePatch {
			patch = f
		}
	}
	if patch.Type == "" || !strings.Contains(string(patch.Patches), `"go"`) || strings.Contains(string(patch.Patches), "secret") {
		t.Fatalf("patch %s", patch.Patches)
	}
	// A change the view does not show sends no patch.
	before, _ = tt.call("ada2", "room", "r1", "topic", map[string]string{"topic": "go", "secret": "other"})
	for _, f := range before {
		if f.Type == protocol.TypeStatePatch {
			t.Fatalf("a change of the secret alone sent %s", f.Patches)
		}
	}
	var secret string
	tt.callOK("ada2", "room", "r1", "secret", nil, &secret)
	if secret != "other" {
		t.Fatalf("method saw %q", secret)
	}
}

// A view that panics fails the step that changed the state: it is rolled
// back, and subscribers keep a consistent copy.
func TestViewFailureRollsBack(t *testing.T) {
	a := counterActor("v")
	a.View(func(s *counterState) any {
		if s.Count == 13 {
			panic("unlucky")
		}
		return map[string]int{"shown": s.Count}
	})
	tt := start(t, mustApp(t, a), engine.Config{})
	if snap := tt.subState("s", "v", "x"); string(snap) != `{"shown":0}` {
		t.Fatalf("snapshot %s", snap)
	}
	tt.callOK("s", "v", "x", "add", addInput{12}, nil)
	if msg := tt.callErr("s", "v", "x", "add", addInput{1}); msg != "internal error" {
		t.Fatalf("step with a failing view: %q", msg)
	}
	var n int
	tt.callOK("s", "v", "x", "get", nil, &n)
	if n != 12 {
		t.Fatalf("count %d after the rolled-back step, want 12", n)
	}
}

func TestMaxSubscriptions(t *testing.T) {
	tt := start(t, mustApp(t, counterActor("c")), engine.Config{MaxSubscriptions: 2})
	tt.subState("s", "c", "a")
	tt.send("s", protocol.TypeEventSub, "c", "a")
	tt.h.unread("s")
	tt.send("s", protocol.TypeStateSub, "c", "b")
	fs := tt.h.unread("s")
	if len(fs) != 1 || fs[0].Type != protocol.TypeSubError || !strings.HasPrefix(fs[0].Error, "too many subscriptions") {
		t.Fatalf("third subscription answered %+v", fs)
	}
	tt.subState("s", "c", "a") // renewing one it holds is no new one
	tt.subState("other", "c", "b")
	tt.send("s", protocol.TypeEventUnsub, "c", "a")
	if snap := tt.subState("s", "c", "b"); snap == nil { // a freed place
		t.Fatal("no snapshot after an unsub freed a place")
	}
	if st := tt.e.Stats(); st.RefusedSubscriptions != 1 {
		t.Fatalf("RefusedSubscriptions = %d, want 1", st.RefusedSubscriptions)
	}
}

// A handler past CallTimeout has its context cancelled; its call fails
// with "call timed out" and its changes are undone, whether it noticed or
// not.
func TestCallTimeoutCancelsTheHandler(t *testing.T) {
	a := counterActor("slow")
	zocket.Method(a, "patient", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		s.Count += 100
		<-c.Context().Done()
		return s.Count, c.Context().Err()
	})
	zocket.Method(a, "oblivious", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		s.Count += 1000
		time.Sleep(150 * time.Millisecond) // ignores its context: the scenario under test
		return s.Count, nil
	})
	tt := start(t, mustApp(t, a), engine.Config{CallTimeout: 50 * time.Millisecond})
	for _, m := range []string{"patient", "oblivious"} {
		if msg := tt.callErr("s", "slow", "x", m, nil); !strings.HasPrefix(msg, "call timed out") {
			t.Fatalf("%s: %q, want call timed out", m, msg)
		}
	}
	var n int
	tt.callOK("s", "slow", "x", "get", nil, &n)
	if n != 0 {
		t.Fatalf("count %d, want the timed-out changes undone", n)
	}
	if st := tt.e.Stats(); st.CallTimeouts != 2 {
		t.Fatalf("CallTimeouts = %d", st.CallTimeouts)
	}
	// A fast call is untouched.
	tt.callOK("s", "slow", "x", "add", addInput{1}, &n)
	if n != 1 {
		t.Fatalf("add = %d", n)
	}
}
