package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/protocol"
)

// Command returns the "bench" subcommand for cli.Options.Extra:
//
//	zocket bench rpc     -url ws://localhost:3000/ -clients 100 [-compare] [-flood 1]
//	zocket bench fanout  -url ws://localhost:3000/ -subscribers 1000 -rate 20
//	zocket bench connect -url ws://localhost:3000/ -sessions 10000 -ramp 1000 -pid 1234
//	zocket bench churn   -url ws://localhost:3000/ -rate 50 -duration 60s -nats nats://localhost:4222
//	zocket bench floor   -kind echo|jetstream|jetstream-core -clients 100
//
// It prints a progress line on stderr every second, a summary table on
// stdout, or with -json one JSON object ([Report]).
func Command() cli.Command {
	return cli.Command{
		Summary: "load-test a Zocket server: rpc, fanout, connect, churn, floor",
		Run:     run,
	}
}

const modesUsage = `Usage: %[1]s bench <mode> [flags]

Modes:
  rpc      clients loop RPCs; throughput and round-trip latency (-compare: also its floor)
  fanout   subscribers watch one instance while a writer calls it; delivery latency, misses
  connect  open many sessions at a ramp, hold them, one call each; connect latency, server memory
  churn    open and close sessions at a rate, one call each; deaf sessions, OUTBOUND consumers left
  floor    the same rpc loop with no Zocket server: bare WebSocket echo or JetStream two hops
           (replies read by an ordered consumer, or by a core NATS subscription: jetstream-core)
  echo     serve the bare WebSocket echo floor until interrupted (for floor/rpc -echo-url)

Run '%[1]s bench <mode> -h' for the flags of a mode.
`

