package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// Defaults of FanoutConfig.
const (
	DefaultFanoutPath    = "/count"
	DefaultSettle        = time.Second
	DefaultSettleTimeout = 2 * time.Minute
)

// FanoutConfig configures [Fanout].
type FanoutConfig struct {
	// URL is the server's WebSocket endpoint; required. The writer uses it.
	URL string
	// SubscriberURLs spreads the subscribers over several endpoints, such
	// as the gateways of one deployment: subscriber i connects to
	// SubscriberURLs[i % len(SubscriberURLs)]. Empty means URL.
	SubscriberURLs []string
	// Subscribers is the number of connections that subscribe to the
	// instance's state; it must be at least 1.
	Subscribers int
	// Rate is the writer's calls per second; it must be positive.
	Rate float64
	// Duration is how long the writer writes; it must be positive. The
	// writer makes round(Duration × Rate) measured calls (at least one).
	Duration time.Duration
	// Actor, Method and Input are what the writer calls. Empty Actor and
	// Method mean counter.increment; nil Input means none.
	Actor  string
	Method string
	Input  json.RawMessage
	// Path is the JSON Pointer of the number each call increments by one:
	// the patch that sets it to the snapshot's value + 1 + k carries
	// measured write k, which is how the tool tells which write a patch
	// carries. Empty means "/count".
	Path string
	// ID is the instance everyone uses. Empty means a fresh
	// "fanout-<random>", so that nobody else writes to it.
	ID string
	// Settle is how long the subscribers must receive nothing before the
	// measured writes start. Subscribing can set off a storm of patches
	// (the counter counts its viewers, so each new subscriber patches all
	// the others: N²/2 patches for N subscribers), and writes measured
	// behind that backlog would measure the backlog. Zero means
	// DefaultSettle (1 s); negative means no wait.
	Settle time.Duration
	// SettleTimeout bounds the wait for quiet; the writes then start
	// anyway and FanoutFigures.Settled is false. Zero means
	// DefaultSettleTimeout (2 minutes).
	SettleTimeout time.Duration
	Options
}

