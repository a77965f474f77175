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

// serveConfig is what `lifeline serve` was asked to do.
type serveConfig struct {
	listen, broker, dns, allow, origins, defaultBroker, nameserver, logLevel string
	allowPrivate                                                             bool
	maxConns, maxConnsPerIP, maxMessage                                      int
	labBytes                                                                 int
	idle, write, dial, partial                                               time.Duration
	// Capture import and export.
	maxImport, maxExport                       int64
	maxEntries, maxCaptureConns, maxInterfaces int
	uploadTimeout                              time.Duration
	brokerLimits                               brokerFlags
	ops                                        opsConfig
}

// softMemoryLimit is the Go runtime's soft memory limit for `lifeline
// serve` unless GOMEMLIMIT says otherwise: the garbage collector works
// harder as the heap nears it, so the process stays within its budget
// (512 MiB) when what is live is (the embedded broker's defaults: 428 MiB).
const softMemoryLimit = 448 << 20

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
	{"Limits and timeouts", []string{"max-conns", "max-conns-per-ip", "max-message", "lab-bytes", "idle-timeout", "write-timeout", "dial-timeout", "partial-timeout"}},
	{"Capture import and export (POST /api/import, /api/export/pcapng)", []string{"max-import", "max-export", "max-entries", "max-capture-conns", "max-interfaces", "upload-timeout"}},
	opsGroup,
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

// runServe runs `lifeline serve`: flags, the embedded broker and zone, the
// proxy, the page's handlers, then serving until ctx ends.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServeFlags(args, stdout)
	if err != nil {
		return err
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
	log := newLogger(c.ops.logFormat, stderr, level)
	allow, err := proxy.ParseAllow(c.allow)
	if err != nil {
		return fmt.Errorf("-allow: %w", err)
	}

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (choose another address with -listen or LIFELINE_LISTEN)", c.listen, err)
	}
	defer ln.Close()
	if ln, err = c.ops.listenTLS(ln); err != nil {
		return err
	}
	emb, err := startEmbedded(&c, log)
	if err != nil {
		return err
	}
	defer emb.close()
	px, err := newProxy(c, allow, emb, ln.Addr().(*net.TCPAddr), log)
	if err != nil {
		return err
	}
	handler, err := serveHandler(c, px, emb)
	if err != nil {
		return err
	}
	ops, err := newOps(px)
	if err != nil {
		return err
	}
	handler = ops.handler(c.ops, px, handler)

	for _, line := range startupLines(ln.Addr().(*net.TCPAddr), emb.brokerAddr, emb.dns.Addr(), c.defaultBroker) {
		fmt.Fprintln(stdout, "lifeline: "+c.ops.urlLine(line))
	}
	log.Info("serving", "addr", ln.Addr().String(), "default_broker", c.defaultBroker, "allow", c.allow,
		"allow_private", c.allowPrivate)
	return serveUntil(ctx, ln, handler, px, log, func() { ops.drain(c.ops.drainDelay, log) })
}

// serveFlags defines the flags of `lifeline serve` into c.
func serveFlags(c *serveConfig) *flag.FlagSet {
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
	fset.IntVar(&c.labBytes, "lab-bytes", 0, "bytes the lab bench may hold or delay for one session, both ways together; at the bound it stops reading that side (default 8 × -max-message)")
	fset.DurationVar(&c.idle, "idle-timeout", 5*time.Minute, "close a session after the page sent nothing for this long (e.g. 90s, 5m)")
	fset.DurationVar(&c.write, "write-timeout", 30*time.Second, "close a session whose page or broker reads nothing for this long")
	fset.DurationVar(&c.dial, "dial-timeout", 10*time.Second, "limit for DNS, TCP and TLS to the broker together")
	fset.DurationVar(&c.partial, "partial-timeout", 30*time.Second, "close a session whose broker sent part of a packet and then nothing for this long")
	fset.Int64Var(&c.maxImport, "max-import", capture.DefaultMaxImport, "largest pcap/pcapng upload, in `bytes` (413 beyond)")
	fset.Int64Var(&c.maxExport, "max-export", capture.DefaultMaxExport, "largest JSON body of an export, in `bytes` (413 beyond)")
	fset.IntVar(&c.maxEntries, "max-entries", capture.DefaultMaxEntries, "most trace entries an import yields or an export carries (413 beyond)")
	fset.IntVar(&c.maxCaptureConns, "max-capture-conns", capture.DefaultMaxConns, "TCP connections an import follows at once (more are skipped, said as a problem) and an export writes (413 beyond)")
	fset.IntVar(&c.maxInterfaces, "max-interfaces", capture.DefaultMaxInterfaces, "pcapng interface blocks an upload may have (413 beyond)")
	fset.DurationVar(&c.uploadTimeout, "upload-timeout", capture.DefaultBodyTimeout, "an import's or export's body must arrive within this (408 beyond); only then does it take one of the 2 workers")
	brokerFlagSet(fset, &c.brokerLimits)
	opsFlags(fset, &c.ops)
	return fset
}

