package diagram

import "github.com/lifeline-mqtt/lifeline/trace"

// MQTT 3.1.1 packets built by hand for the tests (package codec is not a
// dependency of this package).

func withLen(typeFlags byte, body ...byte) []byte {
	b := []byte{typeFlags}
	n := len(body)
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b = append(b, c|0x80)
			continue
		}
		b = append(b, c)
		break
	}
	return append(b, body...)
}

func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

func pktConnect(keepAlive int) []byte {
	body := append(str("MQTT"), 4, 0x02, byte(keepAlive>>8), byte(keepAlive))
	return withLen(0x10, append(body, str("dev1")...)...)
}
func pktConnack() []byte { return withLen(0x20, 0, 0) }
func pktPublish(qos, id int, topic, payload string) []byte {
	body := str(topic)
	if qos > 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	return withLen(0x30|byte(qos<<1), append(body, payload...)...)
}
func pktAck(typ byte, id int) []byte { return withLen(typ, byte(id>>8), byte(id)) }
func pktPuback(id int) []byte        { return pktAck(0x40, id) }
func pktPubrec(id int) []byte        { return pktAck(0x50, id) }
func pktPubrel(id int) []byte        { return pktAck(0x62, id) }
func pktPubcomp(id int) []byte       { return pktAck(0x70, id) }
func pktSubscribe(id int, filter string) []byte {
	return withLen(0x82, append(append([]byte{byte(id >> 8), byte(id)}, str(filter)...), 1)...)
}
func pktSuback(id int) []byte { return withLen(0x90, byte(id>>8), byte(id), 1) }
func pktUnsubscribe(id int, filter string) []byte {
	return withLen(0xa2, append([]byte{byte(id >> 8), byte(id)}, str(filter)...)...)
}
func pktUnsuback(id int) []byte { return pktAck(0xb0, id) }
func pktPingreq() []byte        { return []byte{0xc0, 0} }
func pktPingresp() []byte       { return []byte{0xd0, 0} }
func pktDisconnect() []byte     { return []byte{0xe0, 0} }

func dnsMsg(id int, response bool) []byte {
	b := make([]byte, 12)
	b[0], b[1] = byte(id>>8), byte(id)
	if response {
		b[2] = 0x80
	}
	return b
}

var mqttKinds = map[byte]string{
	1: "mqtt.CONNECT", 2: "mqtt.CONNACK", 3: "mqtt.PUBLISH", 4: "mqtt.PUBACK", 5: "mqtt.PUBREC",
	6: "mqtt.PUBREL", 7: "mqtt.PUBCOMP", 8: "mqtt.SUBSCRIBE", 9: "mqtt.SUBACK", 10: "mqtt.UNSUBSCRIBE",
	11: "mqtt.UNSUBACK", 12: "mqtt.PINGREQ", 13: "mqtt.PINGRESP", 14: "mqtt.DISCONNECT",
}

// mq is an MQTT entry on a leg.
func mq(t float64, leg, from, to string, pkt []byte) trace.Entry {
	return trace.Entry{T: t, Leg: leg, From: from, To: to, Kind: mqttKinds[pkt[0]>>4], Bytes: pkt,
		Observed: trace.ObservedWire, Conn: "c1", Version: 4, Summary: mqttKinds[pkt[0]>>4]}
}

// ev is a non-MQTT entry.
func ev(t float64, leg, from, to, kind string, b []byte) trace.Entry {
	obs := trace.ObservedWire
	if kind[:4] == "tcp." {
		obs = trace.ObservedKernel
	}
	return trace.Entry{T: t, Leg: leg, From: from, To: to, Kind: kind, Bytes: b, Observed: obs, Conn: "c1", Summary: kind}
}

func kinds(m *Model) []string {
	var out []string
	for _, e := range m.Entries() {
		out = append(out, e.Kind)
	}
	return out
}
