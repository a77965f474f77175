package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// connKey names a TCP connection whichever way a segment travels: its two
// endpoints in a fixed order.
type connKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) connKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return connKey{x, y}
}

type connKind uint8

const (
	kindUnknown connKind = iota // no payload yet: held until recognised
	kindMQTT                    // MQTT straight over TCP
	kindWS                      // MQTT over WebSocket
	kindOther                   // not MQTT: ignored
)

// conn is one TCP connection being followed.
type conn struct {
	id          string
	frame       int // the frame that opened it
	listed      int // its place in scanner.metas, once recognised as MQTT
	client      netip.AddrPort
	server      netip.AddrPort
	clientKnown bool
	kind        connKind
	version     int
	dirs        [2]direction // 0: client to server, 1: server to client
	held        []heldItem   // entries waiting for the connection to be recognised
	handshake   bool         // the handshake's ACK was emitted
	rst         bool
	dnsNote     string
	nameCache   [2]string // client and server as host:port
	closed      bool      // ended; buffers released
}

// direction is one byte stream of a connection.
type direction struct {
	started            bool
	isn                uint32
	next               uint32 // sequence number of the next byte to deliver
	pending            segments
	pendBytes          int  // held bytes, counting each segment's overhead
	desync             bool // bytes were lost: skip until a segment starts on a packet boundary
	syn, fin, finAcked bool
	finSeq             uint32
	acked              bool   // the peer acknowledged up to ackTo
	ackTo              uint32 // the peer's highest acknowledgement of this direction

	raw      []byte // stream bytes not yet consumed (HTTP head, WebSocket frames, or MQTT)
	mq       []byte // MQTT bytes taken out of WebSocket frames, not yet a whole packet
	headDone bool   // the HTTP head of a WebSocket connection was read
}

type heldItem struct {
	Item
	restored bool // trace fields came from the frame's comment
}

type segment struct {
	seq  uint32
	data []byte
}

// segOverhead is what holding one segment costs beyond its bytes (heap
// slot, map entry, allocation rounding), counted against the limits so
// that a flood of one-byte segments is bounded like a few large ones.
const segOverhead = 64

// segments holds the out-of-order segments of one direction, ordered by
// sequence number as TCP compares them (modulo 2^32, so that wrap-around
// orders correctly while the held bytes span less than 2 GiB). Segments
// that arrive in rising or falling order (the usual way: a hole, then the
// segments after it; or a sender's retransmissions backwards) go to a
// sorted deque in O(1); the others to a 4-ary min-heap in O(log n). Keys
// pack the sequence number with the slot of the segment's bytes, so that
// both stay small and cache-friendly. Reassembly of n segments is thus
// O(n log n) whatever their order, O(n) for monotone runs. A
// retransmission of a held segment is held again and skipped when
// delivered (drain trims what was already delivered); it counts against
// the limits like any segment.
type segments struct {
	ring    []uint64 // the deque: sorted keys from ring[head], n of them, wrapping
	head, n int
	heap    []uint64 // seq<<32 | slot
	data    [][]byte // by slot
	free    []uint32 // empty slots
}

func seqLess(a, b uint64) bool { return int32(uint32(a>>32)-uint32(b>>32)) < 0 }

func (p *segments) len() int { return p.n + len(p.heap) }

func (p *segments) ringAt(i int) uint64 { return p.ring[(p.head+i)%len(p.ring)] }

// fromRing reports whether the lowest key is the deque's front.
func (p *segments) fromRing() bool {
	return p.n > 0 && (len(p.heap) == 0 || !seqLess(p.heap[0], p.ring[p.head]))
}

// first returns the lowest held sequence number; p must not be empty.
func (p *segments) first() uint32 {
	if p.fromRing() {
		return uint32(p.ring[p.head] >> 32)
	}
	return uint32(p.heap[0] >> 32)
}

