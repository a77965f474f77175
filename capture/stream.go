package capture

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// maxHTTPHead bounds the HTTP upgrade request or response kept while
// looking for its end.
const maxHTTPHead = 16 << 10

// deliver hands in-order stream bytes of one direction to the protocol
// above TCP.
func (s *scanner) deliver(c *conn, dir int, b []byte) {
	if len(b) == 0 {
		return
	}
	d := &c.dirs[dir]
	if c.kind == kindUnknown {
		d.raw = append(d.raw, b...)
		s.classify(c, dir)
		return
	}
	switch c.kind {
	case kindMQTT:
		if d.desync {
			if !wholePackets(b) {
				return
			}
			d.desync = false
		}
		d.raw = append(d.raw, b...)
		d.raw = s.splitMQTT(c, dir, d.raw)
	case kindWS:
		if d.desync {
			return // WebSocket framing cannot be found again after a loss
		}
		d.raw = append(d.raw, b...)
		s.websocket(c, dir)
	}
}

// classify decides from a connection's first bytes whether it carries MQTT.
func (s *scanner) classify(c *conn, dir int) {
	d := &c.dirs[dir]
	if !c.clientKnown && dir == 1 {
		// The first bytes came from the side taken for the server:
		// swap, so that the sender is the client if it speaks MQTT.
		c.client, c.server = c.server, c.client
		c.dirs[0], c.dirs[1] = c.dirs[1], c.dirs[0]
		c.nameCache = [2]string{}
		dir = 0
		d = &c.dirs[0]
	}
	if dir == 1 {
		// A server speaking first is not an MQTT broker.
		s.recognise(c, kindOther)
		return
	}
	if yes, more := looksLikeConnect(d.raw); yes {
		c.clientKnown = true
		s.recognise(c, kindMQTT)
		raw := d.raw
		d.raw = nil
		d.raw = s.splitMQTT(c, 0, raw)
		return
	} else if more {
		return
	}
	if yes, more := isHTTPGet(d.raw); more {
		return
	} else if !yes {
		s.recognise(c, kindOther)
		return
	}
	end := bytes.Index(d.raw, []byte("\r\n\r\n"))
	if end < 0 {
		if len(d.raw) > maxHTTPHead {
			s.recognise(c, kindOther)
		}
		return
	}
	head := d.raw[:end+4]
	if !upgradesToMQTT(string(head)) {
		s.recognise(c, kindOther)
		return
	}
	c.clientKnown = true
	s.recognise(c, kindWS)
	line, _, _ := strings.Cut(string(head), "\r\n")
	from, to := c.names(0)
	s.emit(s.frame, s.now, trace.Entry{
		Leg: c.leg(), From: from, To: to, Kind: trace.KindWSUpgrade,
		Summary: line + " (Upgrade: websocket, mqtt)", Bytes: bytes.Clone(head),
		Observed: trace.ObservedWire, Conn: c.id,
	})
	d.headDone = true
	d.raw = append(d.raw[:0], d.raw[end+4:]...)
	s.websocket(c, 0)
}

// upgradesToMQTT reports whether an HTTP request head asks for a WebSocket
// with an MQTT subprotocol.
func upgradesToMQTT(head string) bool {
	upgrade, proto := false, false
	for _, line := range strings.Split(head, "\r\n")[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.ToLower(strings.TrimSpace(value))
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "upgrade":
			upgrade = value == "websocket"
		case "sec-websocket-protocol":
			for _, p := range strings.Split(value, ",") {
				if strings.HasPrefix(strings.TrimSpace(p), "mqtt") {
					proto = true
				}
			}
		}
	}
	return upgrade && proto
}

// splitMQTT emits every whole MQTT packet at the start of buf and returns
// the rest, moved to the front of buf's array.
func (s *scanner) splitMQTT(c *conn, dir int, buf []byte) []byte {
	off := 0
	for off < len(buf) && s.err == nil {
		b := buf[off:]
		n, err := mqttPacketLen(b, s.opts.MaxBuffer)
		if err == nil && !plausibleHeader(b[0]) {
			err = errBadHeader(b[0])
		}
		if err != nil {
			from, to := c.endpoints(dir)
			s.problem(c, "malformed MQTT from %v to %v: %v; MQTT resumes at the next packet boundary", from, to, err)
			s.lose(c, dir)
			return buf[:0]
		}
		if n == 0 || len(b) < n {
			break
		}
		s.mqttPacket(c, dir, b[:n])
		off += n
	}
	k := copy(buf, buf[off:])
	return buf[:k]
}

// wholePackets reports whether b is a run of whole, plausible MQTT packets:
// a place where a stream that lost bytes can pick up again.
func wholePackets(b []byte) bool {
	for len(b) > 0 {
		if !plausibleHeader(b[0]) {
			return false
		}
		n, err := mqttPacketLen(b, len(b))
		if err != nil || n == 0 || n > len(b) {
			return false
		}
		b = b[n:]
	}
	return true
}

