package capture

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// ExportOptions tunes WritePcapng. The zero value is ready to use.
type ExportOptions struct {
	// Start is the wall-clock time of the session's t=0 (default: the
	// Unix epoch plus nothing, i.e. 1970-01-01, so that output is
	// reproducible; the HTTP handler passes the time of export).
	Start time.Time
	// NoComments leaves out the frame comments that carry each entry's
	// trace fields (smaller files; a re-import then names lanes by
	// address).
	NoComments bool
}

// commentPrefix starts the packet comment that carries an entry's trace
// fields in an exported file, so that importing it again restores the
// lanes, legs and notes that the wire cannot say. Frames made up around
// the entries (a handshake the trace did not record, a WebSocket upgrade)
// carry commentSynth and are left out on import. An entry with nothing of
// its own on the wire (a TLS handshake, the page's WebSocket upgrade and
// close, a socket's state) travels whole in the comment of a bare ACK of
// its connection, after commentEntry, and is read back from there.
const (
	commentPrefix = "lifeline "
	commentSynth  = "lifeline synthesized"
	commentEntry  = "lifeline entry "
)

// The server ports written on the wire: those of Wireshark's MQTT and DNS
// dissectors, so that the file dissects without settings whatever ports
// the session used (the frame comments keep the real ones).
const (
	wireMQTTPort = 1883
	wireDNSPort  = 53
)

// entryMeta is what an exported frame's comment says about its entry: the
// entry without its bytes (the frame carries them), and its time, which
// the frame's says too, rounded to nanoseconds (a pointer: files written
// before it was there lack it).
type entryMeta struct {
	trace.Entry
	T *float64 `json:"t,omitempty"`
}

// WritePcapng writes entries as a pcapng file: DNS messages in UDP, TCP
// flag entries as segments, MQTT packets as TCP payload, each frame
// commented with its entry. A WebSocket leg's MQTT packets are written
// unframed, as on a TCP connection: Wireshark 4.0 hands WebSocket payloads
// to no dissector (the page sees messages, not frames, anyway). Every
// server's port on the wire is the protocol's (MQTT 1883, DNS 53), so that
// Wireshark dissects the file without settings; otherwise addresses and
// ports are the entries' own (Src and Dst) where the trace has them, and a
// connection takes those of any of its entries. Where it has none (the
// page's own entries, traces written before trace.Entry had addresses)
// each party gets a placeholder loopback address (browser 127.0.0.1, proxy
// 127.0.0.2, broker 127.0.0.3, client 127.0.0.4, dns 127.0.0.53, any
// other name 127.0.1.n) and clients an ephemeral port from 40001; nothing
// is read out of names or summaries. A connection whose handshake the
// trace lacks gets one made up before its first bytes. Entries with
// nothing of their own on the wire (tls.handshake, ws.upgrade, ws.close,
// tcp.state, failures without bytes) go whole in the comment of a bare ACK
// of their connection; they are left out when comments are, or when their
// connection has nothing on the wire. It returns the number of entries
// left out.
func WritePcapng(w io.Writer, entries []trace.Entry, opts *ExportOptions) (skipped int, err error) {
	x, err := NewExporter(w, opts)
	if err != nil {
		return 0, err
	}
	for i := range entries {
		x.Learn(&entries[i])
	}
	for i := range entries {
		ok, err := x.Write(&entries[i])
		if err != nil {
			return skipped, err
		}
		if !ok {
			skipped++
		}
	}
	return skipped, x.Flush()
}

// Exporter writes entries to a pcapng stream one at a time.
type Exporter struct {
	w      *pcapgo.NgWriter
	start  time.Time
	plain  bool // no comments
	flows  map[string]*flow
	dnsSrc map[uint16]netip.AddrPort // query id → the querier, for its response
	hosts  map[string]netip.Addr
	known  map[string]*flowAddrs // leg|conn → addresses learned from entries
	dnsAt  netip.AddrPort        // the DNS server, when an entry said
	nextIP int
	nport  uint16
	buf    gopacket.SerializeBuffer
}

