package natsembed_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed"
)

func ExampleRun() {
	// The zero Options: random loopback port, temporary store, no logging.
	srv, err := natsembed.Run(natsembed.Options{})
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
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	fmt.Println("JetStream ready:", err == nil)
	// Output: JetStream ready: true
}

func ExampleRunCluster() {
	c, err := natsembed.RunCluster(3, natsembed.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Shutdown()
	// c.ClientURL() lists every node, so a client fails over when one stops.
	nc, err := nats.Connect(c.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	fmt.Println("nodes:", len(c.Servers()))
	// Output: nodes: 3
}
