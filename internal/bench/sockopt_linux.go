//go:build linux

package bench

import (
	"syscall"
)

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (since 4.2; not in
// package syscall): bind sets the source address only, and connect picks
// the port, unique per destination instead of per source address. Without
// it every bound connection holds a port of its source address for good,
// including the TIME_WAIT of the connections of an earlier run.
const ipBindAddressNoPort = 24

// bindAddressNoPort is a net.Dialer Control function that sets
// IP_BIND_ADDRESS_NO_PORT. A kernel without it binds as usual.
func bindAddressNoPort(network, address string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
}