// flow is one exported TCP connection.
type flow struct {
	client, server netip.AddrPort
	clientName     string
	seq            [2]uint32 // next sequence number: 0 client, 1 server
	open           bool      // handshake written
	closed         [2]bool
}

// sectionComment heads every exported file.
const sectionComment = "Frames synthesized from a Lifeline trace: the DNS and MQTT bytes are real; the link, IP and TCP framing is made up around them. " +
	"Every server's port is written as its protocol's (MQTT 1883, DNS 53) so that Wireshark dissects without settings, and a WebSocket leg's MQTT packets unframed, as over TCP; " +
	"each frame's comment holds the entry with its real addresses, and entries with nothing on the wire (TLS handshake, WebSocket upgrade and close) ride whole in the comment of a bare ACK."

// NewExporter writes the pcapng header to w and returns an Exporter.
func NewExporter(w io.Writer, opts *ExportOptions) (*Exporter, error) {
	var o ExportOptions
	if opts != nil {
		o = *opts
	}
	if o.Start.IsZero() {
		o.Start = time.Unix(0, 0)
	}
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = layers.LinkTypeEthernet
	intf.Name = "lifeline"
	intf.Description = "synthesized from a Lifeline trace"
	intf.OS = ""
	nw, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "Lifeline", Comment: sectionComment},
	})
	if err != nil {
		return nil, err
	}
	return &Exporter{
		w: nw, start: o.Start, plain: o.NoComments, flows: map[string]*flow{}, dnsSrc: map[uint16]netip.AddrPort{},
		hosts: map[string]netip.Addr{}, known: map[string]*flowAddrs{}, nport: 40000, buf: gopacket.NewSerializeBuffer(),
	}, nil
}

// Flush writes out buffered frames.
func (x *Exporter) Flush() error { return x.w.Flush() }

var partyAddr = map[string]string{
	"browser": "127.0.0.1", "proxy": "127.0.0.2", "broker": "127.0.0.3", "client": "127.0.0.4", "dns": "127.0.0.53",
}

// host returns the address of a party named in an entry.
func (x *Exporter) host(name string) netip.Addr {
	if a, ok := x.hosts[name]; ok {
		return a
	}
	var a netip.Addr
	if s, ok := partyAddr[name]; ok {
		a = netip.MustParseAddr(s)
	} else {
		x.nextIP++
		a = netip.AddrFrom4([4]byte{127, 0, 1, byte(x.nextIP)})
	}
	x.hosts[name] = a
	return a
}

// endpoint returns a placeholder address for a party the trace gives no
// address for: its loopback address (see WritePcapng) with port 1883 for
// a server, a new ephemeral port for a client.
func (x *Exporter) endpoint(name string, server bool) netip.AddrPort {
	if server {
		return netip.AddrPortFrom(x.host(name), wireMQTTPort)
	}
	x.nport++
	return netip.AddrPortFrom(x.host(name), x.nport)
}

func isServerName(leg, name string) bool {
	switch name {
	case "broker", "dns":
		return true
	case "proxy":
		return leg == trace.LegBrowserProxy
	}
	return false
}

// flowAddrs is what Learn found out about a connection.
type flowAddrs struct {
	client, server netip.AddrPort
	wire           bool // an entry of it goes on the wire
	syn            bool // the trace has its SYN
}

// onWire reports whether e's own bytes or flags go on the wire.
func onWire(e *trace.Entry) bool {
	switch e.Kind {
	case trace.KindDNSQuery, trace.KindDNSResponse:
		return len(e.Bytes) >= 2
	case trace.KindTCPSyn, trace.KindTCPSynAck, trace.KindTCPAck, trace.KindTCPFin, trace.KindTCPRst:
		return true
	}
	return strings.HasPrefix(e.Kind, "mqtt.") && len(e.Bytes) > 0
}

