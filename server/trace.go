package main

import (
	"context"

	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/client/netclient"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/expert"
	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/textdiagram"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

func init() { commands["trace"] = runTrace }

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// traceOptions are the parsed flags of `lifeline trace`.
type traceOptions struct {
	version  int
	id       string
	user     string
	pass     string
	keep     int
	subs     listFlag
	pubs     listFlag
	wait     time.Duration
	json     bool
	insecure bool
	aliases  bool // -topic-alias: Topic Aliases when the broker allows
	timeout  time.Duration
	from     string // a capture file to draw instead of a live run
	broker   string
	useTLS   bool
	ns       string // the nameserver (host:port), empty for /etc/resolv.conf
	mask     bool   // golden tests: times masked

	// MQTT over WebSocket (ws://, wss://, or -proxy)
	ws          *wsclient.Target // nil for mqtt:// and mqtts://
	proxy       string           // a lifeline serve to go through
	cacert      string
	origin      string
	subprotocol string
	maxFrame    int64
}

// runTrace: lifeline trace [flags] mqtt://HOST:PORT — runs a lifecycle and
// prints it as a text sequence diagram, or the trace entries as JSON lines.
func runTrace(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o traceOptions
	return runTraceWith(ctx, args, stdout, stderr, &o)
}

func runTraceWith(ctx context.Context, args []string, stdout, stderr io.Writer, op *traceOptions) error {
	o := *op
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.version, "v", int(codec.DefaultVersion), "MQTT version: 4 (3.1.1) or 5")
	fs.StringVar(&o.id, "id", "", "client identifier (generated when empty)")
	fs.StringVar(&o.user, "u", "", "user name")
	fs.StringVar(&o.pass, "P", "", "password")
	fs.IntVar(&o.keep, "k", 60, "keepalive in seconds")
	fs.Var(&o.subs, "sub", "subscribe to FILTER[:QOS] (repeatable)")
	fs.Var(&o.pubs, "pub", "publish TOPIC=PAYLOAD[:QOS] (repeatable)")
	fs.DurationVar(&o.wait, "wait", time.Second, "how long to stay connected before disconnecting")
	fs.BoolVar(&o.json, "json", false, "print trace entries as JSON, one a line")
	fs.BoolVar(&o.insecure, "insecure", false, "mqtts, wss: do not verify the server's certificate (the output says so)")
	fs.StringVar(&o.cacert, "cacert", "", "mqtts, wss: trust the CA certificates in this PEM `FILE` instead of the system's")
	fs.StringVar(&o.proxy, "proxy", "", "go through a lifeline serve's WebSocket proxy at this `URL` (ws://HOST:PORT) to the mqtt:// broker")
	fs.StringVar(&o.origin, "origin", "", "ws, wss: send this Origin header (as a page on that origin would)")
	fs.StringVar(&o.subprotocol, "subprotocol", "mqtt", "ws, wss: the WebSocket subprotocols to offer, comma-separated (\"\" offers none)")
	fs.Int64Var(&o.maxFrame, "max-frame", wsclient.DefaultReadLimit, "ws, wss: the largest frame accepted from the server, in bytes")
	fs.BoolVar(&o.aliases, "topic-alias", false, "MQTT 5: send PUBLISHes with Topic Aliases when the broker allows them")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on connecting and on each acknowledgement")
	fs.StringVar(&o.ns, "nameserver", "", "DNS server (`host:port`) that resolves the broker's name (default: /etc/resolv.conf)")
	fs.StringVar(&o.from, "from", "", "draw the lifecycle recorded in a .pcap or .pcapng `FILE` instead of connecting")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lifeline trace [flags] mqtt://HOST[:PORT] | mqtts://HOST[:PORT] | ws://HOST[:PORT]/PATH | wss://HOST[:PORT]/PATH")
		fmt.Fprintln(stderr, "       lifeline trace [flags] -proxy ws://SERVE-HOST:PORT mqtt://HOST[:PORT]")
		fmt.Fprintln(stderr, "       lifeline trace [-json] -from FILE.pcap|FILE.pcapng")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefaults(fs); err != nil {
		return err
	}
	if o.from != "" {
		if fs.NArg() != 0 {
			return errors.New("trace: -from FILE takes no broker URL")
		}
		return traceFromCapture(o, stdout, stderr)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("trace: one broker URL expected")
	}
	var err error
	if o.ws, err = webSocketTarget(fs.Arg(0), o.proxy); err != nil {
		return err
	}
	if o.ws == nil {
		if o.broker, o.useTLS, err = parseBrokerURL(fs.Arg(0)); err != nil {
			return err
		}
	}
	if o.version != 4 && o.version != 5 {
		return fmt.Errorf("trace: -v must be 4 or 5, not %d", o.version)
	}
	return traceRun(ctx, o, stdout, stderr)
}

