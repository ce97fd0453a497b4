//go:build unix

package faults

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAccount checks the bookkeeping behind the guarantees on made-up
// calls and a made-up journal, so that a scenario that passes does so
// because nothing went wrong, not because nothing was counted.
func TestAccount(t *testing.T) {
	dir := t.TempDir()
	journal := "a\t1\nb\t2\nd\t8\nd\t8\ne\t16\nx\t100\n"
	if err := os.WriteFile(filepath.Join(dir, "acct-0.journal"), []byte(journal), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	fault := faultRecord{at: t0.Add(time.Second), what: "test fault"}
	ok := func(after time.Duration) answer { return answer{at: t0.Add(after), ok: true} }
	l := newLoad("ws://unused", 1, time.Second)
	c := l.clients[0]
	for _, cl := range []*call{
		{op: "a", amount: 1, created: t0, answers: []answer{ok(10 * time.Millisecond)}},
		{op: "b", amount: 2, created: t0, answers: []answer{ok(20 * time.Millisecond), ok(30 * time.Millisecond)}},
		{op: "c", amount: 4, created: t0.Add(2 * time.Second)},
		{op: "d", amount: 8, created: t0.Add(2 * time.Second), sends: 2, answers: []answer{ok(2500 * time.Millisecond)}},
		{op: "e", amount: 16, created: t0.Add(3 * time.Second), answers: []answer{{at: t0.Add(time.Minute), err: "call timed out: after 30s"}}},
		{op: "f", amount: 32, created: t0.Add(3 * time.Second), answers: []answer{ok(4 * time.Second)}},
	} {
		c.calls = append(c.calls, cl)
	}
	o := account(t, "test", l, dir, []faultRecord{fault}, []*ledgerState{{Total: 135}}, []error{nil})

	want := outcome{
		calls: 6, once: 4, twice: 1, unanswered: 1, late: 1, resent: 1, errsRan: 1,
		effectsTwice: 1, extraRuns: 1, ackedLost: 1, phantom: 1,
		journalTotal: 135, liveTotal: 135, ackedSum: 1 + 2 + 8 + 32,
	}
	got := o
	got.name, got.errs, got.closes, got.faults, got.recovers, got.examples = "", nil, nil, nil, nil, nil
	want.name = ""
	if !equalOutcome(got, want) {
		t.Errorf("account:\n got %+v\nwant %+v", got, want)
	}
	if n := o.errs["call timed out"]; n != 1 || len(o.errs) != 1 {
		t.Errorf("errors by code %v, want call timed out: 1", o.errs)
	}
	if len(o.recovers) != 1 || o.recovers[0] != 1500*time.Millisecond {
		t.Errorf("recovered after %v, want 1.5s (d, the first call made after the fault to succeed)", o.recovers)
	}
	if ex := o.examples["acked lost"]; len(ex) != 1 || ex[0] != "f" {
		t.Errorf("acked lost examples %v, want [f]", ex)
	}
}

func equalOutcome(a, b outcome) bool {
	return a.calls == b.calls && a.once == b.once && a.twice == b.twice && a.unanswered == b.unanswered &&
		a.late == b.late && a.resent == b.resent && a.errsRan == b.errsRan && a.effectsTwice == b.effectsTwice &&
		a.extraRuns == b.extraRuns && a.ackedLost == b.ackedLost && a.phantom == b.phantom &&
		a.journalTotal == b.journalTotal && a.liveTotal == b.liveTotal && a.ackedSum == b.ackedSum
}