// parseServeFlags reads the command line, then the environment for the
// flags it did not set, and checks the limits; -h prints the help and
// returns flag.ErrHelp.
func parseServeFlags(args []string, stdout io.Writer) (serveConfig, error) {
	var c serveConfig
	fset := serveFlags(&c)
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fset, "lifeline serve [flags]\n\n"+
				"Serves the Lifeline page and proxies its MQTT-over-WebSocket connections to\n"+
				"brokers, recording DNS, TCP, TLS and the broker leg. GET /healthz reports the\n"+
				"load as JSON, /metrics in Prometheus' format, /readyz whether it takes new\n"+
				"pages. SIGINT or SIGTERM closes the sessions (1001) and stops.", serveGroups)
			return c, err
		}
		return c, fmt.Errorf("serve: %w (lifeline serve -h lists the flags)", err)
	}
	if fset.NArg() > 0 {
		return c, fmt.Errorf("serve: unexpected argument %q (flags start with -; lifeline serve -h lists them)", fset.Arg(0))
	}
	if err := envDefaults(fset); err != nil {
		return c, fmt.Errorf("serve: %w", err)
	}
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"max-conns", c.maxConns > 0}, {"max-conns-per-ip", c.maxConnsPerIP > 0}, {"max-message", c.maxMessage > 0},
		{"idle-timeout", c.idle > 0}, {"write-timeout", c.write > 0}, {"dial-timeout", c.dial > 0},
		{"partial-timeout", c.partial > 0},
		{"max-import", c.maxImport > 0}, {"max-export", c.maxExport > 0}, {"max-entries", c.maxEntries > 0},
		{"max-capture-conns", c.maxCaptureConns > 0}, {"max-interfaces", c.maxInterfaces > 0}, {"upload-timeout", c.uploadTimeout > 0},
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
			return c, fmt.Errorf("serve: -%s must be greater than 0 (and in range), got %s", f.name, fset.Lookup(f.name).Value)
		}
	}
	if c.labBytes < 0 {
		return c, fmt.Errorf("serve: -lab-bytes must be 0 (for 8 × -max-message) or more, got %d", c.labBytes)
	}
	if err := c.ops.check(); err != nil {
		return c, fmt.Errorf("serve: %w", err)
	}
	return c, nil
}

// embeddedParts are the embedded DNS zone and, unless it is off, the
// embedded broker, with the address the proxy may always reach.
type embeddedParts struct {
	dns        *embedded.DNS
	broker     *embedded.Broker // nil when off
	brokerAddr *net.TCPAddr     // nil when off
	exempt     []netip.AddrPort
}

func (e *embeddedParts) close() {
	if e.broker != nil {
		e.broker.Close()
	}
	e.dns.Close()
}

