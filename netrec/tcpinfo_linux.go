package netrec

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// kernelRTT returns the kernel's smoothed round-trip time of c (TCP_INFO),
// or 0 when the kernel does not say.
func kernelRTT(c *net.TCPConn) time.Duration {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var info *unix.TCPInfo
	_ = rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if err != nil || info == nil {
		return 0
	}
	return time.Duration(info.Rtt) * time.Microsecond
}
