package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// DefaultConnectID is the prefix of the instances the connect mode's final
// calls address, one per session.
const DefaultConnectID = "connect"

// ConnectConfig configures [Connect].
type ConnectConfig struct {
	// URL is the server's WebSocket endpoint; required.
	URL string
	// Sessions is the number of connections to open; at least 1.
	Sessions int
	// Ramp is how many sessions are started per second; it must be
	// positive.
	Ramp float64
	// Hold is how long every session stays open after the last one opened,
	// before the final calls. Zero means no wait.
	Hold time.Duration
	// Actor, Method and Input make the one call each session makes at the
	// end, on its own instance "ID-i". Empty means counter.increment on
	// "connect-i".
	Actor  string
	Method string
	Input  []byte
	ID     string
	Options
}

// Connect opens Sessions connections at Ramp per second, waits for each
// one's welcome, holds them all open for Hold, then has each make one call
// and waits up to Grace for the answers. It reports how many opened and how
// many answered, connect latency (dial to welcome) and the final calls'
// latency, and for each of Options.PIDs the resident memory before the
// first session and with all of them open.
//
// Sessions that fail to open are counted, not fatal; the run fails with
// ErrUnreachable only when a first probe connection cannot be opened.
func Connect(ctx context.Context, cfg ConnectConfig) (*Report, error) {
	u, opts, err := target(cfg.URL, cfg.Options)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Sessions < 1:
		return nil, fmt.Errorf("bench: %w: sessions must be at least 1 (got %d)", protocol.ErrInvalidOption, cfg.Sessions)
	case cfg.Ramp <= 0 || math.IsInf(cfg.Ramp, 0) || math.IsNaN(cfg.Ramp):
		return nil, fmt.Errorf("bench: %w: ramp must be a positive number of sessions per second (got %v)", protocol.ErrInvalidOption, cfg.Ramp)
	case cfg.Hold < 0:
		return nil, fmt.Errorf("bench: %w: hold must not be negative (got %v)", protocol.ErrInvalidOption, cfg.Hold)
	}
	load, err := Load{Clients: 1, Duration: 1, Actor: cfg.Actor, Method: cfg.Method, Input: cfg.Input, ID: cfg.ID}.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		load.ID = DefaultConnectID
	}
	r := newReport("connect", u, load)
	r.DurationS, r.WarmupS = 0, 0
	cf := &ConnectFigures{Sessions: cfg.Sessions, Ramp: cfg.Ramp, HoldS: cfg.Hold.Seconds()}
	r.Connect = cf

	d := newDialer(u, opts)
	probe, err := d.dial(ctx, true)
	if err != nil {
		return nil, err
	}
	probe.close()

	cn := &connectRun{load: load, sessions: make([]*session, cfg.Sessions), rpcDone: make(chan struct{})}
	procs := watchProcs(opts.PIDs)
	cpu := startCPU()
	start := time.Now()
	var prog *progress
	if opts.Progress != nil {
		prog = startProgress(opts.Progress, opts.ProgressInterval, func(el time.Duration, cores float64) string {
			return fmt.Sprintf("connect %5.1fs %s | open %d/%d | failed %d | dropped %d | rpc ok %d | tool cpu %.2f cores",
				el.Seconds(), cn.phase.Load(), cn.opened.Load(), cfg.Sessions, cn.failed.Load(), cn.dropped.Load(), cn.rpcOK.Load(), cores)
		})
	}
	cn.setPhase("opening")

	// Open at the ramp: session i starts at start + i/Ramp.
	var openers, readers sync.WaitGroup
	defer func() {
		cn.closeAll()
		readers.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var runErr error
	for i := range cfg.Sessions {
		at := start.Add(time.Duration(float64(i) / cfg.Ramp * float64(time.Second)))
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				runErr = ctx.Err()
			}
		}
		if runErr != nil {
			break
		}
		openers.Go(func() { cn.open(ctx, d, i, &readers) })
	}
	openers.Wait()
	cf.OpenS = time.Since(start).Seconds()

	if runErr == nil && cfg.Hold > 0 {
		cn.setPhase("holding")
		timer.Reset(cfg.Hold)
		select {
		case <-timer.C:
		case <-ctx.Done():
			runErr = ctx.Err()
		}
	}
	// Memory with every session open, before the calls.
	after := procs.finish()
	open := int(cn.opened.Load() - cn.dropped.Load())

	if runErr == nil {
		cn.setPhase("calling")
		runErr = cn.callAll(ctx, opts.Grace)
	}
	r.CPU = cpu.share()
	r.MachineCPU, r.KernelIRQCPU = cpu.machine()
	if prog != nil {
		prog.stop()
	}
	cn.closeAll()
	readers.Wait()

	for i := range after {
		if open > 0 && after[i].Err == "" {
			after[i].RSSPerSessionKiB = float64(after[i].RSSAfterKiB-after[i].RSSBeforeKiB) / float64(open)
		}
	}
	r.Procs = after
	cf.Succeeded = int(cn.opened.Load())
	cf.Failed = int(cn.failed.Load())
	cf.Dropped = int(cn.dropped.Load())
	cf.RPCOK = int(cn.rpcOK.Load())
	cf.RPCFailed = cf.Succeeded - cf.RPCOK
	cf.Connect = cn.connectHist.Summary()
	cf.RPC = cn.rpcHist.Summary()
	r.Calls = uint64(cf.RPCOK)
	r.Errors = uint64(cn.rpcErrors.Load())
	r.Latency = cf.RPC
	r.FirstError = cn.firstErr.get()
	return r, runErr
}