// parseBrokerURL reads mqtt://host[:port] (1883) or mqtts://host[:port] (8883).
func parseBrokerURL(s string) (hostport string, useTLS bool, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("trace: broker URL %q: want mqtt://HOST:PORT or mqtts://HOST:PORT", s)
	}
	port := "1883"
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl", "tls":
		useTLS, port = true, "8883"
	default:
		return "", false, fmt.Errorf("trace: broker URL %q: scheme must be mqtt or mqtts", s)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(u.Hostname(), port), useTLS, nil
}

// parseSub reads FILTER[:QOS].
func parseSub(s string) (codec.Subscription, error) {
	f, q := s, 0
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		n, err := strconv.Atoi(s[i+1:])
		if err == nil && n >= 0 && n <= 2 {
			f, q = s[:i], n
		}
	}
	if f == "" {
		return codec.Subscription{}, fmt.Errorf("trace: -sub %q: empty filter", s)
	}
	return codec.Subscription{Filter: f, QoS: codec.QoS(q)}, nil
}

// parsePub reads TOPIC=PAYLOAD[:QOS].
func parsePub(s string) (client.Message, error) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return client.Message{}, fmt.Errorf("trace: -pub %q: want TOPIC=PAYLOAD[:QOS]", s)
	}
	m := client.Message{Topic: s[:eq]}
	payload := s[eq+1:]
	if i := strings.LastIndexByte(payload, ':'); i >= 0 {
		if n, err := strconv.Atoi(payload[i+1:]); err == nil && n >= 0 && n <= 2 {
			payload, m.QoS = payload[:i], codec.QoS(n)
		}
	}
	m.Payload = []byte(payload)
	return m, nil
}

// recorder collects trace entries from netrec and from the client's events.
type recorder struct {
	mu      sync.Mutex
	start   time.Time
	entries []trace.Entry
	version int
	wire    bool // packets are recorded from the wire (WebSocket), not from events
	evs     []client.Event
	notify  chan struct{}
}

func (r *recorder) add(e trace.Entry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
}

