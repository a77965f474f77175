package codec

// Peeks read one field out of a packet's bytes without decoding or
// validating the packet, for code that follows traffic and needs one
// number: the diagram (lanes, exchanges, keepalive deadlines) and the
// proxy (the version a connection speaks). Each needs the whole packet its
// fixed header announces (bytes after it are ignored), reads only as far
// as its field, reports false instead of an error when the bytes do not
// hold the field, and allocates nothing. Decode stays the authority on
// whether a packet is well-formed and on why it is not.

// PeekHeader returns the type and flags of the packet at the start of b
// and the offset of its variable header; ok is false unless b holds a
// well-formed Remaining Length and at least as many bytes as it says.
func PeekHeader(b []byte) (t PacketType, flags byte, body int, ok bool) {
	t, flags, body, _, ok = peek(b)
	return t, flags, body, ok
}

// peek is PeekHeader that also returns the packet: b cut at its end, so
// that no field is read from the bytes after it.
func peek(b []byte) (t PacketType, flags byte, body int, pkt []byte, ok bool) {
	if len(b) < 2 {
		return 0, 0, 0, nil, false
	}
	rem, w, err := readVarint(b, 1)
	if err != nil || len(b)-1-w < rem {
		return 0, 0, 0, nil, false
	}
	return PacketType(b[0] >> 4), b[0] & 0x0f, 1 + w, b[:1+w+rem], true
}

// PeekType returns the type of the packet at the start of b.
func PeekType(b []byte) (PacketType, bool) {
	t, _, _, ok := PeekHeader(b)
	return t, ok
}

// peekU16 reads a two-byte integer at b[off:].
func peekU16(b []byte, off int) (int, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return int(b[off])<<8 | int(b[off+1]), true
}

// PeekPacketID returns the Packet Identifier of a packet that carries one
// [2.2.1]: PUBLISH at QoS 1 or 2 (after its topic), PUBACK, PUBREC,
// PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.
func PeekPacketID(b []byte) (uint16, bool) {
	t, flags, body, b, ok := peek(b)
	if !ok {
		return 0, false
	}
	switch t {
	case TypePublish:
		if flags>>1&3 == 0 {
			return 0, false
		}
		n, ok := peekU16(b, body)
		if !ok {
			return 0, false
		}
		id, ok := peekU16(b, body+2+n)
		return uint16(id), ok
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback:
		id, ok := peekU16(b, body)
		return uint16(id), ok
	}
	return 0, false
}

// PeekQoS returns the QoS bits of a PUBLISH [3.3.1.2] (3 for the reserved
// value, which Decode rejects).
func PeekQoS(b []byte) (QoS, bool) {
	t, flags, _, ok := PeekHeader(b)
	if !ok || t != TypePublish {
		return 0, false
	}
	return QoS(flags >> 1 & 3), true
}

// PeekReasonCode returns the reason code of a PUBACK, PUBREC, PUBREL or
// PUBCOMP that has one (MQTT 5.0 [3.4.2.1]; absent means Success).
func PeekReasonCode(b []byte) (ReasonCode, bool) {
	t, _, body, b, ok := peek(b)
	if !ok || t < TypePuback || t > TypePubcomp || len(b) <= body+2 {
		return 0, false
	}
	return ReasonCode(b[body+2]), true
}

// connect returns a CONNECT packet and the offset of its protocol level
// (the byte after the protocol name) [3.1.2.2].
func connect(b []byte) (pkt []byte, level int, ok bool) {
	t, _, body, b, ok := peek(b)
	if !ok || t != TypeConnect {
		return nil, 0, false
	}
	n, ok := peekU16(b, body)
	if !ok || body+2+n >= len(b) {
		return nil, 0, false
	}
	return b, body + 2 + n, true
}

// PeekLevel returns the protocol level of a CONNECT [3.1.2.2]: 3 (MQTT
// 3.1), 4 (3.1.1) or 5, or whatever other level the bytes say, whatever the
// protocol name. PeekVersion is the strict one, for a server that must
// refuse a wrong name or level.
func PeekLevel(b []byte) (Version, bool) {
	b, at, ok := connect(b)
	if !ok {
		return 0, false
	}
	return Version(b[at]), true
}

// PeekKeepAlive returns the Keep Alive of a CONNECT in seconds [3.1.2.10].
func PeekKeepAlive(b []byte) (uint16, bool) {
	b, at, ok := connect(b)
	if !ok {
		return 0, false
	}
	ka, ok := peekU16(b, at+2) // after the level and the flags
	return uint16(ka), ok
}

// PeekClientID returns the Client Identifier of a CONNECT [3.1.3.1], after
// the keepalive and, in MQTT 5.0, the properties. It is a view of b.
func PeekClientID(b []byte) ([]byte, bool) {
	b, at, ok := connect(b)
	if !ok {
		return nil, false
	}
	off := at + 4 // level, flags, keepalive
	if b[at] == byte(V5) {
		if off >= len(b) {
			return nil, false
		}
		plen, w, err := readVarint(b, off)
		if err != nil {
			return nil, false
		}
		off += w + plen
	}
	n, ok := peekU16(b, off)
	if !ok || off+2+n > len(b) {
		return nil, false
	}
	return b[off+2 : off+2+n], true
}
