package diagram

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

func FuzzPeek(f *testing.F) {
	for _, b := range [][]byte{
		pktConnect(60), pktPublish(1, 3, "x", "y"), pktPubrec(2), pktSubscribe(4, "a/#"),
		pktPingreq(), dnsMsg(7, true), {0x50, 0x03, 0, 1, 0x80},
		// A DNS answer (the question's name compressed into the answer's
		// owner) and an MQTT 5 CONNECT with properties.
		{0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'b', 2, 'i', 'o', 0, 0, 1, 0, 1,
			0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 10},
		{0x10, 0x15, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 5, 5, 0x11, 0, 0, 0, 60, 0, 3, 'd', 'e', 'v'},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The DNS peeks and the model never panic on any bytes (the MQTT
		// peeks are codec's, fuzzed there by FuzzPeek).
		dnsID(b)
		dnsAnswers(b, func(name, ip string) {
			if len(name) > 253 || ip == "" {
				t.Fatalf("answer %q %q", name, ip)
			}
		})
		m := New(Options{MaxArrows: 4})
		// The kinds the exchanges, the keepalive and the broker's timers read.
		for _, kind := range []string{"mqtt.CONNECT", "mqtt.PUBLISH", "mqtt.PUBREC", "dns.query", "tcp.ack", "ws.close",
			"mqtt.CONNACK", "mqtt.DISCONNECT", "mqtt.CONNECT", "tcp.rst", "mqtt.PUBLISH", "mqtt.CONNACK"} {
			m.Add(trace.Entry{T: 1, Leg: bb, From: "browser", To: "broker", Kind: kind, Bytes: b}, Local)
			m.Add(trace.Entry{T: 2, Leg: bb, From: "broker", To: "browser", Kind: kind, Bytes: b}, Local)
			// A capture's parties: addresses, named from the bytes.
			m.Add(trace.Entry{T: 3, Leg: "client-broker", From: "10.0.0.2:4000", To: "10.0.0.1:53", Kind: kind, Bytes: b}, Imported)
			m.Add(trace.Entry{T: 4, Leg: "client-broker", From: "10.0.0.1:53", To: "10.0.0.2:4000", Kind: "dns.response", Bytes: b}, Imported)
		}
		m.View(0, 10)
	})
}
