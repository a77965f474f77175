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

// tcpStates names the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = [...]string{1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}

// kernelState returns the kernel's state of c and its smoothed RTT
// (TCP_INFO), or false when the kernel does not say.
func kernelState(c *net.TCPConn) (state string, rtt time.Duration, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return "", 0, false
	}
	var info *unix.TCPInfo
	cerr := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || err != nil || info == nil || int(info.State) >= len(tcpStates) || tcpStates[info.State] == "" {
		return "", 0, false
	}
	return tcpStates[info.State], time.Duration(info.Rtt) * time.Microsecond, true
}
