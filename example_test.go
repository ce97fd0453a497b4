package zocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/protocol"
)

// Counter is the state of a counter actor instance.
type Counter struct {
	Count int `json:"count"`
}

// AddInput is the input of the counter's "add" method.
type AddInput struct {
	N int `json:"n"`
}

// Validate rejects inputs before the handler runs; the client reads the
// message in rpc:result.error.
func (in AddInput) Validate() error {
	if in.N == 0 {
		return errors.New("n must not be 0")
	}
	return nil
}

// Add is a method handler: it gets the instance's state, the call and the
// decoded, validated input.
func (c *Counter) Add(call *zocket.Call, in AddInput) (int, error) {
	c.Count += in.N
	return c.Count, nil
}

// demo runs app on an engine, as package standalone and package runtime
// do, sends it the given frames one at a time and prints every frame the
// engine delivers, as a host would write them to each session's socket.
func demo(app *zocket.App, reqs ...*engine.Request) {
	delivered := make(chan []engine.Outgoing, 1)
	e := engine.New(app, engine.Config{
		Host: engine.HostFunc(func(req *engine.Request, out []engine.Outgoing) { delivered <- out }),
	})
	defer e.Close(context.Background())
	for _, req := range reqs {
		e.Dispatch(req)
		out := <-delivered
		sort.SliceStable(out, func(i, j int) bool { return out[i].SessionID < out[j].SessionID })
		for _, o := range out {
			fmt.Printf("%s <- %s\n", o.SessionID, o.Frame)
		}
	}
}

// rpc builds a request carrying an rpc frame.
func rpc(session, id, actor, actorID, method, input string) *engine.Request {
	f := protocol.Frame{Type: protocol.TypeRPC, ID: id, Actor: actor, ActorID: actorID, Method: method}
	if input != "" {
		f.Input = json.RawMessage(input)
	}
	return &engine.Request{SessionID: session, Frame: f}
}

// sub builds a request carrying a subscription frame.
func sub(session, typ, actor, actorID string) *engine.Request {
	return &engine.Request{SessionID: session, Frame: protocol.Frame{Type: typ, Actor: actor, ActorID: actorID}}
}

func ExampleNewActor() {
	type Message struct {
		From string `json:"from"`
		Text string `json:"text"`
	}
	type Room struct {
		Messages []Message `json:"messages"`
		Online   int       `json:"online"`
	}
	said := zocket.NewEvent[Message]("said")

	room := zocket.NewActor("chat", func() Room { return Room{} }, zocket.Emits(said))
	zocket.Method(room, "send", func(r *Room, c *zocket.Call, text string) (int, error) {
		m := Message{From: c.ClientID(), Text: text}
		r.Messages = append(r.Messages, m)
		return len(r.Messages), said.Emit(c, m)
	})
	room.OnConnect(func(r *Room, c *zocket.Call) error { r.Online++; return nil })
	room.OnDisconnect(func(r *Room, c *zocket.Call) error { r.Online--; return nil })

	app, err := zocket.NewApp(room)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range app.Actors() {
		fmt.Printf("%s: methods %v, events %v\n", a.Name, a.Methods, a.Events)
	}
	demo(app,
		sub("bob", protocol.TypeEventSub, "chat", "lobby"),
		rpc("alice", "1", "chat", "lobby", "send", `"hi"`),
	)
	// Output:
	// chat: methods [send], events [said]
	// alice <- {"type":"rpc:result","id":"1","result":1}
	// bob <- {"type":"event","actor":"chat","actorId":"lobby","event":"said","payload":{"from":"alice","text":"hi"}}
}

