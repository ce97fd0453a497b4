package faults

import "syscall"

// procAttr puts a child in its own process group, so that a kill reaches
// everything it started, and kills it if the test binary dies first (a
// test timeout, a crash) so that no server outlives the run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
