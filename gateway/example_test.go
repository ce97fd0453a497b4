package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natsembed"
)

// A gateway in front of an embedded NATS server, with no runtime behind it:
// the client gets its welcome at once, and an rpc for an actor type that no
// runtime serves is answered with an error instead of waiting.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := natsembed.Run(natsembed.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close() // the caller owns the connection: close it after Shutdown

	gw, err := gateway.New(gateway.Config{NATS: nc}) // ensures INBOUND and OUTBOUND
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(gw.Handler())
	defer hs.Close()
	defer func() { _ = gw.Shutdown(ctx) }()

	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() (f struct{ Type, ClientID, Error string }) {
		_, data, err := ws.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		_ = json.Unmarshal(data, &f)
		return f
	}
	w := read()
	fmt.Println(w.Type, len(w.ClientID))
	err = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"rpc","id":"1","actor":"counter","actorId":"a","method":"increment"}`))
	if err != nil {
		log.Fatal(err)
	}
	r := read()
	fmt.Println(r.Type, r.Error)
	// Output:
	// welcome 26
	// rpc:result unknown actor type: "counter"
}

// Run serves until the process is interrupted, then closes every session
// with 1001 and announces the disconnects.
func ExampleGateway_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	gw, err := gateway.New(gateway.Config{
		NATS:              nc,
		ControlPlaneURL:   os.Getenv("CONTROL_PLANE_URL"),
		ControlPlaneToken: os.Getenv("CONTROL_PLANE_INTERNAL_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := gw.Run(ctx, ":3000"); err != nil {
		log.Fatal(err)
	}
}
