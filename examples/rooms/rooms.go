// Command rooms is a chat where each user sees only the rooms they joined:
// connections authenticate with a JWT (auth.JWT), the room actor lets
// only its members watch it (Actor.AuthorizeSubscription), and nobody's
// token ever reaches another client (Actor.View). Run it with
//
//	JWT_SECRET=change-me go run ./examples/rooms serve -auth jwt
//	JWT_SECRET=change-me go run ./examples/rooms token ada    # a token for ada
//
// then connect with ?token=<token> (or an Authorization: Bearer header):
// `rooms` also runs as dev, runtime and gateway, like any app built with
// package cli.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
)

// Room is a room's state. Invites, the codes that let people in, are the
// members' business: the view leaves them out.
type Room struct {
	Members  []string  `json:"members"`
	Messages []Message `json:"messages"`
	Invite   string    `json:"invite"`
}

// Message is one line said in a room.
type Message struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// PublicRoom is what members watching a room see.
type PublicRoom struct {
	Members  []string  `json:"members"`
	Messages []Message `json:"messages"`
}

// JoinInput joins a room: the first user to join creates it and sets its
// invite code; everyone else needs the code.
type JoinInput struct {
	Invite string `json:"invite"`
}

// SayInput is a message to say.
type SayInput struct {
	Text string `json:"text"`
}

// Validate keeps messages to a line.
func (in SayInput) Validate() error {
	if in.Text == "" || len(in.Text) > 500 {
		return errors.New("text must be 1 to 500 bytes")
	}
	return nil
}

// maxMessages is how many messages a room keeps.
const maxMessages = 50

// Actor is the room actor type.
func Actor() *zocket.Actor[Room] {
	a := zocket.NewActor("room", func() Room { return Room{Members: []string{}, Messages: []Message{}} })
	a.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		if info.UserID == "" {
			return nil, zocket.Reject("sign in first")
		}
		return ctx, nil
	})
	zocket.Method(a, "join", func(s *Room, c *zocket.Call, in JoinInput) (int, error) {
		switch {
		case slices.Contains(s.Members, c.UserID()):
		case len(s.Members) == 0:
			s.Invite = in.Invite
			s.Members = append(s.Members, c.UserID())
		case in.Invite != s.Invite:
			return 0, zocket.Reject("wrong invite code")
		default:
			s.Members = append(s.Members, c.UserID())
		}
		return len(s.Members), nil
	})
	zocket.Method(a, "say", func(s *Room, c *zocket.Call, in SayInput) (int, error) {
		if !slices.Contains(s.Members, c.UserID()) {
			return 0, zocket.Reject("join the room first")
		}
		s.Messages = append(s.Messages, Message{From: c.UserID(), Text: in.Text})
		if len(s.Messages) > maxMessages {
			s.Messages = s.Messages[len(s.Messages)-maxMessages:]
		}
		return len(s.Messages), nil
	})
	a.AuthorizeSubscription(func(s *Room, c *zocket.Call, _ zocket.Subscription) error {
		if !slices.Contains(s.Members, c.UserID()) {
			return zocket.Reject("only members see this room")
		}
		return nil
	})
	a.View(func(s *Room) any { return PublicRoom{Members: s.Members, Messages: s.Messages} })
	return a
}

// tokenCommand prints a token for a user, signed with $JWT_SECRET, valid
// for a day: enough to try the example, not a way to issue real ones.
var tokenCommand = cli.Command{
	Summary: "print a JWT for a user, signed with $JWT_SECRET (for trying the example)",
	Run: func(ctx context.Context, env cli.Env, args []string) error {
		fs := flag.NewFlagSet("token", flag.ContinueOnError)
		fs.SetOutput(env.Stderr)
		ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
		if err := fs.Parse(args); err != nil {
			return cli.ErrUsage
		}
		secret := env.Getenv("JWT_SECRET")
		if fs.NArg() != 1 || secret == "" {
			fmt.Fprintln(env.Stderr, "usage: JWT_SECRET=... rooms token [-ttl 24h] USER")
			return cli.ErrUsage
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": fs.Arg(0), "exp": jwt.NewNumericDate(time.Now().Add(*ttl)),
		}).SignedString([]byte(secret))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(env.Stdout, tok)
		return err
	},
}

func main() {
	app, err := zocket.NewApp(Actor())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli.Main(app, &cli.Options{Default: "serve", Extra: map[string]cli.Command{"token": tokenCommand}})
}
