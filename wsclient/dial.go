package wsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/netrec"
)

// DefaultReadLimit is the largest frame (and message) accepted from the
// server unless Options.ReadLimit says otherwise.
const DefaultReadLimit = 1 << 20

// Options configure Dial.
type Options struct {
	// Dialer resolves, connects and handshakes TLS, recording each step;
	// its Emit also receives the tap's entries, its Timeout bounds the
	// whole dial including the upgrade (default 10 s), and its TLSConfig
	// is used for wss.
	Dialer *netrec.Dialer
	// Subprotocols are offered in the upgrade; nil offers "mqtt", an empty
	// non-nil slice offers none.
	Subprotocols []string
	// Origin is sent as the Origin header when not empty (browsers always
	// send one; native clients usually do not).
	Origin string
	// Version is the MQTT protocol level (4 or 5) used to read the packets
	// drawn before a CONNECT is seen.
	Version int
	// ReadLimit is the largest frame and message accepted from the server
	// (default DefaultReadLimit).
	ReadLimit int64
	// Server names the server's lane in the entries (default "broker").
	Server string
}

// Result is what Dial learned.
type Result struct {
	Net         *netrec.Result // DNS, TCP and TLS
	Cert        *CertReport    // wss only
	Status      string         // "101 Switching Protocols"
	Header      http.Header    // the response's headers
	Offered     []string       // the subprotocols offered
	Subprotocol string         // the one chosen
}

// Conn is MQTT over WebSocket as a net.Conn: each Write is one binary
// frame, Read returns the binary frames' bytes.
type Conn struct {
	net.Conn
	ws  *websocket.Conn
	tap *tap
}

// Read reads the binary frames' payload. When the server broke the
// protocol (a text frame, an invalid close, a frame over the limit), the
// error is the *Error the tap recorded.
func (c *Conn) Read(p []byte) (int, error) {
	// The tap reads beneath the WebSocket, so it has seen a fault before
	// the library hands on the bytes around it.
	if f := c.tap.Fault(); f != nil {
		return 0, f
	}
	n, err := c.Conn.Read(p)
	if f := c.tap.Fault(); f != nil {
		// Seen while this read ran (the tap reads ahead of the library:
		// a frame over the limit is still handed on up to the limit).
		return 0, f
	}
	return n, err
}

// Close sends a close frame (1000) and waits, at most 5 s, for the
// server's, then closes the connection. (NetConn's own Close first
// cancels a pending read, which makes the library drop the connection,
// so the close frame would sometimes never be sent.)
func (c *Conn) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	c.Conn.Close()
	return err
}

// CloseNow closes the connection at once, without a close handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// Fault returns the first protocol fault of the server, or nil.
func (c *Conn) Fault() *Error { return c.tap.Fault() }

// CloseWith sends a close frame with code and reason and waits (at most 5 s)
// for the server's.
func (c *Conn) CloseWith(code int, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), reason)
}

// Dial opens a WebSocket to t (ws:// or wss://) and checks the upgrade:
// status 101, and a subprotocol among those offered. Failures are *Error.
func Dial(ctx context.Context, t Target, opt Options) (*Conn, *Result, error) {
	if !t.WebSocket() {
		return nil, nil, &Error{Step: StepURL, Err: fmt.Errorf("%s is not a WebSocket URL (ws:// or wss://)", t)}
	}
	g := newDialing(t, opt)
	hc := &http.Client{Transport: g.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	hdr := http.Header{}
	if opt.Origin != "" {
		hdr.Set("Origin", opt.Origin)
	}
	dctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, t.String(), &websocket.DialOptions{HTTPClient: hc, HTTPHeader: hdr, Subprotocols: g.res.Offered})
	if resp != nil {
		g.res.Status, g.res.Header = resp.Status, resp.Header
		g.res.Subprotocol = resp.Header.Get("Sec-WebSocket-Protocol")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		return nil, g.res, g.failure(err, resp)
	}
	if e := checkChosen(g.res.Offered, ws.Subprotocol()); e != nil {
		ws.CloseNow()
		return nil, g.res, e
	}
	nc := websocket.NetConn(context.WithoutCancel(ctx), ws, websocket.MessageBinary)
	ws.SetReadLimit(g.limit) // after NetConn, which lifts the limit
	return &Conn{Conn: nc, ws: ws, tap: g.tp}, g.res, nil
}