// put holds a copy of data at seq and returns the change in held bytes.
func (p *segments) put(seq uint32, data []byte) int {
	var slot uint32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
		p.data[slot] = append([]byte(nil), data...)
	} else {
		slot = uint32(len(p.data))
		p.data = append(p.data, append([]byte(nil), data...))
	}
	key := uint64(seq)<<32 | uint64(slot)
	switch {
	case p.n == 0 || !seqLess(key, p.ringAt(p.n-1)): // at or after the back
		p.grow()
		p.ring[(p.head+p.n)%len(p.ring)] = key
		p.n++
	case !seqLess(p.ring[p.head], key): // at or before the front
		p.grow()
		p.head = (p.head - 1 + len(p.ring)) % len(p.ring)
		p.ring[p.head] = key
		p.n++
	default:
		h := append(p.heap, key)
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 4
			if !seqLess(h[i], h[parent]) {
				break
			}
			h[i], h[parent] = h[parent], h[i]
			i = parent
		}
		p.heap = h
	}
	return len(data) + segOverhead
}

// grow makes room for one more key in the deque.
func (p *segments) grow() {
	if p.n < len(p.ring) {
		return
	}
	ring := make([]uint64, max(8, 2*len(p.ring)))
	for i := range p.n {
		ring[i] = p.ringAt(i)
	}
	p.ring, p.head = ring, 0
}

// pop removes the segment with the lowest sequence number and returns it
// with the change in held bytes; p must not be empty.
func (p *segments) pop() (segment, int) {
	var top uint64
	if p.fromRing() {
		top = p.ring[p.head]
		p.head = (p.head + 1) % len(p.ring)
		p.n--
	} else {
		h := p.heap
		top = h[0]
		n := len(h) - 1
		h[0] = h[n]
		h = h[:n]
		for i := 0; ; {
			small := i
			for c := 4*i + 1; c <= 4*i+4 && c < n; c++ {
				if seqLess(h[c], h[small]) {
					small = c
				}
			}
			if small == i {
				break
			}
			h[i], h[small] = h[small], h[i]
			i = small
		}
		p.heap = h
	}
	slot := uint32(top)
	seg := segment{uint32(top >> 32), p.data[slot]}
	if p.len() == 0 {
		*p = segments{} // let a drained direction's arrays go
	} else {
		p.data[slot] = nil
		p.free = append(p.free, slot)
	}
	return seg, -(len(seg.data) + segOverhead)
}

func (c *conn) endpoints(dir int) (from, to netip.AddrPort) {
	if dir == 0 {
		return c.client, c.server
	}
	return c.server, c.client
}

// names returns the lanes of direction dir: host:port of sender and
// receiver, formatted once per connection.
func (c *conn) names(dir int) (from, to string) {
	if c.nameCache[0] == "" {
		c.nameCache = [2]string{c.client.String(), c.server.String()}
	}
	return c.nameCache[dir], c.nameCache[1-dir]
}

func (c *conn) leg() string {
	if c.kind == kindWS {
		return trace.LegBrowserBroker
	}
	return trace.LegClientBroker
}

func (s *scanner) isMQTTPort(p uint16) bool {
	if p == 1883 {
		return true
	}
	return slices.Contains(s.opts.Ports, p)
}

