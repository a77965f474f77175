package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

// webSocketTarget returns the WebSocket to open for `lifeline trace`: the
// ws:// or wss:// URL itself, or with -proxy the proxy's /mqtt?broker=
// for an mqtt:// broker; nil for a plain mqtt:// or mqtts:// broker.
func webSocketTarget(arg, proxy string) (*wsclient.Target, error) {
	t, err := wsclient.ParseURL(arg)
	if err != nil {
		if strings.HasPrefix(arg, "tcp:") || strings.HasPrefix(arg, "ssl:") || strings.HasPrefix(arg, "tls:") {
			return nil, nil // parseBrokerURL's aliases
		}
		return nil, fmt.Errorf("trace: %w", err)
	}
	if proxy == "" {
		if t.WebSocket() {
			return &t, nil
		}
		return nil, nil
	}
	if t.WebSocket() {
		return nil, fmt.Errorf("trace: -proxy goes to an mqtt:// broker, not to %s", t)
	}
	for from, to := range map[string]string{"http://": "ws://", "https://": "wss://"} {
		if rest, ok := strings.CutPrefix(proxy, from); ok {
			proxy = to + rest
		}
	}
	p, err := wsclient.ParseURL(proxy)
	if err != nil {
		return nil, fmt.Errorf("trace: -proxy: %w", err)
	}
	if !p.WebSocket() {
		return nil, fmt.Errorf("trace: -proxy %s: want the ws:// or wss:// address of a lifeline serve", proxy)
	}
	path := "/mqtt"
	if p.Path != "/" {
		path = strings.TrimSuffix(p.Path, "/")
	}
	q := "broker=" + t.HostPort()
	if t.TLS() {
		q += "&tls=1"
	}
	p = p.WithPath(path + "?" + q)
	return &p, nil
}

// traceTLSConfig is the TLS configuration of -insecure and -cacert; using
// either is said on stderr, as the certificate's entry says it in the
// diagram.
func traceTLSConfig(o traceOptions, stderr io.Writer) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.insecure}
	host := ""
	if o.ws != nil {
		host = o.ws.Host
	} else if h, _, err := net.SplitHostPort(o.broker); err == nil {
		host = h
	}
	if _, isAddr := netrec.ParseHost(host); isAddr {
		cfg.ServerName = host // verify the address against the certificate's IP names
	}
	if o.cacert != "" {
		pem, err := os.ReadFile(o.cacert)
		if err != nil {
			return nil, fmt.Errorf("trace: -cacert: %w", err)
		}
		pool, ok := wsclient.LoadCAs(pem)
		if !ok {
			return nil, fmt.Errorf("trace: -cacert %s: no PEM certificate in it", o.cacert)
		}
		cfg.RootCAs = pool
		fmt.Fprintf(stderr, "lifeline trace: trusting the CA certificates of %s (-cacert) instead of the system's\n", o.cacert)
	}
	if o.insecure {
		fmt.Fprintln(stderr, "lifeline trace: -insecure: the server's certificate is NOT verified; the diagram says what verifying would find")
	}
	return cfg, nil
}

// wsOptions are the WebSocket options of `lifeline trace`.
func wsOptions(o traceOptions, d *netrec.Dialer, server string) wsclient.Options {
	subs := []string{}
	for _, s := range strings.Split(o.subprotocol, ",") {
		if s = strings.TrimSpace(s); s != "" {
			subs = append(subs, s)
		}
	}
	return wsclient.Options{Dialer: d, Subprotocols: subs, Origin: o.origin, Version: o.version, ReadLimit: o.maxFrame, Server: server}
}

// explained adds a wsclient.Error's fix to its message.
func explained(err error) error {
	var we *wsclient.Error
	if errors.As(err, &we) && we.Fix != "" {
		return fmt.Errorf("trace: %w\n  fix: %s", err, we.Fix)
	}
	return fmt.Errorf("trace: %w", err)
}
