package wsclient

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// CertReport describes the certificate a server presented and what
// verifying it said.
type CertReport struct {
	Subject, Issuer string
	Names           []string
	NotBefore       time.Time
	NotAfter        time.Time
	// Verified is true when the handshake verified the chain and the name.
	Verified bool
	// Skipped is true when verification was turned off (-insecure); Err
	// then says what verifying would have found (nil: it would pass).
	Skipped bool
	Err     error
}

// DescribeCert reports on the certificate of st as seen by a client that
// connected to host with cfg. When cfg skipped verification, the chain is
// verified here against cfg.RootCAs (or the system's roots) to say what a
// verifying client would have found.
func DescribeCert(st *tls.ConnectionState, cfg *tls.Config, host string) CertReport {
	var r CertReport
	if st == nil || len(st.PeerCertificates) == 0 {
		return r
	}
	c := st.PeerCertificates[0]
	r.Subject, r.Issuer, r.Names = c.Subject.String(), c.Issuer.String(), certNames(c)
	r.NotBefore, r.NotAfter = c.NotBefore, c.NotAfter
	if cfg == nil || !cfg.InsecureSkipVerify {
		r.Verified = true
		return r
	}
	r.Skipped = true
	opts := x509.VerifyOptions{DNSName: host, Intermediates: x509.NewCertPool()}
	if cfg.RootCAs != nil {
		opts.Roots = cfg.RootCAs
	}
	for _, ic := range st.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	if _, err := c.Verify(opts); err != nil {
		r.Err = err
	}
	return r
}

// Summary is the report in one line.
func (r CertReport) Summary() string {
	if r.Subject == "" && r.Names == nil {
		return "no certificate"
	}
	var b strings.Builder
	b.WriteString("subject " + orNone(r.Subject) + ", issuer " + orNone(r.Issuer))
	if len(r.Names) > 0 {
		b.WriteString(", names " + strings.Join(r.Names, " "))
	}
	b.WriteString(", valid " + r.NotBefore.UTC().Format(time.DateOnly) + " to " + r.NotAfter.UTC().Format(time.DateOnly))
	switch {
	case r.Verified:
		b.WriteString(", verified")
	case r.Skipped && r.Err == nil:
		b.WriteString(", NOT verified (-insecure); it would have verified")
	case r.Skipped:
		b.WriteString(", NOT verified (-insecure); verifying fails: " + r.Err.Error())
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

// LoadCAs reads a PEM file of certificates to trust (-cacert).
func LoadCAs(pem []byte) (*x509.CertPool, bool) {
	p := x509.NewCertPool()
	return p, p.AppendCertsFromPEM(pem)
}

// CertEntry is the trace entry describing the certificate of st, from the
// server's lane to d's party.
func CertEntry(d *netrec.Dialer, server string, st *tls.ConnectionState, host string) trace.Entry {
	cr := DescribeCert(st, d.TLSConfig, host)
	return trace.Entry{T: float64(time.Since(d.Start)) / float64(time.Millisecond), Leg: d.Leg, From: server, To: d.Party,
		Kind: trace.KindTLSCertificate, Summary: cr.Summary(), Observed: trace.ObservedKernel, Conn: d.Conn}
}
