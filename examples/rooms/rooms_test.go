package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/client"
)

// TestRooms runs the example as its README says: serve -auth jwt, tokens
// from the token command; each user sees only the rooms they joined.
func TestRooms(t *testing.T) {
	app, err := zocket.NewApp(Actor())
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"JWT_SECRET": "rooms test secret", "PORT": freePort(t)}
	getenv := func(k string) string { return env[k] }
	opts := &cli.Options{Extra: map[string]cli.Command{"token": tokenCommand}}
	token := func(user string) string {
		var out bytes.Buffer
		if err := cli.Run(t.Context(), app, []string{"token", user}, cli.Env{Stdout: &out, Stderr: io.Discard, Getenv: getenv}, opts); err != nil {
			t.Fatalf("token %s: %v", user, err)
		}
		return strings.TrimSpace(out.String())
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- cli.Run(ctx, app, []string{"serve", "-auth", "jwt", "-host", "127.0.0.1"},
			cli.Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: getenv}, opts)
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	url := "ws://127.0.0.1:" + env["PORT"] + "/"
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	dial := func(user string) *client.Client {
		t.Helper()
		var c *client.Client
		var err error
		for c == nil { // the server may still be starting
			if c, err = client.Dial(wctx, url, &client.Options{Token: token(user)}); err != nil {
				if wctx.Err() != nil {
					t.Fatalf("dial as %s: %v", user, err)
				}
				c = nil
				time.Sleep(50 * time.Millisecond) // retrying a dial, not synchronizing
			}
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	ada, bob := dial("ada"), dial("bob")
	// No token: refused before the upgrade.
	if _, err := client.Dial(wctx, url, &client.Options{DialTimeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("dial without a token: %v, want 401", err)
	}
	goRoom := func(c *client.Client) *client.Actor { return c.Actor("room", "go") }
	if n, err := client.CallT[int](wctx, goRoom(ada), "join", JoinInput{Invite: "gopher"}); err != nil || n != 1 {
		t.Fatalf("ada joins: %d, %v", n, err)
	}
	if _, err := client.CallT[int](wctx, goRoom(ada), "say", SayInput{Text: "hello"}); err != nil {
		t.Fatalf("ada says: %v", err)
	}

	// bob is not a member: he may not watch, nor speak, nor guess the code.
	var se *client.SubError
	if _, err := goRoom(bob).WatchState(wctx); !errors.As(err, &se) || se.Message != "only members see this room" {
		t.Fatalf("bob watches: %v, want a refusal", err)
	}
	if _, err := client.CallT[int](wctx, goRoom(bob), "say", SayInput{Text: "hi"}); err == nil || !strings.Contains(err.Error(), "join the room first") {
		t.Fatalf("bob says: %v", err)
	}
	if _, err := client.CallT[int](wctx, goRoom(bob), "join", JoinInput{Invite: "guess"}); err == nil || !strings.Contains(err.Error(), "wrong invite code") {
		t.Fatalf("bob guesses: %v", err)
	}

	// With the code he joins, and sees the history, never the code.
	if n, err := client.CallT[int](wctx, goRoom(bob), "join", JoinInput{Invite: "gopher"}); err != nil || n != 2 {
		t.Fatalf("bob joins: %d, %v", n, err)
	}
	w, err := goRoom(bob).WatchState(wctx)
	if err != nil {
		t.Fatalf("bob watches after joining: %v", err)
	}
	defer w.Close()
	var room PublicRoom
	if err := w.Decode(&room); err != nil || len(room.Messages) != 1 || room.Messages[0].From != "ada" {
		t.Fatalf("bob sees %s (%v)", w.State(), err)
	}
	if strings.Contains(string(w.State()), "gopher") {
		t.Fatalf("the invite code reached a watcher: %s", w.State())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
