package natstransport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natstransport"
)

func ExampleInboundSubject() {
	scope := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	for _, id := range []string{"lobby", "room.1", "user@example.com", "a b"} {
		subj, err := natstransport.InboundSubject(scope, "chat", id)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(subj)
	}
	_, err := natstransport.InboundSubject(scope, "chat", "")
	fmt.Println(err)
	// Output:
	// inbound.local-workspace.local-project.chat.lobby
	// inbound.local-workspace.local-project.chat.room%2E1
	// inbound.local-workspace.local-project.chat.user@example%2Ecom
	// inbound.local-workspace.local-project.chat.a%20b
	// natstransport: invalid token: actor id is empty
}

func ExampleAppendOutbound() {
	scope := natstransport.Scope{WorkspaceID: "w", ProjectID: "p"}
	body := natstransport.AppendOutbound(nil, scope, "s1", json.RawMessage(`{"type":"welcome","clientId":"s1"}`))
	fmt.Println(string(body))
	// Output: {"scope":{"workspaceId":"w","projectId":"p"},"sessionId":"s1","message":{"type":"welcome","clientId":"s1"}}
}

// A runtime's boot: streams, then one durable consumer per actor type.
func ExampleEnsureConsumer() {
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{}); err != nil {
		fmt.Println(err)
		return
	}
	scope := natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}
	cfg, err := natstransport.RuntimeConsumerConfig(scope, "chat", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := natstransport.EnsureConsumer(ctx, js, natstransport.InboundStream, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	info := c.CachedInfo()
	fmt.Println(info.Name, info.Config.FilterSubject, info.Config.AckPolicy, info.Config.MaxAckPending)
	// Output: rt-local-workspace-local-project-chat inbound.local-workspace.local-project.chat.> AckExplicit 256
}
