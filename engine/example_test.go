package engine_test

import (
	"context"
	"errors"
	"fmt"

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

// Validate rejects inputs before the handler runs.
func (in AddInput) Validate() error {
	if in.N == 0 {
		return errors.New("n must not be 0")
	}
	return nil
}

// Add is a method handler.
func (c *Counter) Add(call *zocket.Call, in AddInput) (int, error) {
	c.Count += in.N
	return c.Count, nil
}

func ExampleNew() {
	counter := zocket.NewActor("counter", func() Counter { return Counter{} })
	zocket.Method(counter, "add", (*Counter).Add)
	app, err := zocket.NewApp(counter)
	if err != nil {
		fmt.Println(err)
		return
	}

	// A host carries frames between sessions and the engine. Deliver is
	// called once per dispatched request, after it was processed.
	delivered := make(chan []engine.Outgoing, 1)
	e := engine.New(app, engine.Config{
		Host: engine.HostFunc(func(req *engine.Request, out []engine.Outgoing) { delivered <- out }),
	})
	send := func(data string) {
		frame, err := protocol.DecodeClient([]byte(data))
		if err != nil {
			fmt.Println(err)
			return
		}
		e.Dispatch(&engine.Request{SessionID: "alice", Frame: frame})
		for _, o := range <-delivered {
			fmt.Printf("%s <- %s\n", o.SessionID, o.Frame)
		}
	}
	send(`{"type":"state:sub","actor":"counter","actorId":"c1"}`)
	send(`{"type":"rpc","id":"1","actor":"counter","actorId":"c1","method":"add","input":{"n":2}}`)

	e.Disconnect("alice") // when the socket closes
	if err := e.Close(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// alice <- {"type":"state:snapshot","actor":"counter","actorId":"c1","state":{"count":0}}
	// alice <- {"type":"state:patch","actor":"counter","actorId":"c1","patches":[{"value":2,"op":"replace","path":"/count"}]}
	// alice <- {"type":"rpc:result","id":"1","result":2}
}
