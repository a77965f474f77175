package netrec

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// Dialer connects to a broker and records each step as trace entries. The
// zero value resolves with the system's nameservers and checks nothing.
type Dialer struct {
	// Start is time zero of the entries' T; the zero value means the first
	// entry's time.
	Start time.Time
	// Emit receives every entry (Seq is left for the receiver to set). It
	// is called by one goroutine at a time: the A and AAAA lookups run in
	// parallel, and the Dialer serializes their entries.
	Emit func(trace.Entry)
	// Conn, if set, is copied into every entry's Conn.
	Conn string
	// Party names this end in From/To: "proxy" (the default) or "client".
	Party string
	// Leg is the leg of TCP, TLS and close entries (default proxy-broker);
	// DNSLeg that of DNS entries (default proxy-dns).
	Leg, DNSLeg string

	// Zone and ZoneServer send names equal to or under Zone (e.g.
	// "lifeline.test") to the DNS server at ZoneServer (host:port, UDP).
	Zone, ZoneServer string
	// Nameserver, if set (host:port), replaces the system's nameservers.
	Nameserver string

	// Check is called with the name as given and each resolved address
	// right before connecting to it; an error refuses that address.
	Check func(host string, addr netip.AddrPort) error

	// Timeout bounds DNS, TCP and TLS together (default 10 s).
	Timeout time.Duration
	// TLSConfig is cloned for TLS connections; ServerName is set from the host.
	TLSConfig *tls.Config

	emitMu sync.Mutex // Emit is called by one goroutine at a time
	// KernelState, if set, records the kernel's state of the connection
	// (TCP_INFO: ESTABLISHED, FIN_WAIT2, CLOSE_WAIT, TIME_WAIT …, with its
	// RTT) as a tcp.state entry each time it is seen to change: after
	// connect(), after the peer's FIN or RST, after this side's FIN, and
	// when Conn.ObserveState is called. Where the kernel does not say
	// (other systems, a closed socket) nothing is recorded.
	KernelState bool
}

// Stage names the step a Dial failed at.
type Stage string

const (
	StagePolicy Stage = "policy"
	StageDNS    Stage = "dns"
	StageTCP    Stage = "tcp"
	StageTLS    Stage = "tls"
)

// Error is a failed Dial: the stage it failed at and why.
type Error struct {
	Stage Stage
	Err   error
}

func (e *Error) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrRefused wraps every policy refusal returned by Check.
var ErrRefused = errors.New("refused by policy")

// Result describes an established connection.
type Result struct {
	Host      string         // the host as given
	Addr      netip.AddrPort // the address connected to
	Local     netip.AddrPort
	Connect   time.Duration // how long connect() took
	DNS       time.Duration // how long the DNS lookup took, 0 when no query was sent
	RTT       time.Duration // the kernel's smoothed RTT after the handshake, 0 if unknown
	TLS       *tls.ConnectionState
	Resolved  string // how the host was resolved: "dns", "literal", "numeric", "localhost", "hosts"
	Addresses []netip.Addr
}

// Dial resolves hostport, checks and connects to its addresses in order, and
// for useTLS performs a TLS handshake. The returned Conn records its close.
func (d *Dialer) Dial(ctx context.Context, hostport string, useTLS bool) (*Conn, *Result, error) {
	if d.Start.IsZero() {
		d.Start = time.Now()
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, nil, &Error{StagePolicy, fmt.Errorf("broker %q: %w", hostport, err)}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, nil, &Error{StagePolicy, fmt.Errorf("broker %q: bad port %q", hostport, portStr)}
	}
	res := &Result{Host: host}
	addrs, err := d.resolve(ctx, host, res)
	if err != nil {
		return nil, res, &Error{StageDNS, err}
	}
	res.Addresses = addrs

	var lastErr error
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, uint16(port))
		if d.Check != nil {
			if err := d.Check(host, ap); err != nil {
				lastErr = &Error{StagePolicy, err}
				continue
			}
		}
		c, err := d.connect(ctx, host, ap, res)
		if err != nil {
			lastErr = &Error{StageTCP, err}
			continue
		}
		if useTLS {
			if err := d.handshake(ctx, c, host, res); err != nil {
				c.Close()
				return nil, res, &Error{StageTLS, err}
			}
		}
		return c, res, nil
	}
	if lastErr == nil {
		lastErr = &Error{StageDNS, fmt.Errorf("%s has no addresses", host)}
	}
	return nil, res, lastErr
}

func (d *Dialer) resolve(ctx context.Context, host string, res *Result) ([]netip.Addr, error) {
	if a, ok := ParseHost(host); ok {
		res.Resolved = "literal"
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil {
			res.Resolved = "numeric"
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	if IsLocalhostName(host) {
		res.Resolved = "localhost"
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}, nil
	}
	server := d.Nameserver
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if d.Zone != "" && d.ZoneServer != "" && (name == d.Zone || strings.HasSuffix(name, "."+d.Zone)) {
		server = d.ZoneServer
	}
	began := time.Now()
	addrs, exchanged, err := d.lookup(ctx, host, server)
	res.Resolved = "dns"
	if exchanged {
		res.DNS = time.Since(began)
	} else {
		res.Resolved = "hosts"
	}
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) {
			switch {
			case de.IsNotFound:
				return nil, fmt.Errorf("%s: no such host (NXDOMAIN)", host)
			case de.IsTimeout:
				return nil, fmt.Errorf("%s: DNS timed out", host)
			}
			return nil, fmt.Errorf("%s: %s", host, de.Err)
		}
		return nil, err
	}
	return addrs, nil
}

