// Package chat is a chat room actor: messages kept in state and announced
// as events, and an online list maintained by OnConnect and OnDisconnect.
package chat

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zocket-go/zocket"
)

// Limits of a room.
const (
	MaxMessages   = 100 // older messages are dropped from the state
	MaxTextLength = 2000
	MaxNameLength = 40
)

// Message is one chat message.
type Message struct {
	ID   int    `json:"id"`
	From string `json:"from"` // client id
	Name string `json:"name"`
	Text string `json:"text"`
	At   int64  `json:"at"` // ms since epoch
}

// Member is one online client.
type Member struct {
	ClientID string `json:"clientId"`
	Name     string `json:"name"`
}

// Room is a chat room's state.
type Room struct {
	Messages []Message `json:"messages"`
	Online   []Member  `json:"online"`
	NextID   int       `json:"nextId"`
}

// JoinInput sets the caller's display name.
type JoinInput struct {
	Name string `json:"name"`
}

// Validate checks the name.
func (in JoinInput) Validate() error { return checkText("name", in.Name, MaxNameLength) }

// SendInput is a message to post.
type SendInput struct {
	Text string `json:"text"`
}

// Validate checks the text.
func (in SendInput) Validate() error { return checkText("text", in.Text, MaxTextLength) }

func checkText(field, s string, max int) error {
	switch n := utf8.RuneCountInString(s); {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%s must not be empty", field)
	case n > max:
		return fmt.Errorf("%s is %d characters long, limit %d", field, n, max)
	}
	return nil
}

// NewMessage is emitted to event subscribers for every posted message.
var NewMessage = zocket.NewEvent[Message]("newMessage")

// Name is the actor type's wire name.
const Name = "chat"

// Actor returns the chat room actor type: join {"name"} and send {"text"}
// (which returns the message).
func Actor() *zocket.Actor[Room] {
	a := zocket.NewActor(Name, func() Room {
		return Room{Messages: []Message{}, Online: []Member{}, NextID: 1}
	}, zocket.Emits(NewMessage))
	zocket.Method(a, "join", func(r *Room, c *zocket.Call, in JoinInput) (Member, error) {
		m := r.member(c.ClientID())
		if m == nil {
			return Member{}, errors.New("caller is not in the room") // cannot happen: OnConnect ran
		}
		m.Name = strings.TrimSpace(in.Name)
		return *m, nil
	})
	zocket.Method(a, "send", func(r *Room, c *zocket.Call, in SendInput) (Message, error) {
		name := "guest"
		if m := r.member(c.ClientID()); m != nil {
			name = m.Name
		}
		msg := Message{ID: r.NextID, From: c.ClientID(), Name: name, Text: in.Text, At: time.Now().UnixMilli()}
		r.NextID++
		r.Messages = append(r.Messages, msg)
		if n := len(r.Messages); n > MaxMessages {
			r.Messages = append([]Message(nil), r.Messages[n-MaxMessages:]...)
		}
		return msg, NewMessage.Emit(c, msg)
	})
	a.OnConnect(func(r *Room, c *zocket.Call) error {
		id := c.ClientID()
		r.Online = append(r.Online, Member{ClientID: id, Name: "guest-" + short(id)})
		return nil
	})
	a.OnDisconnect(func(r *Room, c *zocket.Call) error {
		for i, m := range r.Online {
			if m.ClientID == c.ClientID() {
				r.Online = append(r.Online[:i], r.Online[i+1:]...)
				break
			}
		}
		return nil
	})
	return a
}

func (r *Room) member(clientID string) *Member {
	for i := range r.Online {
		if r.Online[i].ClientID == clientID {
			return &r.Online[i]
		}
	}
	return nil
}

func short(id string) string {
	if len(id) > 4 {
		return id[len(id)-4:]
	}
	return id
}