// Fanout subscribes Subscribers connections to one instance's state, then
// has a separate writer connection call Method at Rate for Duration. It
// reports the delivery latency of each patch to each subscriber (from the
// moment write k was sent to the moment the patch carrying k arrived), the
// patches delivered per second, and in FanoutFigures.Missed the number of
// subscribers that did not get every patch in order, which must be zero.
//
// Before the measured writes the writer makes one unmeasured call (its
// first call may change the state in other ways, such as the counter's
// viewers) and the tool waits for the subscribers to go quiet (Settle). It
// waits up to Grace after the last write for the last patches, then closes
// every connection. Errors are as for [RPC].
func Fanout(ctx context.Context, cfg FanoutConfig) (*Report, error) {
	u, opts, err := target(cfg.URL, cfg.Options)
	if err != nil {
		return nil, err
	}
	subURLs := []string{u}
	if len(cfg.SubscriberURLs) > 0 {
		subURLs = make([]string, len(cfg.SubscriberURLs))
		for i, raw := range cfg.SubscriberURLs {
			if subURLs[i], err = normalizeURL(raw); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case cfg.Subscribers < 1:
		return nil, fmt.Errorf("bench: %w: subscribers must be at least 1 (got %d)", protocol.ErrInvalidOption, cfg.Subscribers)
	case cfg.Rate <= 0 || math.IsInf(cfg.Rate, 0) || math.IsNaN(cfg.Rate):
		return nil, fmt.Errorf("bench: %w: rate must be a positive number of writes per second (got %v)", protocol.ErrInvalidOption, cfg.Rate)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("bench: %w: duration must be positive (got %v)", protocol.ErrInvalidOption, cfg.Duration)
	case cfg.SettleTimeout < 0:
		return nil, fmt.Errorf("bench: %w: settle timeout must not be negative", protocol.ErrInvalidOption)
	case cfg.Input != nil && !json.Valid(cfg.Input):
		return nil, fmt.Errorf("bench: %w: input is not valid JSON: %.100s", protocol.ErrInvalidOption, cfg.Input)
	}
	if cfg.Actor == "" {
		cfg.Actor = DefaultActor
	}
	if cfg.Method == "" {
		cfg.Method = DefaultMethod
	}
	if cfg.Path == "" {
		cfg.Path = DefaultFanoutPath
	}
	if cfg.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.ID = "fanout-" + hex.EncodeToString(b[:])
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.SettleTimeout == 0 {
		cfg.SettleTimeout = DefaultSettleTimeout
	}
	writes := max(1, int(math.Round(cfg.Duration.Seconds()*cfg.Rate)))
	desc := u
	if len(cfg.SubscriberURLs) > 0 {
		desc = fmt.Sprintf("%s (writer); subscribers in turn on %s", u, strings.Join(subURLs, ", "))
	}
	r := newReport("fanout", desc, Load{Duration: cfg.Duration, Actor: cfg.Actor, Method: cfg.Method, Rate: cfg.Rate})
	f := &FanoutFigures{Subscribers: cfg.Subscribers, Writes: writes}
	r.Fanout = f

	d := newDialer(u, opts)
	subDialers := make([]*dialer, len(subURLs))
	for i, su := range subURLs {
		subDialers[i] = d
		if su != u {
			subDialers[i] = newDialer(su, opts)
		}
	}
	writer, err := d.dial(ctx, true)
	if err != nil {
		return nil, err
	}
	// Write 0 is the warm-up; writes 1..writes are measured.
	fo := &fanout{cfg: cfg, writes: int64(writes), sentAt: make([]atomic.Int64, writes+1), base: time.Now()}
	fo.pending.Store(int64(cfg.Subscribers))
	fo.allDone = make(chan struct{})
	procs := watchProcs(opts.PIDs)

	// The writer's reader runs from the start: the socket must be read
	// (pings answered) while the subscribers join, which can take minutes.
	// It collects the results of the writes, which are pipelined.
	var wh Histogram
	writerDone := make(chan struct{})
	warmedUp := make(chan struct{})
	var writeFailed atomic.Pointer[string]
	go func() {
		defer close(writerDone)
		var fr frame
		for got := 0; got <= writes; {
			data, err := writer.read()
			if err != nil {
				msg := "writer: " + err.Error()
				if fo.closing.Load() {
					msg = fmt.Sprintf("writer: %d of %d results arrived", got, writes+1)
				}
				writeFailed.Store(&msg)
				return
			}
			if scanFrame(data, &fr) != nil || string(fr.typ) != protocol.TypeRPCResult {
				continue
			}
			k, err := strconv.Atoi(string(fr.id))
			if err != nil || k < 0 || k > writes {
				continue
			}
			got++
			if fr.hasError {
				f.WriteErrors++
				fo.firstErr.set("write " + strconv.Itoa(k) + ": " + string(fr.errMsg))
			}
			if k == 0 {
				close(warmedUp)
				continue
			}
			wh.Record(time.Duration(time.Since(fo.base).Nanoseconds() - fo.sentAt[k].Load()))
		}
	}()
	defer func() {
		fo.closing.Store(true)
		writer.close()
		<-writerDone
	}()

	// Subscribe everyone; each subscriber reads from the moment it has its
	// snapshot, so the patches of the others joining never back up.
	subStart := time.Now()
	subs := make([]*subscriber, cfg.Subscribers)
	var readers sync.WaitGroup
	closeSubs := func() {
		fo.closing.Store(true)
		closeParallel(len(subs), func(i int) {
			if subs[i] != nil {
				subs[i].c.close()
			}
		})
	}
	defer func() {
		closeSubs()
		readers.Wait()
	}()
	if err := fo.subscribeAll(ctx, subDialers, opts, subs, &readers); err != nil {
		return nil, err
	}
	f.SubscribeS = time.Since(subStart).Seconds()

	rc := newRPCCaller(writer, Load{Actor: cfg.Actor, Method: cfg.Method, Input: cfg.Input, ID: cfg.ID, Shared: true}, 0)
	send := func(k int) error {
		rc.id = strconv.AppendInt(rc.id[:0], int64(k), 10)
		rc.frame = append(append(append(rc.frame[:0], rc.prefix...), rc.id...), rc.suffix...)
		fo.sentAt[k].Store(time.Since(fo.base).Nanoseconds())
		if err := writer.write(rc.frame); err != nil {
			return fmt.Errorf("writer: %w", err)
		}
		return nil
	}
	settleStart := time.Now()
	if err := send(0); err != nil {
		return nil, err
	}
	settled, err := fo.settle(ctx, warmedUp, opts)
	if err != nil {
		return nil, err
	}
	f.SettleS, f.Settled = time.Since(settleStart).Seconds(), settled

	var prog *progress
	if opts.Progress != nil {
		prog = startProgress(opts.Progress, opts.ProgressInterval, func(el time.Duration, cores float64) string {
			return fmt.Sprintf("fanout %5.1fs | writes %d/%d | delivered %d | subscribers waiting for patches %d | p50 %s ms p99 %s ms | tool cpu %.2f cores",
				el.Seconds(), fo.sent.Load(), writes, fo.delivered.Load(), fo.pending.Load(),
				fmtMS(ms(fo.hist.Quantile(0.5))), fmtMS(ms(fo.hist.Quantile(0.99))), cores)
		})
	}
	cpu := startCPU()
	procs.restart()
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var runErr error
	for k := 1; k <= writes && runErr == nil; k++ {
		at := start.Add(time.Duration(float64(k-1) / cfg.Rate * float64(time.Second)))
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				runErr = ctx.Err()
				continue
			}
		}
		fo.sent.Add(1)
		runErr = send(k)
	}
	writePhase := time.Since(start)
	// Wait for every subscriber to have every patch, or the grace period.
	grace := time.NewTimer(opts.Grace)
	defer grace.Stop()
	if runErr == nil {
		select {
		case <-fo.allDone:
		case <-grace.C:
		case <-ctx.Done():
			runErr = ctx.Err()
		}
	}
	if runErr == nil {
		select { // the writer's answers
		case <-writerDone:
		case <-grace.C:
		case <-ctx.Done():
			runErr = ctx.Err()
		}
	}
	r.CPU = cpu.share()
	r.MachineCPU, r.KernelIRQCPU = cpu.machine()
	r.Procs = procs.finish()
	if prog != nil {
		prog.stop()
	}
	fo.closing.Store(true)
	writer.close()
	<-writerDone
	closeSubs()
	readers.Wait()

	if p := writeFailed.Load(); p != nil {
		r.Failures++
		fo.firstErr.set(*p)
	}
	okWrites := uint64(writes)
	if f.WriteErrors < okWrites {
		okWrites -= f.WriteErrors
	}
	// Deliveries per second over the time they took: from the first
	// measured write to the last delivery (at least the write phase).
	span := max(writePhase, cfg.Duration)
	if last := time.Duration(fo.lastDelivery.Load()) - start.Sub(fo.base); last > span {
		span = last
	}
	f.DeliveriesPerSec = float64(fo.delivered.Load()) / span.Seconds()
	f.DeliveryS = span.Seconds()
	f.Expected = uint64(cfg.Subscribers) * okWrites
	f.Delivered = fo.delivered.Load()
	for _, s := range subs {
		got := s.received
		if s.outOfOrder > 0 || got < okWrites || s.gaps > 0 {
			f.Missed++
		}
		if got < uint64(writes) {
			f.MissedPatches += uint64(writes) - got
		}
		f.OutOfOrder += s.outOfOrder
		if s.lost {
			r.Failures++
		}
	}
	f.Writer = wh.Summary()
	r.Calls = uint64(fo.sent.Load())
	r.Errors = f.WriteErrors
	r.Throughput = float64(r.Calls) / writePhase.Seconds()
	r.Latency = fo.hist.Summary()
	r.FirstError = fo.firstErr.get()
	return r, runErr
}

