//go:build unix && !linux

package faults

import "syscall"

// procAttr puts a child in its own process group, so that a kill reaches
// everything it started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