func (r *recorder) event(ev client.Event) {
	t := float64(ev.Time.Sub(r.start)) / float64(time.Millisecond)
	e := trace.Entry{T: t, Leg: trace.LegClientBroker, Observed: trace.ObservedWire, Version: r.version}
	switch ev.Type {
	case client.EventSend, client.EventReceive:
		if r.wire {
			break
		}
		e.From, e.To = "client", "broker"
		if ev.Type == client.EventReceive {
			e.From, e.To = "broker", "client"
		}
		e.Bytes = ev.Bytes
		if ev.Packet != nil {
			e.Kind = trace.KindMQTT(ev.Packet.Type().String())
			e.Summary = codec.Summary(ev.Packet)
		} else {
			e.Kind = trace.KindMQTT(codec.PacketType(ev.Bytes[0] >> 4).String())
			e.Summary = "invalid packet"
		}
		r.add(e)
	case client.EventError:
		// A note on the client's lane in the text diagram (not a wire entry).
		e.From, e.To, e.Kind, e.Observed, e.Leg = "client", "client", "error", "", ""
		e.Error = ev.Err.Error()
		r.add(e)
	}
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// await waits for an event matching f after index *from.
func (r *recorder) await(ctx context.Context, from *int, timeout time.Duration, f func(client.Event) bool) (client.Event, error) {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		r.mu.Lock()
		for ; *from < len(r.evs); *from++ {
			if ev := r.evs[*from]; f(ev) {
				*from++
				r.mu.Unlock()
				return ev, nil
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-tm.C:
			return client.Event{}, errors.New("timed out")
		case <-ctx.Done():
			return client.Event{}, ctx.Err()
		}
	}
}

func traceRun(ctx context.Context, o traceOptions, stdout, stderr io.Writer) error {
	var subs []codec.Subscription
	for _, s := range o.subs {
		sub, err := parseSub(s)
		if err != nil {
			return err
		}
		subs = append(subs, sub)
	}
	var pubs []client.Message
	for _, s := range o.pubs {
		m, err := parsePub(s)
		if err != nil {
			return err
		}
		pubs = append(pubs, m)
	}
	// Over WebSocket the tap records the packets in their frames.
	rec := &recorder{start: time.Now(), version: o.version, notify: make(chan struct{}, 1), wire: o.ws != nil}
	d := &netrec.Dialer{Start: rec.start, Emit: rec.add, Party: "client", Leg: trace.LegClientBroker,
		DNSLeg: trace.LegClientDNS, Nameserver: o.ns, Timeout: o.timeout}
	tcfg, err := traceTLSConfig(o, stderr)
	if err != nil {
		return err
	}
	if o.useTLS || o.ws != nil && o.ws.TLS() {
		d.TLSConfig = tcfg
	}
	var pt *proxyTrace
	if o.proxy != "" {
		var err error
		if pt, err = openProxyTrace(ctx, *o.ws, rec.start, o.origin); err != nil {
			fmt.Fprintf(stderr, "lifeline trace: the proxy's /trace channel did not open (%v): its legs to DNS and the broker are not drawn\n", err)
		} else {
			t := o.ws.WithPath(o.ws.Path + "&trace=" + pt.token)
			o.ws = &t
		}
	}
	server := "broker"
	if o.proxy != "" {
		// The WebSocket's peer is lifeline serve: netrec's "broker" lane is its.
		server = "proxy"
		d.Emit = func(e trace.Entry) {
			for _, p := range []*string{&e.From, &e.To} {
				if *p == "broker" {
					*p = server
				}
			}
			rec.add(e)
		}
	}
	var (
		dialMu  sync.Mutex
		dialErr error
		wsConn  *wsclient.Conn
	)
	dial := func(ctx context.Context) (net.Conn, error) {
		if o.ws != nil {
			c, _, err := wsclient.Dial(ctx, *o.ws, wsOptions(o, d, server))
			dialMu.Lock()
			dialErr, wsConn = err, c
			dialMu.Unlock()
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		c, res, err := d.Dial(ctx, o.broker, o.useTLS)
		if err != nil {
			err = wsclient.ExplainDial(err, o.broker)
			dialMu.Lock()
			dialErr = err
			dialMu.Unlock()
			return nil, err
		}
		if res.TLS != nil {
			host, _, _ := net.SplitHostPort(o.broker)
			rec.add(wsclient.CertEntry(d, "broker", res.TLS, host))
		}
		return closeInTurn{c, closeWait}, nil
	}
	cfg := client.Config{Version: codec.Version(o.version), ClientID: o.id, Username: o.user, KeepAlive: uint16(o.keep),
		CleanStart: true, ConnectTimeout: o.timeout, Seed: uint64(time.Now().UnixNano()), TopicAliases: o.aliases}
	if o.pass != "" {
		cfg.Password = []byte(o.pass)
	}
	nc := netclient.New(cfg, dial, netclient.Options{OnEvent: rec.event})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); nc.Run(runCtx) }()
	err = traceSteps(ctx, nc, rec, o, subs, pubs)
	cancel()
	<-done
	dialMu.Lock()
	if wsConn != nil && wsConn.Fault() != nil {
		err = explained(wsConn.Fault())
	} else if err != nil && dialErr != nil {
		err = explained(dialErr)
	}
	dialMu.Unlock()

	rec.mu.Lock()
	entries := rec.entries
	rec.mu.Unlock()
	parties := []string{"client", "dns", server}
	if pt != nil {
		entries = append(entries, pt.stop(100*time.Millisecond, entries)...)
		parties = append(parties, "broker")
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].T < entries[j].T })
	if werr := printTrace(entries, o, parties, stdout, stderr); werr != nil {
		return werr
	}
	return err
}

// traceFromCapture draws the connections recorded in a capture file; the
// capture's problems (with their frame numbers) go to stderr.
func traceFromCapture(o traceOptions, stdout, stderr io.Writer) error {
	f, err := os.Open(o.from)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	res, err := capture.ReadTrace(f)
	if err != nil {
		return fmt.Errorf("trace: %s: %w", o.from, err)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(stderr, "lifeline trace: %s: frame %d: %s\n", o.from, p.Frame, p.Reason)
	}
	return printTrace(res.Entries, o, nil, stdout, stderr)
}

// printTrace writes entries as JSON lines or as a text sequence diagram with
// the given lanes (nil: the lanes the entries name).
func printTrace(entries []trace.Entry, o traceOptions, parties []string, stdout, stderr io.Writer) error {
	if o.json {
		enc := json.NewEncoder(stdout)
		seq := 0
		shown := make([]trace.Entry, 0, len(entries))
		for _, e := range entries {
			if e.Kind == "error" { // error notes go to stderr (the proxy's one-lane entries are shown)
				fmt.Fprintln(stderr, "lifeline trace:", e.Error)
				continue
			}
			seq++
			e.Seq = seq
			shown = append(shown, e)
			if o.mask {
				e.T = 0
			}
			if werr := enc.Encode(e); werr != nil {
				return werr
			}
		}
		return writeFindingsJSON(enc, expert.Analyze(shown, expert.Options{}))
	}
	for i := range entries {
		entries[i].Seq = i + 1
	}
	if werr := textdiagram.Render(stdout, entries, textdiagram.Options{Parties: parties, MaskTimes: o.mask, Notes: o.ws != nil}); werr != nil {
		return werr
	}
	return writeFindings(stdout, expert.Analyze(entries, expert.Options{}), "#")
}

