//go:build unix

package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The guarantees' deadlines.
const (
	// answerDeadline: every call gets an answer, a result or an error,
	// within this long of being made. The gateway answers a call nobody
	// answered after its CallTimeout (30 s); the rest is room for a
	// restart and a busy machine.
	answerDeadline = 45 * time.Second
	// recoverDeadline: after each fault, a call made after it succeeds
	// within this long. A takeover or a leader election takes seconds.
	recoverDeadline = 30 * time.Second
	// settleTimeout bounds the wait for INBOUND to drain after the load,
	// so that answers to redelivered calls (a runtime's calls are
	// redelivered 30 s, its AckWait, after it died) are seen before the
	// suite counts. Not draining is reported, not a failure in itself.
	settleTimeout = 45 * time.Second
)

// schedule is how long and how hard a scenario runs.
type schedule struct {
	clients  int
	interval time.Duration // between two calls of one client
	warmup   time.Duration // load before the first fault
	cycle    time.Duration // between faults; 0: one fault
	duration time.Duration // of the load, from its start
	// burst is how many calls each client makes at once just before a
	// fault, which strikes as soon as the first of them is answered.
	burst int
}

// shortSchedule is the CI run: one fault per scenario.
var shortSchedule = schedule{clients: 4, interval: 40 * time.Millisecond, warmup: 3 * time.Second, duration: 10 * time.Second, burst: 25}

// currentSchedule returns the short schedule, or with ZOCKET_SOAK set to a
// duration a soak: each scenario runs that long with a fault every 30 s.
func currentSchedule(t *testing.T) schedule {
	v := os.Getenv("ZOCKET_SOAK")
	if v == "" {
		return shortSchedule
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		t.Fatalf("ZOCKET_SOAK=%q: want a duration of at least 1m, such as 10m", v)
	}
	return schedule{clients: 8, interval: 40 * time.Millisecond, warmup: 5 * time.Second, cycle: 30 * time.Second, duration: d, burst: 25}
}

// scenario is one kind of fault on one deployment.
type scenario struct {
	name     string
	nodes    int    // nats-server nodes: 1, or 3 for a cluster with R3 streams
	storage  string // of INBOUND and OUTBOUND
	runtimes int
	// needs, when not nil, returns why the scenario cannot run on this
	// deployment yet.
	needs func(ctx context.Context, d *deployment) string
	// fault strikes the n-th time (from 0) and returns when the fault
	// took effect (the process it killed or stopped is gone) and what it
	// did; a restart it includes is done on return.
	fault func(ctx context.Context, d *deployment, n int) (at time.Time, what string, err error)
	// heal, when not nil, runs halfway between two faults of a soak.
	heal func(ctx context.Context, d *deployment) error
}

var scenarios = []scenario{
	{name: "runtime-kill", nodes: 1, storage: "memory", runtimes: 1, fault: killRuntime},
	{name: "gateway-kill", nodes: 1, storage: "memory", runtimes: 1, fault: killGateway},
	{name: "nats-restart-memory", nodes: 1, storage: "memory", runtimes: 1, fault: restartNATS},
	{name: "nats-restart-file", nodes: 1, storage: "file", runtimes: 1, fault: restartNATS},
	{name: "cluster-node-loss", nodes: 3, storage: "memory", runtimes: 1, fault: killInboundLeader, heal: restartDeadNodes},
	{name: "standby-takeover", nodes: 1, storage: "memory", runtimes: 2, needs: needsLease, fault: killActiveRuntime},
}

// TestFaults runs every scenario: a load of clients, each applying amounts
// with unique op ids to a ledger of its own, while a fault strikes on a
// schedule. It then checks the guarantees:
//
//   - no call is answered twice;
//   - every call is answered, with a result or an error, within
//     answerDeadline;
//   - no call answered with a result is missing from the ledger's journal;
//   - after each fault, calls succeed again within recoverDeadline.
//
// Effects applied twice (a call that ran again after a crash, or was sent
// again by its client after a lost connection) are counted and reported:
// delivery is at least once, and an app makes them harmless by
// deduplicating op ids, which the ledger deliberately does not.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes for a minute or more; not in -short")
	}
	build(t)
	if buildTook > 0 {
		t.Logf("ledgerapp and nats-server built in %v", buildTook.Round(time.Millisecond))
	}
	sched := currentSchedule(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runScenario(t, sc, sched)
		})
	}
}

