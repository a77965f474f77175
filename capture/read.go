package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// LegClientDNS is the leg of a device's own DNS lookups seen in a capture
// (a live session's lookups are the proxy's, on trace.LegProxyDNS).
const LegClientDNS = trace.LegClientDNS

// Problem is something in the capture that could not be read as it should:
// a malformed or truncated frame, bytes missing from a TCP stream, a
// malformed MQTT packet. The rest of the file is still read.
type Problem struct {
	Frame  int    `json:"frame"` // 1-based frame number; 0 for the file as a whole
	Conn   string `json:"conn,omitempty"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	s := "frame " + fmt.Sprint(p.Frame)
	if p.Conn != "" {
		s += " (" + p.Conn + ")"
	}
	return s + ": " + p.Reason
}

// Conn describes one TCP connection that carried MQTT.
type Conn struct {
	ID        string `json:"id"`     // "c1", "c2", … in order of appearance
	Client    string `json:"client"` // host:port of the side that opened it
	Server    string `json:"server"` // host:port of the broker
	ClientID  string `json:"clientId,omitempty"`
	DNSName   string `json:"dnsName,omitempty"` // the name whose answer led to Server's address
	Version   int    `json:"version,omitempty"`
	WebSocket bool   `json:"websocket,omitempty"`
	Frame     int    `json:"frame"` // first frame of the connection
}

// Item is one entry as it is found, with the frame that completed it.
type Item struct {
	Entry trace.Entry
	Frame int       // 1-based number of the frame that completed the entry
	Time  time.Time // that frame's capture time
}

// Options tunes Scan. The zero value is ready to use.
type Options struct {
	// MaxBuffer bounds the bytes held per direction of a connection while
	// waiting for a missing segment or for the rest of a packet
	// (default 64 MiB). A larger packet is reported and skipped.
	MaxBuffer int
	// MaxHeld bounds the bytes of out-of-order TCP segments held across
	// all connections at once, each segment's bookkeeping counted
	// (default 256 MiB). Over it, gaps are given up on and said as
	// problems.
	MaxHeld int
	// Ports lists TCP ports besides 1883 that carry MQTT from the first
	// byte (for captures that start mid-connection). Other ports are
	// recognised by content.
	Ports []uint16
	// DNSPorts lists UDP ports besides 53 that carry DNS (a test's or an
	// embedded DNS server's).
	DNSPorts []uint16
	// MaxConns bounds the TCP connections followed at once (default
	// 10,000; an ended one is remembered two minutes of capture time).
	// Segments of new connections over it are skipped, and said.
	MaxConns int
	// MaxInterfaces bounds a pcapng file's interface description blocks
	// (default 1024); past it Scan stops with a *LimitError.
	MaxInterfaces int
	// MaxProblems bounds the problems listed (default 1000); the rest are
	// counted in one last problem.
	MaxProblems int
}

// LimitError is a capture refused because it goes past one of Options'
// or HandlerOptions' bounds.
type LimitError struct {
	What  string // "pcapng interface blocks", "trace entries", …
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("capture: more than %d %s, the limit", e.Limit, e.What)
}

const (
	defaultMaxBuffer     = 64 << 20
	defaultMaxHeld       = 256 << 20
	defaultMaxConns      = 10_000
	defaultMaxInterfaces = 1024
	defaultMaxProblems   = 1000
)

// Result is a whole capture read into trace entries.
type Result struct {
	Entries  []trace.Entry `json:"entries"`
	Problems []Problem     `json:"problems"`
	Conns    []Conn        `json:"conns"`
}

// ReadTrace reads a pcap or pcapng file into trace entries in frame order,
// numbered from 1, or as a Lifeline export's comments number them. An
// error means the file could not be read at all; a
// damaged part of it is reported in Result.Problems instead.
func ReadTrace(r io.Reader) (*Result, error) {
	var entries []trace.Entry
	var frames []int
	sorted := true
	sum, err := Scan(r, Options{}, func(it Item) error {
		if n := len(frames); n > 0 && frames[n-1] > it.Frame {
			sorted = false
		}
		entries = append(entries, it.Entry)
		frames = append(frames, it.Frame)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sorted {
		// Entries held until their connection was recognised came out
		// late: put them back in frame order.
		sort.Stable(byFrame{entries, frames})
	}
	var n numbering
	for i := range entries {
		n.give(&entries[i])
	}
	res := &Result{Entries: entries, Problems: sum.Problems, Conns: sum.Conns}
	if res.Entries == nil {
		res.Entries = []trace.Entry{}
	}
	if res.Problems == nil {
		res.Problems = []Problem{}
	}
	if res.Conns == nil {
		res.Conns = []Conn{}
	}
	return res, nil
}

type byFrame struct {
	e []trace.Entry
	f []int
}

func (b byFrame) Len() int           { return len(b.f) }
func (b byFrame) Less(i, j int) bool { return b.f[i] < b.f[j] }
func (b byFrame) Swap(i, j int) {
	b.e[i], b.e[j] = b.e[j], b.e[i]
	b.f[i], b.f[j] = b.f[j], b.f[i]
}

// Summary is what Scan learned beyond the entries.
type Summary struct {
	Frames   int
	Problems []Problem
	Conns    []Conn
}

// Scan reads a pcap or pcapng capture from r and calls fn for each entry as
// soon as it is complete: mostly in frame order, but the TCP handshake of a
// connection on a port other than 1883 is held until its first bytes show
// MQTT, and dropped if they do not. If fn returns an error, Scan stops and
// returns it.
func Scan(r io.Reader, opts Options, fn func(Item) error) (*Summary, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("capture: not a pcap or pcapng file: %w", err)
	}
	s := newScanner(opts, fn)
	var src packetSource
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		ng, err := pcapgo.NewNgReader(&ngBlocks{r: br, max: s.opts.MaxInterfaces}, pcapgo.NgReaderOptions{})
		if err != nil {
			if le := (*LimitError)(nil); errors.As(err, &le) {
				return nil, le
			}
			return nil, fmt.Errorf("capture: pcapng: %w", err)
		}
		src = ngSource{ng}
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture: pcap: %w", err)
		}
		src = pcapSource{pr}
	default:
		return nil, fmt.Errorf("capture: not a pcap or pcapng file (magic % x)", magic)
	}
	if err := s.run(src); err != nil {
		return nil, err
	}
	return &Summary{Frames: s.frame, Problems: s.problems, Conns: s.connList()}, nil
}

// packetSource is the part of pcapgo's two readers Scan uses.
type packetSource interface {
	next() ([]byte, gopacket.CaptureInfo, []string, error)
	linkType(ci gopacket.CaptureInfo) layers.LinkType
}

type pcapSource struct{ *pcapgo.Reader }

func (p pcapSource) linkType(gopacket.CaptureInfo) layers.LinkType { return p.LinkType() }

func (p pcapSource) next() ([]byte, gopacket.CaptureInfo, []string, error) {
	b, ci, err := p.ZeroCopyReadPacketData()
	return b, ci, nil, err
}

func (p ngSource) next() ([]byte, gopacket.CaptureInfo, []string, error) {
	b, ci, o, err := p.ZeroCopyReadPacketDataWithOptions()
	return b, ci, o.Comments, err
}

type ngSource struct{ *pcapgo.NgReader }

func (p ngSource) linkType(ci gopacket.CaptureInfo) layers.LinkType {
	intf, err := p.Interface(ci.InterfaceIndex)
	if err != nil {
		return p.LinkType()
	}
	return intf.LinkType
}

func (s *scanner) isDNSPort(p uint16) bool {
	return p == 53 || slices.Contains(s.opts.DNSPorts, p)
}

func isPcap(src packetSource) bool {
	_, ok := src.(pcapSource)
	return ok
}

// scanner holds the state of one Scan.
type scanner struct {
	opts     Options
	emitFn   func(Item) error
	err      error // from emitFn
	frame    int
	now      time.Time
	start    time.Time
	problems []Problem

	// Link and network decoding, reused for every frame.
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	conns   map[connKey]*conn
	ended   []endedConn // closed connections, oldest first
	listed  []Conn      // connections that carried MQTT, in order of id
	nextID  int
	dnsName map[netip.Addr]dnsAnswer
	held    int // bytes of out-of-order segments held, as direction.pendBytes counts them

	connsSkipped int // segments of connections over Options.MaxConns
	unlisted     int // problems over Options.MaxProblems

	// The current frame's comments, when written by Exporter.
	metas []entryMeta
	used  []bool
	synth bool
	alone []string // whole entries (commentEntry), JSON
}

// readComments takes in the trace fields an exported file's frame carries.
func (s *scanner) readComments(comments []string) {
	s.metas, s.used, s.synth, s.alone = s.metas[:0], s.used[:0], false, s.alone[:0]
	for _, c := range comments {
		if c == commentSynth {
			s.synth = true
		} else if j, ok := strings.CutPrefix(c, commentEntry); ok {
			s.alone = append(s.alone, j)
		} else if m, ok := parseComment(c); ok {
			s.metas = append(s.metas, m)
			s.used = append(s.used, false)
		}
	}
}

// numbering gives each entry read its seq: the one its frame's comment
// restored (a Lifeline export's, so that the trace comes back as it was),
// unless that is taken, else the next after the largest given. A capture
// without comments is numbered 1, 2, 3, … with no memory per entry.
type numbering struct {
	max   int          // the largest seq given
	plain int          // 1…plain were given before any seq was kept
	used  map[int]bool // the seqs given since the first kept
}

func (n *numbering) give(e *trace.Entry) {
	keep := e.Seq > n.plain && !n.used[e.Seq]
	if !keep {
		e.Seq = n.max + 1
	}
	n.max = max(n.max, e.Seq)
	switch {
	case n.used == nil && !keep:
		n.plain = e.Seq
	case n.used == nil:
		n.used = map[int]bool{e.Seq: true}
	default:
		n.used[e.Seq] = true
	}
}

// emitAlone emits the entries the frame's comments carry whole (see
// commentEntry), at the frame's time.
func (s *scanner) emitAlone() {
	for _, j := range s.alone {
		var e trace.Entry
		if err := json.Unmarshal([]byte(j), &e); err != nil {
			s.problem(nil, "unreadable Lifeline entry in the frame's comment: %v", err)
			continue
		}
		if e.Kind == "" || e.Observed == "" {
			s.problem(nil, "a Lifeline entry in the frame's comment without its kind or how it was observed")
			continue
		}
		if s.err != nil {
			return
		}
		s.err = s.emitFn(Item{Entry: e, Frame: s.frame, Time: s.now})
	}
}

// commentSays reports whether one of the frame's comments is an entry of
// the kind that starts with prefix.
func (s *scanner) commentSays(prefix string) bool {
	for _, m := range s.metas {
		if strings.HasPrefix(m.Kind, prefix) {
			return true
		}
	}
	return false
}

// annotate restores e's trace fields from the frame's comment. drop is
// true for an entry from a frame the exporter made up.
func (s *scanner) annotate(e *trace.Entry) (restored, drop bool) {
	if s.synth {
		return false, true
	}
	for i, m := range s.metas {
		if s.used[i] || m.Kind != e.Kind {
			continue
		}
		s.used[i] = true
		// A comment may be damaged or edited: never let it blank what
		// the wire says.
		keep := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		keep(&e.Leg, m.Leg)
		keep(&e.From, m.From)
		keep(&e.To, m.To)
		keep(&e.Summary, m.Summary)
		keep(&e.Observed, m.Observed)
		// The trace's own connection name, even none (the reader's
		// numbering is for captures).
		e.Conn, e.Note, e.Error, e.Seq = m.Conn, m.Note, m.Error, m.Seq
		// The frame's addresses are placeholders where the entry had
		// none: the comment says which it had.
		e.Src, e.Dst = m.Src, m.Dst
		if m.Version != 0 {
			e.Version = m.Version
		}
		if m.T != nil {
			e.T = *m.T // exact, and from the session's start, not the first frame
		}
		return true, false
	}
	return false, false
}

type dnsAnswer struct {
	name  string
	frame int
}

func newScanner(opts Options, fn func(Item) error) *scanner {
	if opts.MaxBuffer <= 0 {
		opts.MaxBuffer = defaultMaxBuffer
	}
	if opts.MaxHeld <= 0 {
		opts.MaxHeld = defaultMaxHeld
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = defaultMaxConns
	}
	if opts.MaxInterfaces <= 0 {
		opts.MaxInterfaces = defaultMaxInterfaces
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = defaultMaxProblems
	}
	s := &scanner{
		opts:    opts,
		emitFn:  fn,
		parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{},
		conns:   map[connKey]*conn{},
		dnsName: map[netip.Addr]dnsAnswer{},
	}
	dls := []gopacket.DecodingLayer{&s.eth, &s.sll, &s.sll2, &s.loop, &s.dot1q, &s.ip4, &s.ip6, &s.tcp, &s.udp}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first, dls...)
		p.IgnoreUnsupported = true
		s.parsers[first] = p
	}
	return s
}

func (s *scanner) problem(c *conn, format string, args ...any) {
	if len(s.problems) >= s.opts.MaxProblems {
		s.unlisted++
		return
	}
	p := Problem{Frame: s.frame, Reason: fmt.Sprintf(format, args...)}
	if c != nil {
		p.Conn = c.id
	}
	s.problems = append(s.problems, p)
}

func (s *scanner) emit(frame int, at time.Time, e trace.Entry) {
	if s.err != nil {
		return
	}
	e.T = float64(at.Sub(s.start).Nanoseconds()) / 1e6
	if _, drop := s.annotate(&e); drop {
		return
	}
	s.err = s.emitFn(Item{Entry: e, Frame: frame, Time: at})
}

func (s *scanner) run(src packetSource) error {
	for s.err == nil {
		data, ci, comments, err := src.next()
		if err == io.EOF {
			break
		}
		if le := (*LimitError)(nil); errors.As(err, &le) {
			return le
		}
		if err != nil {
			// pcapgo reads a pcap frame's header and data separately, a
			// pcapng block whole (it may hold statistics, not a frame).
			s.frame++
			switch {
			case errors.Is(err, io.ErrUnexpectedEOF) && isPcap(src):
				s.problem(nil, "the file is cut short inside frame %d: %v", s.frame, err)
			case errors.Is(err, io.ErrUnexpectedEOF):
				s.problem(nil, "the file is cut short after frame %d, inside its next block: %v", s.frame-1, err)
			default:
				s.problem(nil, "cannot read past frame %d: %v", s.frame-1, err)
			}
			s.frame--
			break
		}
		s.frame++
		s.now = ci.Timestamp
		if s.frame == 1 {
			s.start = ci.Timestamp
		}
		s.readComments(comments)
		if len(s.alone) > 0 {
			// The exporter's bare ACK for entries with nothing on the
			// wire: the entries are in the comment, the segment says
			// nothing (it could pass for an ACK of a FIN).
			s.emitAlone()
		} else {
			s.packet(src.linkType(ci), data, ci)
		}
		if s.frame&4095 == 0 {
			s.forget()
		}
	}
	s.finish()
	return s.err
}

// firstLayer maps a link type to the layer its frames start with.
func firstLayer(lt layers.LinkType, data []byte) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, true
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, true
	case layers.LinkTypeRaw, 12, 14:
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, true
		}
		return layers.LayerTypeIPv4, true
	}
	return 0, false
}

func (s *scanner) packet(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) {
	first, ok := firstLayer(lt, data)
	if !ok {
		s.problem(nil, "link type %v is not supported", lt)
		return
	}
	p := s.parsers[first]
	err := p.DecodeLayers(data, &s.decoded)
	truncated := ci.CaptureLength < ci.Length
	var src, dst netip.Addr
	var haveIP, isTCP, isUDP bool
	for _, t := range s.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if s.ip4.Flags&layers.IPv4MoreFragments != 0 || s.ip4.FragOffset != 0 {
				s.problem(nil, "IPv4 fragment (not reassembled): skipped")
				return
			}
			src, _ = netip.AddrFromSlice(s.ip4.SrcIP)
			dst, _ = netip.AddrFromSlice(s.ip4.DstIP)
			haveIP = true
		case layers.LayerTypeIPv6:
			src, _ = netip.AddrFromSlice(s.ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(s.ip6.DstIP)
			haveIP = true
		case layers.LayerTypeTCP:
			isTCP = true
		case layers.LayerTypeUDP:
			isUDP = true
		}
	}
	if err != nil {
		if !haveIP || (!isTCP && !isUDP) || !truncated {
			if truncated {
				s.problem(nil, "frame truncated to %d of %d bytes: %v", ci.CaptureLength, ci.Length, err)
			} else {
				s.problem(nil, "malformed frame: %v", err)
			}
			return
		}
	}
	switch {
	case isTCP:
		s.tcpSegment(netip.AddrPortFrom(src, uint16(s.tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(s.tcp.DstPort)), ci)
	case isUDP:
		if truncated {
			s.problem(nil, "frame truncated to %d of %d bytes: UDP datagram skipped", ci.CaptureLength, ci.Length)
			return
		}
		if s.isDNSPort(uint16(s.udp.SrcPort)) || s.isDNSPort(uint16(s.udp.DstPort)) || s.commentSays("dns.") {
			s.dnsMessage(netip.AddrPortFrom(src, uint16(s.udp.SrcPort)), netip.AddrPortFrom(dst, uint16(s.udp.DstPort)), s.udp.Payload)
		}
	}
}

// isHTTPUpgradeStart reports whether b could be the start of an HTTP GET.
func isHTTPGet(b []byte) (yes, more bool) {
	const get = "GET "
	if len(b) < len(get) {
		return false, bytes.HasPrefix([]byte(get), b)
	}
	return string(b[:4]) == get, false
}

// ngBlocks passes a pcapng stream through, counting its interface
// description blocks: pcapgo keeps every one in memory (a 20-byte block
// costs it hundreds of bytes), so past max the read fails with a
// *LimitError.
type ngBlocks struct {
	r     io.Reader
	max   int
	count int
	err   error
	// Position in the block structure.
	hdr   [12]byte // the block being started: type, length, byte-order magic
	have  int      // bytes of hdr read
	skip  uint64   // bytes of the current block's body left to pass
	order binary.ByteOrder
}

func (b *ngBlocks) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	for q := p[:n]; len(q) > 0 && b.err == nil; {
		if b.skip > 0 {
			k := uint64(len(q))
			if k > b.skip {
				k = b.skip
			}
			b.skip -= k
			q = q[k:]
			continue
		}
		k := copy(b.hdr[b.have:], q)
		b.have += k
		q = q[k:]
		b.block()
	}
	if b.err != nil {
		return n, b.err // the bytes before the refusal are still the stream's
	}
	return n, err
}

// block reads a block's header once enough of it is in hdr.
func (b *ngBlocks) block() {
	typ := b.hdr[:4]
	if string(typ) == "\x0a\x0d\x0d\x0a" { // section header: its own byte order
		if b.have < 12 {
			return
		}
		switch binary.LittleEndian.Uint32(b.hdr[8:]) {
		case 0x1a2b3c4d:
			b.order = binary.LittleEndian
		case 0x4d3c2b1a:
			b.order = binary.BigEndian
		default:
			b.order = nil
		}
	} else if b.have < 8 {
		return
	}
	if b.order == nil {
		b.skip, b.have = 1<<63, 0 // not a stream this can follow: let pcapgo say why
		return
	}
	length := uint64(b.order.Uint32(b.hdr[4:8]))
	if b.order.Uint32(typ) == 1 { // interface description
		b.count++
		if b.count > b.max {
			b.err = &LimitError{What: "pcapng interface blocks", Limit: b.max}
			return
		}
	}
	if length < uint64(b.have) || length%4 != 0 {
		b.skip, b.have = 1<<63, 0 // malformed: pcapgo will say so; stop counting
		return
	}
	b.skip, b.have = length-uint64(b.have), 0
}