func run(ctx context.Context, env cli.Env, args []string) error {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Name == "" {
		env.Name = "zocket"
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.Stderr, modesUsage, env.Name)
		if len(args) == 0 {
			return fmt.Errorf("%w: bench needs a mode", cli.ErrUsage)
		}
		return nil
	}
	mode, args := args[0], args[1:]
	switch mode {
	case "rpc", "floor", "fanout", "connect", "churn":
	case "echo":
		return runEcho(ctx, env, args)
	default:
		fmt.Fprintf(env.Stderr, "%s bench: unknown mode %q\n\n", env.Name, mode)
		fmt.Fprintf(env.Stderr, modesUsage, env.Name)
		return fmt.Errorf("%w: unknown bench mode %q", cli.ErrUsage, mode)
	}

	fs := flag.NewFlagSet(env.Name+" bench "+mode, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var (
		urlDef      = env.Getenv("BENCH_URL")
		urlUsage    = "server WebSocket URL, e.g. ws://localhost:3000/ [BENCH_URL]"
		localAddrs  = fs.String("local-addrs", "", "comma-separated local IP addresses to connect from, in turn (over ~28,000 loopback connections: 127.0.0.1,127.0.0.2,...)")
		duration    = fs.Duration("duration", 10*time.Second, "measurement time (fanout: write phase)")
		jsonOut     = fs.Bool("json", false, "print one JSON object on stdout instead of the table")
		quiet       = fs.Bool("q", false, "no progress lines on stderr")
		pids        = fs.String("pid", "", "comma-separated server pids: report their RSS and CPU from /proc")
		connTimeout = fs.Duration("connect-timeout", DefaultConnectTimeout, "bound on each connection's handshake and welcome")
		grace       = fs.Duration("grace", DefaultGrace, "wait this long for answers in flight after the measurement")
		actor       = fs.String("actor", DefaultActor, "actor type to call")
		method      = fs.String("method", DefaultMethod, "method to call")
		id          = fs.String("id", "", "actor id (shared/fanout) or prefix of per-client ids; default bench, fanout-<random>, connect, churn")
	)
	if mode == "fanout" {
		urlUsage = "server WebSocket URL, e.g. ws://localhost:3000/; a comma-separated list spreads the subscribers over the URLs in turn, the writer on the first [BENCH_URL]"
	}
	url := fs.String("url", urlDef, urlUsage)
	var (
		clients, subscribers, sessions, concurrency    *int
		shared, compare                                *bool
		flood                                          *int
		warmup, hold, settle, settleTimeout, consWait  *time.Duration
		rate, ramp                                     *float64
		input, floorKind, natsURL, echoURL, kind, path *string
		natsAuth                                       *cli.NATSAuth
	)
	switch mode {
	case "rpc", "floor":
		clients = fs.Int("clients", 1, "concurrent connections, one call in flight each")
		shared = fs.Bool("shared", false, "all clients call one instance (-id) instead of one each")
		warmup = fs.Duration("warmup", 2*time.Second, "calls run this long before measuring")
		rate = fs.Float64("rate", 0, "target total calls/s (open loop, latency from intended send time); 0: closed loop")
		input = fs.String("input", "", "method input as JSON (default: none)")
		natsURL = fs.String("nats", "", "jetstream floors: NATS URL (default: an embedded nats-server)")
		natsAuth = cli.AddNATSAuthFlags(fs, env.Getenv)
		echoURL = fs.String("echo-url", "", "echo floor: a running 'bench echo' server (default: one in this process)")
		if mode == "rpc" {
			compare = fs.Bool("compare", false, "then run the floor with the same load and print the ratios")
			flood = fs.Int("flood", 0, "run the load alone, then beside this many connections flooding the server with calls (on the -shared instance, or their own), and print the ratios")
			floorKind = fs.String("floor", FloorEcho, "floor for -compare: echo (standalone), jetstream (distributed, -delivery consumer) or jetstream-core (distributed, -delivery core)")
		} else {
			kind = fs.String("kind", FloorEcho, "echo (bare WebSocket echo server), jetstream (two JetStream hops, replies read by one ordered consumer per client) or jetstream-core (the same hops, replies read by one core NATS subscription per client)")
		}
	case "fanout":
		subscribers = fs.Int("subscribers", 100, "connections subscribed to the instance's state")
		rate = fs.Float64("rate", 20, "writes per second")
		path = fs.String("path", DefaultFanoutPath, "JSON Pointer of the number each write increments")
		settle = fs.Duration("settle", DefaultSettle, "before the writes, wait until the subscribers received nothing for this long (negative: no wait)")
		settleTimeout = fs.Duration("settle-timeout", DefaultSettleTimeout, "give up waiting for quiet after this long")
		input = fs.String("input", "", "input of every write as JSON (default: none)")
	case "connect":
		sessions = fs.Int("sessions", 1000, "sessions to open")
		ramp = fs.Float64("ramp", 500, "sessions opened per second")
		hold = fs.Duration("hold", 5*time.Second, "keep every session open this long before the final calls")
		input = fs.String("input", "", "input of the final call as JSON (default: none)")
	case "churn":
		rate = fs.Float64("rate", 50, "sessions started per second")
		concurrency = fs.Int("concurrency", DefaultChurnConcurrency, "most sessions in flight at once")
		input = fs.String("input", "", "input of each session's call as JSON (default: none)")
		natsURL = fs.String("nats", "", "NATS URL of a distributed server: count OUTBOUND consumers before and after")
		natsAuth = cli.AddNATSAuthFlags(fs, env.Getenv)
		consWait = fs.Duration("consumer-wait", DefaultConsumerWait, "after the run, wait at most this long for the OUTBOUND consumers to return to their count before")
	}
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: %s bench %s [flags]\n\nFlags:\n", env.Name, mode)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %q", cli.ErrUsage, fs.Args())
	}
	// cli.Main prints other errors, but not usage errors.
	usageErr := func(err error) error {
		if errors.Is(err, protocol.ErrInvalidOption) {
			fmt.Fprintf(env.Stderr, "%s bench %s: %v\n", env.Name, mode, err)
			return errors.Join(cli.ErrUsage, err)
		}
		return err
	}
	pidList, err := parsePIDs(*pids)
	if err != nil {
		return usageErr(err)
	}
	addrs, err := parseAddrs(*localAddrs)
	if err != nil {
		return usageErr(err)
	}
	urls := strings.Split(*url, ",")
	for i := range urls {
		urls[i] = strings.TrimSpace(urls[i])
	}
	if len(urls) > 1 && mode != "fanout" {
		return usageErr(fmt.Errorf("bench: %w: -url %q: one URL (only fanout takes a list)", protocol.ErrInvalidOption, *url))
	}
	opts := Options{ConnectTimeout: *connTimeout, Grace: *grace, PIDs: pidList, LocalAddrs: addrs}
	if !*quiet {
		opts.Progress = env.Stderr
	}
	if *connTimeout <= 0 {
		return usageErr(fmt.Errorf("bench: %w: -connect-timeout must be positive", protocol.ErrInvalidOption))
	}
	if *grace <= 0 {
		return usageErr(fmt.Errorf("bench: %w: -grace must be positive", protocol.ErrInvalidOption))
	}
	var natsOpts []nats.Option
	if natsAuth != nil {
		if natsOpts, err = natsAuth.Options(); err != nil {
			if errors.Is(err, cli.ErrUsage) { // flags that clash; cli.Main prints no usage error
				fmt.Fprintf(env.Stderr, "%s bench %s: %v\n", env.Name, mode, err)
			}
			return err // a missing file is named with its flag
		}
	}
	var in json.RawMessage
	if input != nil && *input != "" {
		if !json.Valid([]byte(*input)) {
			return usageErr(fmt.Errorf("bench: %w: -input is not valid JSON: %s", protocol.ErrInvalidOption, *input))
		}
		in = json.RawMessage(*input)
	}
	var load Load
	if clients != nil {
		load = Load{Clients: *clients, Shared: *shared, Actor: *actor, Method: *method, Input: in, ID: *id,
			Duration: *duration, Warmup: *warmup, Rate: *rate}
	}

	var rep *Report
	switch mode {
	case "rpc":
		if _, err := load.withDefaults(); err != nil {
			return usageErr(err)
		}
		if *compare && !ValidFloorKind(*floorKind) {
			return usageErr(fmt.Errorf("bench: %w: -floor %q: want %s", protocol.ErrInvalidOption, *floorKind, floorKinds))
		}
		rep, err = RPC(ctx, RPCConfig{URL: *url, Load: load, Options: opts, Flood: *flood})
		if err == nil && *compare {
			var fl *Report
			fl, err = Floor(ctx, FloorConfig{Kind: *floorKind, NATSURL: *natsURL, NATSOptions: natsOpts, EchoURL: *echoURL, Load: load, Options: opts})
			if fl != nil {
				Compare(rep, fl)
			}
		}
	case "floor":
		rep, err = Floor(ctx, FloorConfig{Kind: *kind, NATSURL: *natsURL, NATSOptions: natsOpts, EchoURL: *echoURL, Load: load, Options: opts})
	case "fanout":
		var subURLs []string
		if len(urls) > 1 {
			subURLs = urls
		}
		rep, err = Fanout(ctx, FanoutConfig{URL: urls[0], SubscriberURLs: subURLs, Subscribers: *subscribers, Rate: *rate, Duration: *duration,
			Actor: *actor, Method: *method, Input: in, Path: *path, ID: *id, Settle: *settle, SettleTimeout: *settleTimeout, Options: opts})
	case "churn":
		if *concurrency < 1 {
			return usageErr(fmt.Errorf("bench: %w: -concurrency must be at least 1 (got %d)", protocol.ErrInvalidOption, *concurrency))
		}
		if *consWait <= 0 {
			return usageErr(fmt.Errorf("bench: %w: -consumer-wait must be positive", protocol.ErrInvalidOption))
		}
		rep, err = Churn(ctx, ChurnConfig{URL: *url, Rate: *rate, Duration: *duration, Concurrency: *concurrency,
			Actor: *actor, Method: *method, Input: in, ID: *id, NATSURL: *natsURL, NATSOptions: natsOpts, ConsumerWait: *consWait, Options: opts})
	case "connect":
		rep, err = Connect(ctx, ConnectConfig{URL: *url, Sessions: *sessions, Ramp: *ramp, Hold: *hold,
			Actor: *actor, Method: *method, Input: in, ID: *id, Options: opts})
	}
	if rep == nil {
		return usageErr(err)
	}
	var werr error
	if *jsonOut {
		werr = rep.WriteJSON(env.Stdout)
	} else {
		werr = rep.WriteText(env.Stdout)
	}
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if failed(rep) {
		return ErrFailedRun
	}
	return nil
}

