//go:build !unix

package standalone_test

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }
