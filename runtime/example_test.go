package runtime_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/runtime"
)

// A runtime serves an app's actors from JetStream. Here the test plays
// the gateway: it publishes a client frame to INBOUND and reads the reply
// on the session's OUTBOUND subject.
func Example() {
	counter := zocket.NewActor("counter", func() int { return 0 })
	zocket.Method(counter, "add", func(n *int, _ *zocket.Call, by int) (int, error) {
		*n += by
		return *n, nil
	})
	app, err := zocket.NewApp(counter)
	if err != nil {
		fmt.Println(err)
		return
	}

	srv, err := natsembed.Run(natsembed.Options{}) // in production: a NATS cluster
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close() // the caller owns the connection; Run never closes it

	rt, err := runtime.New(app, runtime.Config{NATS: nc}) // scope local-workspace/local-project
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		fmt.Println("stopped:", <-done)
	}()
	<-rt.Ready()

	// The gateway's side of one rpc from session "s1".
	scope := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	outbound, _ := natstransport.OutboundSubject(scope, "s1")
	replies, err := nc.SubscribeSync(outbound)
	if err != nil {
		fmt.Println(err)
		return
	}
	inbound, _ := natstransport.InboundSubject(scope, "counter", "c1")
	env, _ := natstransport.AppendInbound(nil, natstransport.InboundEnvelope{
		Scope: scope, SessionID: "s1",
		Message: protocol.AppendRPC(nil, "1", "counter", "c1", "add", []byte("2")),
	})
	js, _ := jetstream.New(nc)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if _, err := js.Publish(pctx, inbound, env); err != nil {
		fmt.Println(err)
		return
	}
	m, err := replies.NextMsgWithContext(pctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := natstransport.DecodeOutbound(m.Data)
	fmt.Println(string(out.Message))
	// Output:
	// {"type":"rpc:result","id":"1","result":2}
	// stopped: <nil>
}
