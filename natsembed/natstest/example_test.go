package natstest_test

import (
	"testing"

	"github.com/zocket-go/zocket/natsembed/natstest"
)

// A test gets its own server and connection; both go away with the test.
func Example() {
	_ = func(t *testing.T) {
		srv := natstest.Run(t)
		nc := natstest.Connect(t, srv)
		if err := nc.Publish("greeting", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
}
