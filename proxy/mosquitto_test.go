package proxy_test

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Through the proxy to Debian's mosquitto, found by name in the zone: pub/sub
// at each QoS with Paho, and the trace of the subscriber's connection.
func TestPubSubMosquitto(t *testing.T) {
	addr := testenv.StartMosquitto(t, testenv.MosquittoOptions{}).Addr
	_, port, _ := net.SplitHostPort(addr)
	e := privateEnv(t, nil)
	e.dns.Set("mosquitto.lifeline.test", netip.MustParseAddr("127.0.0.1"))
	target := "broker=mosquitto.lifeline.test:" + port
	tc := e.openTrace(t)
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			sub := newPaho(t, e.mqttURL(target+"&trace="+tc.token), fmt.Sprintf("msub%d", qos))
			pub := newPaho(t, e.mqttURL(target), fmt.Sprintf("mpub%d", qos))
			pubSub(t, pub, sub, fmt.Sprintf("lifeline/mosquitto/%d", qos), qos)
			sub.Disconnect(100)
			conn := "c" + strconv.Itoa(int(qos)+1)
			got := tc.waitFor(t, "ws.close of "+conn, func(en trace.Entry) bool {
				return en.Conn == conn && en.Kind == trace.KindWSClose && en.From == "proxy"
			})
			checkOrder(t, got, conn, "ws.upgrade", "dns.query", "dns.response", "tcp.syn", "tcp.synack", "tcp.ack", "ws.accept",
				"mqtt.CONNECT", "mqtt.CONNACK", "mqtt.SUBSCRIBE", "mqtt.SUBACK", "mqtt.PUBLISH", "mqtt.DISCONNECT", "tcp.fin")
		})
	}
}
