package netrec

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// Conn is a connection made by a Dialer. Reading the peer's FIN or RST and
// closing it are recorded as tcp.fin / tcp.rst entries, once each.
type Conn struct {
	net.Conn // the TCP connection, or TLS over it
	tcp      *net.TCPConn
	d        *Dialer
	local    netip.AddrPort
	remote   netip.AddrPort

	mu       sync.Mutex
	peerGone chan struct{} // closed when peerDone is set
	peerDone bool          // the peer's FIN or RST has been recorded
	selfDone bool          // our FIN (or RST) has been recorded
	closed   bool          // Close or Abort ran

	stateMu sync.Mutex
	state   string // the kernel's state last recorded (KernelState)
}

// ObserveState records the kernel's state of the connection (TCP_INFO) as
// a tcp.state entry when it differs from the one last recorded, with why
// it was looked at as the note. It does nothing unless Dialer.KernelState
// is set, and nothing where the kernel does not say.
func (c *Conn) ObserveState(why string) {
	if !c.d.KernelState {
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	at := time.Now()
	state, rtt, ok := kernelState(c.tcp)
	if !ok || state == c.state {
		return
	}
	c.state = state
	summary := "kernel: " + state
	if rtt > 0 {
		summary += ", RTT " + strconv.FormatFloat(float64(rtt)/float64(time.Millisecond), 'f', 3, 64) + " ms"
	}
	e := c.d.entry(at, c.d.leg(), c.d.from(), c.d.from(), trace.KindTCPState, summary)
	e.Observed = trace.ObservedKernel
	e.Note = "TCP_INFO of " + c.local.String() + " → " + c.remote.String() + ", read " + why
	e.Src, e.Dst = c.local.String(), c.remote.String()
	c.d.emit(e)
}

// TCP returns the underlying TCP connection.
func (c *Conn) TCP() *net.TCPConn { return c.tcp }

// Read reads from the connection, recording the peer's FIN (EOF) or RST.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.peerClosed(err)
	}
	return n, err
}

func (c *Conn) peerClosed(err error) {
	kind, summary := "", ""
	switch {
	case errors.Is(err, io.EOF):
		kind, summary = trace.KindTCPFin, "FIN from "+c.remote.String()+": the broker closed the connection"
	case errors.Is(err, syscall.ECONNRESET):
		kind, summary = trace.KindTCPRst, "RST from "+c.remote.String()+": the broker reset the connection"
	default:
		return
	}
	c.mu.Lock() // held while emitting, so that entries keep the order of events (see CloseWrite)
	defer c.mu.Unlock()
	if c.peerDone || c.closed {
		return
	}
	c.peerDone = true
	close(c.peerGone)
	e := c.d.entry(time.Now(), c.d.leg(), "broker", c.d.from(), kind, summary)
	e.Observed = trace.ObservedKernel
	e.Src, e.Dst = c.remote.String(), c.local.String()
	c.d.emit(e)
	c.ObserveState("after the peer's " + strings.ToUpper(strings.TrimPrefix(kind, "tcp.")))
}

// PeerDone returns a channel that is closed once the peer's FIN or RST has
// been read and recorded (never, if this side closed first).
func (c *Conn) PeerDone() <-chan struct{} { return c.peerGone }

// PeerClosed reports whether the peer's FIN or RST was seen.
func (c *Conn) PeerClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerDone
}

// Close closes the connection and records this side's FIN, unless
// CloseWrite or Abort already ended this side.
func (c *Conn) Close() error {
	c.mu.Lock()
	first := !c.selfDone
	c.selfDone, c.closed = true, true
	reply := c.peerDone
	c.mu.Unlock()
	at := time.Now() // before the FIN, as in Abort
	err := c.Conn.Close()
	if first {
		summary := "FIN from " + c.local.String() + ": the " + c.d.from() + " closed the connection"
		if reply {
			summary = "FIN from " + c.local.String() + ": closing in turn"
		}
		c.recordSelfAt(at, trace.KindTCPFin, summary)
	}
	return err
}

