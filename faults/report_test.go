//go:build unix

package faults

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// table renders outcomes, one row each, and a line of notes per outcome
// below (connection losses, an INBOUND that did not drain, a skip).
func table(rows []outcome) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tcalls\tonce\ttwice\tunanswered\tlate\tresent\terrors by code (of which ran)\teffects twice\tacked lost\ttotal\tacked sum\trecovered after\t")
	for _, o := range rows {
		if o.skipped != "" {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t-\tskipped\t-\t-\t-\t-\t-\t\n", o.name)
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%s\t%d\t%s\t\n",
			o.name, o.calls, o.once, o.twice, o.unanswered, o.late, o.resent, fmtErrors(o),
			o.effectsTwice, o.ackedLost, fmtTotal(o), o.ackedSum, fmtRecovers(o.recovers))
	}
	w.Flush()
	for _, o := range rows {
		if notes := o.notes(); notes != "" {
			fmt.Fprintf(&b, "  %s: %s\n", o.name, notes)
		}
	}
	return b.String()
}

func fmtErrors(o outcome) string {
	if len(o.errs) == 0 {
		return "-"
	}
	codes := slices.SortedFunc(maps.Keys(o.errs), func(a, b string) int {
		return cmp.Or(cmp.Compare(o.errs[b], o.errs[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s: %d", c, o.errs[c]))
	}
	return fmt.Sprintf("%s (%d)", strings.Join(parts, ", "), o.errsRan)
}

// fmtTotal is the journal's total, and the runtime's when it differs or
// could not be read.
func fmtTotal(o outcome) string {
	switch {
	case o.liveTotal < 0:
		return fmt.Sprintf("%d (live: unread)", o.journalTotal)
	case o.liveTotal != o.journalTotal:
		return fmt.Sprintf("%d (live: %d)", o.journalTotal, o.liveTotal)
	}
	return fmt.Sprint(o.journalTotal)
}

func fmtRecover(r time.Duration) string {
	if r < 0 {
		return "never"
	}
	return r.Round(10 * time.Millisecond).String()
}

// fmtRecovers lists the recovery of each fault, or summarizes many.
func fmtRecovers(rs []time.Duration) string {
	if len(rs) <= 3 {
		var s []string
		for _, r := range rs {
			s = append(s, fmtRecover(r))
		}
		return strings.Join(s, ", ")
	}
	never := 0
	var ok []time.Duration
	for _, r := range rs {
		if r < 0 {
			never++
		} else {
			ok = append(ok, r)
		}
	}
	slices.Sort(ok)
	s := fmt.Sprintf("%d faults", len(rs))
	if len(ok) > 0 {
		s += fmt.Sprintf(": median %s, max %s", fmtRecover(ok[len(ok)/2]), fmtRecover(ok[len(ok)-1]))
	}
	if never > 0 {
		s += fmt.Sprintf(", %d never", never)
	}
	return s
}

func (o outcome) notes() string {
	if o.skipped != "" {
		return "skipped: " + o.skipped
	}
	var n []string
	if len(o.closes) > 0 {
		var c []string
		for _, why := range slices.Sorted(maps.Keys(o.closes)) {
			c = append(c, fmt.Sprintf("%s %d", why, o.closes[why]))
		}
		n = append(n, "connections ended: "+strings.Join(c, ", "))
	}
	if o.extraRuns > 0 {
		n = append(n, fmt.Sprintf("%d extra applications", o.extraRuns))
	}
	if o.phantom > 0 {
		n = append(n, fmt.Sprintf("%d op ids applied that no client sent", o.phantom))
	}
	if o.stray > 0 {
		n = append(n, fmt.Sprintf("%d answers to rpc ids never sent", o.stray))
	}
	if o.settled != "" {
		n = append(n, "INBOUND "+o.settled)
	}
	if o.liveErr != "" {
		n = append(n, "ledger unreadable through the gateway: "+o.liveErr)
	}
	return strings.Join(n, "; ")
}
