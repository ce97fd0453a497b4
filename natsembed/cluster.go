package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterName is the cluster name RunCluster uses when
// Options.ClusterName is empty.
const DefaultClusterName = "zocket"

// clusterAttempts is how often RunCluster retries with new route ports when
// another process took one of the ports it picked.
const clusterAttempts = 3

// Cluster is a running in-process JetStream cluster. It is safe for
// concurrent use.
type Cluster struct {
	servers []*Server
	tempDir string
	once    sync.Once
}

// RunCluster starts n nats-servers in this process that form one JetStream
// cluster over loopback routes, and returns once the cluster has a
// JetStream meta leader that sees all n peers. Each node gets a random
// client port and its own store under opts.StoreDir; opts.Port must be 0
// or -1. Use three nodes for streams with three replicas.
//
// Route ports are picked by binding random free ports and releasing them
// before the servers start (nats-server needs every route URL up front); if
// another process grabs one meanwhile, RunCluster retries with new ports. The
// caller must call Shutdown.
func RunCluster(n int, opts Options) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsembed: cluster size %d, need at least 1", n)
	}
	if opts.Port != 0 && opts.Port != server.RANDOM_PORT {
		return nil, fmt.Errorf("natsembed: cluster nodes need random client ports, got port %d", opts.Port)
	}
	var tempDir string
	if opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "natsembed-cluster-")
		if err != nil {
			return nil, fmt.Errorf("natsembed: create store dir: %w", err)
		}
		tempDir, opts.StoreDir = dir, dir
	}
	var errs []error
	for attempt := range clusterAttempts {
		servers, err := startCluster(n, opts, attempt)
		if err == nil {
			return &Cluster{servers: servers, tempDir: tempDir}, nil
		}
		errs = append(errs, err)
	}
	if tempDir != "" {
		_ = os.RemoveAll(tempDir)
	}
	return nil, fmt.Errorf("natsembed: start cluster: %w", errors.Join(errs...))
}

// startCluster makes one attempt at starting the cluster; on error nothing
// is left running.
func startCluster(n int, opts Options, attempt int) ([]*Server, error) {
	host := opts.Host
	if host == "" {
		host = DefaultHost
	}
	name := opts.ClusterName
	if name == "" {
		name = DefaultClusterName
	}
	ports, err := freePorts(host, n)
	if err != nil {
		return nil, err
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = "nats-route://" + net.JoinHostPort(host, strconv.Itoa(p))
	}
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 3 * DefaultReadyTimeout
	}
	deadline := time.Now().Add(timeout)

	servers := make([]*Server, 0, n)
	fail := func(err error) ([]*Server, error) {
		for _, s := range servers {
			s.Shutdown()
		}
		return nil, err
	}
	for i := range n {
		nopts := opts
		nopts.ServerName = fmt.Sprintf("%s-%d", name, i+1)
		if opts.ServerName != "" {
			nopts.ServerName = fmt.Sprintf("%s-%d", opts.ServerName, i+1)
		}
		// A fresh directory per attempt: a half-formed meta group from a
		// failed attempt must not be recovered.
		nopts.StoreDir = filepath.Join(opts.StoreDir, fmt.Sprintf("%s-a%d", nopts.ServerName, attempt))
		nopts.ReadyTimeout = max(time.Until(deadline), time.Millisecond)
		sopts, err := serverOptions(nopts)
		if err != nil {
			return fail(err)
		}
		sopts.Cluster = server.ClusterOpts{Name: name, Host: host, Port: ports[i]}
		sopts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		s, err := start(sopts, nopts, "", DefaultReadyTimeout)
		if err != nil {
			return fail(fmt.Errorf("node %s: %w", nopts.ServerName, err))
		}
		servers = append(servers, s)
	}
	if err := waitClusterReady(servers, deadline); err != nil {
		return fail(err)
	}
	return servers, nil
}

// freePorts returns n distinct TCP ports on host that were free a moment
// ago.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick route port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitClusterReady polls until a meta leader sees every node as a peer and
// every node's meta state is current. The servers expose no notification
// for this, so polling is the only way.
func waitClusterReady(servers []*Server, deadline time.Time) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if clusterReady(servers) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no JetStream meta leader with all peers before the ready timeout")
		}
		<-tick.C
	}
}

func clusterReady(servers []*Server) bool {
	var leader *server.Server
	for _, s := range servers {
		if s.ns.JetStreamIsLeader() {
			leader = s.ns
		}
	}
	if leader == nil || len(leader.JetStreamClusterPeers()) != len(servers) {
		return false
	}
	for _, s := range servers {
		if !s.ns.JetStreamIsCurrent() {
			return false
		}
	}
	return true
}

// Servers returns the cluster's nodes. Shutting one down (for a failover
// test) leaves the others running.
func (c *Cluster) Servers() []*Server { return append([]*Server(nil), c.servers...) }

// ClientURL returns the client URLs of all nodes, comma-separated, as
// nats.Connect accepts them.
func (c *Cluster) ClientURL() string {
	urls := make([]string, len(c.servers))
	for i, s := range c.servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Shutdown stops every node, waits until they have stopped and removes a
// temporary store directory that RunCluster created. Calling it again does
// nothing.
func (c *Cluster) Shutdown() {
	c.once.Do(func() {
		var wg sync.WaitGroup
		for _, s := range c.servers {
			wg.Go(s.Shutdown)
		}
		wg.Wait()
		if c.tempDir != "" {
			_ = os.RemoveAll(c.tempDir)
		}
	})
}