// tcpSegment follows the segment in s.tcp from src to dst.
func (s *scanner) tcpSegment(src, dst netip.AddrPort, ci gopacket.CaptureInfo) {
	t := &s.tcp
	key := keyOf(src, dst)
	c := s.conns[key]
	if c != nil && t.SYN && !t.ACK && c.dirs[0].syn && (c.dirs[0].fin || c.dirs[1].fin || c.rst) {
		// A new connection reusing the same ports.
		s.dropConn(c)
		c = nil
	}
	if c == nil {
		if !t.SYN && len(t.Payload) == 0 {
			return // an ACK, FIN or RST of a connection the capture never saw carry bytes
		}
		if len(s.conns) >= s.opts.MaxConns {
			s.forget()
		}
		if len(s.conns) >= s.opts.MaxConns {
			// Ended connections are only remembered for late
			// retransmissions: let them go before refusing a live one.
			for _, e := range s.ended {
				if key := keyOf(e.c.client, e.c.server); s.conns[key] == e.c {
					delete(s.conns, key)
				}
			}
			s.ended = nil
		}
		if len(s.conns) >= s.opts.MaxConns {
			if s.connsSkipped == 0 {
				s.problem(nil, "more than %d TCP connections open at once, the limit: segments of new connections (the first from %v to %v) are skipped until some end",
					s.opts.MaxConns, src, dst)
			}
			s.connsSkipped++
			return
		}
		c = s.newConn(src, dst, t.SYN && !t.ACK)
		s.conns[key] = c
	}
	dir := 0
	if src != c.client {
		dir = 1
	}
	if t.SYN && t.ACK && !c.clientKnown && !c.dirs[0].started && !c.dirs[1].started {
		// Capture began between SYN and SYN/ACK: the receiver is the client.
		c.client, c.server, c.clientKnown, dir = dst, src, true, 1
		c.nameCache = [2]string{}
	}
	d := &c.dirs[dir]
	payload := t.Payload
	missing := 0
	if ci.CaptureLength < ci.Length {
		if want := s.tcpPayloadLen(); want > len(payload) {
			missing = want - len(payload)
		}
	}

	switch {
	case t.RST:
		if !c.rst {
			c.rst = true
			s.tcpEvent(c, dir, trace.KindTCPRst, "[RST]")
		}
	case t.SYN && !t.ACK:
		if !d.syn {
			d.syn, d.started, d.isn, d.next = true, true, t.Seq, t.Seq+1
			s.tcpEvent(c, dir, trace.KindTCPSyn, "[SYN] Seq=0 Win="+strconv.Itoa(int(t.Window)))
		}
		return
	case t.SYN && t.ACK:
		if !d.syn {
			d.syn, d.started, d.isn, d.next = true, true, t.Seq, t.Seq+1
			s.tcpEvent(c, dir, trace.KindTCPSynAck, "[SYN, ACK] Seq=0 Ack=1 Win="+strconv.Itoa(int(t.Window)))
		}
		return
	}
	if !d.started {
		d.started, d.isn, d.next = true, t.Seq-1, t.Seq
	}
	if len(payload) > 0 || missing > 0 {
		s.tcpData(c, dir, t.Seq, payload, missing)
	}
	if t.ACK {
		s.acknowledged(c, 1-dir, t.Ack)
	}
	switch {
	case t.FIN:
		if !d.fin {
			d.fin, d.finSeq = true, t.Seq+uint32(len(payload)+missing)
			if d.next == d.finSeq && d.pending.len() == 0 && c.kind != kindUnknown {
				s.reportPartialDir(c, dir, "the connection closed")
			}
			s.tcpEvent(c, dir, trace.KindTCPFin, "[FIN, ACK] Seq="+s.rel(d, t.Seq)+" Ack="+s.rel(&c.dirs[1-dir], t.Ack))
		}
	case t.ACK && len(payload) == 0 && missing == 0 && !t.RST:
		peer := &c.dirs[1-dir]
		switch {
		case dir == 0 && !c.handshake && c.dirs[1].syn && c.dirs[0].syn:
			c.handshake = true
			s.tcpEvent(c, dir, trace.KindTCPAck, "[ACK] Seq=1 Ack=1")
		case peer.fin && !peer.finAcked && t.Ack == peer.finSeq+1:
			peer.finAcked = true
			s.tcpEvent(c, dir, trace.KindTCPAck, "[ACK] Seq="+s.rel(d, t.Seq)+" Ack="+s.rel(peer, t.Ack)+" (of FIN)")
		}
	}
	if t.FIN || t.RST || c.rst || (c.dirs[0].fin && c.dirs[1].fin) {
		s.maybeRelease(c)
	}
}

// acknowledged notes that the receiver of direction dir acknowledged up
// to ack. Bytes it acknowledged that the capture does not hold will not be
// sent again: stop waiting for them.
func (s *scanner) acknowledged(c *conn, dir int, ack uint32) {
	d := &c.dirs[dir]
	if !d.started || c.kind == kindOther {
		return
	}
	if !d.acked || int32(ack-d.ackTo) > 0 {
		d.acked, d.ackTo = true, ack
	}
	if d.pending.len() > 0 && int32(ack-d.pending.first()) >= 0 {
		s.skipGap(c, dir, "")
	}
}

