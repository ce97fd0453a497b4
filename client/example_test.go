package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/standalone"
)

// Count is the state of the examples' counter actor.
type Count struct {
	Value int `json:"value"`
}

var changed = zocket.NewEvent[int]("changed")

// serveCounter starts a standalone server with a counter actor on a free
// port and returns its URL and a function that stops it.
func serveCounter() (url string, stop func()) {
	counter := zocket.NewActor("counter", func() Count { return Count{} }, zocket.Emits(changed))
	zocket.Method(counter, "add", func(s *Count, c *zocket.Call, in struct{ By int }) (int, error) {
		s.Value += in.By
		return s.Value, changed.Emit(c, s.Value)
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := standalone.New(app, standalone.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	return "ws" + strings.TrimPrefix(ts.URL, "http"), func() {
		_ = srv.Shutdown(context.Background())
		ts.Close()
	}
}

func Example() {
	url, stop := serveCounter()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	counter := c.Actor("counter", "lobby")

	// A live copy of the actor's state.
	w, err := client.Watch[Count](ctx, counter)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	n, err := client.CallT[int](ctx, counter, "add", map[string]int{"by": 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("add returned", n)

	var rpcErr *client.RPCError
	if err := counter.Call(ctx, "reset", nil, nil); errors.As(err, &rpcErr) {
		fmt.Println("server said:", rpcErr.Message)
	}

	for range w.Changed() { // until the patch arrived
		if v, err := w.Value(); err == nil && v.Value == 2 {
			fmt.Println("watched state:", string(w.State()))
			break
		}
	}
	// Output:
	// add returned 2
	// server said: unknown method: "reset" on actor "counter"
	// watched state: {"value":2}
}

func ExampleActor_OnEvent() {
	url, stop := serveCounter()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	counter := c.Actor("counter", "lobby")

	got := make(chan int, 1)
	unsubscribe := counter.OnEvent("changed", func(payload json.RawMessage) {
		var v int
		if err := json.Unmarshal(payload, &v); err == nil {
			got <- v
		}
	})
	defer unsubscribe()

	if err := counter.Call(ctx, "add", map[string]int{"by": 5}, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("changed to", <-got)
	// Output: changed to 5
}

func ExampleMethod() {
	url, stop := serveCounter()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Typed handles, declared once with the Go types of the method.
	type AddInput struct{ By int }
	add := client.Method[AddInput, int](c.Actor("counter", "lobby"), "add")

	n, err := add(ctx, AddInput{By: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("add returned", n)
	// Output: add returned 3
}

func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "wss://zocket.example.com/", &client.Options{
		Token:       os.Getenv("ZOCKET_TOKEN"), // sent as ?token=
		CallTimeout: 5 * time.Second,
		Reconnect:   &client.ReconnectPolicy{MaxDelay: 30 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnStatus: func(ev client.StatusEvent) {
			if ev.Status == client.StatusConnected {
				log.Printf("connected as %s", ev.ClientID)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}
