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
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/static"
)

func init() { commands["serve"] = runServe }

// softMemoryLimit is the Go runtime's soft memory limit for `lifeline
// serve` unless GOMEMLIMIT says otherwise: the garbage collector works
// harder as the heap nears it, so the process stays within its budget
// (512 MiB) when what is live is (the embedded broker's defaults: 428 MiB).
const softMemoryLimit = 448 << 20

// serveConfig is what `lifeline serve` was asked to do.
type serveConfig struct {
	listen, broker, dns, allow, origins, defaultBroker, nameserver, logLevel string
	allowPrivate                                                             bool
	maxConns, maxConnsPerIP, maxMessage                                      int
	idle, write, dial                                                        time.Duration
	brokerLimits                                                             brokerFlags
}

// brokerFlags are the embedded broker's limits as flags.
type brokerFlags struct {
	maxClients, maxInflight, maxQueued, maxPacket int
	queuedBytes, queueBudget, retainedBytes       int64
	sessionExpiry, messageExpiry                  time.Duration
}

// limits are the embedded broker's limits the flags ask for.
func (f brokerFlags) limits() embedded.BrokerLimits {
	return embedded.BrokerLimits{
		MaxClients:     int64(f.maxClients),
		MaxPacketSize:  uint32(f.maxPacket),
		MaxInflight:    uint16(f.maxInflight),
		MaxQueued:      int32(f.maxQueued),
		MaxQueuedBytes: f.queuedBytes,
		QueueBudget:    f.queueBudget,
		RetainedBytes:  f.retainedBytes,
		SessionExpiry:  uint32(f.sessionExpiry / time.Second),
		MessageExpiry:  int64(f.messageExpiry / time.Second),
	}
}

// serveGroups arranges the flags of `lifeline serve` in its help.
var serveGroups = []flagGroup{
	{"Serving the page", []string{"listen", "origins", "log-level"}},
	{"Embedded broker and DNS zone (the offline defaults)", []string{"embedded-broker", "embedded-dns"}},
	{fmt.Sprintf("Embedded broker limits (the defaults keep its messages within %d MiB; see README, Safe by default)",
		embedded.DefaultBrokerLimits.Budget()>>20), brokerFlagNames},
	{"Brokers the page may reach", []string{"default-broker", "allow", "allow-private", "nameserver"}},
	{"Limits and timeouts", []string{"max-conns", "max-conns-per-ip", "max-message", "idle-timeout", "write-timeout", "dial-timeout"}},
}

var brokerFlagNames = []string{"broker-max-clients", "broker-max-packet", "broker-max-inflight", "broker-max-queued",
	"broker-max-queued-bytes", "broker-queue-budget", "broker-retained-bytes", "broker-session-expiry", "broker-message-expiry"}