func ExampleMethod() {
	counter := zocket.NewActor("counter", func() Counter { return Counter{} })
	zocket.Method(counter, "add", (*Counter).Add) // a method expression fits
	zocket.Method(counter, "get", func(c *Counter, _ *zocket.Call, _ struct{}) (int, error) {
		return c.Count, nil // struct{}: a method without input
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		fmt.Println(err)
		return
	}
	demo(app,
		rpc("alice", "1", "counter", "c1", "add", `{"n":2}`),
		rpc("alice", "2", "counter", "c1", "add", `{"n":0}`),
		rpc("alice", "3", "counter", "c1", "add", `{"n":"two"}`),
		rpc("alice", "4", "counter", "c1", "get", ""),
		rpc("alice", "5", "counter", "c1", "sub", ""),
	)
	// Output:
	// alice <- {"type":"rpc:result","id":"1","result":2}
	// alice <- {"type":"rpc:result","id":"2","error":"invalid input: counter.add: n must not be 0"}
	// alice <- {"type":"rpc:result","id":"3","error":"invalid input: counter.add: field \"n\": cannot use JSON string as integer"}
	// alice <- {"type":"rpc:result","id":"4","result":2}
	// alice <- {"type":"rpc:result","id":"5","error":"unknown method: \"sub\" on actor \"counter\""}
}

func ExampleNewEvent() {
	type Move struct {
		Player string `json:"player"`
		Cell   int    `json:"cell"`
	}
	moved := zocket.NewEvent[Move]("moved")    // the payload type is checked at compile time
	private := zocket.NewEvent[string]("hint") // one event per payload type

	game := zocket.NewActor("game", func() [9]string { return [9]string{} }, zocket.Emits(moved, private))
	zocket.Method(game, "play", func(b *[9]string, c *zocket.Call, cell int) (bool, error) {
		b[cell] = c.ClientID()
		if err := moved.Emit(c, Move{c.ClientID(), cell}, zocket.Except(c.ClientID())); err != nil {
			return false, err
		}
		return true, private.Emit(c, "nice move", zocket.To(c.ClientID()))
	})
	app, err := zocket.NewApp(game)
	if err != nil {
		fmt.Println(err)
		return
	}
	demo(app,
		sub("alice", protocol.TypeEventSub, "game", "g1"),
		sub("bob", protocol.TypeEventSub, "game", "g1"),
		rpc("alice", "1", "game", "g1", "play", `4`),
	)
	// Output:
	// alice <- {"type":"event","actor":"game","actorId":"g1","event":"hint","payload":"nice move"}
	// alice <- {"type":"rpc:result","id":"1","result":true}
	// bob <- {"type":"event","actor":"game","actorId":"g1","event":"moved","payload":{"player":"alice","cell":4}}
}

func ExampleEvent_Emit() {
	changed := zocket.NewEvent[int]("changed")
	counter := zocket.NewActor("counter", func() Counter { return Counter{} }, zocket.Emits(changed))
	zocket.Method(counter, "add", func(c *Counter, call *zocket.Call, in AddInput) (int, error) {
		c.Count += in.N
		// Events are sent only if the call succeeds, after its state patch
		// and before its result.
		return c.Count, changed.Emit(call, c.Count)
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		fmt.Println(err)
		return
	}
	demo(app,
		sub("alice", protocol.TypeStateSub, "counter", "c1"),
		sub("alice", protocol.TypeEventSub, "counter", "c1"),
		rpc("alice", "1", "counter", "c1", "add", `{"n":5}`),
	)
	// Output:
	// alice <- {"type":"state:snapshot","actor":"counter","actorId":"c1","state":{"count":0}}
	// alice <- {"type":"state:patch","actor":"counter","actorId":"c1","patches":[{"value":5,"op":"replace","path":"/count"}]}
	// alice <- {"type":"event","actor":"counter","actorId":"c1","event":"changed","payload":5}
	// alice <- {"type":"rpc:result","id":"1","result":5}
}

func ExampleActor_Use() {
	// A typed key carries a value from middleware to handlers.
	var roleKey = zocket.NewKey[string]("role")

	counter := zocket.NewActor("counter", func() Counter { return Counter{} })
	zocket.Method(counter, "reset", func(c *Counter, call *zocket.Call, _ struct{}) (string, error) {
		role, _ := roleKey.Get(call)
		c.Count = 0
		return "reset by " + call.UserID() + " (" + role + ")", nil
	})
	counter.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		if info.UserID == "" {
			return nil, zocket.Reject("sign in to " + info.Method)
		}
		role, _ := info.Claims["role"].(string)
		return roleKey.With(ctx, role), nil
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		fmt.Println(err)
		return
	}
	signedIn := rpc("bob", "2", "counter", "c1", "reset", "")
	signedIn.UserID, signedIn.Claims = "u-bob", map[string]any{"role": "admin"}
	demo(app, rpc("anon", "1", "counter", "c1", "reset", ""), signedIn)
	// Output:
	// anon <- {"type":"rpc:result","id":"1","error":"sign in to reset"}
	// bob <- {"type":"rpc:result","id":"2","result":"reset by u-bob (admin)"}
}

func ExampleNewApp() {
	type Bad struct {
		Updates chan int // not JSON-serializable
	}
	a := zocket.NewActor("bad", func() Bad { return Bad{} })
	b := zocket.NewActor("counter", func() Counter { return Counter{} })
	zocket.Method(b, "add", (*Counter).Add)
	zocket.Method(b, "add", (*Counter).Add)

	_, err := zocket.NewApp(a, b, zocket.NewActor("counter", func() Counter { return Counter{} }))
	fmt.Println(errors.Is(err, zocket.ErrInvalidDefinition))
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Println(line)
	}
	// Output:
	// true
	// invalid actor definition: actor "bad": initial state is not JSON-serializable: json: unsupported type: chan int
	// actor "counter": method "add" defined twice
	// actor type "counter" registered twice
}

func ExampleErrorf() {
	counter := zocket.NewActor("counter", func() Counter { return Counter{} })
	zocket.Method(counter, "withdraw", func(c *Counter, _ *zocket.Call, n int) (int, error) {
		if n > c.Count {
			return 0, zocket.Errorf("only %d left", c.Count) // the client reads this
		}
		c.Count -= n
		return c.Count, nil
	})
	zocket.Method(counter, "save", func(c *Counter, _ *zocket.Call, _ struct{}) (int, error) {
		return 0, errors.New("dial tcp 10.0.0.7:5432: connection refused") // logged, never sent
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		fmt.Println(err)
		return
	}
	demo(app,
		rpc("alice", "1", "counter", "c1", "withdraw", `3`),
		rpc("alice", "2", "counter", "c1", "save", ``),
	)
	// Output:
	// alice <- {"type":"rpc:result","id":"1","error":"only 0 left"}
	// alice <- {"type":"rpc:result","id":"2","error":"internal error"}
}
