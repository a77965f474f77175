package proxy_test

import (
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A page's subscriber that acknowledges nothing while 1,500 QoS 1
// messages arrive for it: the embedded broker sends the window (20),
// queues 1,000, and drops the other 480 — each one a broker.drop entry in
// the page's trace, on the session's broker leg, an arrow from the broker
// to itself, with the reason and the queue's counts.
func TestBrokerDropsInTrace(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
	for _, p := range []interface {
		Append([]byte, codec.Version) ([]byte, error)
	}{
		&codec.Connect{Version: codec.V5, ClientID: "slow-page", CleanStart: true, KeepAlive: 60},
		&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "slow/#", QoS: 1}}},
	} {
		b, err := p.Append(nil, codec.V5)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Send(websocket.MessageBinary, b); err != nil {
			t.Fatal(err)
		}
	}
	tc.waitFor(t, "the SUBACK", func(e trace.Entry) bool { return e.Kind == trace.KindMQTT("SUBACK") })

	pub, err := net.Dial("tcp", e.brokerAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	b, _ := (&codec.Connect{Version: codec.V311, ClientID: "fast-pub", CleanStart: true}).Append(nil, codec.V311)
	for i := range 1500 {
		b, _ = (&codec.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "slow/x", Payload: []byte("0123456789")}).Append(b, codec.V311)
	}
	if _, err := pub.Write(b); err != nil {
		t.Fatal(err)
	}

	var drops []trace.Entry
	for deadline := time.Now().Add(20 * time.Second); ; {
		drops = drops[:0]
		tc.mu.Lock()
		for _, en := range tc.got {
			if en.Kind == trace.KindBrokerDrop {
				drops = append(drops, en)
			}
		}
		tc.mu.Unlock()
		if len(drops) >= 480 || time.Now().After(deadline) {
			break
		}
		select {
		case <-tc.more:
		case <-time.After(time.Second):
		}
	}
	time.Sleep(200 * time.Millisecond) // none beyond 480
	tc.mu.Lock()
	n := 0
	for _, en := range tc.got {
		if en.Kind == trace.KindBrokerDrop {
			n++
		}
	}
	tc.mu.Unlock()
	if n != 480 {
		t.Fatalf("%d broker.drop entries, want 480", n)
	}
	d := drops[0]
	if d.Leg != trace.LegProxyBroker || d.From != "broker" || d.To != "broker" || d.Conn != "c1" || d.Version != 5 ||
		d.Observed != trace.ObservedBroker || d.Drop == nil || d.Drop.Client != "slow-page" || d.Drop.Reason != trace.DropQueueFull ||
		d.Drop.Queued != 1000 || d.Drop.Inflight != 20 || d.Drop.Topic != "slow/x" || d.Drop.QoS != 1 || d.T <= 0 {
		t.Fatalf("first drop entry %+v (drop %+v)", d, d.Drop)
	}
	t.Logf("%s", d.Summary)
}
