package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/static"
)

func init() { commands["serve"] = runServe }

// serveConfig is what `lifeline serve` was asked to do.
type serveConfig struct {
	listen, broker, dns, allow, origins, defaultBroker, nameserver, logLevel string
	allowPrivate                                                             bool
	maxConns, maxConnsPerIP, maxMessage                                      int
	idle, write, dial                                                        time.Duration
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to serve the page and the proxy on")
	fset.StringVar(&c.broker, "embedded-broker", "127.0.0.1:1883", "address of the embedded MQTT broker, or off")
	fset.StringVar(&c.dns, "embedded-dns", "127.0.0.1:0", "UDP address of the embedded DNS zone "+embedded.Zone+" (port 0 picks one)")
	fset.StringVar(&c.allow, "allow", "*:1883,*:8883", "broker targets browsers may reach: host:port patterns (*.example.com:8883, *:1883, 192.0.2.0/24:*)")
	fset.BoolVar(&c.allowPrivate, "allow-private", false, "permit loopback, private, link-local and other non-public broker addresses")
	fset.StringVar(&c.origins, "origins", "", "extra page origins allowed to use /mqtt and /trace (https://example.com,http://host:8080)")
	fset.StringVar(&c.defaultBroker, "default-broker", "", "broker for /mqtt without broker= (default: the embedded broker as "+embedded.BrokerName+")")
	fset.StringVar(&c.nameserver, "nameserver", "", "DNS server (host:port) for names outside the demo zone (default: /etc/resolv.conf)")
	fset.IntVar(&c.maxConns, "max-conns", 1024, "WebSocket connections at once")
	fset.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", 64, "WebSocket connections at once from one address")
	fset.IntVar(&c.maxMessage, "max-message", 1<<20, "largest WebSocket message / MQTT packet from the page, in bytes")
	fset.DurationVar(&c.idle, "idle-timeout", 5*time.Minute, "close a session after the page sent nothing for this long")
	fset.DurationVar(&c.write, "write-timeout", 30*time.Second, "close a session whose page or broker reads nothing for this long")
	fset.DurationVar(&c.dial, "dial-timeout", 10*time.Second, "limit for DNS, TCP and TLS to the broker together")
	fset.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error (debug logs every trace entry)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if err := envDefaults(fset); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	allow, err := proxy.ParseAllow(c.allow)
	if err != nil {
		return fmt.Errorf("-allow: %w", err)
	}

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (choose another address with -listen or LIFELINE_LISTEN)", c.listen, err)
	}
	defer ln.Close()

	// The embedded broker and its DNS zone.
	var brokerAddr *net.TCPAddr
	var exempt []netip.AddrPort
	dnsServer, err := embedded.StartDNS(c.dns, embedded.Zone, log)
	if err != nil {
		if errors.Is(err, embedded.ErrAddrInUse) {
			return fmt.Errorf("the embedded DNS address %s is already in use; choose another with -embedded-dns 127.0.0.1:0 (or LIFELINE_EMBEDDED_DNS)", c.dns)
		}
		return fmt.Errorf("embedded DNS: %w", err)
	}
	defer dnsServer.Close()
	if c.broker != "off" {
		b, err := embedded.StartBroker(c.broker, embedded.DefaultBrokerLimits, log)
		if err != nil {
			if errors.Is(err, embedded.ErrAddrInUse) {
				return fmt.Errorf("the embedded broker's address %s is already in use (another MQTT broker, such as mosquitto?); choose another with -embedded-broker 127.0.0.1:1884 (or LIFELINE_EMBEDDED_BROKER), or -embedded-broker off", c.broker)
			}
			return fmt.Errorf("embedded broker: %w", err)
		}
		defer b.Close()
		brokerAddr = b.Addr()
		ap := brokerAddr.AddrPort()
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		exempt = append(exempt, ap)
		if ap.Addr().IsUnspecified() {
			dnsServer.Set(embedded.BrokerName, netip.MustParseAddr("127.0.0.1"))
		} else {
			dnsServer.Set(embedded.BrokerName, ap.Addr())
		}
		if c.defaultBroker == "" {
			c.defaultBroker = net.JoinHostPort(embedded.BrokerName, strconv.Itoa(int(ap.Port())))
		}
	}

	hosts, origins, err := allowedHosts(ln.Addr().(*net.TCPAddr), c.origins)
	if err != nil {
		return err
	}
	px := proxy.New(proxy.Config{
		Policy:        proxy.Policy{Allow: allow, AllowPrivate: c.allowPrivate, Exempt: exempt, Zone: embedded.Zone},
		DefaultBroker: c.defaultBroker,
		Hosts:         hosts,
		Origins:       origins,
		MaxConns:      c.maxConns,
		MaxConnsPerIP: c.maxConnsPerIP,
		MaxMessage:    c.maxMessage,
		DialTimeout:   c.dial,
		IdleTimeout:   c.idle,
		WriteTimeout:  c.write,
		Zone:          embedded.Zone,
		ZoneServer:    dnsServer.Addr().String(),
		Nameserver:    c.nameserver,
		Log:           log,
	})

	wasm, err := newWasmHandler(static.FS, "wasm/main.wasm")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static.FS))
	if wasm != nil {
		mux.Handle("GET /wasm/main.wasm", wasm)
	}
	mux.HandleFunc("GET /mqtt", px.ServeMQTT)
	mux.HandleFunc("GET /trace", px.ServeTrace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	cfgJSON := apiConfig(c, brokerAddr, dnsServer.Addr(), wasm)
	mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, r *http.Request) {
		if err := px.CheckRequest(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cfgJSON)
	})

	// Capture import and export: same Host/Origin checks as the WebSockets,
	// and at most two at once (each may hold a large body in memory).
	captures := guarded(px, 2, capture.Handler(capture.HandlerOptions{}))
	mux.Handle("POST /api/import", captures)
	mux.Handle("POST /api/export/pcapng", captures)

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "lifeline: serving http://%s/\n", ln.Addr())
	if brokerAddr != nil {
		fmt.Fprintf(stdout, "lifeline: embedded broker mqtt://%s\n", brokerAddr)
	}
	fmt.Fprintf(stdout, "lifeline: embedded DNS zone %s on udp://%s\n", embedded.Zone, dnsServer.Addr())
	log.Info("serving", "addr", ln.Addr().String(), "default_broker", c.defaultBroker, "allow", c.allow,
		"allow_private", c.allowPrivate)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := px.Shutdown(shutdownCtx); err != nil {
		log.Warn("sessions did not all end", "err", err)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// allowedHosts returns the Host values and browser Origins the WebSocket
// endpoints accept: the listen address under its loopback names, plus the
// -origins list.
func allowedHosts(addr *net.TCPAddr, extra string) (hosts, origins []string, err error) {
	port := strconv.Itoa(addr.Port)
	hosts = []string{net.JoinHostPort(addr.IP.String(), port)}
	if addr.IP.IsLoopback() || addr.IP.IsUnspecified() {
		hosts = append(hosts, "localhost:"+port, "127.0.0.1:"+port, "[::1]:"+port)
	}
	for _, h := range hosts {
		origins = append(origins, "http://"+h)
	}
	for _, o := range strings.FieldsFunc(extra, func(r rune) bool { return r == ',' || r == ' ' }) {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, nil, fmt.Errorf("-origins: %q is not an origin like https://example.com", o)
		}
		origins = append(origins, u.Scheme+"://"+u.Host)
		hosts = append(hosts, u.Host)
	}
	return hosts, origins, nil
}

func apiConfig(c serveConfig, broker *net.TCPAddr, dns *net.UDPAddr, wasm *wasmHandler) []byte {
	cfg := map[string]any{
		"defaultBroker":    c.defaultBroker,
		"embeddedBroker":   nil,
		"embeddedBrokerWS": nil,
		"embeddedDNS":      dns.String(),
		"zone":             embedded.Zone,
		"maxMessage":       c.maxMessage,
		"allowPrivate":     c.allowPrivate,
		"allow":            c.allow,
	}
	if broker != nil {
		cfg["embeddedBroker"] = broker.String()
	}
	if wasm != nil {
		cfg["wasmURL"] = "wasm/main.wasm?v=" + wasm.hash
	}
	b, _ := json.Marshal(cfg)
	return b
}

// guarded serves h after the proxy's Host and Origin checks, to at most n
// requests at once (503 beyond).
func guarded(px *proxy.Server, n int, h http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := px.CheckRequest(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy: too many imports or exports at once", http.StatusServiceUnavailable)
		}
	})
}
