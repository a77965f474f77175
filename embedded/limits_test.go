package embedded_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// startLimited starts the embedded broker with limits lim.
func startLimited(t *testing.T, lim embedded.BrokerLimits) *embedded.Broker {
	t.Helper()
	b, err := embedded.StartBroker("127.0.0.1:0", lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// drops collects the broker.drop entries about one client.
type drops struct {
	mu sync.Mutex
	es []trace.Entry
}

func watchDrops(t *testing.T, b *embedded.Broker, id string) *drops {
	d := &drops{}
	stop := b.Watch(id, func(e trace.Entry) { d.mu.Lock(); d.es = append(d.es, e); d.mu.Unlock() })
	t.Cleanup(stop)
	return d
}

// wait returns the entries once there are n, or fails after 10 s.
func (d *drops) wait(t *testing.T, n int) []trace.Entry {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d.mu.Lock()
		es := append([]trace.Entry(nil), d.es...)
		d.mu.Unlock()
		if len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d drops reported, want %d: %+v", len(es), n, es)
		}
	}
}

func dial(t *testing.T, b *embedded.Broker, v codec.Version, packets ...interface {
	Append([]byte, codec.Version) ([]byte, error)
}) (net.Conn, *packetReader) {
	t.Helper()
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var out []byte
	for _, p := range packets {
		if out, err = p.Append(out, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	return c, &packetReader{c: c}
}

// A session kept for a client that left is forgotten after the session
// expiry, with the messages queued for it: each one reported.
func TestSessionExpiredReported(t *testing.T) {
	b := startLimited(t, embedded.BrokerLimits{SessionExpiry: 1})
	d := watchDrops(t, b, "away")
	c, r := dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "away", KeepAlive: 60},
		&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "away/#", QoS: 1}}})
	r.next(t, codec.TypeConnack)
	r.next(t, codec.TypeSuback)
	c.Write([]byte{0xe0, 0})
	c.Close()
	time.Sleep(200 * time.Millisecond)
	publishAll(t, b.Addr().String(), "away/x", 3, 5, 1, false, codec.V311)
	if s := b.Stats(); s.QueuedBytes != 3*int64(len("away/x")+5) {
		t.Errorf("queued %d bytes for the absent session, want 3 messages'", s.QueuedBytes)
	}
	es := d.wait(t, 3)
	for _, e := range es {
		if e.Drop.Reason != trace.DropSessionExpired || e.Drop.Topic != "away/x" || e.Drop.QoS != 1 {
			t.Errorf("drop %+v, want session expired", *e.Drop)
		}
	}
	if s := b.Stats(); s.QueuedBytes != 0 || s.Sessions != 0 || s.Drops[trace.DropSessionExpired] != 3 {
		t.Errorf("after expiry: %+v", s)
	}
}

// A message whose expiry interval passes while it waits for an absent
// client is reported expired when the client comes back, not sent.
func TestMessageExpiredReported(t *testing.T) {
	b := newTestBroker(t)
	d := watchDrops(t, b, "late")
	connect := &codec.Connect{Version: codec.V5, ClientID: "late", KeepAlive: 60}
	connect.Properties.Set(codec.PropSessionExpiry).SessionExpiry = 600
	c, r := dial(t, b, codec.V5, connect,
		&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "late/#", QoS: 1}}})
	r.next(t, codec.TypeConnack)
	r.next(t, codec.TypeSuback)
	c.Write([]byte{0xe0, 0})
	c.Close()
	time.Sleep(200 * time.Millisecond)
	pub := &codec.Publish{QoS: 1, PacketID: 1, Topic: "late/x", Payload: []byte("soon stale")}
	pub.Properties.Set(codec.PropMessageExpiry).MessageExpiry = 1
	fresh := &codec.Publish{QoS: 1, PacketID: 2, Topic: "late/x", Payload: []byte("fresh")}
	p, pr := dial(t, b, codec.V5, &codec.Connect{Version: codec.V5, ClientID: "pub", CleanStart: true}, pub, fresh)
	pr.next(t, codec.TypeConnack)
	pr.next(t, codec.TypePuback)
	pr.next(t, codec.TypePuback)
	p.Close()
	time.Sleep(2500 * time.Millisecond)
	_, r = dial(t, b, codec.V5, connect)
	r.next(t, codec.TypeConnack)
	var got codec.Publish
	if err := got.Decode(r.next(t, codec.TypePublish), codec.V5); err != nil || string(got.Payload) != "fresh" {
		t.Fatalf("got %q (%v), want only the fresh message", got.Payload, err)
	}
	r.none(t, 300*time.Millisecond)
	if es := d.wait(t, 1); es[0].Drop.Reason != trace.DropExpired || es[0].Drop.Size != len("soon stale") {
		t.Fatalf("drop %+v, want the stale message expired", *es[0].Drop)
	}
}

