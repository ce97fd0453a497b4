//go:build unix

package standalone_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) the test process has used:
// unlike wall time, it barely moves when other processes load the machine.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
