package capture

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
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
// carry commentSynth and are left out on import.
const (
	commentPrefix = "lifeline "
	commentSynth  = "lifeline synthesized"
)

// entryMeta is what an exported frame's comment says about its entry.
type entryMeta struct {
	Seq      int    `json:"seq"`
	Leg      string `json:"leg"`
	From     string `json:"from"`
	To       string `json:"to"`
	Kind     string `json:"kind"`
	Summary  string `json:"summary,omitempty"`
	Observed string `json:"observed,omitempty"`
	Note     string `json:"note,omitempty"`
	Conn     string `json:"conn,omitempty"`
	Version  int    `json:"version,omitempty"`
	Error    string `json:"error,omitempty"`
}

// WritePcapng writes entries as a pcapng file: DNS messages in UDP, TCP
// flag entries as segments, MQTT packets as TCP payload (in WebSocket
// binary frames on the browser's legs), each frame commented with its
// entry. Addresses and ports are the real ones where From/To (or Conn) are
// host:port; otherwise each party gets a loopback address (browser
// 127.0.0.1, proxy 127.0.0.2, broker 127.0.0.3:1883, client 127.0.0.4,
// dns 127.0.0.53:53). A connection whose handshake the trace lacks gets one
// made up before its first bytes. Entries with nothing to put on the wire
// (tls.handshake, failures without bytes) are left out. It returns the
// number of entries left out.
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
	ws             bool // carries WebSocket frames
	wsOpen         bool
	mask           uint32
}

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
		SectionInfo: pcapgo.NgSectionInfo{Application: "Lifeline", Comment: "Frames synthesized from a Lifeline trace: the DNS, WebSocket and MQTT bytes are real, the link, IP and TCP framing is made up around them."},
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

var serverParties = map[string]uint16{"broker": 1883, "proxy": 8080, "dns": 53}

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

// endpoint returns the host:port of a party: the name itself when it is
// one, a made-up address otherwise (port from the server table, or a new
// ephemeral port for clients).
func (x *Exporter) endpoint(name string, server bool) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(name); err == nil {
		return ap
	}
	if server {
		port, ok := serverParties[name]
		if !ok {
			port = 1883
		}
		return netip.AddrPortFrom(x.host(name), port)
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

type flowAddrs struct{ client, server netip.AddrPort }

// Learn takes the real addresses a live trace states in its summaries and
// notes ("SYN to 192.0.2.7:1883", "ACK 10.0.0.2:53422 → 192.0.2.7:1883",
// a DNS query "to 127.0.0.53:53 over udp"), to use them instead of made-up
// ones. WritePcapng calls it for every entry before writing any; a caller
// of Write should do the same.
func (x *Exporter) Learn(e *trace.Entry) {
	key := e.Leg + "|" + e.Conn
	k := x.known[key]
	if k == nil {
		k = &flowAddrs{}
	}
	word := func(s, prefix string) netip.AddrPort {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			return netip.AddrPort{}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return netip.AddrPort{}
		}
		ap, _ := netip.ParseAddrPort(f[0])
		return ap
	}
	switch e.Kind {
	case trace.KindTCPSyn:
		if ap := word(e.Summary, "SYN to "); ap.IsValid() {
			k.server = ap
		}
	case trace.KindTCPSynAck:
		if ap := word(e.Summary, "SYN-ACK from "); ap.IsValid() {
			k.server = ap
		}
	case trace.KindTCPAck:
		if l, r, ok := strings.Cut(strings.TrimPrefix(e.Summary, "ACK "), " → "); ok {
			la, err1 := netip.ParseAddrPort(strings.TrimSpace(l))
			ra, err2 := netip.ParseAddrPort(strings.TrimSpace(r))
			if err1 == nil && err2 == nil {
				k.client, k.server = la, ra
			}
		}
	case trace.KindDNSQuery:
		if ap := word(e.Note, "to "); ap.IsValid() {
			x.dnsAt = ap
		}
	case trace.KindDNSResponse:
		if ap := word(e.Note, "from "); ap.IsValid() {
			x.dnsAt = ap
		}
	}
	if k.client.IsValid() || k.server.IsValid() {
		x.known[key] = k
	}
}

