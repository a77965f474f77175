package wsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/lifeline-mqtt/lifeline/netrec"
)

// Step names what was being done when something failed.
type Step string

// The steps of opening MQTT over WebSocket, in order.
const (
	StepURL         Step = "url"
	StepDNS         Step = "dns"
	StepTCP         Step = "tcp"
	StepTLS         Step = "tls"
	StepUpgrade     Step = "upgrade"
	StepSubprotocol Step = "subprotocol"
	StepFrames      Step = "frames"
)

// Error is a failure with the step it happened in and the fix in words.
type Error struct {
	Step Step
	Err  error
	// Fix says what to change, in a sentence ("" when there is no advice).
	Fix string
	// Status is the HTTP status of a failed upgrade (0 otherwise).
	Status int
	// Names are the names the server's certificate is valid for, on a
	// TLS failure that has a certificate.
	Names []string
}

func (e *Error) Error() string { return string(e.Step) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// classifyDial turns an error of netrec's Dial into an *Error with a fix.
func classifyDial(err error, hostport string) *Error {
	var ne *netrec.Error
	stage := netrec.StageTCP
	if errors.As(err, &ne) {
		stage, err = ne.Stage, ne.Err // the step says the stage
	}
	host, port, _ := net.SplitHostPort(hostport)
	switch stage {
	case netrec.StageDNS:
		fix := "check the host name: " + host + " has no address in DNS (no A or AAAA record)"
		var de *net.DNSError
		if errors.As(err, &de) && de.IsTimeout {
			fix = "the DNS server did not answer in time: check the resolver (/etc/resolv.conf or -nameserver)"
		}
		return &Error{Step: StepDNS, Err: err, Fix: fix}
	case netrec.StagePolicy:
		return &Error{Step: StepURL, Err: err}
	case netrec.StageTLS:
		return classifyTLS(err, host)
	}
	fix := ""
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		fix = "nothing listens on port " + port + " of " + host + ": check the port of the broker's listener (mosquitto: `listener PORT` with `protocol websockets`; EMQX: 8083 ws, 8084 wss; 1883 mqtt, 8883 mqtts) and that the broker runs"
	case isTimeout(err):
		fix = "no answer from " + hostport + ": a firewall drops the packets, or the host is down or unreachable from here"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		fix = "no route to " + host + ": check the network (VPN, IPv6 connectivity)"
	}
	return &Error{Step: StepTCP, Err: err, Fix: fix}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.As(err, &te) && te.Timeout()) || strings.Contains(err.Error(), "deadline exceeded")
}

// classifyTLS explains a failed TLS handshake: an expired certificate, one
// for other names, one signed by an authority not trusted here, or a port
// that does not speak TLS.
func classifyTLS(err error, host string) *Error {
	e := &Error{Step: StepTLS, Err: err}
	var inv x509.CertificateInvalidError
	var hn x509.HostnameError
	var ua x509.UnknownAuthorityError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		e.Names = certNames(inv.Cert)
		e.Fix = "the certificate is outside its validity (" + validity(inv.Cert) + ", now " + time.Now().UTC().Format(time.DateOnly) + "): renew it on the server, or check this machine's clock"
	case errors.As(err, &hn):
		e.Names = certNames(hn.Certificate)
		e.Fix = "the certificate is for " + strings.Join(e.Names, ", ") + ", not " + hn.Host + ": connect with one of those names, or issue a certificate that names " + hn.Host
	case errors.As(err, &ua):
		e.Names = certNames(ua.Cert)
		issuer := "itself (self-signed)"
		if ua.Cert != nil && ua.Cert.Issuer.String() != ua.Cert.Subject.String() {
			issuer = ua.Cert.Issuer.String()
		}
		e.Fix = "the certificate is signed by " + issuer + ", which this machine does not trust: for a test certificate pass -cacert FILE (its CA in PEM), or -insecure to look without verifying"
	case errors.As(err, &rh):
		e.Fix = "the port does not speak TLS: use ws:// (or mqtt://) for a plain listener, or the TLS port"
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		e.Fix = "the server closed the connection during the TLS handshake: the port likely does not speak TLS (use ws:// or mqtt://), or it refuses this client's TLS versions"
	case isTimeout(err):
		e.Fix = "the server accepted TCP but did not finish the TLS handshake: is this the TLS port?"
	default:
		e.Fix = "the TLS handshake failed: check that the port speaks TLS and that the server's certificate and versions are acceptable"
	}
	return e
}

// certNames are the DNS names and addresses a certificate is valid for
// (its common name when it has none).
func certNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 && c.Subject.CommonName != "" {
		n = append(n, c.Subject.CommonName+" (common name only)")
	}
	return n
}

func validity(c *x509.Certificate) string {
	if c == nil {
		return "unknown validity"
	}
	return "valid " + c.NotBefore.UTC().Format(time.DateOnly) + " to " + c.NotAfter.UTC().Format(time.DateOnly)
}

// ExplainDial turns an error of netrec's Dial (to hostport) into an *Error
// with the step and the fix.
func ExplainDial(err error, hostport string) *Error {
	return classifyDial(err, hostport)
}