// addrs returns an entry's Src and Dst; either is invalid when the entry
// has none.
func addrs(e *trace.Entry) (src, dst netip.AddrPort) {
	src, _ = netip.ParseAddrPort(e.Src)
	dst, _ = netip.ParseAddrPort(e.Dst)
	return src, dst
}

// fromClient reports whether e was sent by the side that opened its
// connection. Party names and the kinds only an opener sends decide first;
// then the addresses the flow is known to have (k may be nil); then, for a
// connection the trace shows neither opening nor naming (a capture that
// starts in the middle), the side with the lower port is taken as the
// server (1883, 8883 and 80 lie below the ephemeral ports); without
// addresses, the sender.
func fromClient(e *trace.Entry, k *flowAddrs) bool {
	switch {
	case isServerName(e.Leg, e.From):
		return false
	case e.Kind == trace.KindTCPSyn || e.Kind == trace.KindWSUpgrade || e.Kind == "mqtt.CONNECT" || isServerName(e.Leg, e.To):
		return true
	}
	src, dst := addrs(e)
	switch {
	case !src.IsValid():
		return true
	case k != nil && k.server.IsValid():
		return src != k.server
	case k != nil && k.client.IsValid():
		return src == k.client
	case dst.IsValid():
		return src.Port() > dst.Port()
	}
	return true
}

// Learn takes the addresses an entry states in Src and Dst, so that every
// frame of its connection uses them, including frames made up before the
// entry (a handshake the trace lacks). WritePcapng calls it for every entry
// before writing any; a caller of Write should do the same. Entries without
// addresses (the page's own, traces written before trace.Entry had them)
// get placeholder addresses, as WritePcapng says.
func (x *Exporter) Learn(e *trace.Entry) {
	src, dst := addrs(e)
	switch e.Kind {
	case trace.KindDNSQuery:
		if dst.IsValid() {
			x.dnsAt = dst
		}
		return
	case trace.KindDNSResponse:
		if src.IsValid() {
			x.dnsAt = src
		}
		return
	}
	key := e.Leg + "|" + e.Conn
	k := x.known[key]
	if k == nil {
		k = &flowAddrs{}
		x.known[key] = k
	}
	k.wire = k.wire || onWire(e)
	k.syn = k.syn || e.Kind == trace.KindTCPSyn
	if !src.IsValid() && !dst.IsValid() {
		return
	}
	client, server := src, dst
	if !fromClient(e, k) {
		client, server = dst, src
	}
	if client.IsValid() {
		k.client = client
	}
	if server.IsValid() {
		k.server = server
	}
}

// flowOf finds or starts the TCP connection of an entry.
func (x *Exporter) flowOf(e *trace.Entry) *flow {
	key := e.Leg + "|" + e.Conn
	if f, ok := x.flows[key]; ok && !(e.Kind == trace.KindTCPSyn && f.open) {
		return f
	}
	k := x.known[key]
	client, server := e.From, e.To
	if !fromClient(e, k) {
		client, server = server, client
	}
	f := &flow{clientName: client, seq: [2]uint32{1000, 5000}}
	if k != nil {
		f.client, f.server = k.client, k.server
	}
	if !f.client.IsValid() {
		f.client = x.endpoint(client, false)
		if f.server.IsValid() && f.server.Addr().IsLoopback() && f.client.Addr().IsLoopback() {
			// Keep the made-up client next to the real server.
			f.client = netip.AddrPortFrom(f.server.Addr(), f.client.Port())
		}
	}
	if !f.server.IsValid() {
		f.server = x.endpoint(server, true)
	}
	if f.client.Addr().Is4() != f.server.Addr().Is4() {
		f.client = netip.AddrPortFrom(x.host(client), f.client.Port())
		f.server = netip.AddrPortFrom(x.host(server), f.server.Port())
	}
	f.server = netip.AddrPortFrom(f.server.Addr(), wireMQTTPort)
	x.flows[key] = f
	return f
}