// flowOf finds or starts the TCP connection of an entry.
func (x *Exporter) flowOf(e *trace.Entry) *flow {
	key := e.Leg + "|" + e.Conn
	if f, ok := x.flows[key]; ok && !(e.Kind == trace.KindTCPSyn && f.open) {
		return f
	}
	client, server := e.From, e.To
	if isServerName(e.Leg, e.From) || (e.Kind != trace.KindTCPSyn && e.Kind != trace.KindWSUpgrade &&
		e.Kind != "mqtt.CONNECT" && !isServerName(e.Leg, e.To) && strings.HasSuffix(e.From, ":1883")) {
		client, server = server, client
	}
	f := &flow{clientName: client, seq: [2]uint32{1000, 5000}}
	if a, b, ok := strings.Cut(e.Conn, "->"); ok {
		ca, err1 := netip.ParseAddrPort(a)
		sa, err2 := netip.ParseAddrPort(b)
		if err1 == nil && err2 == nil {
			f.client, f.server = ca, sa
		}
	}
	if k := x.known[key]; k != nil && !f.client.IsValid() {
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
	f.ws = e.Leg == trace.LegBrowserProxy || e.Leg == trace.LegBrowserBroker
	f.mask = 0x5a17c3e1 + uint32(len(x.flows))
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
	case e.Kind == trace.KindDNSQuery || e.Kind == trace.KindDNSResponse:
		if len(e.Bytes) < 2 {
			return false, nil
		}
		return true, x.dns(e, at, note)
	case e.Kind == trace.KindTLS:
		return false, nil
	case strings.HasPrefix(e.Kind, "tcp."), strings.HasPrefix(e.Kind, "ws."), strings.HasPrefix(e.Kind, "mqtt."):
	default:
		return false, nil
	}
	if strings.HasPrefix(e.Kind, "mqtt.") && len(e.Bytes) == 0 {
		return false, nil
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
	var data []byte
	switch {
	case e.Kind == trace.KindWSUpgrade:
		data = e.Bytes
		if len(data) == 0 {
			data = wsRequest(f)
		}
		f.wsOpen = true
	case e.Kind == trace.KindWSAccept:
		data = e.Bytes
		if len(data) == 0 {
			data = wsResponse()
		}
	case e.Kind == trace.KindWSClose:
		payload, ok := closePayload(e)
		if !f.ws || !ok {
			return false, nil
		}
		data = wsFrame(nil, 0x8, payload, dir == 0, f.mask)
	case f.ws:
		if !f.wsOpen {
			if err := x.push(f, 0, wsRequest(f), at, commentSynth); err != nil {
				return false, err
			}
			if err := x.push(f, 1, wsResponse(), at, commentSynth); err != nil {
				return false, err
			}
			f.wsOpen = true
		}
		data = wsFrame(nil, 0x2, e.Bytes, dir == 0, f.mask)
		f.mask = f.mask*1664525 + 1013904223
	default:
		data = e.Bytes
	}
	return true, x.push(f, dir, data, at, note)
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

// dns writes a DNS message as a UDP datagram.
func (x *Exporter) dns(e *trace.Entry, at time.Time, note string) error {
	id := binary.BigEndian.Uint16(e.Bytes)
	var src, dst netip.AddrPort
	if e.Kind == trace.KindDNSQuery {
		src, dst = x.dnsEndpoint(e.From, false), x.dnsEndpoint(e.To, true)
		x.dnsSrc[id] = src
	} else {
		src = x.dnsEndpoint(e.From, true)
		if q, ok := x.dnsSrc[id]; ok {
			dst = q
		} else {
			dst = x.dnsEndpoint(e.To, false)
		}
	}
	if src.Addr().Is4() != dst.Addr().Is4() {
		src = netip.AddrPortFrom(x.host("dns-client"), src.Port())
		dst = netip.AddrPortFrom(x.host("dns"), dst.Port())
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	return x.ip(src.Addr(), dst.Addr(), layers.IPProtocolUDP, udp, e.Bytes, at, note)
}

func (x *Exporter) dnsEndpoint(name string, server bool) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(name); err == nil {
		return ap
	}
	if server && x.dnsAt.IsValid() {
		return x.dnsAt
	}
	if server {
		return netip.AddrPortFrom(x.host(name), 53)
	}
	x.nport++
	return netip.AddrPortFrom(x.host(name), x.nport)
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
	b, err := json.Marshal(entryMeta{
		Seq: e.Seq, Leg: e.Leg, From: e.From, To: e.To, Kind: e.Kind, Summary: e.Summary,
		Observed: e.Observed, Note: e.Note, Conn: e.Conn, Version: e.Version, Error: e.Error,
	})
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

const wsKey = "bGlmZWxpbmUtZXhwb3J0IQ==" // base64("lifeline-export!")

func wsRequest(f *flow) []byte {
	return []byte("GET /mqtt HTTP/1.1\r\nHost: " + f.server.String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
}

func wsResponse() []byte {
	h := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
}

// wsFrame appends one final WebSocket frame; a client's is masked.
func wsFrame(dst []byte, op byte, payload []byte, masked bool, key uint32) []byte {
	dst = append(dst, 0x80|op)
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n < 1<<16:
		dst = append(dst, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !masked {
		return append(dst, payload...)
	}
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], key)
	dst = append(dst, k[:]...)
	for i, c := range payload {
		dst = append(dst, c^k[i&3])
	}
	return dst
}

// closePayload is the payload of the close frame of a ws.close entry: its
// bytes, or the code and reason of a summary "Close 1000 reason". ok is
// false for a close that put no frame on the wire (1006: the connection
// dropped).
func closePayload(e *trace.Entry) (payload []byte, ok bool) {
	if len(e.Bytes) > 0 {
		return e.Bytes, true
	}
	rest, found := strings.CutPrefix(e.Summary, "Close ")
	if !found {
		return nil, false
	}
	codeText, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || code == 1006 || code < 1000 || code > 4999 {
		return nil, false
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...), true
}