// Beyond the retained store's budget a v5 QoS 1 publisher gets PUBACK
// 0x97 Quota exceeded and the message is not published; a 3.1.1
// publisher's message is delivered but not retained, and a broker.drop
// says so to the publisher's watchers.
func TestRetainedBudget(t *testing.T) {
	b := startLimited(t, embedded.BrokerLimits{RetainedBytes: 100})
	d := watchDrops(t, b, "v3")
	d5 := watchDrops(t, b, "v5")
	big := make([]byte, 80)
	sub, sr := dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "sub", CleanStart: true, KeepAlive: 60},
		&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "r/#", QoS: 1}}})
	sr.next(t, codec.TypeConnack)
	sr.next(t, codec.TypeSuback)
	defer sub.Close()

	_, r5 := dial(t, b, codec.V5, &codec.Connect{Version: codec.V5, ClientID: "v5", CleanStart: true},
		&codec.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "r/1", Payload: big},
		&codec.Publish{QoS: 1, PacketID: 2, Retain: true, Topic: "r/2", Payload: big})
	r5.next(t, codec.TypeConnack)
	for i, want := range []codec.ReasonCode{0x00, 0x97} {
		var ack codec.Puback
		if err := ack.Decode(r5.next(t, codec.TypePuback), codec.V5); err != nil || ack.ReasonCode != want {
			t.Fatalf("PUBACK %d: reason 0x%02x (%v), want 0x%02x", i+1, byte(ack.ReasonCode), err, byte(want))
		}
	}
	_, r3 := dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "v3", CleanStart: true},
		&codec.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "r/3", Payload: big})
	r3.next(t, codec.TypeConnack)
	r3.next(t, codec.TypePuback)
	// The subscriber got r/1 and r/3, not the refused r/2. (A copy with
	// the retain flag may come too: r/1 can be published between the
	// SUBACK's write and the retained messages sent after it.)
	for _, want := range []string{"r/1", "r/3"} {
		var p codec.Publish
		for {
			if err := p.Decode(sr.next(t, codec.TypePublish), codec.V311); err != nil {
				t.Fatal(err)
			}
			ack, _ := (&codec.Puback{PacketID: p.PacketID}).Append(nil, codec.V311)
			sub.Write(ack)
			if !p.Retain {
				break
			}
		}
		if p.Topic != want {
			t.Fatalf("subscriber got %q, want %s", p.Topic, want)
		}
	}
	es := d.wait(t, 1)
	if e := es[0].Drop; e.Reason != trace.DropRetainedFull || e.Topic != "r/3" || e.Client != "v3" || e.Refused {
		t.Fatalf("drop %+v, want r/3 not retained", *e)
	}
	t.Log(es[0].Summary)
	if e := d5.wait(t, 1)[0]; !e.Drop.Refused || e.Drop.Topic != "r/2" || !strings.Contains(e.Summary, "refused with 0x97") {
		t.Fatalf("v5 refusal reported as %+v %q", *e.Drop, e.Summary)
	}
	// Only r/1 is retained.
	_, rn := dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "late", CleanStart: true},
		&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "r/#", QoS: 0}}})
	rn.next(t, codec.TypeConnack)
	rn.next(t, codec.TypeSuback)
	var p codec.Publish
	if err := p.Decode(rn.next(t, codec.TypePublish), codec.V311); err != nil || p.Topic != "r/1" || !p.Retain {
		t.Fatalf("retained: %q retain=%v (%v), want r/1", p.Topic, p.Retain, err)
	}
	rn.none(t, 300*time.Millisecond)
	if s := b.Stats(); s.RetainedBytes != int64(len("r/1")+80) || s.Drops[trace.DropRetainedFull] != 2 {
		t.Errorf("stats %+v", s)
	}
}

