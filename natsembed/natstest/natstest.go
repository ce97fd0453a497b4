package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed"
)

// Run starts a JetStream server on a random loopback port, with its store
// in t.TempDir(), and shuts it down when the test ends.
func Run(t testing.TB) *natsembed.Server {
	t.Helper()
	dir := t.TempDir() // registered first, so removed after Shutdown
	srv, err := natsembed.Run(natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatalf("natstest: start server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// RunCluster starts an n-node JetStream cluster on loopback, with stores
// in t.TempDir(), and shuts it down when the test ends.
func RunCluster(t testing.TB, n int) *natsembed.Cluster {
	t.Helper()
	dir := t.TempDir()
	c, err := natsembed.RunCluster(n, natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatalf("natstest: start cluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// URLer is what Connect needs of a server or cluster: *natsembed.Server and
// *natsembed.Cluster both satisfy it.
type URLer interface {
	ClientURL() string
}

// Connect opens a NATS connection to srv and closes it when the test ends.
// Extra options are passed to nats.Connect after the helper's own (a name
// and unlimited reconnects, so cluster failover tests keep the connection).
func Connect(t testing.TB, srv URLer, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.Name(t.Name()), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("natstest: connect to %s: %v", srv.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new connection to srv.
func JetStream(t testing.TB, srv URLer, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(Connect(t, srv, opts...))
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return js
}