// brokerFlagSet declares the embedded broker's limits on fset, with
// embedded.DefaultBrokerLimits as defaults.
func brokerFlagSet(fset *flag.FlagSet, f *brokerFlags) {
	d := embedded.DefaultBrokerLimits
	fset.IntVar(&f.maxClients, "broker-max-clients", int(d.MaxClients), "MQTT sessions the embedded broker holds at once, connected or kept for a client that left (beyond: CONNACK 0x97 Quota exceeded, 3.1.1 0x03)")
	fset.IntVar(&f.maxPacket, "broker-max-packet", int(d.MaxPacketSize), "largest MQTT packet the embedded broker accepts, in `bytes` (beyond: the connection ends, v5 with DISCONNECT 0x95)")
	fset.IntVar(&f.maxInflight, "broker-max-inflight", int(d.MaxInflight), "QoS 1/2 messages unacknowledged per client, each way: the window the broker sends in (less if the client's Receive Maximum is less) and the Receive Maximum it announces")
	fset.IntVar(&f.maxQueued, "broker-max-queued", int(d.MaxQueued), "messages queued per client beyond those in flight; more are dropped and reported (trace broker.drop, /healthz)")
	fset.Int64Var(&f.queuedBytes, "broker-max-queued-bytes", d.MaxQueuedBytes, "`bytes` (topic + payload) queued and in flight per client, connected or not; more are dropped and reported")
	fset.Int64Var(&f.queueBudget, "broker-queue-budget", d.QueueBudget, "`bytes` queued and in flight for all clients together; more are dropped and reported")
	fset.Int64Var(&f.retainedBytes, "broker-retained-bytes", d.RetainedBytes, "`bytes` of retained messages in all; beyond, a v5 QoS 1/2 publisher gets PUBACK/PUBREC 0x97 Quota exceeded, others' messages are delivered but not retained (reported)")
	fset.DurationVar(&f.sessionExpiry, "broker-session-expiry", time.Duration(d.SessionExpiry)*time.Second, "longest a session of a client that left is kept, with its queue (its messages are then reported dropped)")
	fset.DurationVar(&f.messageExpiry, "broker-message-expiry", time.Duration(d.MessageExpiry)*time.Second, "longest a retained or queued message is kept")
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(io.Discard) // errors are returned as one line; -h prints to stdout
	fset.Usage = func() {}
	fset.StringVar(&c.listen, "listen", "127.0.0.1:8080", "`host:port` to serve the page and the proxy on")
	fset.StringVar(&c.origins, "origins", "", "extra page `origins` allowed to use /mqtt and /trace, comma-separated (https://example.com,http://host:8080)")
	fset.StringVar(&c.logLevel, "log-level", "info", "`level` of the log on stderr: debug, info, warn or error (debug logs every trace entry)")
	fset.StringVar(&c.broker, "embedded-broker", "127.0.0.1:1883", "`host:port` of the embedded MQTT broker, or off")
	fset.StringVar(&c.dns, "embedded-dns", "127.0.0.1:0", "UDP `host:port` of the embedded DNS zone "+embedded.Zone+" (port 0 picks one)")
	fset.StringVar(&c.defaultBroker, "default-broker", "", "`host:port` for /mqtt without broker= (default: the embedded broker, as "+embedded.BrokerName+")")
	fset.StringVar(&c.allow, "allow", "*:1883,*:8883", "broker targets the page may reach, comma-separated host:port `patterns` (*.example.com:8883, *:1883, 192.0.2.0/24:*)")
	fset.BoolVar(&c.allowPrivate, "allow-private", false, "permit loopback, private, link-local and other non-public broker addresses")
	fset.StringVar(&c.nameserver, "nameserver", "", "DNS server `host:port` for names outside the demo zone (default: /etc/resolv.conf)")
	fset.IntVar(&c.maxConns, "max-conns", 1024, "WebSocket connections at once (/mqtt and /trace)")
	fset.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", 64, "WebSocket connections at once from one address")
	fset.IntVar(&c.maxMessage, "max-message", 1<<20, "largest WebSocket message / MQTT packet from the page, in `bytes`")
	fset.DurationVar(&c.idle, "idle-timeout", 5*time.Minute, "close a session after the page sent nothing for this long (e.g. 90s, 5m)")
	fset.DurationVar(&c.write, "write-timeout", 30*time.Second, "close a session whose page or broker reads nothing for this long")
	fset.DurationVar(&c.dial, "dial-timeout", 10*time.Second, "limit for DNS, TCP and TLS to the broker together")
	brokerFlagSet(fset, &c.brokerLimits)
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fset, "lifeline serve [flags]\n\n"+
				"Serves the Lifeline page and proxies its MQTT-over-WebSocket connections to\n"+
				"brokers, recording DNS, TCP, TLS and the broker leg. GET /healthz reports the\n"+
				"load as JSON. SIGINT or SIGTERM closes the sessions (1001) and stops.", serveGroups)
			return err
		}
		return fmt.Errorf("serve: %w (lifeline serve -h lists the flags)", err)
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q (flags start with -; lifeline serve -h lists them)", fset.Arg(0))
	}
	if err := envDefaults(fset); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"max-conns", c.maxConns > 0}, {"max-conns-per-ip", c.maxConnsPerIP > 0}, {"max-message", c.maxMessage > 0},
		{"idle-timeout", c.idle > 0}, {"write-timeout", c.write > 0}, {"dial-timeout", c.dial > 0},
		{"broker-max-clients", c.brokerLimits.maxClients > 0},
		{"broker-max-packet", c.brokerLimits.maxPacket > 0 && c.brokerLimits.maxPacket <= 268435455},
		{"broker-max-inflight", c.brokerLimits.maxInflight > 0 && c.brokerLimits.maxInflight <= 65535},
		{"broker-max-queued", c.brokerLimits.maxQueued > 0 && c.brokerLimits.maxQueued <= 1<<31-1},
		{"broker-max-queued-bytes", c.brokerLimits.queuedBytes > 0}, {"broker-queue-budget", c.brokerLimits.queueBudget > 0},
		{"broker-retained-bytes", c.brokerLimits.retainedBytes > 0},
		{"broker-session-expiry", c.brokerLimits.sessionExpiry >= time.Second && c.brokerLimits.sessionExpiry/time.Second <= 1<<32-1},
		{"broker-message-expiry", c.brokerLimits.messageExpiry >= time.Second},
	} {
		if !f.ok {
			return fmt.Errorf("serve: -%s must be greater than 0 (and in range), got %s", f.name, fset.Lookup(f.name).Value)
		}
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		// Garbage counts too: without a limit the Go heap grows to twice
		// what is live before it collects (GOGC 100), and the broker's
		// budgets bound only what is live.
		debug.SetMemoryLimit(softMemoryLimit)
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
	var embeddedBroker *embedded.Broker
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
		b, err := embedded.StartBroker(c.broker, c.brokerLimits.limits(), log)
		if err != nil {
			if errors.Is(err, embedded.ErrAddrInUse) {
				return fmt.Errorf("the embedded broker's address %s is already in use (another MQTT broker, such as mosquitto?); choose another with -embedded-broker 127.0.0.1:1884 (or LIFELINE_EMBEDDED_BROKER), or -embedded-broker off", c.broker)
			}
			return fmt.Errorf("embedded broker: %w", err)
		}
		defer b.Close()
		embeddedBroker = b
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
	var watcher proxy.BrokerWatcher
	if embeddedBroker != nil {
		watcher = embeddedBroker // not a typed nil
	}
	px := proxy.New(proxy.Config{
		Broker:        watcher,
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
	mux.Handle("GET /healthz", healthz(px, embeddedBroker, time.Now()))
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
	for _, line := range startupLines(ln.Addr().(*net.TCPAddr), brokerAddr, dnsServer.Addr(), c.defaultBroker) {
		fmt.Fprintln(stdout, "lifeline: "+line)
	}
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

// startupLines say where to open the page, what runs beside it, and how to
// stop. The first line, "serving URL", is read by scripts and tests: the URL
// alone, one the page accepts as its Host.
func startupLines(addr *net.TCPAddr, broker *net.TCPAddr, dns *net.UDPAddr, defaultBroker string) []string {
	port := strconv.Itoa(addr.Port)
	host := net.JoinHostPort(addr.IP.String(), port)
	var lines []string
	switch {
	case addr.IP.IsUnspecified():
		lines = append(lines, "serving http://localhost:"+port+"/",
			"open that address in a browser here; the server listens on every interface ("+host+"), "+
				"but pages from other machines need their address in -origins (e.g. -origins http://HOST:"+port+")")
	case addr.IP.IsLoopback():
		lines = append(lines, "serving http://"+host+"/",
			"open that address in a browser on this machine (only it can reach "+host+")")
	default:
		lines = append(lines, "serving http://"+host+"/", "open that address in a browser")
	}
	if broker != nil {
		lines = append(lines, "embedded broker mqtt://"+broker.String())
	} else {
		lines = append(lines, "embedded broker: off")
	}
	if defaultBroker != "" {
		lines = append(lines, "the page's default broker is "+defaultBroker)
	} else {
		lines = append(lines, "no default broker: the page must name one (see -default-broker)")
	}
	return append(lines, "embedded DNS zone "+embedded.Zone+" on udp://"+dns.String(),
		"health at /healthz; Ctrl-C or SIGTERM stops, closing sessions with 1001 (going away)")
}

// health is the JSON body of GET /healthz.
type health struct {
	Status         string `json:"status"` // "ok", or "shutting down" (with 503)
	UptimeSeconds  int64  `json:"uptimeSeconds"`
	Sessions       int    `json:"sessions"`   // /mqtt sessions open
	Traces         int    `json:"traces"`     // /trace channels open
	WebSockets     int    `json:"websockets"` // both, counted against maxConns
	MaxConns       int    `json:"maxConns"`
	EmbeddedBroker string `json:"embeddedBroker"`          // "running" or "off"
	BrokerClients  *int64 `json:"brokerClients,omitempty"` // MQTT clients of the embedded broker
	// Broker is the embedded broker's state: sessions, bytes held, and the
	// messages it dropped (or did not retain) by reason.
	Broker *embedded.BrokerStats `json:"broker,omitempty"`
}

// healthz answers GET /healthz with the server's state as JSON: 200 while
// serving, 503 once shutting down.
func healthz(px *proxy.Server, broker *embedded.Broker, started time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := px.Stats()
		h := health{Status: "ok", UptimeSeconds: int64(time.Since(started).Seconds()), Sessions: st.Sessions,
			Traces: st.Traces, WebSockets: st.WebSockets, MaxConns: st.MaxConns, EmbeddedBroker: "off"}
		if broker != nil {
			st := broker.Stats()
			h.EmbeddedBroker, h.BrokerClients, h.Broker = "running", &st.Clients, &st
		}
		code := http.StatusOK
		if st.ShuttingDown {
			h.Status, code = "shutting down", http.StatusServiceUnavailable
		}
		b, _ := json.Marshal(h)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		w.Write(append(b, '\n'))
	})
}
