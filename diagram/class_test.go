package diagram

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestClasses checks the page's one list of classes: every kind's class is
// in it once, with a name, and the table of kinds gives the class the page
// has always shown.
func TestClasses(t *testing.T) {
	listed := map[string]bool{}
	for _, c := range Classes {
		if listed[c.Class] || c.Name == "" {
			t.Errorf("class %q listed twice or without a name", c.Class)
		}
		listed[c.Class] = true
	}
	tests := []struct{ kind, class string }{
		{trace.KindDNSQuery, "dns"}, {trace.KindDNSResponse, "dns"},
		{trace.KindTCPSyn, "tcp"}, {trace.KindTCPSynAck, "tcp"}, {trace.KindTCPAck, "tcp"}, {trace.KindTCPFin, "tcp"}, {trace.KindTCPRst, "tcp"},
		{trace.KindTLS, "tls"},
		{trace.KindWSUpgrade, "ws"}, {trace.KindWSAccept, "ws"}, {trace.KindWSClose, "ws"},
		{"mqtt.CONNECT", "connect"}, {"mqtt.CONNACK", "connect"}, {"mqtt.AUTH", "connect"},
		{"mqtt.PUBLISH", "publish"}, {"mqtt.PUBACK", "publish"}, {"mqtt.PUBREC", "publish"}, {"mqtt.PUBREL", "publish"}, {"mqtt.PUBCOMP", "publish"},
		{"mqtt.SUBSCRIBE", "subscribe"}, {"mqtt.SUBACK", "subscribe"}, {"mqtt.UNSUBSCRIBE", "subscribe"}, {"mqtt.UNSUBACK", "subscribe"},
		{"mqtt.PINGREQ", "ping"}, {"mqtt.PINGRESP", "ping"},
		{"mqtt.DISCONNECT", "disconnect"},
		{"mqtt.Reserved", "other"}, {"error", "other"}, {"", "other"},
	}
	for _, tt := range tests {
		if got := Class(tt.kind); got != tt.class {
			t.Errorf("Class(%q) = %q, want %q", tt.kind, got, tt.class)
		}
	}
	for pt := codec.PacketType(0); pt < 16; pt++ {
		if c := Class(trace.KindMQTT(pt.String())); !listed[c] {
			t.Errorf("%v is in class %q, which the list lacks", pt, c)
		}
	}
}
