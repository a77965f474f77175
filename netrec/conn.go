package netrec

import (
	"errors"
	"io"
	"net"
	"net/netip"
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
	peerDone bool // the peer's FIN or RST has been recorded
	selfDone bool // our FIN has been recorded
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
	c.mu.Lock()
	if c.peerDone || c.selfDone {
		c.mu.Unlock()
		return
	}
	c.peerDone = true
	c.mu.Unlock()
	e := c.d.entry(time.Now(), c.d.leg(), "broker", c.d.from(), kind, summary)
	e.Observed = trace.ObservedKernel
	c.d.emit(e)
}

// PeerClosed reports whether the peer's FIN or RST was seen.
func (c *Conn) PeerClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerDone
}

// Close closes the connection and records this side's FIN.
func (c *Conn) Close() error {
	c.mu.Lock()
	first := !c.selfDone
	c.selfDone = true
	reply := c.peerDone
	c.mu.Unlock()
	err := c.Conn.Close()
	if first {
		summary := "FIN from " + c.local.String() + ": the " + c.d.from() + " closed the connection"
		if reply {
			summary = "FIN from " + c.local.String() + ": closing in turn"
		}
		e := c.d.entry(time.Now(), c.d.leg(), c.d.from(), "broker", trace.KindTCPFin, summary)
		e.Observed = trace.ObservedKernel
		c.d.emit(e)
	}
	return err
}
