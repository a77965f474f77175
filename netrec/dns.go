package netrec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// errLookupOver refuses a resolver's exchange that starts after its lookup
// returned.
var errLookupOver = errors.New("netrec: the lookup is over")

// lookup resolves name with Go's resolver sending its queries to server
// (host:port; "" means the system's nameservers from /etc/resolv.conf), and
// records every DNS message exchanged. exchanged reports whether any DNS
// message was sent (false when /etc/hosts answered).
func (d *Dialer) lookup(ctx context.Context, name, server string) (addrs []netip.Addr, exchanged bool, err error) {
	rec := &dnsRecorder{d: d}
	// Go's resolver runs its exchanges under a context without our deadline
	// and sets each socket's deadline from resolv.conf's timeout alone; the
	// recorders bring those deadlines within ours.
	rec.deadline, _ = ctx.Deadline()
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if server != "" {
				address = server
			}
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			rec.mu.Lock()
			if rec.finished {
				// The lookup has returned and is waiting on open: a late
				// exchange is neither counted nor recorded.
				rec.mu.Unlock()
				c.Close()
				return nil, errLookupOver
			}
			rec.exchanged = true
			rec.open.Add(1) // under mu: before Wait, never beside it
			rec.mu.Unlock()
			c.SetDeadline(rec.clamp(time.Time{}))
			if uc, ok := c.(*net.UDPConn); ok {
				return &udpRecorder{UDPConn: uc, rec: rec, server: address, ends: endpointsOf(c, address)}, nil
			}
			return &tcpRecorder{Conn: c, rec: rec, server: address, ends: endpointsOf(c, address)}, nil
		},
	}
	addrs, err = r.LookupNetIP(ctx, "ip", name)
	// LookupNetIP returns when ctx ends, before its exchanges have noticed;
	// wait for them so their failures are recorded before the caller goes on.
	rec.mu.Lock()
	rec.finished = true
	rec.mu.Unlock()
	waited := make(chan struct{})
	go func() {
		rec.open.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(time.Second):
	}
	rec.mu.Lock()
	exchanged = rec.exchanged
	rec.mu.Unlock()
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, exchanged, err
}

// dnsRecorder turns the DNS messages of one lookup into trace entries.
type dnsRecorder struct {
	d         *Dialer
	mu        sync.Mutex
	exchanged bool
	finished  bool                 // lookup has stopped counting exchanges (see open)
	sent      map[uint16]time.Time // query id -> when it was sent
	open      sync.WaitGroup       // resolver connections not yet closed
	deadline  time.Time            // of the whole lookup; zero if none
}

// clamp returns the earlier of t and the lookup's deadline.
func (r *dnsRecorder) clamp(t time.Time) time.Time {
	if !r.deadline.IsZero() && (t.IsZero() || r.deadline.Before(t)) {
		return r.deadline
	}
	return t
}

// endpoints are the two ends of one resolver connection, as trace.Entry's
// Src and Dst write them ("" where not known).
type endpoints struct{ local, server string }

func endpointsOf(c net.Conn, server string) endpoints {
	return endpoints{local: addrString(c.LocalAddr()), server: addrString(addrOf(server))}
}