// retainedFrom connects a publisher "pub" and has it publish a retained
// message at QoS 1; it returns once the broker has handed the message to
// its subscribers. mochi acknowledges a QoS 1 PUBLISH before that: a
// subscriber that subscribed in between would get it twice, live and
// retained (1 run in 100 of TestRetainedOnSubscribe). The PINGRESP to a
// PINGREQ behind it comes once the PUBLISH is all done.
func retainedFrom(t *testing.T, b *embedded.Broker, v codec.Version, topic, payload string) *packetReader {
	t.Helper()
	_, pr := dial(t, b, v, &codec.Connect{Version: v, ClientID: "pub", CleanStart: true},
		&codec.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: topic, Payload: []byte(payload)}, &codec.Pingreq{})
	pr.next(t, codec.TypeConnack)
	pr.next(t, codec.TypePuback)
	pr.next(t, codec.TypePingresp)
	return pr
}

// Retained messages on SUBSCRIBE come after the SUBACK, with the retain
// flag, as Retain Handling asks: 0 always, 1 only for a new subscription,
// 2 never.
func TestRetainedOnSubscribe(t *testing.T) {
	b := newTestBroker(t)
	retainedFrom(t, b, codec.V5, "kept/a", "A")
	for _, tt := range []struct {
		rh    byte
		twice bool // subscribe again to the same filter
		want  int  // retained messages after the last SUBACK
	}{{0, false, 1}, {0, true, 1}, {1, false, 1}, {1, true, 0}, {2, false, 0}} {
		c, r := dial(t, b, codec.V5, &codec.Connect{Version: codec.V5, ClientID: "sub", CleanStart: true, KeepAlive: 60})
		r.next(t, codec.TypeConnack)
		sub := &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "kept/#", QoS: 1, RetainHandling: tt.rh}}}
		send := func() {
			out, _ := sub.Append(nil, codec.V5)
			c.Write(out)
			r.next(t, codec.TypeSuback)
		}
		send()
		if tt.twice {
			if tt.rh != 2 { // the first, new subscription got it
				r.publishID(t, codec.V5)
			}
			// mochi takes the client's packet identifiers and its own
			// for one space: a SUBSCRIBE reusing the id of a PUBLISH
			// not yet acknowledged is refused (0x91).
			sub.PacketID = 2
			send()
		}
		for range tt.want {
			var p codec.Publish
			if err := p.Decode(r.next(t, codec.TypePublish), codec.V5); err != nil || p.Topic != "kept/a" || !p.Retain {
				t.Fatalf("retain handling %d, twice %v: %q retain=%v (%v)", tt.rh, tt.twice, p.Topic, p.Retain, err)
			}
		}
		r.none(t, 200*time.Millisecond)
		c.Close()
	}
}

// Beyond the sessions it may hold, the broker refuses a new client in
// MQTT's terms: CONNACK 0x97 Quota exceeded (v5), 0x03 Server unavailable
// (3.1.1); a client resuming its session is not refused.
func TestSessionsBounded(t *testing.T) {
	b := startLimited(t, embedded.BrokerLimits{MaxClients: 2})
	_, r := dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "one", KeepAlive: 60})
	r.next(t, codec.TypeConnack)
	_, r = dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "two", KeepAlive: 60})
	r.next(t, codec.TypeConnack)
	for _, v := range []codec.Version{codec.V5, codec.V311} {
		_, r := dial(t, b, v, &codec.Connect{Version: v, ClientID: "three", CleanStart: true, KeepAlive: 60})
		var ack codec.Connack
		if err := ack.Decode(r.next(t, codec.TypeConnack), v); err != nil {
			t.Fatal(err)
		}
		want := codec.ReasonCode(0x97)
		if v == codec.V311 {
			want = 0x03
		}
		if ack.ReasonCode != want {
			t.Errorf("v%d: CONNACK 0x%02x, want 0x%02x", v, byte(ack.ReasonCode), byte(want))
		}
	}
	_, r = dial(t, b, codec.V311, &codec.Connect{Version: codec.V311, ClientID: "one", KeepAlive: 60})
	var ack codec.Connack
	if err := ack.Decode(r.next(t, codec.TypeConnack), codec.V311); err != nil || ack.ReasonCode != 0 {
		t.Errorf("resuming: CONNACK 0x%02x (%v), want 0", byte(ack.ReasonCode), err)
	}
}