// startEmbedded starts the embedded DNS zone and broker, names the broker
// in the zone, and makes it the default broker unless c names one.
func startEmbedded(c *serveConfig, log *slog.Logger) (*embeddedParts, error) {
	dnsServer, err := embedded.StartDNS(c.dns, embedded.Zone, log)
	if err != nil {
		if errors.Is(err, embedded.ErrAddrInUse) {
			return nil, fmt.Errorf("the embedded DNS address %s is already in use; choose another with -embedded-dns 127.0.0.1:0 (or LIFELINE_EMBEDDED_DNS)", c.dns)
		}
		return nil, fmt.Errorf("embedded DNS: %w", err)
	}
	e := &embeddedParts{dns: dnsServer}
	if c.broker == "off" {
		return e, nil
	}
	b, err := embedded.StartBroker(c.broker, c.brokerLimits.limits(), log)
	if err != nil {
		dnsServer.Close()
		if errors.Is(err, embedded.ErrAddrInUse) {
			return nil, fmt.Errorf("the embedded broker's address %s is already in use (another MQTT broker, such as mosquitto?); choose another with -embedded-broker 127.0.0.1:1884 (or LIFELINE_EMBEDDED_BROKER), or -embedded-broker off", c.broker)
		}
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	e.broker, e.brokerAddr = b, b.Addr()
	ap := e.brokerAddr.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	e.exempt = append(e.exempt, ap)
	if ap.Addr().IsUnspecified() {
		dnsServer.Set(embedded.BrokerName, netip.MustParseAddr("127.0.0.1"))
	} else {
		dnsServer.Set(embedded.BrokerName, ap.Addr())
	}
	if c.defaultBroker == "" {
		c.defaultBroker = net.JoinHostPort(embedded.BrokerName, strconv.Itoa(int(ap.Port())))
	}
	return e, nil
}

// newProxy configures the proxy of /mqtt and /trace for the listen address
// addr.
func newProxy(c serveConfig, allow []proxy.Pattern, emb *embeddedParts, addr *net.TCPAddr, log *slog.Logger) (*proxy.Server, error) {
	hosts, origins, err := allowedHosts(addr, c.ops.scheme(), c.origins)
	if err != nil {
		return nil, err
	}
	var watcher proxy.BrokerWatcher
	if emb.broker != nil {
		watcher = emb.broker // not a typed nil
	}
	return proxy.New(proxy.Config{
		Broker:         watcher,
		Policy:         proxy.Policy{Allow: allow, AllowPrivate: c.allowPrivate, Exempt: emb.exempt, Zone: embedded.Zone},
		DefaultBroker:  c.defaultBroker,
		Hosts:          hosts,
		Origins:        origins,
		MaxConns:       c.maxConns,
		MaxConnsPerIP:  c.maxConnsPerIP,
		MaxMessage:     c.maxMessage,
		LabBytes:       c.labBytes,
		DialTimeout:    c.dial,
		IdleTimeout:    c.idle,
		WriteTimeout:   c.write,
		PartialTimeout: c.partial,
		Zone:           embedded.Zone,
		ZoneServer:     emb.dns.Addr().String(),
		Nameserver:     c.nameserver,
		Log:            log,
	}), nil
}

// serveHandler routes the page, the WebSockets, /healthz and the API, all
// behind the Host check.
func serveHandler(c serveConfig, px *proxy.Server, emb *embeddedParts) (http.Handler, error) {
	wasm, err := newWasmHandler(static.FS, "wasm/main.wasm")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static.FS))
	if wasm != nil {
		mux.Handle("GET /wasm/main.wasm", wasm)
	}
	mux.HandleFunc("GET /mqtt", px.ServeMQTT)
	mux.HandleFunc("GET /trace", px.ServeTrace)
	mux.Handle("GET /healthz", healthz(px, emb.broker, time.Now()))
	cfgJSON := apiConfig(c, emb.brokerAddr, emb.dns.Addr(), wasm)
	mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, r *http.Request) {
		if err := px.CheckRequest(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cfgJSON)
	})

	// Capture import and export: same Host/Origin checks as the WebSockets;
	// bodies must arrive within -upload-timeout, and only then take one of
	// two workers; the bodies held at once are bounded by twice the larger
	// of -max-import and -max-export.
	captures := guarded(px, capture.Handler(capture.HandlerOptions{
		MaxImport: c.maxImport, MaxExport: c.maxExport, MaxEntries: c.maxEntries, MaxConns: c.maxCaptureConns,
		MaxInterfaces: c.maxInterfaces, BodyTimeout: c.uploadTimeout,
	}))
	mux.Handle("POST /api/import", captures)
	mux.Handle("POST /api/export/pcapng", captures)
	return hostChecked(px, mux), nil
}

// serveUntil serves on ln until ctx ends, then drains (still serving), closes
// the sessions (1001) and stops.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler, px *proxy.Server, log *slog.Logger, drain func()) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	drain()
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
func allowedHosts(addr *net.TCPAddr, scheme, extra string) (hosts, origins []string, err error) {
	port := strconv.Itoa(addr.Port)
	hosts = []string{net.JoinHostPort(addr.IP.String(), port)}
	if addr.IP.IsLoopback() || addr.IP.IsUnspecified() {
		hosts = append(hosts, "localhost:"+port, "127.0.0.1:"+port, "[::1]:"+port)
	}
	for _, h := range hosts {
		origins = append(origins, scheme+"://"+h)
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

// hostChecked serves h only to requests whose Host is one the server
// answers to (the proxy's Host check, which stops DNS rebinding): the page,
// /healthz and the API as well as the WebSockets.
func hostChecked(px *proxy.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := px.CheckHost(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// guarded serves h after the proxy's Host and Origin checks (h bounds its
// own concurrency, once a body has arrived).
func guarded(px *proxy.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := px.CheckRequest(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
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
