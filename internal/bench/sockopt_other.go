//go:build !linux

package bench

import (
	"syscall"
)

// bindAddressNoPort does nothing here: binding a source address also picks
// its port.
func bindAddressNoPort(network, address string, c syscall.RawConn) error { return nil }