// findingJSON is the line `-json` writes for each finding, after the
// entries or packets: {"finding":{…}}.
type findingJSON struct {
	Finding expert.Finding `json:"finding"`
}

func writeFindingsJSON(enc *json.Encoder, fs []expert.Finding) error {
	for _, f := range fs {
		if err := enc.Encode(findingJSON{f}); err != nil {
			return err
		}
	}
	return nil
}

// writeFindings writes the expert analysis as a "Findings" section: the
// counts by severity, then one line per finding, its packets numbered with
// mark ("#" for trace entries, "frame " for capture frames).
func writeFindings(w io.Writer, fs []expert.Finding, mark string) error {
	n := expert.Counts(fs)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nFindings: %d errors, %d warnings, %d notes, %d chats\n",
		n[expert.Error], n[expert.Warning], n[expert.Note], n[expert.Chat])
	for _, f := range fs {
		pk := make([]string, len(f.Seq))
		for i, q := range f.Seq {
			pk[i] = mark + strconv.Itoa(q)
		}
		fmt.Fprintf(&sb, "  %-7s %s", f.Severity, strings.Join(pk, ","))
		if f.Conn != "" {
			fmt.Fprintf(&sb, " (%s)", f.Conn)
		}
		sb.WriteString("  " + f.Text)
		if f.Clause != "" {
			sb.WriteString(" [" + f.Clause + "]")
		}
		sb.WriteByte('\n')
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// traceSteps drives the lifecycle: connect, subscribe, publish, wait,
// disconnect.
func traceSteps(ctx context.Context, nc *netclient.Client, rec *recorder, o traceOptions, subs []codec.Subscription, pubs []client.Message) error {
	at := 0
	if err := nc.Connect(); err != nil {
		return err
	}
	ev, err := rec.await(ctx, &at, o.timeout+time.Second, func(ev client.Event) bool {
		return ev.Type == client.EventState && (ev.State == client.StateConnected || ev.State == client.StateDisconnected)
	})
	if err != nil {
		return fmt.Errorf("trace: connecting: %w", err)
	}
	if ev.State != client.StateConnected {
		return errors.New("trace: not connected (see the diagram)")
	}
	for _, s := range subs {
		id, err := nc.Subscribe([]codec.Subscription{s}, codec.Properties{})
		if err != nil {
			return fmt.Errorf("trace: subscribe %s: %w", s.Filter, err)
		}
		if _, err := rec.await(ctx, &at, o.timeout, func(ev client.Event) bool {
			return ev.Type == client.EventSubscribed && ev.ID == id || ev.Type == client.EventState
		}); err != nil {
			return fmt.Errorf("trace: SUBACK for %s: %w", s.Filter, err)
		}
	}
	for _, m := range pubs {
		id, err := nc.Publish(m)
		if err != nil {
			return fmt.Errorf("trace: publish %s: %w", m.Topic, err)
		}
		if m.QoS == 0 {
			continue
		}
		if _, err := rec.await(ctx, &at, o.timeout, func(ev client.Event) bool {
			return ev.Type == client.EventPublished && ev.ID == id || ev.Type == client.EventState
		}); err != nil {
			return fmt.Errorf("trace: acknowledgement of %s: %w", m.Topic, err)
		}
	}
	select {
	case <-time.After(o.wait):
	case <-ctx.Done():
	}
	if nc.State() == client.StateConnected {
		// The connection's Close (closeInTurn) waits for the broker's FIN,
		// so the close is drawn from both sides.
		nc.Disconnect(0, codec.Properties{})
	}
	return nil
}

// closeWait bounds how long closing waits for the broker's FIN; a broker
// closes at once after DISCONNECT [MQTT-3.14.4-1].
const closeWait = time.Second

// closeInTurn is the trace's broker connection: its Close sends this side's
// FIN, waits (up to wait) for the broker's, which the client's reader reads
// and records, then closes. So the trace shows both FINs, in the order they
// happened, instead of closing before the broker's could be read.
type closeInTurn struct {
	*netrec.Conn
	wait time.Duration
}

func (c closeInTurn) Close() error {
	if !c.PeerClosed() && c.CloseWrite() == nil {
		t := time.NewTimer(c.wait)
		select {
		case <-c.PeerDone():
		case <-t.C:
		}
		t.Stop()
	}
	return c.Conn.Close()
}
