package cli

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the garbage collector's target of the server
// commands (Go's GOGC) when neither -gogc nor GOGC says otherwise: a new
// collection starts once the heap has grown by 400% of what the last one
// left live, instead of Go's 100%.
//
// Why: a server relays small messages, and each costs a few kilobytes of
// short-lived garbage in NATS, the WebSocket library and Zocket, all dead
// by the next collection. At Go's default, collecting it took about a
// sixth of zocket dev's CPU under RPC load, and 400 gave 15–25% more
// calls/s through gateway and runtime (docs/BENCHMARKS.md). What a
// session holds while idle is live memory, which no target changes: 5,000
// idle sessions cost 48.4 KiB each in zocket dev at either setting. The
// price is a heap that may peak at five times its live size under load
// instead of twice; set a memory limit (GOMEMLIMIT) where that matters,
// and the collector works harder near it.
const DefaultGCPercent = 400

// gcFlag adds -gogc, whose environment fallback is GOGC itself, and
// returns the function that applies it: a percentage, or "off".
func (f *flags) gcFlag() func() error {
	s := f.String("gogc", "GOGC", strconv.Itoa(DefaultGCPercent),
		`garbage collector target percentage, as Go's GOGC ("off": never collect; use with GOMEMLIMIT)`)
	return func() error {
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
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return -1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: -gogc %q: want a percentage of at least 1, or off", ErrUsage, s)
	}
	return n, nil
}
