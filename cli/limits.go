package cli

import (
	"fmt"
	"strconv"
)

// limits are the protective caps an operator may set from the command
// line; zero keeps each package's default, negative lifts the cap.
type limits struct {
	maxInstances int // live actor instances per process (engine)
	maxFrameRate int // frames per second read from one connection (hosts)
}

// limitFlags adds -max-instances (when instances) and -max-frame-rate
// (when frames) and returns their parser.
func (f *flags) limitFlags(instances, frames bool) func() (limits, error) {
	var inst, rate *string
	if instances {
		inst = f.String("max-instances", "MAX_INSTANCES", "0",
			"most live actor instances; the one idle longest is evicted to make room (0: the default, 100000; negative: no cap)")
	}
	if frames {
		rate = f.String("max-frame-rate", "MAX_FRAME_RATE", "0",
			"most frames per second read from one connection; a faster client is read more slowly (0: the default, 10000; negative: no limit)")
	}
	return func() (limits, error) {
		var l limits
		for _, p := range []struct {
			flag string
			s    *string
			v    *int
		}{{"-max-instances", inst, &l.maxInstances}, {"-max-frame-rate", rate, &l.maxFrameRate}} {
			if p.s == nil {
				continue
			}
			n, err := strconv.Atoi(*p.s)
			if err != nil {
				return l, fmt.Errorf("%w: %s %q: want a whole number", ErrUsage, p.flag, *p.s)
			}
			*p.v = n
		}
		return l, nil
	}
}
