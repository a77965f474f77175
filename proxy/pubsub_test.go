package proxy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// newPaho connects a Paho client (a client this project did not write) to
// url over ws:// and disconnects it when the test ends.
func newPaho(t *testing.T, url, id string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetKeepAlive(30 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// pubSub subscribes sub to topic and publishes from pub at qos, and checks
// the message arrives once.
func pubSub(t *testing.T, pub, sub paho.Client, topic string, qos byte) {
	t.Helper()
	got := make(chan string, 4)
	tok := sub.Subscribe(topic, qos, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	want := fmt.Sprintf("reading qos %d", qos)
	tok = pub.Publish(topic, qos, false, want)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-got:
		if m != want {
			t.Fatalf("got %q, want %q", m, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("QoS %d message did not arrive through the proxy", qos)
	}
}

func TestPubSubEmbeddedBroker(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.openTrace(t)
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			// The default broker (broker.lifeline.test via the embedded zone)
			// for the subscriber, an explicit address for the publisher.
			sub := newPaho(t, e.mqttURL("trace="+tc.token), fmt.Sprintf("sub%d", qos))
			pub := newPaho(t, e.mqttURL("broker="+e.brokerAddr()), fmt.Sprintf("pub%d", qos))
			pubSub(t, pub, sub, fmt.Sprintf("lifeline/test/%d", qos), qos)
		})
	}
}

// TestTraceOrder checks one traced session's entries: DNS, TCP handshake,
// the broker leg's MQTT packets and the TCP close, in that order.
func TestTraceOrder(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.openTrace(t)
	c := newPaho(t, e.mqttURL("trace="+tc.token), "order")
	tok := c.Subscribe("a/b", 1, func(paho.Client, paho.Message) {})
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("subscribe timed out")
	}
	tok = c.Publish("a/b", 1, false, "x")
	tok.WaitTimeout(5 * time.Second)
	c.Disconnect(100)
	got := tc.waitFor(t, "ws.close", func(en trace.Entry) bool { return en.Kind == trace.KindWSClose && en.From == "proxy" })
	t.Log("trace:\n" + dump(got))
	checkOrder(t, got, "c1", "ws.upgrade", "dns.query", "dns.response", "tcp.syn", "tcp.synack", "tcp.ack", "ws.accept",
		"mqtt.CONNECT", "mqtt.CONNACK", "mqtt.SUBSCRIBE", "mqtt.SUBACK", "mqtt.PUBLISH", "mqtt.DISCONNECT", "tcp.fin")
	for k := 1; k < len(got); k++ {
		if got[k].Seq != got[k-1].Seq+1 {
			t.Fatalf("seq not consecutive at %d:\n%s", k, dump(got))
		}
	}
	checkAddresses(t, got, e.host)
}

// checkAddresses checks the Src and Dst of a session's entries: on the
// page's leg the proxy is at proxyAddr, on the broker's leg each entry has
// the addresses of the TCP handshake, and DNS has both ends.
func checkAddresses(t *testing.T, got []trace.Entry, proxyAddr string) {
	t.Helper()
	var broker [2]string // proxy, broker
	for _, en := range got {
		if en.Kind == trace.KindTCPAck {
			broker = [2]string{en.Src, en.Dst}
		}
	}
	if broker[0] == "" || broker[1] == "" {
		t.Fatalf("no tcp.ack with both addresses:\n%s", dump(got))
	}
	for _, en := range got {
		if en.Kind == trace.KindBrokerDrop {
			continue // the broker's own report, not a packet on the wire: no addresses
		}
		var want [2]string
		switch en.Leg {
		case trace.LegBrowserProxy:
			want = [2]string{en.Src, proxyAddr}
			if en.From == "proxy" {
				want = [2]string{proxyAddr, en.Dst}
			}
		case trace.LegProxyBroker:
			want = broker
			if en.From == "broker" {
				want = [2]string{broker[1], broker[0]}
			}
		default:
			want = [2]string{en.Src, en.Dst}
		}
		if en.Src == "" || en.Dst == "" || en.Src != want[0] || en.Dst != want[1] {
			t.Errorf("entry %d %s %s→%s: src %q dst %q, want %q %q", en.Seq, en.Kind, en.From, en.To, en.Src, en.Dst, want[0], want[1])
		}
	}
}

// checkOrder checks that the entries of conn hold the kinds want in that
// order (other entries may come between), and that MQTT entries carry their
// bytes and version 4.
func checkOrder(t *testing.T, got []trace.Entry, conn string, want ...string) {
	t.Helper()
	i := 0
	for _, en := range got {
		if en.Conn != conn {
			continue
		}
		if i < len(want) && en.Kind == want[i] {
			i++
		}
		if strings.HasPrefix(en.Kind, "mqtt.") && (en.Version != 4 || len(en.Bytes) == 0) {
			t.Errorf("entry %d %s: version %d, %d bytes; want version 4 and the packet", en.Seq, en.Kind, en.Version, len(en.Bytes))
		}
	}
	if i < len(want) {
		t.Fatalf("trace of %s lacks %s (want in order %v); got:\n%s", conn, want[i], want, dump(got))
	}
}
