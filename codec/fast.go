package codec

import "unicode/utf8"

// Fast paths for the hot packets (PUBLISH, and natively CONNECT: see
// fast_connect.go), used by Decode when nothing is being dissected. They
// accept only what is certainly well-formed and report false for anything else, so the general cursor
// decoder stays the single authority on errors: it re-reads the packet and
// says where and why it broke. FuzzDecode checks that both paths agree.

// fastHeader checks the fixed header of a packet of type t whose flags are
// already checked and returns the offset of the variable header; the
// remaining length must match len(b) exactly.
func fastHeader(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	i, rem := 2, int(b[1])
	if rem >= 0x80 {
		r, w, err := readVarint(b, 1)
		if err != nil {
			return 0, false
		}
		i, rem = 1+w, r
	}
	return i, len(b)-i == rem
}

// fastStr reads a UTF-8 string at b[i:], returning the view, the next
// offset and scan flags.
func fastStr(b []byte, i int) (string, int, int, bool) {
	if len(b)-i < 2 {
		return "", 0, 0, false
	}
	n := int(b[i])<<8 | int(b[i+1])
	i += 2
	if len(b)-i < n {
		return "", 0, 0, false
	}
	s := b[i : i+n]
	f := 0
	if n > 0 {
		if f = scan(s); f&scanZero != 0 || (f&scanHigh != 0 && !utf8.Valid(s)) {
			return "", 0, 0, false
		}
	}
	return view(s), i + n, f, true
}

// fastProps reads a property block at b[i:] into p (reset beforehand by
// the caller) through the general cursor unless it is empty.
func fastProps(b []byte, i int, p *Properties, t PacketType, where PacketType, v Version) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	if b[i] == 0 {
		return i + 1, true
	}
	c := cursor{b: b, off: i, end: len(b), t: t, v: v}
	if c.readProps(p, where) != nil {
		return 0, false
	}
	return c.off, true
}

func (p *Publish) decodeFast(b []byte, v Version) bool {
	if len(b) < 4 || b[0]>>4 != byte(TypePublish) || (v != V311 && v != V5) {
		return false
	}
	flags := b[0] & 15
	qos := QoS(flags >> 1 & 3)
	if qos == 3 || (flags&8 != 0 && qos == 0) {
		return false
	}
	i, ok := fastHeader(b)
	if !ok {
		return false
	}
	topic, i, f, ok := fastStr(b, i)
	if !ok || topic == "" || f&scanWildcard != 0 {
		return false
	}
	var id uint16
	if qos > 0 {
		if len(b)-i < 2 {
			return false
		}
		if id = uint16(b[i])<<8 | uint16(b[i+1]); id == 0 {
			return false
		}
		i += 2
	}
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if v == V5 {
		if i, ok = fastProps(b, i, &p.Properties, TypePublish, TypePublish, v); !ok {
			return false
		}
	}
	p.Dup, p.QoS, p.Retain = flags&8 != 0, qos, flags&1 != 0
	p.Topic, p.PacketID, p.Payload = topic, id, b[i:len(b):len(b)]
	return true
}
