package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// RPCConfig configures [RPC].
type RPCConfig struct {
	// URL is the server's WebSocket endpoint (ws, wss, http or https);
	// required.
	URL string
	Load
	Options
	// Flood, when positive, runs the load twice: alone, then beside Flood
	// more connections that write calls as fast as their sockets take
	// them without waiting for answers (on the clients' instance when
	// Load.Shared, else on instances of their own), redialing whenever
	// the server closes them. The second run is the report, with the
	// first and the ratios in Report.Flood: what one abusive client does
	// to the others' latency. Zero means no flood.
	Flood int
}

// RPC opens cfg.Clients connections to a Zocket server and has each call
// Actor.Method in a loop for Warmup + Duration, then reports throughput and
// round-trip latency. Every call must be answered by an rpc:result with its
// id; answers carrying an error are counted in Report.Errors.
//
// It returns protocol.ErrInvalidOption for bad settings and ErrUnreachable
// when a connection cannot be opened within ConnectTimeout; it returns
// within Warmup + Duration + Grace once the connections are open.
// Cancelling ctx stops the run early with ctx's error.
func RPC(ctx context.Context, cfg RPCConfig) (*Report, error) {
	u, opts, err := target(cfg.URL, cfg.Options)
	if err != nil {
		return nil, err
	}
	load, err := cfg.Load.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Flood < 0 {
		return nil, fmt.Errorf("bench: %w: -flood must not be negative (got %d)", protocol.ErrInvalidOption, cfg.Flood)
	}
	if cfg.Flood == 0 {
		return rpcRun(ctx, u, load, opts, 0)
	}
	alone, err := rpcRun(ctx, u, load, opts, 0)
	if err != nil {
		return alone, err
	}
	r, err := rpcRun(ctx, u, load, opts, cfg.Flood)
	if r != nil && r.Flood != nil {
		r.Flood.Alone = alone
		r.Flood.Ratio = ratio(r, alone)
	}
	return r, err
}

// rpcRun is one run of RPC, beside flood flooding connections (started
// before the warmup) when flood is positive.
func rpcRun(ctx context.Context, u string, load Load, opts Options, flood int) (*Report, error) {
	r := newReport("rpc", u, load)
	r.Kind = "zocket"
	d := newDialer(u, opts)
	// One connection first: an unreachable server fails fast with one
	// clear error instead of thousands.
	first, err := d.dial(ctx, true)
	if err != nil {
		return nil, err
	}
	conns, err := dialAll(ctx, d, load.Clients-1, true, opts, "rpc")
	if err != nil {
		first.close()
		return nil, err
	}
	conns = append([]*conn{first}, conns...)
	callers := make([]caller, len(conns))
	for i, c := range conns {
		callers[i] = newRPCCaller(c, load, i)
	}
	r.FrameBytes = callers[0].(*rpcCaller).frameLen(1)
	l := &loop{load: load, opts: opts, callers: callers}
	if flood > 0 {
		f := startFlooders(ctx, d, load, flood)
		err = l.run(ctx, "rpc beside a flood", r)
		r.Flood = f.stop()
		r.Flood.Connections = flood
		return r, err
	}
	err = l.run(ctx, "rpc", r)
	return r, err
}

func newReport(mode, target string, load Load) *Report {
	return &Report{
		Mode:       mode,
		Target:     target,
		Started:    time.Now().UTC().Truncate(time.Second),
		Machine:    machine(),
		Clients:    load.Clients,
		Shared:     load.Shared,
		Actor:      load.Actor,
		Method:     load.Method,
		DurationS:  load.Duration.Seconds(),
		WarmupS:    load.Warmup.Seconds(),
		TargetRate: load.Rate,
	}
}

// dialParallel is how many handshakes the tool has in progress at once.
const dialParallel = 64

// dialAll opens n connections (each waits for its welcome if asked), dialParallel at
// a time. On any failure it closes what it opened and returns the error.
func dialAll(ctx context.Context, d *dialer, n int, welcome bool, opts Options, name string) ([]*conn, error) {
	conns := make([]*conn, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, opened atomic.Int64
	var wg sync.WaitGroup
	var prog *progress
	if opts.Progress != nil && n >= 100 {
		prog = startProgress(opts.Progress, opts.ProgressInterval, func(el time.Duration, cores float64) string {
			return fmt.Sprintf("%s connecting %d/%d | tool cpu %.2f cores", name, opened.Load(), n, cores)
		})
	}
	for range min(dialParallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := d.dial(ctx, welcome)
				if err != nil {
					cancel(fmt.Errorf("connection %d of %d: %w", i+1, n, err))
					return
				}
				conns[i] = c
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	if prog != nil {
		prog.stop()
	}
	if err := context.Cause(ctx); err != nil {
		closeParallel(len(conns), func(i int) {
			if conns[i] != nil {
				conns[i].close()
			}
		})
		return nil, err
	}
	return conns, nil
}

// rpcCaller calls over one Zocket connection: the frame is built from a
// prefix and suffix around the id, so a call allocates nothing.
type rpcCaller struct {
	c       *conn
	prefix  []byte // ...,"id":"
	suffix  []byte // ",...}
	frame   []byte
	id      []byte
	closing sync.Once
}

const idMark = "\x01bench-id\x01"

func newRPCCaller(c *conn, load Load, i int) *rpcCaller {
	tmpl := protocol.AppendRPC(nil, idMark, load.Actor, load.actorID(i), load.Method, load.Input)
	mark := protocol.AppendString(nil, idMark)
	mark = mark[1 : len(mark)-1]
	at := bytes.Index(tmpl, mark)
	return &rpcCaller{c: c, prefix: tmpl[:at], suffix: tmpl[at+len(mark):]}
}

func (r *rpcCaller) frameLen(seq uint64) int {
	return len(r.prefix) + len(strconv.FormatUint(seq, 10)) + len(r.suffix)
}

func (r *rpcCaller) call(seq uint64) (bool, string, error) {
	r.id = strconv.AppendUint(r.id[:0], seq, 10)
	r.frame = append(append(append(r.frame[:0], r.prefix...), r.id...), r.suffix...)
	if err := r.c.write(r.frame); err != nil {
		return false, "", err
	}
	var f frame
	for {
		data, err := r.c.read()
		if err != nil {
			return false, "", err
		}
		if err := scanFrame(data, &f); err != nil {
			return false, "", fmt.Errorf("%w: unreadable frame %.200q", ErrProtocol, data)
		}
		if string(f.typ) != protocol.TypeRPCResult {
			continue // a patch or event of some other subscription
		}
		if !bytes.Equal(f.id, r.id) {
			return false, "", fmt.Errorf("%w: rpc:result for id %q while waiting for %q", ErrProtocol, f.id, r.id)
		}
		if f.hasError {
			return true, string(f.errMsg), nil
		}
		return false, "", nil
	}
}

func (r *rpcCaller) close() { r.closing.Do(r.c.close) }
