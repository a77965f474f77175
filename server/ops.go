package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeline-mqtt/lifeline/proxy"
)

// This file is what an operator running several instances expects of a Go
// server: JSON logs, /metrics, /readyz and a drain on SIGTERM, TLS without a
// terminating proxy, and a sub-path behind a reverse proxy.

// opsConfig is the operator's part of serveConfig.
type opsConfig struct {
	logFormat, tlsCert, tlsKey, basePath string
	drainDelay                           time.Duration
}

// opsGroup lists the flags of opsFlags in the help.
var opsGroup = flagGroup{"Operating it (several instances, a load balancer, a reverse proxy)",
	[]string{"log-format", "tls-cert", "tls-key", "base-path", "drain-delay"}}

func opsFlags(fset *flag.FlagSet, c *opsConfig) {
	fset.StringVar(&c.logFormat, "log-format", "text", "`format` of the log on stderr: text or json (one JSON object a line)")
	fset.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate `file` (chain first) to serve https and wss directly; needs -tls-key")
	fset.StringVar(&c.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	fset.StringVar(&c.basePath, "base-path", "/", "URL `path` the page is served under, for a reverse proxy that forwards https://host/lifeline/ unchanged (e.g. /lifeline/)")
	fset.DurationVar(&c.drainDelay, "drain-delay", 0, "on SIGTERM, keep serving this long with /readyz answering 503, so a load balancer stops sending pages, before closing the sessions (1001)")
}

// check validates the operator's flags and puts -base-path in its one form,
// /path/.
func (c *opsConfig) check() error {
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("-log-format: %q is not text or json", c.logFormat)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together: give both, or neither")
	}
	if c.drainDelay < 0 {
		return fmt.Errorf("-drain-delay must not be negative, got %s", c.drainDelay)
	}
	p := c.basePath
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#%\\ ") || strings.Contains(p, "//") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
		return fmt.Errorf("-base-path: %q is not a URL path like /lifeline/", p)
	}
	if !strings.HasSuffix(p, "/") {
		c.basePath = p + "/"
	}
	return nil
}

// newLogger is the server's log on w, as text or JSON.
func newLogger(format string, w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// scheme is the page's URL scheme: https with -tls-cert.
func (c *opsConfig) scheme() string {
	if c.tlsCert != "" {
		return "https"
	}
	return "http"
}

// listenTLS wraps ln in TLS with -tls-cert and -tls-key; without them it
// returns ln.
func (c *opsConfig) listenTLS(ln net.Listener) (net.Listener, error) {
	if c.tlsCert == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}}), nil // WebSockets upgrade HTTP/1.1
}

// urlLine puts the scheme and base path into the "serving URL" line.
func (c *opsConfig) urlLine(line string) string {
	if u, ok := strings.CutPrefix(line, "serving http://"); ok {
		return "serving " + c.scheme() + "://" + strings.TrimSuffix(u, "/") + c.basePath
	}
	return line
}

// opsState is the running server's operator view: readiness and metrics.
type opsState struct {
	draining atomic.Bool
	reg      *prometheus.Registry
}

// newOps registers the proxy's metrics with Go's and the process's.
func newOps(px *proxy.Server) (*opsState, error) {
	o := &opsState{reg: prometheus.NewRegistry()}
	if err := o.reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := o.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	if err := px.Register(o.reg); err != nil {
		return nil, err
	}
	return o, nil
}

// handler adds /metrics and /readyz beside h's paths (behind the same Host
// check) and serves it all under the base path.
func (o *opsState) handler(c opsConfig, px *proxy.Server, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("GET /metrics", hostChecked(px, promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{})))
	mux.Handle("GET /readyz", hostChecked(px, http.HandlerFunc(o.readyz)))
	if c.basePath == "/" {
		return mux
	}
	prefix := strings.TrimSuffix(c.basePath, "/")
	under := http.StripPrefix(prefix, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == prefix:
			if err := px.CheckHost(r); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			http.Redirect(w, r, c.basePath, http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, c.basePath):
			under.ServeHTTP(w, r)
		default:
			http.Error(w, "not found: this server serves under "+c.basePath+" (-base-path)", http.StatusNotFound)
		}
	})
}

// readyz answers 200 while the server takes new pages, and 503 once it is
// draining (SIGTERM received): a load balancer's check takes it out.
func (o *opsState) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if o.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "draining: shutting down, take no new pages here\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// drain marks the server not ready and waits delay, still serving, before
// the sessions are closed.
func (o *opsState) drain(delay time.Duration, log *slog.Logger) {
	o.draining.Store(true)
	if delay > 0 {
		log.Info("draining: /readyz answers 503", "for", delay.String())
		time.Sleep(delay)
	}
}