// Write adds one entry. ok is false when the entry has nothing to put on
// the wire and was left out.
func (x *Exporter) Write(e *trace.Entry) (ok bool, err error) {
	at := x.start.Add(time.Duration(e.T * float64(time.Millisecond)))
	var note string
	if !x.plain {
		note = comment(e)
	}
	switch {
	case !onWire(e):
		return x.alone(e, at)
	case e.Kind == trace.KindDNSQuery || e.Kind == trace.KindDNSResponse:
		return true, x.dns(e, at, note)
	}
	f := x.flowOf(e)
	dir := 0
	if e.From != f.clientName {
		dir = 1
	}
	const (
		fin = 1 << iota
		syn
		rst
		psh
		ack
	)
	switch e.Kind {
	case trace.KindTCPSyn:
		f.open = false
		f.seq = [2]uint32{1000, 5000}
		err = x.segment(f, dir, syn, nil, at, note)
		f.seq[dir]++
		return true, err
	case trace.KindTCPSynAck:
		err = x.segment(f, dir, syn|ack, nil, at, note)
		f.seq[dir]++
		return true, err
	case trace.KindTCPAck:
		f.open = true
		return true, x.segment(f, dir, ack, nil, at, note)
	case trace.KindTCPFin:
		if err := x.handshake(f, at); err != nil {
			return false, err
		}
		err = x.segment(f, dir, fin|ack, nil, at, note)
		f.seq[dir]++
		f.closed[dir] = true
		return true, err
	case trace.KindTCPRst:
		if err := x.handshake(f, at); err != nil {
			return false, err
		}
		return true, x.segment(f, dir, rst|ack, nil, at, note)
	}
	if err := x.handshake(f, at); err != nil {
		return false, err
	}
	return true, x.push(f, dir, e.Bytes, at, note)
}

