//go:build unix

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
)

// startTimeout bounds the start of one process until it is healthy:
// generous for a busy two-core machine.
const startTimeout = 60 * time.Second

// deployment is one scenario's processes: nats-server nodes, runtimes and
// a gateway, plus the suite's own NATS connection for stream checks.
type deployment struct {
	t         *testing.T
	dir       string // logs, stores, journals
	ledgerDir string
	storage   string // memory or file
	replicas  int
	nats      []*natsNode
	mu        sync.Mutex
	runtimes  []*runtimeProc // live ones, oldest first
	started   int            // runtimes started, for names
	gateway   *proc
	gwPort    int
	gwStarts  int
	nc        *nats.Conn
	js        jetstream.JetStream
}

// natsNode is one nats-server and what starting it again needs.
type natsNode struct {
	name        string
	store       string
	port        int // client port: 0 until the first start picked one
	clusterPort int // 0: not clustered
	routes      []string
	p           *proc
	monitor     string
	starts      int
}

// runtimeProc is a runtime process and its API port.
type runtimeProc struct {
	*proc
	apiPort int
}

// deploy starts nats-server (one node, or a cluster of nodes), runtimes
// runtimes and a gateway, and waits until each is healthy.
func deploy(t *testing.T, ctx context.Context, nodes int, storage string, runtimes int) *deployment {
	t.Helper()
	d := &deployment{t: t, dir: t.TempDir(), storage: storage, replicas: 1}
	if os.Getenv("ZOCKET_FAULTS_KEEP") != "" {
		dir, err := os.MkdirTemp("", "zocket-faults-"+strings.ReplaceAll(t.Name(), "/", "-")+"-")
		if err != nil {
			t.Fatal(err)
		}
		d.dir = dir
		t.Logf("logs and stores kept in %s", dir)
	}
	d.ledgerDir = filepath.Join(d.dir, "ledgers")
	if err := os.Mkdir(d.ledgerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if nodes > 1 {
		d.replicas = 3
	}
	if err := d.startNATS(ctx, nodes); err != nil {
		d.fatal(err)
	}
	nc, err := nats.Connect(d.natsURLs(), nats.Name("faults-suite"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		d.fatal(fmt.Errorf("connect to NATS: %w", err))
	}
	t.Cleanup(nc.Close)
	d.nc = nc
	if d.js, err = jetstream.New(nc); err != nil {
		d.fatal(err)
	}
	for range runtimes {
		if _, err := d.startRuntime(ctx, len(d.runtimes) > 0); err != nil {
			d.fatal(err)
		}
	}
	if err := d.startGateway(ctx); err != nil {
		d.fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			d.dumpLogs()
		}
	})
	return d
}

// fatal ends the test with err and the tail of every log.
func (d *deployment) fatal(err error) {
	d.t.Helper()
	d.dumpLogs()
	d.t.Fatal(err)
}

// dumpLogs logs the last lines of every process, oldest process first.
func (d *deployment) dumpLogs() {
	var procs []*proc
	for _, n := range d.nats {
		if n.p != nil {
			procs = append(procs, n.p)
		}
	}
	d.mu.Lock()
	for _, r := range d.runtimes {
		procs = append(procs, r.proc)
	}
	if d.gateway != nil {
		procs = append(procs, d.gateway)
	}
	d.mu.Unlock()
	for _, p := range procs {
		d.t.Logf("--- last lines of %s (full log in %s):\n%s", p.name, d.dir, strings.Join(p.out.tail(40), "\n"))
	}
}

// env is the whole environment of a child process.
func (d *deployment) env(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	return append(env, extra...)
}

