package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// Defaults of the churn mode.
const (
	// DefaultChurnID is the prefix of the instances churn sessions call,
	// one per session ("churn-<i>").
	DefaultChurnID = "churn"
	// DefaultChurnConcurrency bounds the sessions in flight at once.
	DefaultChurnConcurrency = 64
	// DefaultConsumerWait bounds the wait for the OUTBOUND consumers to
	// return to their count before the run.
	DefaultConsumerWait = 10 * time.Second
	// consumerPoll is the time between two reads of the consumer count.
	consumerPoll = 100 * time.Millisecond
)

// ChurnConfig configures [Churn].
type ChurnConfig struct {
	// URL is the server's WebSocket endpoint; required.
	URL string
	// Rate is how many sessions are started per second; it must be
	// positive.
	Rate float64
	// Duration is how long sessions are started; it must be positive.
	Duration time.Duration
	// Concurrency is the most sessions in flight at once (a session's
	// start waits for a free slot). Zero means DefaultChurnConcurrency.
	Concurrency int
	// Actor, Method and Input make the one call each session makes, on its
	// own instance "ID-i". Empty means counter.increment on "churn-i".
	Actor  string
	Method string
	Input  []byte
	ID     string
	// NATSURL, when set, is the NATS server of a distributed deployment:
	// the consumers on its OUTBOUND stream are counted before the run and,
	// after it, until they are back to that count or ConsumerWait passed.
	NATSURL string
	// NATSOptions are extra nats.Connect options for NATSURL: credentials
	// and TLS (cli.NATSAuth.Options).
	NATSOptions []nats.Option
	// ConsumerWait bounds that wait. Zero means DefaultConsumerWait.
	ConsumerWait time.Duration
	Options
}

