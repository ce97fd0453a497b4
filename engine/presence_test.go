package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

type lobby struct {
	Here   zocket.Presence `json:"here"`
	Visits int             `json:"visits"`
	Topic  string          `json:"topic"`
}

func lobbyActor() *zocket.Actor[lobby] {
	a := zocket.NewActor("lobby", func() lobby { return lobby{} })
	zocket.TrackPresence(a, func(s *lobby) *zocket.Presence { return &s.Here })
	a.OnConnect(func(s *lobby, c *zocket.Call) error {
		s.Visits++
		if c.UserID() == "grumpy" {
			return errors.New("hook fails") // presence must survive it
		}
		return nil
	})
	zocket.Method(a, "get", func(s *lobby, c *zocket.Call, _ struct{}) (lobby, error) { return *s, nil })
	return a
}

func lobbyState(t *testing.T, tt *tester, session string) lobby {
	t.Helper()
	var l lobby
	tt.callOK(session, "lobby", "l", "get", nil, &l)
	return l
}

func TestPresence(t *testing.T) {
	tt := start(t, mustApp(t, lobbyActor()), engine.Config{})
	tt.dispatch(&engine.Request{SessionID: "a", UserID: "ada", Frame: protocol.Frame{Type: protocol.TypeStateSub, Actor: "lobby", ActorID: "l"}})
	req := tt.dispatch(&engine.Request{SessionID: "g", UserID: "grumpy", Frame: protocol.Frame{Type: protocol.TypeStateSub, Actor: "lobby", ActorID: "l"}})
	tt.waitDelivered(req)
	l := lobbyState(t, tt, "a")
	if len(l.Here) != 2 || l.Here["a"].UserID != "ada" || l.Here["g"].UserID != "grumpy" {
		t.Fatalf("presence %+v, want a (ada) and g (grumpy)", l.Here)
	}

	// A client sets its own data; watchers get it as a patch.
	tt.h.unread("a")
	tt.callOK("g", "lobby", "l", zocket.PresenceMethod, map[string]any{"typing": true}, nil)
	var patched bool
	for _, f := range tt.h.unread("a") {
		if f.Type == protocol.TypeStatePatch && strings.Contains(string(f.Patches), `"typing":true`) {
			patched = true
		}
	}
	if !patched {
		t.Fatal("watcher got no patch with g's presence data")
	}
	if l = lobbyState(t, tt, "a"); string(l.Here["g"].Data) != `{"typing":true}` || l.Here["a"].Data != nil {
		t.Fatalf("presence %+v", l.Here)
	}
	big := strings.Repeat("x", zocket.MaxPresenceData)
	if msg := tt.callErr("g", "lobby", "l", zocket.PresenceMethod, big); !strings.Contains(msg, "limit") {
		t.Fatalf("oversized presence data: %q", msg)
	}

	// Leaving, by disconnect or by expiry (a dead gateway's session),
	// removes the entry.
	tt.e.Disconnect("g")
	if l = lobbyState(t, tt, "a"); len(l.Here) != 1 || l.Here["g"].UserID != "" {
		t.Fatalf("after g left: %+v", l.Here)
	}
	mark := tt.e.Mark()
	if !tt.e.Expire("a", mark) {
		t.Fatal("Expire(a) = false")
	}
	l = lobbyState(t, tt, "b")
	if _, ok := l.Here["a"]; ok || len(l.Here) != 1 {
		t.Fatalf("after a expired: %+v, want b alone", l.Here)
	}
	// grumpy's failing OnConnect was rolled back (a and b counted), but his
	// presence, recorded in a step of its own, was not.
	if l.Visits != 2 {
		t.Fatalf("visits %d, want 2", l.Visits)
	}
}