// startNATS starts one server on a port of its choice, or a cluster of
// nodes whose route ports are picked free first (every node needs every
// route URL up front), and waits until every node reports itself healthy.
func (d *deployment) startNATS(ctx context.Context, nodes int) error {
	var routes []string
	var cports []int
	if nodes > 1 {
		var err error
		if cports, err = freePorts(nodes); err != nil {
			return err
		}
		for _, p := range cports {
			routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
		}
	}
	for i := range nodes {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1), store: filepath.Join(d.dir, fmt.Sprintf("n%d", i+1)), routes: routes}
		if nodes > 1 {
			n.clusterPort = cports[i]
		}
		d.nats = append(d.nats, n)
	}
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i, n := range d.nats {
		wg.Go(func() { errs[i] = d.startNode(ctx, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startNode starts (or starts again, on the same ports and store) one
// nats-server and waits until its /healthz answers 200: JetStream is up
// and, in a cluster, current with the meta leader.
func (d *deployment) startNode(ctx context.Context, n *natsNode) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	port := "-1" // any free port; nats-server writes it to the ports file
	if n.port != 0 {
		port = strconv.Itoa(n.port)
	}
	portsDir := filepath.Join(d.dir, "ports")
	if err := os.MkdirAll(portsDir, 0o755); err != nil {
		return err
	}
	args := []string{"-n", n.name, "-a", "127.0.0.1", "-p", port, "-m", "-1", "-js", "-sd", n.store, "--ports_file_dir", portsDir}
	if n.clusterPort != 0 {
		args = append(args, "--cluster_name", "faults", "--cluster", "nats://127.0.0.1:"+strconv.Itoa(n.clusterPort),
			"--routes", strings.Join(n.routes, ","))
	}
	n.starts++
	p, err := startProc(d.t, d.dir, fmt.Sprintf("nats-%s-%d", n.name, n.starts), binPath("nats-server"), args, d.env())
	if err != nil {
		return err
	}
	n.p = p
	var ports struct {
		NATS       []string `json:"nats"`
		Monitoring []string `json:"monitoring"`
	}
	file := filepath.Join(portsDir, fmt.Sprintf("nats-server_%d.ports", p.pid()))
	err = poll(ctx, n.name+"'s ports file", 20*time.Millisecond, func() (bool, string, error) {
		if p.exited() {
			return false, "", errExited
		}
		b, err := os.ReadFile(file)
		if err != nil || json.Unmarshal(b, &ports) != nil || len(ports.NATS) == 0 || len(ports.Monitoring) == 0 {
			return false, fmt.Sprintf("%q %v", b, err), nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	u, err := url.Parse(ports.NATS[0])
	if err != nil {
		return err
	}
	if n.port, err = strconv.Atoi(u.Port()); err != nil {
		return err
	}
	n.monitor = ports.Monitoring[0]
	return poll(ctx, n.name+" healthy", 50*time.Millisecond, func() (bool, string, error) {
		if p.exited() {
			return false, "", errExited
		}
		code, body, err := getHealth(ctx, n.monitor+"/healthz")
		return code == 200, fmt.Sprintf("%d %s %v", code, body, err), nil
	})
}

// natsURLs returns the client URLs of every node, comma-separated.
func (d *deployment) natsURLs() string {
	var urls []string
	for _, n := range d.nats {
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(n.port))
	}
	return strings.Join(urls, ",")
}

// roleArgs are the flags runtimes and gateways share.
func (d *deployment) roleArgs() []string {
	return []string{"-nats", d.natsURLs(), "-stream-storage", d.storage, "-stream-replicas", strconv.Itoa(d.replicas)}
}

var (
	runtimeHealthLine = regexp.MustCompile(`health at http://\S+:(\d+)/health`)
	gatewayLine       = regexp.MustCompile(`zocket gateway: ws://\S+:(\d+)/`)
)

// runtimeHealth is what the suite reads of a runtime's GET /health.
// Runtimes with a lease report their role and whether they serve; older
// ones only deployCount, 1 once booted.
type runtimeHealth struct {
	DeployCount int64   `json:"deployCount"`
	Role        *string `json:"role"`
	Serving     *bool   `json:"serving"`
}

// active reports whether the runtime serves its scope.
func (h runtimeHealth) active() bool {
	switch {
	case h.Serving != nil:
		return *h.Serving
	case h.Role != nil:
		return *h.Role == "active"
	}
	return h.DeployCount > 0
}

// startRuntime starts a runtime on a free API port and waits until it has
// booted, or, with standby, until its /health answers.
func (d *deployment) startRuntime(ctx context.Context, standby bool) (*runtimeProc, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	d.mu.Lock()
	d.started++
	name := fmt.Sprintf("runtime-%d", d.started)
	d.mu.Unlock()
	args := append([]string{"runtime", "-api-port", "0", "-deployment", name}, d.roleArgs()...)
	p, err := startProc(d.t, d.dir, name, binPath("ledgerapp"), args, d.env("LEDGER_DIR="+d.ledgerDir))
	if err != nil {
		return nil, err
	}
	port, err := p.await(ctx, runtimeHealthLine)
	if err != nil {
		return nil, err
	}
	rp := &runtimeProc{proc: p}
	rp.apiPort, _ = strconv.Atoi(port)
	err = poll(ctx, name+" booted", 50*time.Millisecond, func() (bool, string, error) {
		if p.exited() {
			return false, "", errExited
		}
		h, state, err := rp.health(ctx)
		return err == nil && (standby || h.active()), state, nil
	})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.runtimes = append(d.runtimes, rp)
	d.mu.Unlock()
	return rp, nil
}

func (r *runtimeProc) health(ctx context.Context) (runtimeHealth, string, error) {
	var h runtimeHealth
	code, body, err := getHealth(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", r.apiPort))
	if err == nil && code != 200 {
		err = fmt.Errorf("status %d", code)
	}
	if err == nil {
		err = json.Unmarshal(body, &h)
	}
	return h, fmt.Sprintf("%d %.200s %v", code, body, err), err
}

// killRuntime kills r with SIGKILL and forgets it.
func (d *deployment) killRuntime(r *runtimeProc) {
	r.kill()
	d.mu.Lock()
	d.runtimes = slices.DeleteFunc(d.runtimes, func(x *runtimeProc) bool { return x == r })
	d.mu.Unlock()
}

// activeRuntime returns the live runtime that reports itself active (the
// oldest, if several do), or nil.
func (d *deployment) activeRuntime(ctx context.Context) *runtimeProc {
	d.mu.Lock()
	rts := slices.Clone(d.runtimes)
	d.mu.Unlock()
	for _, r := range rts {
		if h, _, err := r.health(ctx); err == nil && h.active() {
			return r
		}
	}
	return nil
}

// startGateway starts the gateway on loopback, on the port of the
// previous one if there was one (so that clients find it again), and
// waits until its /health answers.
func (d *deployment) startGateway(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	d.gwStarts++
	args := append([]string{"gateway", "-host", "127.0.0.1", "-port", strconv.Itoa(d.gwPort)}, d.roleArgs()...)
	p, err := startProc(d.t, d.dir, fmt.Sprintf("gateway-%d", d.gwStarts), binPath("ledgerapp"), args, d.env())
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.gateway = p
	d.mu.Unlock()
	port, err := p.await(ctx, gatewayLine)
	if err != nil {
		return err
	}
	d.gwPort, _ = strconv.Atoi(port)
	return poll(ctx, "gateway healthy", 50*time.Millisecond, func() (bool, string, error) {
		if p.exited() {
			return false, "", errExited
		}
		code, body, err := getHealth(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", d.gwPort))
		return code == 200, fmt.Sprintf("%d %.200s %v", code, body, err), nil
	})
}

// wsURL is the gateway's WebSocket endpoint.
func (d *deployment) wsURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/", d.gwPort) }

// inboundLeader returns the node leading INBOUND.
func (d *deployment) inboundLeader(ctx context.Context) (*natsNode, error) {
	var leader *natsNode
	err := poll(ctx, "a leader of INBOUND", 50*time.Millisecond, func() (bool, string, error) {
		info, err := d.streamInfo(ctx, natstransport.InboundStream)
		if err != nil {
			return false, err.Error(), nil
		}
		if info.Cluster == nil {
			return false, "no cluster info", nil
		}
		for _, n := range d.nats {
			if n.name == info.Cluster.Leader && !n.p.exited() {
				leader = n
				return true, "", nil
			}
		}
		return false, "leader " + info.Cluster.Leader, nil
	})
	return leader, err
}

func (d *deployment) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := d.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// inboundSettled reports whether INBOUND holds no message: every call a
// runtime received was acknowledged, so none will run (and answer) again.
// A missing stream counts as settled.
func (d *deployment) inboundSettled(ctx context.Context) (bool, string) {
	info, err := d.streamInfo(ctx, natstransport.InboundStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return true, "no INBOUND stream"
	}
	if err != nil {
		return false, err.Error()
	}
	return info.State.Msgs == 0, fmt.Sprintf("INBOUND holds %d messages", info.State.Msgs)
}