// alone writes an entry with nothing of its own on the wire whole in the
// comment of a bare ACK of its connection (made up first if the trace has
// no handshake for it); ok is false when it is left out: without
// comments, or on a connection with nothing on the wire.
func (x *Exporter) alone(e *trace.Entry, at time.Time) (ok bool, err error) {
	key := e.Leg + "|" + e.Conn
	k := x.known[key]
	f := x.flows[key]
	if x.plain || k == nil || !k.wire || (f == nil && e.From == e.To) {
		return false, nil
	}
	if f == nil {
		f = x.flowOf(e)
	}
	if !k.syn {
		if err := x.handshake(f, at); err != nil {
			return false, err
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return false, fmt.Errorf("capture: export: %w", err)
	}
	dir := 0
	if e.From != f.clientName {
		dir = 1
	}
	return true, x.segment(f, dir, 16, nil, at, commentEntry+string(b))
}

// handshake writes a made-up three-way handshake for a flow whose entries
// did not include one.
func (x *Exporter) handshake(f *flow, at time.Time) error {
	if f.open {
		return nil
	}
	f.open = true
	for _, s := range []struct {
		dir   int
		flags int
	}{{0, 2}, {1, 2 | 16}, {0, 16}} {
		if err := x.segment(f, s.dir, s.flags, nil, at, commentSynth); err != nil {
			return err
		}
		if s.flags&2 != 0 {
			f.seq[s.dir]++
		}
	}
	return nil
}

// maxSegment is the most payload one synthesized segment carries.
const maxSegment = 65000

// push writes data as one or more PSH/ACK segments; the comment goes on
// the last, where an importer completes the message.
func (x *Exporter) push(f *flow, dir int, data []byte, at time.Time, note string) error {
	for len(data) > 0 {
		n := min(len(data), maxSegment)
		c := ""
		if n == len(data) {
			c = note
		}
		if err := x.segment(f, dir, 8|16, data[:n], at, c); err != nil {
			return err
		}
		f.seq[dir] += uint32(n)
		data = data[n:]
	}
	return nil
}

// segment writes one TCP segment of f in direction dir.
func (x *Exporter) segment(f *flow, dir, flags int, payload []byte, at time.Time, note string) error {
	src, dst := f.client, f.server
	if dir == 1 {
		src, dst = dst, src
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: f.seq[dir], Window: 65535,
		FIN: flags&1 != 0, SYN: flags&2 != 0, RST: flags&4 != 0, PSH: flags&8 != 0, ACK: flags&16 != 0,
	}
	if tcp.ACK {
		tcp.Ack = f.seq[1-dir]
	}
	return x.ip(src.Addr(), dst.Addr(), layers.IPProtocolTCP, tcp, payload, at, note)
}

// dns writes a DNS message as a UDP datagram, between the entry's
// addresses or placeholders: the DNS server another entry named, else the
// "dns" party's; a response goes back to its query's sender.
func (x *Exporter) dns(e *trace.Entry, at time.Time, note string) error {
	id := binary.BigEndian.Uint16(e.Bytes)
	src, dst := addrs(e)
	if e.Kind == trace.KindDNSQuery {
		if !src.IsValid() {
			src = x.endpoint(e.From, false)
		}
		if !dst.IsValid() {
			dst = x.dnsServer(e.To)
		}
		x.dnsSrc[id] = src
	} else {
		if !src.IsValid() {
			src = x.dnsServer(e.From)
		}
		if q, ok := x.dnsSrc[id]; ok && !dst.IsValid() {
			dst = q
		} else if !dst.IsValid() {
			dst = x.endpoint(e.To, false)
		}
	}
	if src.Addr().Is4() != dst.Addr().Is4() {
		src = netip.AddrPortFrom(x.host("dns-client"), src.Port())
		dst = netip.AddrPortFrom(x.host("dns"), dst.Port())
	}
	if e.Kind == trace.KindDNSQuery {
		dst = netip.AddrPortFrom(dst.Addr(), wireDNSPort)
	} else {
		src = netip.AddrPortFrom(src.Addr(), wireDNSPort)
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	return x.ip(src.Addr(), dst.Addr(), layers.IPProtocolUDP, udp, e.Bytes, at, note)
}

func (x *Exporter) dnsServer(name string) netip.AddrPort {
	if x.dnsAt.IsValid() {
		return x.dnsAt
	}
	return netip.AddrPortFrom(x.host(name), wireDNSPort)
}

type checksummer interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}

// ip wraps a transport layer and payload in IP and Ethernet and writes
// the frame.
func (x *Exporter) ip(src, dst netip.Addr, proto layers.IPProtocol, l4 checksummer, payload []byte, at time.Time, note string) error {
	eth := &layers.Ethernet{
		SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4,
	}
	var net3 gopacket.SerializableLayer
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Flags: layers.IPv4DontFragment}
		_ = l4.SetNetworkLayerForChecksum(ip)
		net3 = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		_ = l4.SetNetworkLayerForChecksum(ip)
		net3 = ip
	}
	if err := gopacket.SerializeLayers(x.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, net3, l4, gopacket.Payload(payload)); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	b := x.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(b), Length: len(b)}
	var po pcapgo.NgPacketOptions
	if note != "" && !x.plain {
		po.Comments = []string{note}
	}
	return x.w.WritePacketWithOptions(ci, b, po)
}

// comment is the packet comment that carries e's trace fields.
func comment(e *trace.Entry) string {
	m := entryMeta{Entry: *e, T: &e.T}
	m.Bytes = nil
	b, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return commentPrefix + string(b)
}

// parseComment reads a frame comment written by the Exporter.
func parseComment(c string) (entryMeta, bool) {
	var m entryMeta
	rest, ok := strings.CutPrefix(c, commentPrefix)
	if !ok || !strings.HasPrefix(rest, "{") {
		return m, false
	}
	return m, json.Unmarshal([]byte(rest), &m) == nil
}