// Churn opens sessions at Rate per second for Duration, at most Concurrency
// at a time. Each session dials, waits for its welcome, makes one call and
// waits for the answer within Options.ConnectTimeout, then closes. A session
// that opened but got no answer in time is deaf. It reports how many
// sessions opened, answered, were deaf or failed to open, connect latency
// (dial to welcome) and call latency, and with NATSURL the OUTBOUND
// consumers before and after.
//
// It returns protocol.ErrInvalidOption for bad settings and ErrUnreachable
// when a first probe session or the NATS server cannot be reached.
func Churn(ctx context.Context, cfg ChurnConfig) (*Report, error) {
	u, opts, err := target(cfg.URL, cfg.Options)
	if err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultChurnConcurrency
	}
	if cfg.ConsumerWait == 0 {
		cfg.ConsumerWait = DefaultConsumerWait
	}
	switch {
	case cfg.Rate <= 0 || math.IsInf(cfg.Rate, 0) || math.IsNaN(cfg.Rate):
		return nil, fmt.Errorf("bench: %w: rate must be a positive number of sessions per second (got %v)", protocol.ErrInvalidOption, cfg.Rate)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("bench: %w: duration must be positive (got %v)", protocol.ErrInvalidOption, cfg.Duration)
	case cfg.Concurrency < 1:
		return nil, fmt.Errorf("bench: %w: concurrency must be at least 1 (got %d)", protocol.ErrInvalidOption, cfg.Concurrency)
	case cfg.ConsumerWait < 0:
		return nil, fmt.Errorf("bench: %w: consumer wait must not be negative (got %v)", protocol.ErrInvalidOption, cfg.ConsumerWait)
	}
	load, err := Load{Clients: 1, Duration: cfg.Duration, Actor: cfg.Actor, Method: cfg.Method, Input: cfg.Input, ID: cfg.ID}.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		load.ID = DefaultChurnID
	}
	r := newReport("churn", u, load)
	r.Clients = 0
	r.TargetRate = cfg.Rate
	cf := &ChurnFigures{Rate: cfg.Rate, Concurrency: cfg.Concurrency}
	r.Churn = cf

	// The consumer baseline comes first, before this run opens anything.
	var cons *consumerCounter
	if cfg.NATSURL != "" {
		cons, err = newConsumerCounter(ctx, cfg.NATSURL, opts.ConnectTimeout, cfg.NATSOptions)
		if err != nil {
			return nil, err
		}
		defer cons.close()
		n, err := cons.count(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS %s: %v", ErrUnreachable, cfg.NATSURL, err)
		}
		cf.Consumers = &ChurnConsumers{Stream: natstransport.OutboundStream, Before: n, Peak: n}
	}

	d := newDialer(u, opts)
	probe, err := d.dial(ctx, true)
	if err != nil {
		return nil, err
	}
	probe.close()

	ch := &churnRun{load: load, d: d, timeout: opts.ConnectTimeout}
	procs := watchProcs(opts.PIDs)
	cpu := startCPU()
	start := time.Now()
	var prog *progress
	if opts.Progress != nil {
		prog = startProgress(opts.Progress, opts.ProgressInterval, func(el time.Duration, cores float64) string {
			return fmt.Sprintf("churn %5.1fs | started %d | in flight %d | answered %d | deaf %d | failed %d | tool cpu %.2f cores",
				el.Seconds(), ch.started.Load(), ch.inFlight.Load(), ch.answered.Load(), ch.deaf.Load(), ch.failed.Load(), cores)
		})
	}
	// While sessions churn, sample the consumer count: its peak shows the
	// sessions' consumers were there to be counted.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	if cons != nil {
		sampler.Go(func() { cf.Consumers.Peak = cons.peak(sampleCtx, cf.Consumers.Before) })
	}

	// Session i starts at start + i/Rate, once a slot is free.
	slots := make(chan struct{}, cfg.Concurrency)
	var sessions sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var runErr error
	for i := 0; ; i++ {
		off := time.Duration(float64(i) / cfg.Rate * float64(time.Second))
		if off >= cfg.Duration {
			break
		}
		if wait := time.Until(start.Add(off)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				runErr = ctx.Err()
			}
		}
		if runErr == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				runErr = ctx.Err()
			}
		}
		if runErr != nil {
			break
		}
		ch.started.Add(1)
		ch.inFlight.Add(1)
		sessions.Go(func() {
			defer func() { <-slots; ch.inFlight.Add(-1) }()
			ch.session(ctx, i)
		})
	}
	sessions.Wait()
	cf.ChurnS = time.Since(start).Seconds()
	stopSampling()
	sampler.Wait()
	r.CPU = cpu.share()
	r.MachineCPU, r.KernelIRQCPU = cpu.machine()
	r.Procs = procs.finish()
	if prog != nil {
		prog.stop()
	}

	cf.Sessions = int(ch.started.Load())
	cf.Opened = int(ch.opened.Load())
	cf.Answered = int(ch.answered.Load())
	cf.Deaf = int(ch.deaf.Load())
	cf.Failed = int(ch.failed.Load())
	cf.Connect = ch.connectHist.Summary()
	cf.RPC = ch.rpcHist.Summary()
	r.DurationS = cf.ChurnS
	r.Calls = uint64(cf.Answered)
	r.Errors = uint64(ch.errAnswers.Load())
	r.Latency = cf.RPC
	if cf.ChurnS > 0 {
		r.Throughput = float64(cf.Answered) / cf.ChurnS
	}

	if cons != nil && runErr == nil {
		c := cf.Consumers
		waitStart := time.Now()
		c.After, err = cons.waitFor(ctx, c.Before, cfg.ConsumerWait)
		c.WaitS = time.Since(waitStart).Seconds()
		switch {
		case err != nil && ctx.Err() != nil:
			runErr = ctx.Err()
		case err != nil:
			c.Err = err.Error()
		case c.After > c.Before:
			c.LeftBehind = c.After - c.Before
		}
	}
	r.FirstError = ch.firstErr.get()
	return r, runErr
}

type churnRun struct {
	load    Load
	d       *dialer
	timeout time.Duration

	started, inFlight, opened, answered, deaf, failed, errAnswers atomic.Int64
	connectHist, rpcHist                                          Histogram
	firstErr                                                      firstError
}