// ErrFailedRun is returned by the command (exit status 1) after printing a
// report in which calls failed, went unanswered, subscribers missed
// patches, or churn sessions were deaf or left OUTBOUND consumers behind.
var ErrFailedRun = errors.New("bench: the run had failures (see the report)")

func failed(r *Report) bool {
	if r.Errors+r.Lost() > 0 {
		return true
	}
	if f := r.Fanout; f != nil && (f.Missed > 0 || f.WriteErrors > 0) {
		return true
	}
	if c := r.Connect; c != nil && (c.Failed > 0 || c.RPCFailed > 0 || c.Dropped > 0) {
		return true
	}
	if c := r.Churn; c != nil && (c.Deaf > 0 || c.Failed > 0 ||
		(c.Consumers != nil && (c.Consumers.LeftBehind > 0 || c.Consumers.Err != ""))) {
		return true
	}
	if r.Flood != nil && r.Flood.Alone != nil && failed(r.Flood.Alone) {
		return true
	}
	return r.Floor != nil && failed(r.Floor)
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bench: %w: -pid %q: want comma-separated process ids", protocol.ErrInvalidOption, p)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseAddrs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("bench: %w: -local-addrs %q: want comma-separated IP addresses", protocol.ErrInvalidOption, p)
		}
		out = append(out, a)
	}
	return out, nil
}

// runEcho serves the echo floor until ctx is done.
func runEcho(ctx context.Context, env cli.Env, args []string) error {
	fs := flag.NewFlagSet(env.Name+" bench echo", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:3941", "address to listen on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	srv, err := StartEchoServer(*addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "echo server: %s\n", srv.URL())
	<-ctx.Done()
	return srv.Close()
}