type connectRun struct {
	load     Load
	mu       sync.Mutex // guards sessions and closed
	sessions []*session
	closed   bool
	phase    atomic.Value // string

	opened, failed, dropped, rpcOK, rpcErrors atomic.Int64
	rpcPending                                atomic.Int64
	rpcDone                                   chan struct{}
	connectHist, rpcHist                      Histogram
	closing                                   atomic.Bool
	firstErr                                  firstError
}

func (cn *connectRun) setPhase(p string) { cn.phase.Store(p) }

type session struct {
	c      *conn
	frame  []byte
	sentAt atomic.Int64 // UnixNano of the final call's send, 0 before
	done   atomic.Bool  // the final call was answered
}

func (cn *connectRun) open(ctx context.Context, d *dialer, i int, readers *sync.WaitGroup) {
	t0 := time.Now()
	c, err := d.dial(ctx, true)
	if err != nil {
		cn.failed.Add(1)
		cn.firstErr.set(fmt.Sprintf("session %d: %v", i, err))
		return
	}
	cn.connectHist.Record(time.Since(t0))
	s := &session{c: c, frame: protocol.AppendRPC(nil, "end", cn.load.Actor, cn.load.actorID(i), cn.load.Method, cn.load.Input)}
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		c.close()
		return
	}
	cn.sessions[i] = s
	cn.mu.Unlock()
	cn.opened.Add(1)
	readers.Go(func() { cn.read(s) })
}

// read keeps a session's socket read (pings are answered while reading)
// and picks up the final call's answer.
func (cn *connectRun) read(s *session) {
	var f frame
	for {
		data, err := s.c.read()
		if err != nil {
			if !cn.closing.Load() {
				cn.dropped.Add(1)
				cn.firstErr.set("open session dropped: " + err.Error())
			}
			return
		}
		if scanFrame(data, &f) != nil || string(f.typ) != protocol.TypeRPCResult || !bytes.Equal(f.id, []byte("end")) {
			continue
		}
		sent := s.sentAt.Load()
		if sent == 0 || !s.done.CompareAndSwap(false, true) {
			continue
		}
		if f.hasError {
			cn.rpcErrors.Add(1)
			cn.firstErr.set("final call: " + string(f.errMsg))
		} else {
			cn.rpcHist.Record(time.Duration(time.Now().UnixNano() - sent))
			cn.rpcOK.Add(1)
		}
		if cn.rpcPending.Add(-1) == 0 {
			close(cn.rpcDone)
		}
	}
}

// callAll sends every open session's final call and waits for the answers
// or the grace period.
func (cn *connectRun) callAll(ctx context.Context, grace time.Duration) error {
	cn.mu.Lock()
	var open []*session
	for _, s := range cn.sessions {
		if s != nil {
			open = append(open, s)
		}
	}
	cn.mu.Unlock()
	if len(open) == 0 {
		return nil
	}
	cn.rpcPending.Store(int64(len(open)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(16, len(open)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(open) {
					return
				}
				s := open[i]
				s.sentAt.Store(time.Now().UnixNano())
				if err := s.c.write(s.frame); err != nil {
					cn.firstErr.set("final call: " + err.Error())
					if cn.rpcPending.Add(-1) == 0 {
						close(cn.rpcDone)
					}
				}
			}
		})
	}
	wg.Wait()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-cn.rpcDone:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (cn *connectRun) closeAll() {
	cn.closing.Store(true)
	cn.mu.Lock()
	cn.closed = true
	open := cn.sessions
	cn.mu.Unlock()
	closeParallel(len(open), func(i int) {
		if open[i] != nil {
			open[i].c.close()
		}
	})
}