// addrOf reads a host:port of the resolver's (always an address: it dials
// nameservers by address).
func addrOf(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// addrString writes a socket's address as netip.AddrPort does, IPv4 in
// IPv6 unmapped; "" when it is not an IP address.
func addrString(a net.Addr) string {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		return ""
	}
	if !ap.IsValid() {
		return ""
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

func (r *dnsRecorder) query(msg []byte, ends endpoints, server, network string) {
	now := time.Now()
	summary, h, err := summarizeDNS(msg)
	r.mu.Lock()
	if r.sent == nil {
		r.sent = map[uint16]time.Time{}
	}
	r.sent[h.ID] = now
	r.mu.Unlock()
	e := r.d.entry(now, r.d.dnsLeg(), r.d.from(), "dns", trace.KindDNSQuery, summary)
	e.Src, e.Dst = ends.local, ends.server
	e.Bytes = clone(msg)
	e.Observed = trace.ObservedWire
	e.Note = "to " + server + " over " + network
	if err != nil {
		e.Error = "unparsable DNS message: " + err.Error()
	}
	r.d.emit(e)
}

func (r *dnsRecorder) response(msg []byte, ends endpoints, server, network string) {
	now := time.Now()
	summary, h, err := summarizeDNS(msg)
	e := r.d.entry(now, r.d.dnsLeg(), "dns", r.d.from(), trace.KindDNSResponse, summary)
	e.Src, e.Dst = ends.server, ends.local
	e.Bytes = clone(msg)
	e.Observed = trace.ObservedWire
	e.Note = "from " + server + " over " + network
	r.mu.Lock()
	if sent, ok := r.sent[h.ID]; ok && err == nil {
		e.Note += fmt.Sprintf(", %.3f ms after the query", ms(now.Sub(sent)))
	}
	r.mu.Unlock()
	switch {
	case err != nil:
		e.Error = "unparsable DNS message: " + err.Error()
	case h.RCode != dnsmessage.RCodeSuccess:
		e.Error = rcodeName(h.RCode)
	}
	r.d.emit(e)
}

func (r *dnsRecorder) failed(err error, ends endpoints, server, network string) {
	now := time.Now()
	msg := "no response"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		msg = "no response (timed out)"
	}
	e := r.d.entry(now, r.d.dnsLeg(), "dns", r.d.from(), trace.KindDNSResponse, msg)
	e.Observed = trace.ObservedKernel
	e.Src, e.Dst = ends.server, ends.local
	e.Note = "waiting on " + server + " over " + network
	r.mu.Lock()
	var first time.Time
	for _, t := range r.sent {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	r.mu.Unlock()
	if !first.IsZero() {
		e.Note += fmt.Sprintf(" for %.3f ms", ms(now.Sub(first)))
	}
	e.Error = err.Error()
	r.d.emit(e)
}

// udpRecorder is the resolver's UDP socket; it stays a net.PacketConn so Go's
// resolver speaks UDP over it. Each Write is one query, each Read one response.
type udpRecorder struct {
	*net.UDPConn
	rec    *dnsRecorder
	server string
	ends   endpoints
	once   sync.Once
}

func (c *udpRecorder) SetDeadline(t time.Time) error {
	return c.UDPConn.SetDeadline(c.rec.clamp(t))
}

func (c *udpRecorder) SetReadDeadline(t time.Time) error {
	return c.UDPConn.SetReadDeadline(c.rec.clamp(t))
}

func (c *udpRecorder) Close() error {
	err := c.UDPConn.Close()
	c.once.Do(c.rec.open.Done)
	return err
}

func (c *udpRecorder) Write(b []byte) (int, error) {
	n, err := c.UDPConn.Write(b)
	if n > 0 {
		c.rec.query(b[:n], c.ends, c.server, "udp")
	}
	return n, err
}

func (c *udpRecorder) Read(b []byte) (int, error) {
	n, err := c.UDPConn.Read(b)
	if n > 0 {
		c.rec.response(b[:n], c.ends, c.server, "udp")
	}
	if err != nil && n == 0 {
		c.rec.failed(err, c.ends, c.server, "udp")
	}
	return n, err
}

// tcpRecorder is the resolver's TCP connection (used after a truncated UDP
// answer): messages carry a two-byte length prefix and may arrive in pieces.
type tcpRecorder struct {
	net.Conn
	rec        *dnsRecorder
	server     string
	ends       endpoints
	out, in    []byte
	readFailed bool
	once       sync.Once
}

func (c *tcpRecorder) SetDeadline(t time.Time) error {
	return c.Conn.SetDeadline(c.rec.clamp(t))
}

func (c *tcpRecorder) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.rec.clamp(t))
}

func (c *tcpRecorder) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.rec.open.Done)
	return err
}

func (c *tcpRecorder) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out = appendMessages(c.out, b[:n], func(m []byte) { c.rec.query(m, c.ends, c.server, "tcp") })
	return n, err
}

func (c *tcpRecorder) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in = appendMessages(c.in, b[:n], func(m []byte) { c.rec.response(m, c.ends, c.server, "tcp") })
	if err != nil && n == 0 && !c.readFailed {
		c.readFailed = true
		c.rec.failed(err, c.ends, c.server, "tcp")
	}
	return n, err
}

// appendMessages adds p to the length-prefixed stream buf and calls each for
// every whole message, returning what is left of buf.
func appendMessages(buf, p []byte, each func([]byte)) []byte {
	buf = append(buf, p...)
	for len(buf) >= 2 {
		n := int(binary.BigEndian.Uint16(buf))
		if len(buf) < 2+n {
			break
		}
		each(buf[2 : 2+n])
		buf = buf[2+n:]
	}
	return buf
}

// summarizeDNS returns a dig-like one-line summary of a DNS message.
func summarizeDNS(msg []byte) (string, dnsmessage.Header, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return "DNS message (" + fmt.Sprint(len(msg)) + " bytes)", h, err
	}
	var b strings.Builder
	qs, err := p.AllQuestions()
	if err != nil {
		return "DNS message", h, err
	}
	if !h.Response {
		fmt.Fprintf(&b, "query id 0x%04x", h.ID)
		for _, q := range qs {
			fmt.Fprintf(&b, " %s? %s", typeName(q.Type), q.Name.String())
		}
		return b.String(), h, nil
	}
	fmt.Fprintf(&b, "response id 0x%04x %s", h.ID, rcodeName(h.RCode))
	for _, q := range qs {
		fmt.Fprintf(&b, " %s %s", typeName(q.Type), q.Name.String())
	}
	answers, err := p.AllAnswers()
	if err != nil {
		return b.String(), h, err
	}
	if len(answers) == 0 && h.RCode == dnsmessage.RCodeSuccess {
		b.WriteString(": no records")
	}
	sep := ": "
	for _, a := range answers {
		b.WriteString(sep)
		sep = ", "
		switch r := a.Body.(type) {
		case *dnsmessage.AResource:
			b.WriteString(netip.AddrFrom4(r.A).String())
		case *dnsmessage.AAAAResource:
			b.WriteString(netip.AddrFrom16(r.AAAA).String())
		case *dnsmessage.CNAMEResource:
			b.WriteString("CNAME " + r.CNAME.String())
		default:
			b.WriteString(typeName(a.Header.Type))
		}
		fmt.Fprintf(&b, " (ttl %d)", a.Header.TTL)
	}
	if h.Truncated {
		b.WriteString(" [truncated]")
	}
	return b.String(), h, nil
}

func typeName(t dnsmessage.Type) string { return strings.TrimPrefix(t.String(), "Type") }

func rcodeName(r dnsmessage.RCode) string {
	s := strings.TrimPrefix(r.String(), "RCode")
	switch r {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	}
	return strings.ToUpper(s)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
