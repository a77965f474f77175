package diagram

// The diagram needs three numbers from a packet's bytes: the packet
// identifier that links a request to its answer, the keepalive of CONNECT,
// and the QoS of PUBLISH. These peeks read only those, and only as far as
// the bytes allow; whole decoding and validation are package codec's job.

// mqttBody returns the packet's type, its fixed-header flags and the offset
// of its variable header, or ok=false when b is not a whole fixed header.
func mqttBody(b []byte) (typ, flags byte, body int, ok bool) {
	if len(b) < 2 {
		return 0, 0, 0, false
	}
	mult, rem := 1, 0
	for i := 1; i <= 4; i++ {
		if i >= len(b) {
			return 0, 0, 0, false
		}
		rem += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			if len(b) < i+1+rem {
				return 0, 0, 0, false
			}
			return b[0] >> 4, b[0] & 0x0f, i + 1, true
		}
		mult <<= 7
	}
	return 0, 0, 0, false
}

func u16(b []byte, off int) (int, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return int(b[off])<<8 | int(b[off+1]), true
}

// Packet types, as the high nibble of the first byte.
const (
	typeConnect     = 1
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
)

// packetID returns the packet identifier of an MQTT packet that carries one
// (PUBLISH at QoS 1 or 2, the publish acknowledgements, SUBSCRIBE, SUBACK,
// UNSUBSCRIBE, UNSUBACK).
func packetID(b []byte) (int, bool) {
	typ, flags, body, ok := mqttBody(b)
	if !ok {
		return 0, false
	}
	switch typ {
	case typePublish:
		if flags>>1&3 == 0 {
			return 0, false
		}
		n, ok := u16(b, body)
		if !ok {
			return 0, false
		}
		return u16(b, body+2+n)
	case typePuback, typePubrec, typePubrel, typePubcomp,
		typeSubscribe, typeSuback, typeUnsubscribe, typeUnsuback:
		return u16(b, body)
	}
	return 0, false
}

// publishQoS returns the QoS bits of a PUBLISH.
func publishQoS(b []byte) (int, bool) {
	typ, flags, _, ok := mqttBody(b)
	if !ok || typ != typePublish {
		return 0, false
	}
	return int(flags >> 1 & 3), true
}

// keepAlive returns the Keep Alive of a CONNECT, in seconds [3.1.2.10].
func keepAlive(b []byte) (int, bool) {
	typ, _, body, ok := mqttBody(b)
	if !ok || typ != typeConnect {
		return 0, false
	}
	n, ok := u16(b, body) // protocol name length
	if !ok {
		return 0, false
	}
	return u16(b, body+2+n+2) // after the name, the level and the flags
}

// dnsID returns the ID of a DNS message [RFC 1035 4.1.1].
func dnsID(b []byte) (int, bool) {
	if len(b) < 12 {
		return 0, false
	}
	return u16(b, 0)
}

// pubrecFailed reports whether a PUBREC carries a reason code of 0x80 or
// more, which ends a QoS 2 exchange there [MQTT-4.3.3].
func pubrecFailed(b []byte) bool {
	typ, _, body, ok := mqttBody(b)
	return ok && typ == typePubrec && len(b) > body+2 && b[body+2] >= 0x80
}
