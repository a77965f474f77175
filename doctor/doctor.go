package doctor

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

// Verdict is the outcome of one check.
type Verdict string

// The verdicts.
const (
	OK   Verdict = "ok"
	Warn Verdict = "warn" // works, with a caveat
	Fail Verdict = "fail"
	Skip Verdict = "skip" // not run: an earlier check failed, or not asked for
)

// Check is one line of the checklist.
type Check struct {
	Step    string  `json:"step"`  // "dns", "tcp", "tls", "upgrade", "subprotocol mqtt", …
	Title   string  `json:"title"` // what was checked, in words
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`        // what happened
	Fix     string  `json:"fix,omitempty"` // what to change, when it failed
	Millis  float64 `json:"ms"`            // how long the check took
}

// Report is the whole checklist.
type Report struct {
	URL    string  `json:"url"`
	Checks []Check `json:"checks"`
	// Works is true when no check failed: the endpoint works as given.
	Works bool `json:"works"`
	// Use is the URL (and subprotocol) that worked, when it differs from
	// the one given or when the given one did not work ("" when none did).
	Use string `json:"use,omitempty"`
}

// Options configure Run.
type Options struct {
	// Timeout bounds each step (default 5 s).
	Timeout time.Duration
	// Idle, when above zero, holds a connection idle that long and checks
	// that it is still open.
	Idle time.Duration
	// KeepAlive is the keepalive (seconds) the endpoint's clients use, to
	// compare with an idle close (default 60).
	KeepAlive  int
	Insecure   bool           // do not verify the certificate (said in the output)
	RootCAs    *x509.CertPool // trust these instead of the system's
	Nameserver string         // host:port, "" for /etc/resolv.conf
	Origin     string         // sent on upgrades when not empty
	Username   string
	Password   string
	// Paths are tried when the given path does not upgrade (default
	// /mqtt, /, /ws).
	Paths []string
	// Progress, if set, receives each check as it completes.
	Progress func(Check)
}

// DefaultPaths are the WebSocket paths brokers commonly use.
var DefaultPaths = []string{"/mqtt", "/", "/ws"}

// run is one doctor session.
type run struct {
	t      wsclient.Target
	opt    Options
	rep    *Report
	tls    *tls.Config
	offer  []string // the subprotocols that worked (nil: not a WebSocket)
	path   string   // the path that worked
	nonce  string
	conns  int // MQTT connections made, for their client ids
	failed bool
}

// Run checks the endpoint t and returns the checklist.
func Run(ctx context.Context, t wsclient.Target, opt Options) Report {
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = 60
	}
	if opt.Paths == nil {
		opt.Paths = DefaultPaths
	}
	b := make([]byte, 4)
	rand.Read(b)
	r := &run{t: t, opt: opt, rep: &Report{URL: t.String()}, nonce: hex.EncodeToString(b), path: t.Path,
		tls: &tls.Config{InsecureSkipVerify: opt.Insecure, RootCAs: opt.RootCAs}}
	if _, isAddr := netrec.ParseHost(t.Host); isAddr {
		r.tls.ServerName = t.Host // verify the address against the certificate's IP names
	}
	r.steps(ctx)
	r.rep.Works = !r.failed
	return *r.rep
}

func (r *run) add(c Check) {
	if c.Verdict == Fail {
		r.failed = true
	}
	r.rep.Checks = append(r.rep.Checks, c)
	if r.opt.Progress != nil {
		r.opt.Progress(c)
	}
}

func (r *run) skip(step, title, why string) {
	r.add(Check{Step: step, Title: title, Verdict: Skip, Detail: why})
}

// timed runs f under the step timeout and returns its check with the time.
func (r *run) timed(ctx context.Context, f func(ctx context.Context) Check) Check {
	ctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	start := time.Now()
	c := f(ctx)
	c.Millis = ms(time.Since(start))
	return c
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *run) steps(ctx context.Context) {
	if !r.network(ctx) {
		return
	}
	if r.t.WebSocket() && !r.webSocket(ctx) {
		return
	}
	versions := r.connects(ctx)
	if versions == 0 {
		r.skip("roundtrip", "QoS 1 round trip", "no CONNECT was accepted")
		if r.opt.Idle > 0 {
			r.skip("idle", "idle connection", "no CONNECT was accepted")
		}
		return
	}
	r.add(r.timed(ctx, func(ctx context.Context) Check { return r.roundTrip(ctx, versions) }))
	if r.opt.Idle > 0 {
		r.add(r.idle(ctx, versions))
	}
	if r.rep.Use == "" && r.failed && r.t.WebSocket() {
		r.rep.Use = r.use()
	}
}

// use names the URL and subprotocol that worked.
func (r *run) use() string {
	u := r.t.WithPath(r.path).String()
	if len(r.offer) > 0 {
		return u + " with subprotocol " + r.offer[0]
	}
	return u + " offering no subprotocol"
}

// dialer is a recording dialer whose entries go to emit.
func (r *run) dialer(emit func(trace.Entry)) *netrec.Dialer {
	return &netrec.Dialer{Start: time.Now(), Emit: emit, Party: "client", Leg: trace.LegClientBroker, DNSLeg: trace.LegClientDNS,
		Nameserver: r.opt.Nameserver, Timeout: r.opt.Timeout, TLSConfig: r.tls}
}

// network checks DNS, TCP and TLS; it reports whether to go on.
func (r *run) network(ctx context.Context) bool {
	var dns []trace.Entry
	var res *netrec.Result
	var dialErr error
	start := time.Now()
	func() {
		ctx, cancel := context.WithTimeout(ctx, 2*r.opt.Timeout)
		defer cancel()
		d := r.dialer(func(e trace.Entry) {
			if e.Kind == trace.KindDNSResponse || e.Kind == trace.KindDNSQuery {
				dns = append(dns, e)
			}
		})
		var c *netrec.Conn
		c, res, dialErr = d.Dial(ctx, r.t.HostPort(), false)
		if c != nil {
			c.Close()
		}
	}()
	took := ms(time.Since(start))
	var ne *netrec.Error
	stage := netrec.Stage("")
	if errors.As(dialErr, &ne) {
		stage = ne.Stage
	}
	// DNS
	dc := Check{Step: "dns", Title: "DNS lookup of " + r.t.Host, Verdict: OK, Millis: dnsSpan(dns)}
	if stage == netrec.StageDNS || stage == netrec.StagePolicy {
		dc.Verdict = Fail
		we := wsclient.ExplainDial(dialErr, r.t.HostPort())
		dc.Detail, dc.Fix = joinNonEmpty(dnsDetail(dns), we.Err.Error()), we.Fix
		r.add(dc)
		r.skip("tcp", "TCP connect", "no address to connect to")
		return false
	}
	dc.Detail = resolvedDetail(r.t.Host, res, dns)
	r.add(dc)
	// TCP
	tc := Check{Step: "tcp", Title: "TCP connect to port " + fmt.Sprint(r.t.Port), Verdict: OK, Millis: took}
	if dialErr != nil {
		we := wsclient.ExplainDial(dialErr, r.t.HostPort())
		tc.Verdict, tc.Detail, tc.Fix = Fail, we.Err.Error(), we.Fix
		if res != nil && len(res.Addresses) > 0 {
			tc.Detail = "tried " + addrList(res.Addresses) + ": " + tc.Detail
		}
		r.add(tc)
		return false
	}
	tc.Detail = "connected to " + res.Addr.String() + " in " + fmtMs(res.Connect)
	if res.RTT > 0 {
		tc.Detail += ", the kernel's round-trip time " + fmtMs(res.RTT)
	}
	r.add(tc)
	if r.t.TLS() {
		c := r.timed(ctx, r.checkTLS)
		r.add(c)
		if c.Verdict == Fail && !r.tls.InsecureSkipVerify {
			return false // not a certificate problem: nothing more can be learned
		}
	}
	return true
}

func (r *run) checkTLS(ctx context.Context) Check {
	c := Check{Step: "tls", Title: "TLS handshake and certificate", Verdict: OK}
	d := r.dialer(nil)
	conn, res, err := d.Dial(ctx, r.t.HostPort(), true)
	if err != nil {
		we := wsclient.ExplainDial(err, r.t.HostPort())
		c.Verdict, c.Detail, c.Fix = Fail, we.Err.Error(), we.Fix
		if len(we.Names) > 0 {
			c.Detail += " (certificate names: " + strings.Join(we.Names, ", ") + ")"
		}
		if we.Step == wsclient.StepTLS && !r.tls.InsecureSkipVerify && isCertError(we.Err) {
			// Look at the rest anyway, without verifying, and say so.
			r.tls = &tls.Config{InsecureSkipVerify: true, ServerName: r.tls.ServerName}
			c.Fix += " (the checks below ran without verifying the certificate)"
		}
		return c
	}
	conn.Close()
	cr := wsclient.DescribeCert(res.TLS, r.tls, r.t.Host)
	c.Detail = tls.VersionName(res.TLS.Version) + ", " + tls.CipherSuiteName(res.TLS.CipherSuite) + "; " + cr.Summary()
	if cr.Skipped {
		c.Verdict = Warn
		c.Fix = "-insecure: the certificate was not verified"
		if cr.Err != nil {
			c.Verdict, c.Fix = Fail, wsclient.ExplainDial(&netrec.Error{Stage: netrec.StageTLS, Err: cr.Err}, r.t.HostPort()).Fix
		}
	}
	return c
}

func isCertError(err error) bool {
	var ce *tls.CertificateVerificationError
	return errors.As(err, &ce)
}

func resolvedDetail(host string, res *netrec.Result, dns []trace.Entry) string {
	if res == nil {
		return ""
	}
	switch res.Resolved {
	case "literal", "numeric":
		return host + " is an address: no lookup"
	case "localhost":
		return host + " is loopback (RFC 6761): no lookup; " + addrList(res.Addresses)
	case "hosts":
		return "from /etc/hosts: " + addrList(res.Addresses)
	}
	if d := dnsDetail(dns); d != "" {
		return d
	}
	return addrList(res.Addresses)
}

// dnsDetail lists what each DNS answer said ("A 93.184.215.14; AAAA none").
func dnsDetail(dns []trace.Entry) string {
	var parts []string
	for _, e := range dns {
		if e.Kind != trace.KindDNSResponse {
			continue
		}
		s := e.Summary
		if e.Error != "" && !strings.Contains(s, e.Error) {
			s += " (" + e.Error + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func addrList(a []netip.Addr) string {
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

// dnsSpan is the time from the first query to the last answer.
func dnsSpan(dns []trace.Entry) float64 {
	if len(dns) == 0 {
		return 0
	}
	lo, hi := dns[0].T, dns[0].T
	for _, e := range dns {
		lo, hi = min(lo, e.T), max(hi, e.T)
	}
	return hi - lo
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.2f ms", ms(d)) }