// needsLease checks that of the deployment's two runtimes one serves and
// the other stands by, as runtimes holding a lease on their scope do.
// Without the lease both serve, sharing the work: a kill is then the
// runtime-kill scenario with half the calls.
func needsLease(ctx context.Context, d *deployment) string {
	var why string
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	_ = poll(ctx, "the runtimes' roles", 50*time.Millisecond, func() (bool, string, error) {
		var roles []string
		for _, r := range d.runtimes {
			h, state, err := r.health(ctx)
			switch {
			case err != nil:
				why = fmt.Sprintf("%s: /health: %s", r.name, state)
				return false, why, nil
			case h.Role == nil:
				why = fmt.Sprintf("no lease: %s's /health reports no role (%s), so both runtimes serve", r.name, state)
				return true, why, nil
			}
			roles = append(roles, *h.Role)
		}
		slices.Sort(roles)
		why = ""
		if !slices.Equal(roles, []string{"active", "standby"}) {
			why = fmt.Sprintf("no standby: the two runtimes report roles %v", roles)
		}
		return why == "", why, nil
	})
	return why
}

// The faults.

func killRuntime(ctx context.Context, d *deployment, _ int) (time.Time, string, error) {
	r := d.activeRuntime(ctx)
	if r == nil {
		return time.Time{}, "", errors.New("no active runtime to kill")
	}
	d.killRuntime(r)
	at := time.Now()
	_, err := d.startRuntime(ctx, false)
	return at, fmt.Sprintf("SIGKILL %s (pid %d), started another", r.name, r.pid()), err
}

func killGateway(ctx context.Context, d *deployment, _ int) (time.Time, string, error) {
	g := d.gateway
	g.kill()
	at := time.Now()
	err := d.startGateway(ctx)
	return at, fmt.Sprintf("SIGKILL %s (pid %d), started another on port %d", g.name, g.pid(), d.gwPort), err
}

func restartNATS(ctx context.Context, d *deployment, _ int) (time.Time, string, error) {
	n := d.nats[0]
	stop := time.Now()
	n.p.stop(15 * time.Second)
	at := time.Now()
	err := d.startNode(ctx, n)
	return at, fmt.Sprintf("SIGTERM nats-server (it took %v to exit), started it again on port %d with the same store in %v",
		at.Sub(stop).Round(time.Millisecond), n.port, time.Since(at).Round(time.Millisecond)), err
}

func killInboundLeader(ctx context.Context, d *deployment, _ int) (time.Time, string, error) {
	n, err := d.inboundLeader(ctx)
	if err != nil {
		return time.Time{}, "", err
	}
	n.p.kill()
	at := time.Now()
	return at, fmt.Sprintf("SIGKILL %s, the INBOUND leader", n.name), nil
}