// tcpPayloadLen is the TCP payload length the IP header announces.
func (s *scanner) tcpPayloadLen() int {
	hdr := int(s.tcp.DataOffset) * 4
	for _, l := range s.decoded {
		switch l {
		case s.ip4.LayerType():
			return int(s.ip4.Length) - int(s.ip4.IHL)*4 - hdr
		case s.ip6.LayerType():
			return int(s.ip6.Length) - hdr // extension headers are not followed
		}
	}
	return len(s.tcp.Payload)
}

func (s *scanner) rel(d *direction, seq uint32) string {
	return strconv.FormatUint(uint64(seq-d.isn), 10)
}

func (s *scanner) newConn(src, dst netip.AddrPort, syn bool) *conn {
	c := &conn{client: src, server: dst, clientKnown: syn}
	c.frame = s.frame
	if !syn {
		// Mid-connection: the side on an MQTT port is the server.
		if s.isMQTTPort(src.Port()) && !s.isMQTTPort(dst.Port()) {
			c.client, c.server = dst, src
			c.clientKnown = true
		} else if s.isMQTTPort(dst.Port()) {
			c.clientKnown = true
		}
	}
	if a, ok := s.dnsName[c.server.Addr()]; ok {
		c.dnsNote = a.name
	}
	if c.clientKnown && s.isMQTTPort(c.server.Port()) {
		s.recognise(c, kindMQTT)
	}
	return c
}

// endedConn is a closed connection kept a while for late retransmissions.
type endedConn struct {
	c  *conn
	at time.Time
}

// linger is how long (in capture time) an ended connection is remembered,
// as TCP's TIME_WAIT does: twice a common maximum segment lifetime.
const linger = 2 * time.Minute

// forget drops connections that ended more than linger ago, so that memory
// follows the connections open at a time, not all those of the file.
func (s *scanner) forget() {
	n := 0
	for n < len(s.ended) && s.now.Sub(s.ended[n].at) > linger {
		c := s.ended[n].c
		if key := keyOf(c.client, c.server); s.conns[key] == c {
			delete(s.conns, key)
		}
		s.ended[n] = endedConn{}
		n++
	}
	if n > 0 {
		s.ended = s.ended[n:]
	}
}

// dropConn forgets a finished connection whose ports are reused.
func (s *scanner) dropConn(c *conn) {
	if !c.closed && c.id != "" {
		s.reportPartial(c, "the connection's ports were reused")
	}
	for i := range c.dirs {
		s.releaseHeld(&c.dirs[i])
	}
	delete(s.conns, keyOf(c.client, c.server))
}

// recognise marks c as carrying MQTT (or not) and releases or drops the
// entries held until now.
func (s *scanner) recognise(c *conn, k connKind) {
	c.kind = k
	if k == kindOther {
		c.held = nil
		for i := range c.dirs {
			c.dirs[i].raw, c.dirs[i].mq = nil, nil
			s.releaseHeld(&c.dirs[i])
		}
		return
	}
	s.nextID++
	c.id = "c" + strconv.Itoa(s.nextID)
	c.listed = len(s.listed)
	s.listed = append(s.listed, Conn{ID: c.id, Client: c.client.String(), Server: c.server.String(),
		DNSName: c.dnsNote, WebSocket: k == kindWS, Frame: c.frame})
	held := c.held
	c.held = nil
	for _, it := range held {
		if !it.restored {
			it.Entry.Conn = c.id
			it.Entry.Leg = c.leg()
		}
		if s.err == nil {
			s.err = s.emitFn(it.Item)
		}
	}
}

// tcpEvent emits (or holds) a TCP flag entry for the current frame.
func (s *scanner) tcpEvent(c *conn, dir int, kind, summary string) {
	from, to := c.names(dir)
	e := trace.Entry{
		Leg: c.leg(), From: from, To: to, Kind: kind,
		Summary: summary, Observed: trace.ObservedWire, Conn: c.id,
	}
	if kind == trace.KindTCPSyn && c.dnsNote != "" {
		e.Note = "to " + c.dnsNote
	}
	s.entry(c, e)
}