// settle waits for the warm-up write's answer and then for cfg.Settle
// without any frame reaching a subscriber, up to cfg.SettleTimeout.
func (fo *fanout) settle(ctx context.Context, warmedUp <-chan struct{}, opts Options) (bool, error) {
	timeout := time.NewTimer(fo.cfg.SettleTimeout)
	defer timeout.Stop()
	select {
	case <-warmedUp:
	case <-timeout.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if fo.cfg.Settle < 0 {
		return true, nil
	}
	tick := time.NewTicker(min(fo.cfg.Settle/4, 100*time.Millisecond) + time.Millisecond)
	defer tick.Stop()
	last, quietSince := fo.frames.Load(), time.Now()
	lastPrint := time.Now()
	for {
		select {
		case <-tick.C:
		case <-timeout.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if n := fo.frames.Load(); n != last {
			last, quietSince = n, time.Now()
		} else if time.Since(quietSince) >= fo.cfg.Settle {
			return true, nil
		}
		if opts.Progress != nil && time.Since(lastPrint) >= opts.ProgressInterval {
			lastPrint = time.Now()
			fmt.Fprintf(opts.Progress, "fanout settling: %d frames received by the subscribers so far\n", last)
		}
	}
}

// fanout is the shared state of one Fanout run.
type fanout struct {
	cfg       FanoutConfig
	writes    int64
	base      time.Time
	sentAt    []atomic.Int64 // ns since base that write k was sent, index k
	sent      atomic.Int64
	delivered atomic.Uint64
	frames    atomic.Uint64 // every frame any subscriber read
	// lastDelivery is the latest arrival of a measured patch, in ns since
	// base.
	lastDelivery atomic.Int64
	hist         Histogram
	pending      atomic.Int64 // subscribers that do not have every patch yet
	allDone      chan struct{}
	closing      atomic.Bool // the tool is closing the subscribers
	firstErr     firstError
}

// subscriber is one subscribed connection. Its counters are written by its
// reader goroutine only and read after it has returned.
type subscriber struct {
	c          *conn
	base       int64 // the watched number in the snapshot
	last       int64 // highest write seen
	received   uint64
	gaps       uint64
	outOfOrder uint64
	lost       bool // the connection failed before the end
}

// subscribeAll subscribes subscriber i through ds[i % len(ds)].
func (fo *fanout) subscribeAll(ctx context.Context, ds []*dialer, opts Options, subs []*subscriber, readers *sync.WaitGroup) error {
	n := len(subs)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sub := protocol.AppendSubscription(nil, protocol.TypeStateSub, fo.cfg.Actor, fo.cfg.ID)
	var next, opened atomic.Int64
	var wg sync.WaitGroup
	var prog *progress
	if opts.Progress != nil && n >= 100 {
		prog = startProgress(opts.Progress, opts.ProgressInterval, func(el time.Duration, cores float64) string {
			return fmt.Sprintf("fanout subscribing %d/%d | tool cpu %.2f cores", opened.Load(), n, cores)
		})
		defer prog.stop()
	}
	for range min(dialParallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				s, err := fo.subscribe(ctx, ds[i%len(ds)], sub)
				if err != nil {
					cancel(fmt.Errorf("subscriber %d of %d: %w", i+1, n, err))
					return
				}
				subs[i] = s
				readers.Go(func() { fo.read(s) })
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// subscribe opens a connection, subscribes and reads the snapshot.
func (fo *fanout) subscribe(ctx context.Context, d *dialer, sub []byte) (*subscriber, error) {
	c, err := d.dial(ctx, true)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*subscriber, error) {
		c.close()
		return nil, err
	}
	if err := c.write(sub); err != nil {
		return fail(err)
	}
	rctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var f frame
	for {
		data, err := c.readCtx(rctx)
		if err != nil {
			if rctx.Err() != nil {
				return fail(fmt.Errorf("%w: no state:snapshot within %v of state:sub", ErrProtocol, d.timeout))
			}
			return fail(err)
		}
		if err := scanFrame(data, &f); err != nil {
			return fail(fmt.Errorf("%w: unreadable frame %.200q", ErrProtocol, data))
		}
		if string(f.typ) != protocol.TypeStateSnapshot {
			continue
		}
		v, err := pointerValue(f.state, fo.cfg.Path)
		if err != nil {
			return fail(fmt.Errorf("%w: snapshot of %s/%s: %v", ErrProtocol, fo.cfg.Actor, fo.cfg.ID, err))
		}
		return &subscriber{c: c, base: v}, nil
	}
}

// read consumes a subscriber's frames until its connection is closed.
func (fo *fanout) read(s *subscriber) {
	var f frame
	done := false
	s.last = -1 // nothing yet; write 0 is the warm-up
	for {
		data, err := s.c.read()
		if err != nil {
			if !fo.closing.Load() {
				s.lost = true
				fo.firstErr.set("subscriber: " + err.Error())
			}
			return
		}
		now := time.Since(fo.base).Nanoseconds()
		fo.frames.Add(1)
		if scanFrame(data, &f) != nil || string(f.typ) != protocol.TypeStatePatch {
			continue
		}
		v, ok, err := patchValue(f.patches, fo.cfg.Path)
		if err != nil {
			fo.firstErr.set(fmt.Sprintf("unreadable patch: %v", err))
			continue
		}
		if !ok {
			continue // another field changed (viewers, say)
		}
		k := v - s.base - 1
		if k < 0 || k > fo.writes {
			s.outOfOrder++
			fo.firstErr.set(fmt.Sprintf("patch sets %s to %d: no write of this run", fo.cfg.Path, v))
			continue
		}
		switch {
		case k <= s.last:
			s.outOfOrder++
			continue
		case k > s.last+1:
			s.gaps += uint64(k - s.last - 1)
		}
		s.last = k
		if k == 0 {
			continue // the warm-up: not measured
		}
		s.received++
		fo.delivered.Add(1)
		fo.hist.Record(time.Duration(now - fo.sentAt[k].Load()))
		for {
			old := fo.lastDelivery.Load()
			if old >= now || fo.lastDelivery.CompareAndSwap(old, now) {
				break
			}
		}
		if k == fo.writes && !done {
			done = true
			if fo.pending.Add(-1) == 0 {
				close(fo.allDone)
			}
		}
	}
}
