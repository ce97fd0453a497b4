package cli

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// gcFlag adds -gogc, the garbage collector's target percentage (Go's
// GOGC, which is also its environment fallback), and returns the function
// that applies it. Empty leaves Go's default (100). A server relays small
// messages, each leaving a few kilobytes of short-lived garbage in NATS,
// the WebSocket library and Zocket: a higher target collects less often,
// trading memory for CPU (docs/BENCHMARKS.md measures 400 against 100).
func (f *flags) gcFlag() func() error {
	s := f.String("gogc", "GOGC", "",
		`garbage collector target percentage, as Go's GOGC: higher trades memory for CPU ("off": never collect, use with GOMEMLIMIT; empty: Go's default, 100)`)
	return func() error {
		if *s == "" {
			return nil
		}
		pct, err := parseGCPercent(*s)
		if err != nil {
			return err
		}
		debug.SetGCPercent(pct)
		return nil
	}
}

// parseGCPercent reads a GOGC value: a whole number of at least 1, or
// "off" (-1, as runtime/debug.SetGCPercent takes it).
func parseGCPercent(s string) (int, error) {
	v := strings.TrimSpace(s)
	if strings.EqualFold(v, "off") {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: -gogc %q: want a percentage of at least 1, or off", ErrUsage, s)
	}
	return n, nil
}
