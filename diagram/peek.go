package diagram

// The diagram needs three numbers from an MQTT packet's bytes (the packet
// identifier that links a request to its answer, the keepalive of CONNECT,
// the QoS of PUBLISH) and reads them with codec's lenient peeks
// (codec.PeekPacketID and the rest). From DNS messages it needs the ID and
// the answers, read here and in lanes.go, only as far as the bytes allow.

func u16(b []byte, off int) (int, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return int(b[off])<<8 | int(b[off+1]), true
}

// dnsID returns the ID of a DNS message [RFC 1035 4.1.1].
func dnsID(b []byte) (int, bool) {
	if len(b) < 12 {
		return 0, false
	}
	return u16(b, 0)
}