func (d *Dialer) connect(ctx context.Context, host string, ap netip.AddrPort, res *Result) (*Conn, error) {
	nd := net.Dialer{
		// A second look at the address the socket is about to connect to.
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			if d.Check == nil {
				return nil
			}
			got, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			return d.Check(host, netip.AddrPortFrom(got.Addr().Unmap(), got.Port()))
		},
	}
	start := time.Now()
	syn := d.entry(start, d.leg(), d.from(), "broker", trace.KindTCPSyn, "SYN to "+ap.String())
	syn.Observed = trace.ObservedKernel
	syn.Dst = ap.String()
	syn.Note = d.resolvedNote(host, res)
	c, err := nd.DialContext(ctx, "tcp", ap.String())
	end := time.Now()
	if err != nil {
		syn.Error = err.Error()
		d.emit(syn)
		e := d.entry(end, d.leg(), "broker", d.from(), trace.KindTCPRst, "connect() to "+ap.String()+" failed")
		e.Observed = trace.ObservedKernel
		e.Src = ap.String()
		e.Error = err.Error()
		e.Note = fmt.Sprintf("after %.3f ms", ms(end.Sub(start)))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			e.Kind = trace.KindTCPSyn
			e.From, e.To = d.from(), "broker"
			e.Summary = "no answer to SYN from " + ap.String()
			e.Src, e.Dst = "", ap.String()
		}
		d.emit(e)
		return nil, err
	}
	tc := c.(*net.TCPConn)
	res.Addr = ap
	res.Local = netip.MustParseAddrPort(c.LocalAddr().String())
	res.Connect = end.Sub(start)
	res.RTT = kernelRTT(tc)
	local, remote := res.Local.String(), ap.String()
	syn.Src = local
	d.emit(syn)
	sa := d.entry(end, d.leg(), "broker", d.from(), trace.KindTCPSynAck, "SYN-ACK from "+ap.String())
	sa.Observed = trace.ObservedKernel
	sa.Src, sa.Dst = remote, local
	sa.Note = fmt.Sprintf("connect() took %.3f ms", ms(res.Connect))
	if res.RTT > 0 {
		sa.Note += fmt.Sprintf("; kernel RTT %d µs (TCP_INFO)", res.RTT.Microseconds())
	}
	d.emit(sa)
	ack := d.entry(end, d.leg(), d.from(), "broker", trace.KindTCPAck, "ACK "+res.Local.String()+" → "+ap.String())
	ack.Observed = trace.ObservedKernel
	ack.Src, ack.Dst = local, remote
	ack.Note = "connection established"
	d.emit(ack)
	conn := &Conn{Conn: tc, tcp: tc, d: d, local: res.Local, remote: ap, peerGone: make(chan struct{})}
	conn.ObserveState("after connect() returned")
	return conn, nil
}

func (d *Dialer) resolvedNote(host string, res *Result) string {
	switch res.Resolved {
	case "literal":
		return host + " is an address: no DNS lookup"
	case "numeric":
		return fmt.Sprintf("%s is a numeric IPv4 address (%s): no DNS lookup", host, res.Addresses[0])
	case "localhost":
		return host + " is loopback (RFC 6761): no DNS lookup"
	case "hosts":
		return host + " resolved from /etc/hosts: no DNS message"
	}
	return host + " resolved by DNS"
}

func (d *Dialer) handshake(ctx context.Context, c *Conn, host string, res *Result) error {
	cfg := &tls.Config{}
	if d.TLSConfig != nil {
		cfg = d.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		if _, isAddr := ParseHost(host); !isAddr {
			cfg.ServerName = host
		}
	}
	start := time.Now()
	tc := tls.Client(c.Conn, cfg)
	err := tc.HandshakeContext(ctx)
	end := time.Now()
	e := d.entry(start, d.leg(), d.from(), "broker", trace.KindTLS, "TLS handshake")
	e.Observed = trace.ObservedKernel
	e.Src, e.Dst = c.local.String(), c.remote.String()
	e.Note = fmt.Sprintf("took %.3f ms (crypto/tls)", ms(end.Sub(start)))
	if err != nil {
		e.Summary = "TLS handshake failed"
		e.Error = err.Error()
		d.emit(e)
		return err
	}
	st := tc.ConnectionState()
	res.TLS = &st
	e.Summary = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	if st.NegotiatedProtocol != "" {
		e.Summary += ", ALPN " + st.NegotiatedProtocol
	}
	if len(st.PeerCertificates) > 0 {
		e.Summary += ", certificate " + st.PeerCertificates[0].Subject.String()
	}
	d.emit(e)
	c.Conn = tc
	return nil
}

func (d *Dialer) from() string {
	if d.Party != "" {
		return d.Party
	}
	return "proxy"
}

func (d *Dialer) dnsLeg() string {
	if d.DNSLeg != "" {
		return d.DNSLeg
	}
	return trace.LegProxyDNS
}

func (d *Dialer) leg() string {
	if d.Leg != "" {
		return d.Leg
	}
	return trace.LegProxyBroker
}

func (d *Dialer) entry(at time.Time, leg, from, to, kind, summary string) trace.Entry {
	return trace.Entry{
		T:    ms(at.Sub(d.Start)),
		Leg:  leg,
		From: from, To: to,
		Kind: kind, Summary: summary,
		Conn: d.Conn,
	}
}

func (d *Dialer) emit(e trace.Entry) {
	if d.Emit != nil {
		d.emitMu.Lock()
		defer d.emitMu.Unlock()
		d.Emit(e)
	}
}
