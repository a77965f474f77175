//go:build !linux

package netrec

import (
	"net"
	"time"
)

// kernelRTT is not available on this system.
func kernelRTT(*net.TCPConn) time.Duration { return 0 }

// kernelState is not available on this system.
func kernelState(*net.TCPConn) (string, time.Duration, bool) { return "", 0, false }