// mqttPacket emits one whole MQTT packet.
func (s *scanner) mqttPacket(c *conn, dir int, pkt []byte) {
	pkt = bytes.Clone(pkt) // the entry keeps it, and decoded strings may point into it
	p, v, err := decodeMQTT(pkt, c.version)
	if cp, ok := p.(*codec.Connect); ok && dir == 0 {
		s.listed[c.listed].ClientID = strings.Clone(cp.ClientID)
	}
	if v != 0 && (c.version == 0 || codec.PacketType(pkt[0]>>4) == codec.TypeConnect) {
		c.version, s.listed[c.listed].Version = v, v
	}
	from, to := c.names(dir)
	e := trace.Entry{
		Leg: c.leg(), From: from, To: to, Kind: mqttKinds[pkt[0]>>4],
		Bytes: pkt, Observed: trace.ObservedWire, Conn: c.id, Version: c.version,
	}
	if err != nil {
		e.Summary = mqttTypeName(pkt) + " (malformed)"
		e.Error = err.Error()
		s.problem(c, "malformed %s from %v to %v: %v", mqttTypeName(pkt), from, to, err)
	} else {
		e.Summary = codec.Summary(p)
	}
	s.emit(s.frame, s.now, e)
}

// websocket reads the server's upgrade response and WebSocket frames from
// a direction's raw bytes.
func (s *scanner) websocket(c *conn, dir int) {
	d := &c.dirs[dir]
	if !d.headDone {
		end := bytes.Index(d.raw, []byte("\r\n\r\n"))
		if end < 0 {
			if len(d.raw) > maxHTTPHead {
				s.problem(c, "HTTP response head longer than %d bytes", maxHTTPHead)
				s.lose(c, dir)
			}
			return
		}
		head := d.raw[:end+4]
		line, _, _ := strings.Cut(string(head), "\r\n")
		from, to := c.names(dir)
		e := trace.Entry{
			Leg: c.leg(), From: from, To: to, Kind: trace.KindWSAccept,
			Summary: line, Bytes: bytes.Clone(head), Observed: trace.ObservedWire, Conn: c.id,
		}
		if f := strings.Fields(line); len(f) < 2 || f[1] != "101" {
			e.Error = "upgrade refused: " + line
		}
		s.emit(s.frame, s.now, e)
		d.headDone = true
		d.raw = append(d.raw[:0], d.raw[end+4:]...)
	}
	off := 0
	for s.err == nil {
		hdr, plen, ok := wsFrameHeader(d.raw[off:])
		if !ok {
			break
		}
		if plen > s.opts.MaxBuffer {
			s.problem(c, "WebSocket frame of %d bytes exceeds the limit of %d", plen, s.opts.MaxBuffer)
			s.lose(c, dir)
			return
		}
		if len(d.raw)-off < hdr+plen {
			break
		}
		frame := d.raw[off : off+hdr+plen]
		payload := frame[hdr:]
		if frame[1]&0x80 != 0 {
			key := frame[hdr-4 : hdr]
			for i := range payload {
				payload[i] ^= key[i&3]
			}
		}
		off += hdr + plen
		switch op := frame[0] & 0x0f; op {
		case 0x0, 0x2: // continuation, binary: MQTT bytes
			if d.desync {
				break
			}
			d.mq = append(d.mq, payload...)
			d.mq = s.splitMQTT(c, dir, d.mq)
			if d.desync {
				return // malformed MQTT: lose dropped the buffers
			}
		case 0x8:
			from, to := c.names(dir)
			sum := "Close"
			if len(payload) >= 2 {
				sum += " " + strconv.Itoa(int(binary.BigEndian.Uint16(payload)))
				if len(payload) > 2 {
					sum += " " + strconv.Quote(string(payload[2:]))
				}
			}
			s.emit(s.frame, s.now, trace.Entry{
				Leg: c.leg(), From: from, To: to, Kind: trace.KindWSClose,
				Summary: sum, Bytes: bytes.Clone(payload), Observed: trace.ObservedWire, Conn: c.id,
			})
		case 0x9, 0xa: // ping, pong
		default:
			s.problem(c, "WebSocket frame with opcode %d on an MQTT connection (MQTT needs binary frames)", op)
		}
	}
	k := copy(d.raw, d.raw[off:])
	d.raw = d.raw[:k]
}

// wsFrameHeader returns the length of the frame header at the start of b
// and of its payload; ok is false while the header is incomplete.
func wsFrameHeader(b []byte) (hdr, plen int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	hdr = 2
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, 0, false
		}
		n, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, false
		}
		n, hdr = binary.BigEndian.Uint64(b[2:]), 10
	}
	if b[1]&0x80 != 0 {
		hdr += 4
	}
	if len(b) < hdr {
		return 0, 0, false
	}
	if n > 1<<40 {
		n = 1 << 40
	}
	return hdr, int(n), true
}
