package diagram

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

func TestPeek(t *testing.T) {
	tests := []struct {
		name      string
		b         []byte
		id        int
		hasID     bool
		keepAlive int
		hasKA     bool
	}{
		{"CONNECT keepalive", pktConnect(300), 0, false, 300, true},
		{"PUBLISH QoS 0 has no id", pktPublish(0, 0, "a/b", "x"), 0, false, 0, false},
		{"PUBLISH QoS 2 id after topic", pktPublish(2, 0x1234, "a/b", "x"), 0x1234, true, 0, false},
		{"PUBREL", pktPubrel(9), 9, true, 0, false},
		{"SUBACK", pktSuback(65535), 65535, true, 0, false},
		{"PINGREQ", pktPingreq(), 0, false, 0, false},
		{"truncated PUBLISH", pktPublish(1, 5, "abc", "")[:6], 0, false, 0, false},
		{"remaining length longer than the bytes", []byte{0x40, 5, 0, 1}, 0, false, 0, false},
		{"five-byte remaining length", []byte{0x40, 0xff, 0xff, 0xff, 0xff, 0x7f}, 0, false, 0, false},
		{"long PUBLISH (two-byte length)", pktPublish(1, 77, "t", string(make([]byte, 300))), 77, true, 0, false},
		{"empty", nil, 0, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := packetID(tt.b)
			if id != tt.id || ok != tt.hasID {
				t.Errorf("packetID = %d, %v; want %d, %v", id, ok, tt.id, tt.hasID)
			}
			ka, ok := keepAlive(tt.b)
			if ka != tt.keepAlive || ok != tt.hasKA {
				t.Errorf("keepAlive = %d, %v; want %d, %v", ka, ok, tt.keepAlive, tt.hasKA)
			}
		})
	}
}

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
		// Peeks never panic and never read past the packet.
		if id, ok := packetID(b); ok && (id < 0 || id > 65535) {
			t.Fatalf("id %d", id)
		}
		keepAlive(b)
		publishQoS(b)
		pubrecFailed(b)
		dnsID(b)
		if id, ok := clientID(b); ok && len(id) > len(b) {
			t.Fatalf("client id %q longer than the packet", id)
		}
		dnsAnswers(b, func(name, ip string) {
			if len(name) > 253 || ip == "" {
				t.Fatalf("answer %q %q", name, ip)
			}
		})
		m := New(Options{MaxArrows: 4})
		for _, kind := range []string{"mqtt.CONNECT", "mqtt.PUBLISH", "mqtt.PUBREC", "dns.query", "tcp.ack", "ws.close"} {
			m.Add(trace.Entry{T: 1, Leg: bb, From: "browser", To: "broker", Kind: kind, Bytes: b}, Local)
			m.Add(trace.Entry{T: 2, Leg: bb, From: "broker", To: "browser", Kind: kind, Bytes: b}, Local)
			// A capture's parties: addresses, named from the bytes.
			m.Add(trace.Entry{T: 3, Leg: "client-broker", From: "10.0.0.2:4000", To: "10.0.0.1:53", Kind: kind, Bytes: b}, Imported)
			m.Add(trace.Entry{T: 4, Leg: "client-broker", From: "10.0.0.1:53", To: "10.0.0.2:4000", Kind: "dns.response", Bytes: b}, Imported)
		}
		m.View(0, 10)
	})
}