// dialing is one Dial: its options with their defaults, and what the
// transport's dial learned.
type dialing struct {
	t       Target
	d       *netrec.Dialer
	opt     Options
	timeout time.Duration
	limit   int64
	server  string

	mu      sync.Mutex
	res     *Result
	tp      *tap
	dialErr *Error
}

func newDialing(t Target, opt Options) *dialing {
	g := &dialing{t: t, d: opt.Dialer, opt: opt, timeout: 10 * time.Second, limit: DefaultReadLimit, server: "broker"}
	if g.d == nil {
		g.d = &netrec.Dialer{}
	}
	if g.d.Start.IsZero() {
		g.d.Start = time.Now()
	}
	if g.d.Timeout > 0 {
		g.timeout = g.d.Timeout
	}
	if opt.ReadLimit > 0 {
		g.limit = opt.ReadLimit
	}
	if opt.Server != "" {
		g.server = opt.Server
	}
	offered := opt.Subprotocols
	if offered == nil {
		offered = []string{"mqtt"}
	}
	g.res = &Result{Offered: offered}
	return g
}

// transport dials through netrec and puts the tap on the connection.
func (g *dialing) transport() *http.Transport {
	return &http.Transport{
		DialContext:            func(ctx context.Context, _, addr string) (net.Conn, error) { return g.dial(ctx, addr, false) },
		DialTLSContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return g.dial(ctx, addr, true) },
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHead,
		ResponseHeaderTimeout:  g.timeout,
	}
}

func (g *dialing) dial(ctx context.Context, addr string, useTLS bool) (net.Conn, error) {
	d := g.d
	c, nres, err := d.Dial(ctx, addr, useTLS)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.res.Net = nres
	if err != nil {
		g.dialErr = classifyDial(err, addr)
		return nil, err
	}
	if useTLS && nres != nil && nres.TLS != nil {
		cr := DescribeCert(nres.TLS, d.TLSConfig, g.t.Host)
		g.res.Cert = &cr
		if d.Emit != nil {
			d.Emit(CertEntry(d, g.server, nres.TLS, g.t.Host))
		}
	}
	g.tp = newTap(c, &tap{start: d.Start, emit: d.Emit, leg: d.Leg, client: d.Party, server: g.server, conn: d.Conn,
		limit: uint64(g.limit), version: g.opt.Version})
	return g.tp, nil
}

// failure explains a failed websocket.Dial: the step it failed in, first
// from what the dial and the tap saw, then from the answer.
func (g *dialing) failure(err error, resp *http.Response) *Error {
	switch {
	case g.dialErr != nil:
		return g.dialErr
	case g.tp != nil && g.tp.Fault() != nil:
		return g.tp.Fault()
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		return statusError(resp, g.t.Path)
	case resp != nil:
		if e := checkChosen(g.res.Offered, g.res.Subprotocol); e != nil {
			return e
		}
		return &Error{Step: StepUpgrade, Err: err, Fix: "the server's 101 answer is not a valid WebSocket handshake (RFC 6455, 4.2.2): a proxy on the way may rewrite it"}
	case isTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		return &Error{Step: StepUpgrade, Err: fmt.Errorf("no answer to the upgrade within %v", g.timeout),
			Fix: "the server accepted the connection but did not answer the HTTP upgrade: is this an HTTP port? For a broker's MQTT port use mqtt:// (or mqtts://)"}
	}
	return &Error{Step: StepUpgrade, Err: err, Fix: upgradeFix(err)}
}

// upgradeFix explains the transport errors of an upgrade.
func upgradeFix(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "malformed HTTP response"):
		return "the answer is not HTTP: is this the broker's MQTT (TCP) port? Use mqtt:// for it, or the WebSocket listener's port"
	case strings.Contains(s, "EOF"), strings.Contains(s, "connection reset"):
		return "the server closed the connection without answering the upgrade: it may not speak HTTP on this port, or it refused the request silently"
	}
	return ""
}