// churnCallID is the id of each session's one call.
const churnCallID = "churn"

// session is one churn session: open, one call, close.
func (ch *churnRun) session(ctx context.Context, i int) {
	t0 := time.Now()
	c, err := ch.d.dial(ctx, true)
	if err != nil {
		if ctx.Err() == nil {
			ch.failed.Add(1)
			ch.firstErr.set(fmt.Sprintf("session %d: %v", i, err))
		}
		return
	}
	ch.connectHist.Record(time.Since(t0))
	ch.opened.Add(1)
	defer closeChurn(c)

	call := protocol.AppendRPC(nil, churnCallID, ch.load.Actor, ch.load.actorID(i), ch.load.Method, ch.load.Input)
	rctx, cancel := context.WithTimeout(ctx, ch.timeout)
	defer cancel()
	sent := time.Now()
	if err := c.ws.Write(rctx, websocket.MessageText, call); err != nil {
		ch.deafErr(ctx, i, "sending the call: "+err.Error())
		return
	}
	var f frame
	for {
		data, err := c.readCtx(rctx)
		if err != nil {
			if rctx.Err() != nil {
				ch.deafErr(ctx, i, fmt.Sprintf("no answer within %v", ch.timeout))
			} else {
				ch.deafErr(ctx, i, "connection lost before the answer: "+err.Error())
			}
			return
		}
		if scanFrame(data, &f) != nil || string(f.typ) != protocol.TypeRPCResult || !bytes.Equal(f.id, []byte(churnCallID)) {
			continue
		}
		ch.rpcHist.Record(time.Since(sent))
		ch.answered.Add(1)
		if f.hasError {
			ch.errAnswers.Add(1)
			ch.firstErr.set(fmt.Sprintf("session %d: error answer: %s", i, f.errMsg))
		}
		return
	}
}

// deafErr counts a session that opened but got no answer, unless the run
// was cancelled.
func (ch *churnRun) deafErr(ctx context.Context, i int, msg string) {
	if ctx.Err() != nil {
		return
	}
	ch.deaf.Add(1)
	ch.firstErr.set(fmt.Sprintf("session %d deaf: %s", i, msg))
}

// closeChurn closes a session the way a client leaving does, with a close
// handshake, bounded by a second; a peer that does not answer is dropped.
func closeChurn(c *conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.ws.Close(websocket.StatusNormalClosure, "") != nil {
			c.close()
		}
	}()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.close()
		<-done
	}
}

// consumerCounter reads the consumer count of the OUTBOUND stream.
type consumerCounter struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newConsumerCounter(ctx context.Context, url string, timeout time.Duration, extra []nats.Option) (*consumerCounter, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("zocket bench churn"), nats.Timeout(timeout), nats.MaxReconnects(0)}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: NATS %s: %v", ErrUnreachable, url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: NATS %s: %v", ErrUnreachable, url, err)
	}
	return &consumerCounter{nc: nc, js: js}, nil
}

func (cc *consumerCounter) close() { cc.nc.Close() }

func (cc *consumerCounter) count(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := cc.js.Stream(ctx, natstransport.OutboundStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", natstransport.OutboundStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", natstransport.OutboundStream, err)
	}
	return info.State.Consumers, nil
}

// peak polls the count until ctx is done and returns the highest seen.
func (cc *consumerCounter) peak(ctx context.Context, peak int) int {
	t := time.NewTicker(consumerPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return peak
		case <-t.C:
		}
		if n, err := cc.count(ctx); err == nil {
			peak = max(peak, n)
		}
	}
}

// waitFor polls the count until it is at most want or wait has passed, and
// returns the last count read.
func (cc *consumerCounter) waitFor(ctx context.Context, want int, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	t := time.NewTicker(consumerPoll)
	defer t.Stop()
	for {
		n, err := cc.count(ctx)
		if err != nil {
			return n, err
		}
		if n <= want || !time.Now().Before(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-t.C:
		}
	}
}