// entry emits e now, or holds it while c is not yet recognised.
func (s *scanner) entry(c *conn, e trace.Entry) {
	switch c.kind {
	case kindOther:
		return
	case kindUnknown:
		restored, drop := s.annotate(&e)
		if drop {
			return
		}
		e.T = float64(s.now.Sub(s.start).Nanoseconds()) / 1e6
		if len(c.held) < 16 {
			c.held = append(c.held, heldItem{Item{Entry: e, Frame: s.frame, Time: s.now}, restored})
		}
		return
	}
	s.emit(s.frame, s.now, e)
}

// tcpData delivers a segment's payload in sequence order. missing counts
// bytes of the segment that the capture did not keep.
func (s *scanner) tcpData(c *conn, dir int, seq uint32, payload []byte, missing int) {
	if c.kind == kindOther {
		return
	}
	d := &c.dirs[dir]
	diff := int64(int32(seq - d.next))
	if diff < 0 { // retransmitted or overlapping
		if int(-diff) >= len(payload)+missing {
			return
		}
		if int(-diff) >= len(payload) {
			missing -= int(-diff) - len(payload)
			payload = nil
		} else {
			payload = payload[-diff:]
		}
		seq, diff = d.next, 0
	}
	if diff > 0 {
		if len(payload) > 0 {
			s.hold(c, dir, seq, payload)
		}
		if missing > 0 {
			s.problem(c, "frame truncated: %d bytes of this TCP segment were not captured", missing)
		}
		return
	}
	s.deliver(c, dir, payload)
	d.next += uint32(len(payload))
	if missing > 0 {
		s.problem(c, "frame truncated: %d bytes of this TCP segment were not captured; MQTT resumes at the next packet boundary", missing)
		s.lose(c, dir)
		d.next += uint32(missing)
	}
	s.drain(c, dir)
}

// hold keeps an out-of-order segment until the bytes before it arrive.
// What is held is bounded per direction (Options.MaxBuffer) and for the
// whole capture (Options.MaxHeld), each segment's overhead included: over
// a bound, the gap is given up on (said as a problem) and the stream goes
// on with what was held; a segment that still does not fit is dropped and
// said.
func (s *scanner) hold(c *conn, dir int, seq uint32, payload []byte) {
	d := &c.dirs[dir]
	cost := len(payload) + segOverhead
	for s.held+cost > s.opts.MaxHeld && d.pending.len() > 0 && s.err == nil {
		s.skipGap(c, dir, "; the capture holds "+formatBytes(int64(s.held))+
			" of out-of-order TCP segments, its limit")
	}
	if s.held+cost > s.opts.MaxHeld {
		from, to := c.endpoints(dir)
		s.problem(c, "out-of-order TCP segment of %d bytes from %v to %v (relative seq %d) dropped: the capture already holds %s of out-of-order segments, its limit",
			len(payload), from, to, seq-d.isn, formatBytes(int64(s.held)))
		return
	}
	if int32(seq-d.next) <= 0 {
		// Giving up on the gap reached this segment: it is in order now.
		s.tcpData(c, dir, seq, payload, 0)
		return
	}
	n := d.pending.put(seq, payload)
	d.pendBytes += n
	s.held += n
	for d.pendBytes > s.opts.MaxBuffer && s.err == nil {
		s.skipGap(c, dir, "; "+formatBytes(int64(d.pendBytes))+" of later segments were held, the limit for one direction")
	}
	if d.pending.len() > 0 && d.acked && int32(d.ackTo-d.pending.first()) >= 0 {
		s.skipGap(c, dir, "")
	}
}

// drain delivers held segments that are now in order.
func (s *scanner) drain(c *conn, dir int) {
	d := &c.dirs[dir]
	for d.pending.len() > 0 {
		diff := int64(int32(d.pending.first() - d.next))
		if diff > 0 {
			return
		}
		p, n := d.pending.pop()
		d.pendBytes += n
		s.held += n
		if int(-diff) < len(p.data) {
			b := p.data[-diff:]
			s.deliver(c, dir, b)
			d.next += uint32(len(b))
		}
	}
}

