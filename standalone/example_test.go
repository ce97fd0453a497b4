package standalone_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/standalone"
)

// Counter is the state of the example's actor.
type Counter struct {
	Count int `json:"count"`
}

// AddInput is the input of the counter's add method.
type AddInput struct {
	By int `json:"by"`
}

func Example() {
	counter := zocket.NewActor("counter", func() Counter { return Counter{} })
	zocket.Method(counter, "add", func(s *Counter, _ *zocket.Call, in AddInput) (int, error) {
		s.Count += in.By
		return s.Count, nil
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		panic(err)
	}
	srv, err := standalone.New(app, standalone.Config{})
	if err != nil {
		panic(err)
	}
	// In a program: srv.Run(ctx, ":3000"). Here: any free port.
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		panic(err)
	}
	defer ws.CloseNow()
	_, _, err = ws.Read(ctx) // {"type":"welcome","clientId":"…"}
	if err != nil {
		panic(err)
	}
	rpc := `{"type":"rpc","id":"1","actor":"counter","actorId":"lobby","method":"add","input":{"by":2}}`
	if err := ws.Write(ctx, websocket.MessageText, []byte(rpc)); err != nil {
		panic(err)
	}
	_, result, err := ws.Read(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(result))
	// Output: {"type":"rpc:result","id":"1","result":2}
}
