package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// caller makes one call and waits for its answer. failed reports an answer
// that carried an error (the loop goes on); err a broken connection (the
// client stops). close unblocks a call in progress; it may run concurrently
// with call.
type caller interface {
	call(seq uint64) (failed bool, msg string, err error)
	close()
}

// errClosed marks a call ended because the loop closed its caller.
var errClosed = errors.New("closed by the bench tool")

// loop runs callers under a Load and measures them.
type loop struct {
	load    Load
	opts    Options
	callers []caller
	hist    Histogram

	calls, errors, failures, unanswered atomic.Uint64
	notSent                             atomic.Uint64
	firstErr                            firstError
	closing                             atomic.Bool
}

// firstError keeps the first error message reported.
type firstError struct {
	once sync.Once
	msg  atomic.Pointer[string]
}

func (f *firstError) set(msg string) { f.once.Do(func() { f.msg.Store(&msg) }) }

func (f *firstError) get() string {
	if p := f.msg.Load(); p != nil {
		return *p
	}
	return ""
}

// run drives the callers for Warmup + Duration and fills r. It always
// returns within Warmup + Duration + Grace (plus the time to close the
// connections): then every caller is closed and calls still waiting are
// counted as unanswered.
func (l *loop) run(ctx context.Context, name string, r *Report) error {
	n := len(l.callers)
	start := time.Now()
	measureStart := start.Add(l.load.Warmup)
	measureEnd := measureStart.Add(l.load.Duration)
	stop := make(chan struct{}) // closed when callers must stop at once
	var interval time.Duration
	if l.load.Rate > 0 {
		interval = time.Duration(float64(n) / l.load.Rate * float64(time.Second))
	}

	var cpu cpuMeter
	cpuStarted := make(chan struct{})
	procs := watchProcs(l.opts.PIDs)
	var wg sync.WaitGroup
	for i, c := range l.callers {
		wg.Go(func() {
			var next time.Time
			if interval > 0 { // stagger the clients' schedules over one interval
				next = start.Add(time.Duration(float64(i) / l.load.Rate * float64(time.Second)))
			}
			timer := time.NewTimer(time.Hour)
			timer.Stop()
			for seq := uint64(1); ; seq++ {
				var t0 time.Time
				if interval > 0 {
					t0, next = next, next.Add(interval)
					if !t0.Before(measureEnd) {
						return
					}
					if d := time.Until(t0); d > 0 {
						timer.Reset(d)
						select {
						case <-timer.C:
						case <-stop:
							l.notSent.Add(scheduled(t0, interval, measureStart, measureEnd))
							return
						}
					}
				} else {
					t0 = time.Now()
					if !t0.Before(measureEnd) {
						return
					}
				}
				failed, msg, err := c.call(seq)
				measured := !t0.Before(measureStart)
				if err != nil {
					if interval > 0 { // the rest of this client's schedule is lost too
						l.notSent.Add(scheduled(next, interval, measureStart, measureEnd))
					}
					if l.closing.Load() {
						if measured {
							l.unanswered.Add(1)
						}
						return
					}
					l.failures.Add(1)
					l.firstErr.set(err.Error())
					return
				}
				if !measured {
					continue
				}
				l.hist.Record(time.Since(t0))
				l.calls.Add(1)
				if failed {
					l.errors.Add(1)
					l.firstErr.set(msg)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	closeAll := func() {
		l.closing.Store(true)
		close(stop)
		closeParallel(len(l.callers), func(i int) { l.callers[i].close() })
	}
	var prog *progress
	if l.opts.Progress != nil {
		prog = startProgress(l.opts.Progress, l.opts.ProgressInterval, func(elapsed time.Duration, cores float64) string {
			phase := "measuring"
			t := elapsed - l.load.Warmup
			if t < 0 {
				phase, t = "warmup", elapsed
			}
			return fmt.Sprintf("%s %s %5.1fs | calls %d | errors %d | lost %d | p50 %s ms p99 %s ms | tool cpu %.2f cores",
				name, phase, t.Seconds(), l.calls.Load(), l.errors.Load(), l.failures.Load(),
				fmtMS(ms(l.hist.Quantile(0.5))), fmtMS(ms(l.hist.Quantile(0.99))), cores)
		})
	}
	// Take the CPU baselines when the measurement starts.
	warm := time.NewTimer(time.Until(measureStart))
	deadline := time.NewTimer(time.Until(measureEnd.Add(l.opts.Grace)))
	defer warm.Stop()
	defer deadline.Stop()
	var err error
wait:
	for {
		select {
		case <-warm.C:
			cpu = startCPU()
			procs.restart()
			close(cpuStarted)
		case <-done:
			break wait
		case <-deadline.C:
			closeAll()
			<-done
			break wait
		case <-ctx.Done():
			closeAll()
			<-done
			err = ctx.Err()
			break wait
		}
	}
	if !l.closing.Load() {
		closeAll()
	}
	if prog != nil {
		prog.stop()
	}
	select {
	case <-cpuStarted:
	default: // ended during the warmup (cancelled): measure what there was
		cpu = startCPU()
	}
	r.CPU = cpu.share()
	r.MachineCPU, r.KernelIRQCPU = cpu.machine()
	r.Procs = procs.finish()
	r.Calls = l.calls.Load()
	r.Errors = l.errors.Load()
	r.Failures = l.failures.Load()
	r.Unanswered = l.unanswered.Load()
	r.NotSent = l.notSent.Load()
	r.FirstError = l.firstErr.get()
	r.Throughput = float64(r.Calls) / l.load.Duration.Seconds()
	r.Latency = l.hist.Summary()
	return err
}

// scheduled counts the send times next, next+interval, ... that fall in
// [from, end).
func scheduled(next time.Time, interval time.Duration, from, end time.Time) uint64 {
	if interval <= 0 {
		return 0
	}
	if next.Before(from) {
		k := (from.Sub(next) + interval - 1) / interval
		next = next.Add(k * interval)
	}
	if !next.Before(end) {
		return 0
	}
	return uint64((end.Sub(next)-1)/interval) + 1
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// progress prints a status line every interval until stopped.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, every time.Duration, line func(elapsed time.Duration, cores float64) string) *progress {
	p := &progress{done: make(chan struct{})}
	start := time.Now()
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		last := startCPU()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				cores := last.share().Cores
				last = startCPU()
				fmt.Fprintln(w, line(time.Since(start).Truncate(100*time.Millisecond), cores))
			}
		}
	})
	return p
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}
