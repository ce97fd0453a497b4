package natsembed_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/internal/syncbuf"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natsembed/natstest"
)

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func TestRunDefaults(t *testing.T) {
	t.Parallel()
	srv, err := natsembed.Run(natsembed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(srv.ClientURL(), ":4222") {
		t.Errorf("ClientURL = %q, want a random loopback port", srv.ClientURL())
	}
	nc, js := connect(t, srv.ClientURL())
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream not usable: %v", err)
	}
	if got := nc.MaxPayload(); got != 1<<20 {
		t.Errorf("MaxPayload = %d, want the 1 MiB default", got)
	}
	dir := srv.StoreDir()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("store dir: %v", err)
	}
	nc.Close()
	srv.Shutdown()
	srv.Shutdown() // idempotent
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary store %s still there after Shutdown: %v", dir, err)
	}
	if srv.NATS().Running() {
		t.Error("server still running after Shutdown")
	}
}

func TestRunStoreDirKeepsFileStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := natsembed.Run(natsembed.Options{StoreDir: dir, MaxPayload: 4096})
	if err != nil {
		t.Fatal(err)
	}
	nc, js := connect(t, srv.ClientURL())
	if got := nc.MaxPayload(); got != 4096 {
		t.Errorf("MaxPayload = %d, want 4096", got)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "keep", []byte("x")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	srv.Shutdown()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("caller's store dir removed: %v", err)
	}

	srv, err = natsembed.Run(natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	_, js = connect(t, srv.ClientURL())
	s, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatalf("stream not recovered from %s: %v", dir, err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("recovered stream holds %d messages, want 1", n)
	}
}

func TestRunFixedPort(t *testing.T) {
	t.Parallel()
	// Find a free port, then ask for it explicitly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err := natsembed.Run(natsembed.Options{Port: port, StoreDir: t.TempDir()})
	if err != nil {
		t.Skipf("port %d was taken in between: %v", port, err)
	}
	defer srv.Shutdown()
	if want := "nats://127.0.0.1:" + strconv.Itoa(port); srv.ClientURL() != want {
		t.Errorf("ClientURL = %q, want %q", srv.ClientURL(), want)
	}
}

func TestRunPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	srv, err := natsembed.Run(natsembed.Options{Port: port, ReadyTimeout: 200 * time.Millisecond})
	if err == nil {
		srv.Shutdown()
		t.Fatal("Run on a busy port succeeded")
	}
	if !strings.Contains(err.Error(), "not ready") {
		t.Errorf("error %q does not say the server was not ready", err)
	}
}

func TestRunInvalidOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []natsembed.Options{
		{Port: 70000},
		{Port: -2},
		{MaxPayload: -1},
		{ReadyTimeout: -time.Second},
	} {
		if srv, err := natsembed.Run(opts); err == nil {
			srv.Shutdown()
			t.Errorf("Run(%+v) succeeded, want an error", opts)
		}
	}
}

// syncBuffer collects logs written by many goroutines.
type syncBuffer = syncbuf.Buffer

func TestRunLogger(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := natsembed.Run(natsembed.Options{Logger: log, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	out := buf.String()
	if !strings.Contains(out, "Server is ready") || !strings.Contains(out, "component=nats-server") {
		t.Errorf("log lacks the ready notice or component attribute:\n%s", out)
	}
	if strings.Contains(out, "level=DEBUG") {
		t.Errorf("debug lines logged at Info level:\n%s", out)
	}
}

func TestRunClusterInvalid(t *testing.T) {
	t.Parallel()
	if c, err := natsembed.RunCluster(0, natsembed.Options{}); err == nil {
		c.Shutdown()
		t.Error("RunCluster(0) succeeded")
	}
	if c, err := natsembed.RunCluster(3, natsembed.Options{Port: 4222}); err == nil {
		c.Shutdown()
		t.Error("RunCluster with a fixed port succeeded")
	}
}

// TestClusterSurvivesNodeLoss checks the property the distributed tests
// rely on: an R3 stream keeps accepting and serving messages after one of
// three nodes is shut down.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := natstest.RunCluster(t, 3)
	t.Logf("3-node cluster ready in %s", time.Since(start))
	if n := len(c.Servers()); n != 3 {
		t.Fatalf("%d servers, want 3", n)
	}
	if got := strings.Count(c.ClientURL(), ","); got != 2 {
		t.Errorf("ClientURL %q should list 3 URLs", c.ClientURL())
	}
	js := natstest.JetStream(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "R3", Subjects: []string{"r3.>"}, Storage: jetstream.MemoryStorage, Replicas: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "r3.a", []byte("before")); err != nil {
		t.Fatal(err)
	}

	// Shut down the stream leader: the hardest case for the survivors.
	leader := s.CachedInfo().Cluster.Leader
	var victim *natsembed.Server
	for _, srv := range c.Servers() {
		if srv.NATS().Name() == leader {
			victim = srv
		}
	}
	if victim == nil {
		t.Fatalf("stream leader %q is not a cluster node", leader)
	}
	victim.Shutdown()

	// Until a new leader is elected a publish gets no answer, so each
	// attempt has its own short deadline; ctx bounds them all.
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		_, err := js.Publish(actx, "r3.a", []byte("after"))
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no publish accepted after losing a node: %v", err)
		}
	}
	// Reading can still meet the election ("no responders"): retry the
	// whole read, each attempt bounded, all of them by ctx.
	var got []string
	for {
		var err error
		if got, err = readAll(ctx, js, "R3", 2); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after %q: %v", got, err)
		}
	}
	if got[0] != "before" || got[len(got)-1] != "after" {
		t.Errorf("read %q, want [before after]", got)
	}
	t.Logf("failover done in %s", time.Since(start))
}

// readAll reads n messages of stream with a fresh ordered consumer, each
// fetch bounded by a second.
func readAll(ctx context.Context, js jetstream.JetStream, stream string, n int) ([]string, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var got []string
	for len(got) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return got, err
		}
		got = append(got, string(m.Data()))
	}
	return got, nil
}
