package natstest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/zocket-go/zocket/natsembed/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunConnect(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	js := natstest.JetStream(t, srv)
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, srv)
	sub, err := nc.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ping", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsgWithContext(t.Context()); err != nil {
		t.Fatal(err)
	}
}