func restartDeadNodes(ctx context.Context, d *deployment) error {
	for _, n := range d.nats {
		if n.p.exited() {
			if err := d.startNode(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func killActiveRuntime(ctx context.Context, d *deployment, _ int) (time.Time, string, error) {
	var r *runtimeProc
	err := poll(ctx, "an active runtime", 50*time.Millisecond, func() (bool, string, error) {
		r = d.activeRuntime(ctx)
		return r != nil, "none reports itself active", nil
	})
	if err != nil {
		return time.Time{}, "", err
	}
	d.killRuntime(r)
	at := time.Now()
	took := "no other runtime active within " + recoverDeadline.String()
	tctx, cancel := context.WithTimeout(ctx, recoverDeadline)
	defer cancel()
	if poll(tctx, "a takeover", 20*time.Millisecond, func() (bool, string, error) {
		return d.activeRuntime(tctx) != nil, "", nil
	}) == nil {
		took = "another active after " + time.Since(at).Round(time.Millisecond).String()
	}
	_, err = d.startRuntime(ctx, true)
	return at, fmt.Sprintf("SIGKILL %s (pid %d), %s, started a standby", r.name, r.pid(), took), err
}

// faultRecord is one fault struck.
type faultRecord struct {
	at   time.Time
	what string
}

func runScenario(t *testing.T, sc scenario, sched schedule) {
	ctx, cancel := context.WithTimeout(t.Context(), sched.duration+answerDeadline+settleTimeout+5*time.Minute)
	defer cancel()
	d := deploy(t, ctx, sc.nodes, sc.storage, sc.runtimes)
	if sc.needs != nil {
		if why := sc.needs(ctx, d); why != "" {
			record(outcome{name: sc.name, skipped: why})
			t.Skip(why)
		}
	}
	l := newLoad(d.wsURL(), sched.clients, sched.interval)
	defer l.close()
	start := time.Now()
	l.start()

	// Faults on the schedule, at least 7 s of load after the last one.
	var faults []faultRecord
	for n, next := 0, start.Add(sched.warmup); n == 0 || (sched.cycle > 0 && next.Before(start.Add(sched.duration-7*time.Second))); n++ {
		if sc.heal != nil && n > 0 {
			wait(ctx, next.Add(-sched.cycle/2))
			healed := time.Now()
			if err := sc.heal(ctx, d); err != nil {
				d.fatal(fmt.Errorf("heal before fault %d: %w", n+1, err))
			}
			t.Logf("healed at +%v in %v", healed.Sub(start).Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
		}
		wait(ctx, next)
		if n == 0 && !l.recovered(start) {
			d.fatal(fmt.Errorf("no call succeeded in the %v before the first fault", sched.warmup))
		}
		l.burst(sched.burst, 5*time.Second)
		at, what, err := sc.fault(ctx, d, n)
		if err != nil {
			d.fatal(fmt.Errorf("fault %d (%s): %w", n+1, what, err))
		}
		t.Logf("fault %d at +%v: %s", n+1, at.Sub(start).Round(time.Millisecond), what)
		faults = append(faults, faultRecord{at: at, what: what})
		next = next.Add(sched.cycle)
	}

	// The load runs its course, and on until the last fault was
	// recovered from (or could not be in time).
	last := faults[len(faults)-1].at
	_ = poll(ctx, "the end of the load", 50*time.Millisecond, func() (bool, string, error) {
		now := time.Now()
		return !now.Before(start.Add(sched.duration)) && (l.recovered(last) || now.After(last.Add(recoverDeadline))), "", nil
	})
	l.stopSending()
	stopped := time.Now()

	// Every call answered, or its deadline passed.
	_ = poll(ctx, "every answer", 50*time.Millisecond, func() (bool, string, error) {
		n, newest := l.pending()
		return n == 0 || time.Now().After(newest.Add(answerDeadline)), "", nil
	})
	answered := time.Now()
	// INBOUND drained: nothing will run again and answer late.
	var settled string
	sctx, scancel := context.WithTimeout(ctx, settleTimeout)
	err := poll(sctx, "INBOUND to drain", 100*time.Millisecond, func() (bool, string, error) {
		ok, state := d.inboundSettled(sctx)
		settled = state
		return ok, state, nil
	})
	scancel()
	if err != nil {
		settled = "not drained: " + settled
	} else {
		settled = ""
	}
	// The ledgers as the runtime holds them, read through each client's
	// own session, after every answer published before.
	live := make([]*ledgerState, len(l.clients))
	liveErrs := make([]error, len(l.clients))
	var wg sync.WaitGroup
	for i, c := range l.clients {
		wg.Go(func() {
			gctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			tick := time.NewTicker(100 * time.Millisecond) // between attempts
			defer tick.Stop()
			for k := 0; ; k++ {
				st, err := c.get(gctx, k)
				if err == nil {
					live[i] = &st
					return
				}
				liveErrs[i] = err
				select {
				case <-tick.C:
				case <-gctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	l.close()
	t.Logf("load ran %v; the last answers came %v after it; INBOUND drained and ledgers read %v after that",
		stopped.Sub(start).Round(time.Millisecond), answered.Sub(stopped).Round(time.Millisecond),
		time.Since(answered).Round(time.Millisecond))

	o := account(t, sc.name, l, d.ledgerDir, faults, live, liveErrs)
	o.settled = settled
	record(o)
	t.Logf("\n%s", table([]outcome{o}))
	o.check(t)
}

// wait waits until at, or until ctx ends.
func wait(ctx context.Context, at time.Time) {
	tm := time.NewTimer(time.Until(at))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// outcome is what a scenario's calls got and what its ledgers applied.
type outcome struct {
	name    string
	skipped string

	calls      int
	once       int
	twice      int // calls with more than one answer
	unanswered int
	late       int            // answered, but later than answerDeadline
	resent     int            // calls sent again after a reconnect
	errs       map[string]int // calls whose (first) answer was an error, by error code
	errsRan    int            // ... that the ledger applied all the same
	closes     map[string]int // why client connections ended
	stray      int            // answers to rpc ids no client sent

	effectsTwice int   // op ids the ledger applied more than once
	extraRuns    int   // applications beyond the first, over all op ids
	ackedLost    int   // calls answered with a result that the ledger lacks
	phantom      int   // ledger entries for op ids never sent
	journalTotal int64 // sum of every journal entry
	liveTotal    int64 // sum of the runtime's totals; -1 when unreadable
	liveErr      string
	ackedSum     int64 // sum of the amounts of calls answered with a result

	faults   []faultRecord
	recovers []time.Duration // per fault; -1: no call made after it succeeded
	settled  string          // why INBOUND did not drain, if it did not

	examples map[string][]string // a few op ids per problem
}

// account matches every call's answers with the ledgers' journals.
func account(t *testing.T, name string, l *load, ledgerDir string, faults []faultRecord, live []*ledgerState, liveErrs []error) outcome {
	t.Helper()
	o := outcome{name: name, errs: map[string]int{}, closes: map[string]int{}, faults: faults, examples: map[string][]string{}}
	example := func(kind, op string) {
		if len(o.examples[kind]) < 5 {
			o.examples[kind] = append(o.examples[kind], op)
		}
	}
	applied := map[string]int{} // op id -> applications
	for _, c := range l.clients {
		entries, err := readJournal(filepath.Join(ledgerDir, c.ledger+".journal"))
		if err != nil {
			t.Errorf("journal of %s: %v", c.ledger, err)
		}
		for _, e := range entries {
			applied[e.op]++
			o.journalTotal += e.amount
		}
	}
	sent := map[string]bool{}
	o.recovers = make([]time.Duration, len(faults))
	for i := range o.recovers {
		o.recovers[i] = -1
	}
	for _, c := range l.clients {
		c.mu.Lock()
		for why, n := range c.closes {
			o.closes[why] += n
		}
		o.stray += c.stray
		for _, cl := range c.calls {
			sent[cl.op] = true
			o.calls++
			if cl.sends > 1 {
				o.resent++
			}
			switch n := len(cl.answers); {
			case n == 0:
				o.unanswered++
				example("unanswered", cl.op)
				continue
			case n == 1:
				o.once++
			default:
				o.twice++
				example("twice", fmt.Sprintf("%s %s", cl.op, describe(cl.answers)))
			}
			first := cl.answers[0]
			if first.at.Sub(cl.created) > answerDeadline {
				o.late++
				example("late", fmt.Sprintf("%s after %v", cl.op, first.at.Sub(cl.created).Round(time.Millisecond)))
			}
			if !first.ok {
				o.errs[errorCode(first.err)]++
				if applied[cl.op] > 0 {
					o.errsRan++
				}
			}
			for _, a := range cl.answers {
				if !a.ok {
					continue
				}
				o.ackedSum += cl.amount
				if applied[cl.op] == 0 {
					o.ackedLost++
					example("acked lost", cl.op)
				}
				for i, f := range faults {
					if !cl.created.Before(f.at) {
						if r := a.at.Sub(f.at); o.recovers[i] < 0 || r < o.recovers[i] {
							o.recovers[i] = r
						}
					}
				}
				break
			}
		}
		c.mu.Unlock()
	}
	for op, n := range applied {
		if !sent[op] {
			o.phantom++
			example("phantom", op)
		}
		if n > 1 {
			o.effectsTwice++
			o.extraRuns += n - 1
			example("effects twice", fmt.Sprintf("%s x%d", op, n))
		}
	}
	o.liveTotal = 0
	for i, st := range live {
		if st == nil {
			o.liveTotal = -1
			o.liveErr = fmt.Sprintf("%s: %v", l.clients[i].ledger, liveErrs[i])
			break
		}
		o.liveTotal += st.Total
	}
	return o
}

// describe lists answers briefly: "ok" or the error.
func describe(as []answer) string {
	var s []string
	for _, a := range as {
		if a.ok {
			s = append(s, "ok "+strconv.FormatInt(a.total, 10))
		} else {
			s = append(s, strconv.Quote(a.err))
		}
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// errorCode is an rpc:result error's kind: the text before the first
// colon ("call not delivered: ..." is "call not delivered").
func errorCode(msg string) string {
	code, _, _ := strings.Cut(msg, ":")
	if code = strings.TrimSpace(code); code == "" {
		return "(empty)"
	}
	return code
}

// check fails the test for every guarantee the outcome breaks.
func (o outcome) check(t *testing.T) {
	t.Helper()
	if o.twice > 0 {
		t.Errorf("%d calls answered twice, want none; e.g. %v", o.twice, o.examples["twice"])
	}
	if o.unanswered > 0 {
		t.Errorf("%d calls never answered, want every call answered within %v; e.g. %v", o.unanswered, answerDeadline, o.examples["unanswered"])
	}
	if o.late > 0 {
		t.Errorf("%d calls answered later than %v; e.g. %v", o.late, answerDeadline, o.examples["late"])
	}
	if o.ackedLost > 0 {
		t.Errorf("%d calls answered with a result are missing from the ledger, want none; e.g. %v", o.ackedLost, o.examples["acked lost"])
	}
	if o.phantom > 0 {
		t.Errorf("the ledger applied %d op ids no client sent; e.g. %v", o.phantom, o.examples["phantom"])
	}
	if o.stray > 0 {
		t.Errorf("%d answers to rpc ids their session never sent", o.stray)
	}
	for i, r := range o.recovers {
		if r < 0 || r > recoverDeadline {
			t.Errorf("fault %d (%s): no call made after it succeeded within %v (recovered: %s)",
				i+1, o.faults[i].what, recoverDeadline, fmtRecover(r))
		}
	}
	if o.effectsTwice > 0 {
		t.Logf("effects applied twice (at-least-once delivery; an app deduplicating op ids absorbs them): %d op ids, e.g. %v",
			o.effectsTwice, o.examples["effects twice"])
	}
	if o.liveTotal >= 0 && o.liveTotal != o.journalTotal {
		t.Logf("the runtime's ledgers total %d but their journals %d: a runtime works from a stale book", o.liveTotal, o.journalTotal)
	}
}

type journalEntry struct {
	op     string
	amount int64
}

// readJournal reads a ledger journal (ledgerapp's format: "op\tamount\n"
// per application). A missing journal is an empty ledger.
func readJournal(path string) ([]journalEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []journalEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		op, amount, ok := strings.Cut(sc.Text(), "\t")
		v, err := strconv.ParseInt(amount, 10, 64)
		if !ok || err != nil {
			return entries, fmt.Errorf("malformed line %q", sc.Text())
		}
		entries = append(entries, journalEntry{op: op, amount: v})
	}
	return entries, sc.Err()
}

// The summary of every scenario, printed by TestMain.

var summary struct {
	mu   sync.Mutex
	rows []outcome
}

func record(o outcome) {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	summary.rows = append(summary.rows, o)
}

func printSummary() {
	summary.mu.Lock()
	defer summary.mu.Unlock()
	if len(summary.rows) == 0 {
		return
	}
	rows := slices.Clone(summary.rows)
	order := func(name string) int {
		return slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
	}
	slices.SortFunc(rows, func(a, b outcome) int { return order(a.name) - order(b.name) })
	fmt.Printf("\nfault suite (%s):\n%s", scheduleName(), table(rows))
}

func scheduleName() string {
	if v := os.Getenv("ZOCKET_SOAK"); v != "" {
		return "soak, " + v + " per scenario"
	}
	return "short"
}