// A v5 client may ask for a shorter queue than the broker's with the
// CONNECT user property lifeline-max-queued (for a lesson that fills one):
// with a window of 2 (Receive Maximum) and 3 queued, of 10 messages 5 are
// held and 5 reported dropped.
func TestClientMaxQueued(t *testing.T) {
	b := newTestBroker(t)
	d := watchDrops(t, b, "lesson")
	cp := &codec.Connect{Version: codec.V5, ClientID: "lesson", CleanStart: true, KeepAlive: 60}
	cp.Properties.Set(codec.PropReceiveMaximum).ReceiveMaximum = 2
	cp.Properties.User = []codec.UserProperty{{Key: embedded.MaxQueuedProperty, Value: "3"}}
	_, r := dial(t, b, codec.V5, cp, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "l/#", QoS: 1}}})
	r.next(t, codec.TypeConnack)
	r.next(t, codec.TypeSuback)
	publishAll(t, b.Addr().String(), "l/x", 10, 1, 1, false, codec.V311)
	es := d.wait(t, 5)
	if e := es[4].Drop; e.Reason != trace.DropQueueFull || e.Queued != 3 || e.Inflight != 2 || e.Limit != "3 messages queued (the client's lifeline-max-queued)" {
		t.Fatalf("drop %+v", *e)
	}
	r.publishID(t, codec.V5)
	r.publishID(t, codec.V5)
	r.none(t, 200*time.Millisecond)
}

// The broker announces its Receive Maximum (the window, 20) in a v5
// CONNACK and holds publishers to it: a 21st QoS 2 message before any
// PUBREL is answered with DISCONNECT 0x93 Receive Maximum exceeded.
func TestReceiveMaximumInbound(t *testing.T) {
	b := newTestBroker(t)
	c, r := dial(t, b, codec.V5, &codec.Connect{Version: codec.V5, ClientID: "eager", CleanStart: true, KeepAlive: 60})
	var ack codec.Connack
	if err := ack.Decode(r.next(t, codec.TypeConnack), codec.V5); err != nil {
		t.Fatal(err)
	}
	if !ack.Properties.Has(codec.PropReceiveMaximum) || ack.Properties.ReceiveMaximum != 20 {
		t.Fatalf("CONNACK Receive Maximum %d (present %v), want 20", ack.Properties.ReceiveMaximum, ack.Properties.Has(codec.PropReceiveMaximum))
	}
	var out []byte
	for i := range 21 {
		out, _ = (&codec.Publish{QoS: 2, PacketID: uint16(i + 1), Topic: "eager/x", Payload: []byte("x")}).Append(out, codec.V5)
	}
	c.Write(out)
	for range 20 {
		r.next(t, codec.TypePubrec)
	}
	var d codec.Disconnect
	if err := d.Decode(r.next(t, codec.TypeDisconnect), codec.V5); err != nil || d.ReasonCode != 0x93 {
		t.Fatalf("DISCONNECT 0x%02x (%v), want 0x93", byte(d.ReasonCode), err)
	}
}

// A client that reconnects with its id at once, as its last connection
// ends, gets its new session whole: mochi's cleanup of the connection
// that ended must not deregister the new one or remove the filter it
// subscribes (see endingWait). Each round: subscribe, receive the
// retained message on the SUBACK, close, and again at once; then a
// publish to the last connection.
func TestReconnectAtOnce(t *testing.T) {
	b := newTestBroker(t)
	pr := retainedFrom(t, b, codec.V311, "dev/kept", "K")
	const rounds = 1000
	for i := range rounds {
		c, r := dial(t, b, codec.V5, &codec.Connect{Version: codec.V5, ClientID: "dev", CleanStart: true, KeepAlive: 60},
			&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "dev/#", QoS: 1}}})
		r.next(t, codec.TypeConnack)
		r.next(t, codec.TypeSuback)
		var p codec.Publish
		if err := p.Decode(r.next(t, codec.TypePublish), codec.V5); err != nil || p.Topic != "dev/kept" {
			t.Fatalf("round %d: retained message %q (%v)", i, p.Topic, err)
		}
		ack, _ := (&codec.Puback{PacketID: p.PacketID}).Append(nil, codec.V5)
		c.Write(ack)
		if i == rounds-1 {
			pub, _ := (&codec.Publish{QoS: 0, Topic: "dev/last", Payload: []byte("L")}).Append(nil, codec.V311)
			pr.c.Write(pub)
			if err := p.Decode(r.next(t, codec.TypePublish), codec.V5); err != nil || p.Topic != "dev/last" {
				t.Fatalf("after %d reconnections: got %q (%v), want dev/last", rounds, p.Topic, err)
			}
		}
		c.Close()
	}
}