// CloseWrite sends this side's FIN while the peer may go on sending (a TCP
// half-close), after TLS's close_notify on a TLS connection, and records
// it. Reading still records the peer's FIN; Close then records nothing more.
func (c *Conn) CloseWrite() error {
	// c.mu is held from the FIN to its entry: the peer's answering FIN,
	// read by another goroutine, cannot be recorded before it.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.selfDone {
		return net.ErrClosed
	}
	c.selfDone = true
	reply := c.peerDone
	if tc, ok := c.Conn.(*tls.Conn); ok {
		tc.CloseWrite() // close_notify; it leaves the TCP connection open
	}
	at := time.Now() // before the FIN, as in Abort
	err := c.tcp.CloseWrite()
	summary := "FIN from " + c.local.String() + ": the " + c.d.from() + " has nothing more to send (half-close)"
	if reply {
		summary = "FIN from " + c.local.String() + ": closing in turn"
	}
	if err != nil {
		summary = "FIN from " + c.local.String() + " not sent: " + err.Error()
	}
	c.recordSelfAt(at, trace.KindTCPFin, summary)
	c.ObserveState("after this side's FIN (shutdown)")
	return err
}

// Abort drops the connection at once: with SO_LINGER set to 0, close()
// makes the kernel send an RST instead of a FIN, discarding whatever is
// still unsent. It records the RST (unless this side had already closed),
// stamped with the time just before the close, so that the peer's reaction
// seen elsewhere is never stamped before its cause. Abort is what a device losing power or its network looks like to a broker.
func (c *Conn) Abort(why string) error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.selfDone = true
	c.mu.Unlock()
	if !first {
		return net.ErrClosed
	}
	lerr := c.tcp.SetLinger(0)
	// The entry is stamped before the close that sends the RST: the
	// broker's reaction (a will published to another connection, read
	// and stamped by another goroutine) must not come before its cause.
	at := time.Now()
	err := c.tcp.Close() // not TLS's Close: it would send close_notify first
	summary := "RST from " + c.local.String() + ": " + why
	if lerr != nil {
		summary = "close from " + c.local.String() + " (SO_LINGER 0 failed, so a FIN rather than an RST): " + why
	}
	kind := trace.KindTCPRst
	if lerr != nil {
		kind = trace.KindTCPFin
	}
	c.recordSelfAt(at, kind, summary)
	return errors.Join(lerr, err)
}

func (c *Conn) recordSelfAt(at time.Time, kind, summary string) {
	e := c.d.entry(at, c.d.leg(), c.d.from(), "broker", kind, summary)
	e.Observed = trace.ObservedKernel
	e.Src, e.Dst = c.local.String(), c.remote.String()
	c.d.emit(e)
}

// ReadPooled reads like Read, but takes a buffer from get only once bytes
// (or the end of the stream) are there, so a connection waiting for its peer
// holds no buffer at all. It returns the buffer with the bytes read; the
// caller gives it back with put. Over TLS it reads into a buffer from get as
// usual.
func (c *Conn) ReadPooled(get func() []byte, put func([]byte)) (buf []byte, n int, err error) {
	if _, isTLS := c.Conn.(*net.TCPConn); !isTLS {
		buf = get()
		n, err = c.Read(buf)
		return buf, n, err
	}
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return nil, 0, err
	}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		if buf == nil {
			buf = get()
		}
		n, rerr = syscall.Read(int(fd), buf)
		if rerr == syscall.EAGAIN || rerr == syscall.EINTR {
			put(buf) // wait for the socket to be readable without a buffer
			buf = nil
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if buf == nil { // the wait ended in an error (deadline, close)
		buf = get()
	}
	switch {
	case err != nil:
		n = 0
		err = wrapReadErr(err)
	case n == 0:
		err = io.EOF
	}
	if err != nil {
		c.peerClosed(err)
	}
	return buf, n, err
}

// wrapReadErr makes a raw read error look like the one net.Conn.Read returns.
func wrapReadErr(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
	}
	return err
}