// releaseHeld forgets a direction's held segments.
func (s *scanner) releaseHeld(d *direction) {
	s.held -= d.pendBytes
	d.pending, d.pendBytes = segments{}, 0
}

// skipGap gives up waiting for missing bytes and goes on with the first
// held segment; why, when not empty, says why it did not wait longer.
func (s *scanner) skipGap(c *conn, dir int, why string) {
	d := &c.dirs[dir]
	if d.pending.len() == 0 {
		return
	}
	from, to := c.endpoints(dir)
	first := d.pending.first()
	gap := first - d.next
	s.problem(c, "%d bytes from %v to %v were not captured (relative seq %d)%s; MQTT resumes at the next packet boundary", gap, from, to, d.next-d.isn, why)
	s.lose(c, dir)
	d.next = first
	s.drain(c, dir)
}

// lose forgets partial data after bytes of the stream were lost.
func (s *scanner) lose(c *conn, dir int) {
	d := &c.dirs[dir]
	d.desync = true
	d.raw = d.raw[:0]
	d.mq = d.mq[:0]
}

// finish reports what the end of the file left incomplete.
func (s *scanner) finish() {
	s.frame++ // problems found at the end point past the last frame
	open := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		open = append(open, c)
	}
	slices.SortFunc(open, func(a, b *conn) int { return a.frame - b.frame })
	for _, c := range open {
		for dir := range c.dirs {
			for c.dirs[dir].pending.len() > 0 && s.err == nil {
				s.skipGap(c, dir, "")
			}
		}
	}
	s.frame--
	slices.SortFunc(open, func(a, b *conn) int { return a.listed - b.listed })
	for _, c := range open {
		if !c.closed && c.id != "" {
			s.reportPartial(c, "the capture ends")
		}
	}
	if s.connsSkipped > 0 {
		s.problem(nil, "%d segments of connections over the limit of %d open at once were skipped", s.connsSkipped, s.opts.MaxConns)
	}
	slices.SortStableFunc(s.problems, func(a, b Problem) int { return a.Frame - b.Frame })
	if s.unlisted > 0 {
		s.problems = append(s.problems, Problem{Frame: s.frame, Reason: fmt.Sprintf(
			"%d more problems not listed (the first %d are)", s.unlisted, s.opts.MaxProblems)})
	}
}

// reportPartial reports MQTT packets left incomplete in c's buffers.
func (s *scanner) reportPartial(c *conn, when string) {
	for dir := range c.dirs {
		s.reportPartialDir(c, dir, when)
	}
}

func (s *scanner) reportPartialDir(c *conn, dir int, when string) {
	d := &c.dirs[dir]
	n := len(d.mq)
	if c.kind == kindMQTT {
		n = len(d.raw)
	}
	if n > 0 {
		from, to := c.names(dir)
		s.problem(c, "%s inside an MQTT packet from %s to %s (%d bytes)", when, from, to, n)
	}
	d.raw, d.mq = d.raw[:0], d.mq[:0]
}

// maybeRelease frees the buffers of a connection that has ended: reset,
// or closed both ways with every byte before the FINs delivered. Only
// retransmissions can follow, and they are dropped.
func (s *scanner) maybeRelease(c *conn) {
	if c.closed || c.kind == kindUnknown {
		return
	}
	if !c.rst {
		for dir := range c.dirs {
			d := &c.dirs[dir]
			if !d.fin || d.pending.len() > 0 || d.next != d.finSeq {
				return
			}
		}
	}
	s.reportPartial(c, "the connection closed")
	c.closed = true
	s.ended = append(s.ended, endedConn{c, s.now})
	for dir := range c.dirs {
		d := &c.dirs[dir]
		d.raw, d.mq = nil, nil
		s.releaseHeld(d)
	}
	c.held = nil
}

func (s *scanner) connList() []Conn {
	return s.listed
}
