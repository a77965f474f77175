package diagram

import (
	"encoding/json"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// v5trace builds MQTT 5.0 entries between named parties on the proxy's
// broker leg, connection by connection.
type v5trace struct {
	t  *testing.T
	m  *Model
	ms float64
}

func (b *v5trace) send(conn, from, to string, p codec.Packet) int {
	b.t.Helper()
	raw, err := codec.AppendPacket(nil, p, codec.V5)
	if err != nil {
		b.t.Fatal(err)
	}
	b.ms += 10
	return b.m.Add(trace.Entry{T: b.ms, Leg: trace.LegProxyBroker, From: from, To: to, Conn: conn,
		Kind: trace.KindMQTT(p.Type().String()), Bytes: raw, Observed: trace.ObservedWire, Version: 5}, Local)
}

func (b *v5trace) links(seq int) MQTT5 {
	b.t.Helper()
	v := b.m.View(0, b.m.Len())
	for _, a := range v.Arrows {
		if a.Seq == seq {
			if a.MQTT5 == nil {
				return MQTT5{}
			}
			return *a.MQTT5
		}
	}
	b.t.Fatalf("no arrow %d", seq)
	return MQTT5{}
}

func pub5(topic string, f func(p *codec.Properties)) *codec.Publish {
	p := &codec.Publish{Topic: topic, Payload: []byte("x")}
	if f != nil {
		f(&p.Properties)
	}
	return p
}

func alias(a uint16) func(p *codec.Properties) {
	return func(p *codec.Properties) { p.TopicAlias = a; p.Set(codec.PropTopicAlias) }
}

func same(t *testing.T, what string, got, want MQTT5) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s: %s, want %s", what, g, w)
	}
}

func TestTopicAliasLinks(t *testing.T) {
	b := &v5trace{t: t, m: New(Options{})}
	set := b.send("c1", "dev", "broker", pub5("plant/t1", alias(1)))
	use := b.send("c1", "dev", "broker", pub5("", alias(1)))
	// The broker's own alias 1 towards the device is another mapping.
	down := b.send("c1", "broker", "dev", pub5("", alias(1)))
	downSet := b.send("c1", "broker", "dev", pub5("cmd/x", alias(1)))
	downUse := b.send("c1", "broker", "dev", pub5("", alias(1)))
	// Another connection knows nothing of c1's aliases.
	other := b.send("c2", "dev", "broker", pub5("", alias(1)))
	plain := b.send("c1", "dev", "broker", pub5("plain", nil))

	same(t, "setting", b.links(set), MQTT5{Alias: 1, AliasTopic: "plant/t1", AliasSet: true})
	same(t, "using", b.links(use), MQTT5{Alias: 1, AliasTopic: "plant/t1"})
	same(t, "broker before set", b.links(down), MQTT5{Alias: 1})
	same(t, "broker setting", b.links(downSet), MQTT5{Alias: 1, AliasTopic: "cmd/x", AliasSet: true})
	same(t, "broker using", b.links(downUse), MQTT5{Alias: 1, AliasTopic: "cmd/x"})
	same(t, "other connection", b.links(other), MQTT5{Alias: 1})
	same(t, "no alias", b.links(plain), MQTT5{})
}

func TestRequestResponseLinks(t *testing.T) {
	b := &v5trace{t: t, m: New(Options{})}
	req := func(corr string) func(p *codec.Properties) {
		return func(p *codec.Properties) {
			p.ResponseTopic, p.CorrelationData = "reply/app", []byte(corr)
			p.Set(codec.PropResponseTopic).Set(codec.PropCorrelationData)
		}
	}
	resp := func(corr string) func(p *codec.Properties) {
		return func(p *codec.Properties) { p.CorrelationData = []byte(corr); p.Set(codec.PropCorrelationData) }
	}
	r1 := b.send("c1", "app", "broker", pub5("dev/cmd", req("42")))       // t=10
	copy1 := b.send("c2", "broker", "dev", pub5("dev/cmd", req("42")))    // the broker's copy to the device
	r2 := b.send("c1", "app", "broker", pub5("dev/cmd", req("43")))       // another request
	wrong := b.send("c2", "dev", "broker", pub5("reply/app", resp("99"))) // no such request
	a1 := b.send("c2", "dev", "broker", pub5("reply/app", resp("42")))    // t=50: answers r1, any client
	a1copy := b.send("c1", "broker", "app", pub5("reply/app", resp("42")))

	same(t, "request", b.links(r1), MQTT5{Response: a1})
	same(t, "request's copy", b.links(copy1), MQTT5{})
	same(t, "unanswered request", b.links(r2), MQTT5{})
	same(t, "foreign correlation", b.links(wrong), MQTT5{})
	same(t, "response", b.links(a1), MQTT5{Request: r1, Elapsed: 40})
	same(t, "response's copy", b.links(a1copy), MQTT5{Request: r1, Elapsed: 50})
}

func TestSubscriptionIDLinks(t *testing.T) {
	b := &v5trace{t: t, m: New(Options{})}
	sub := &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "plant/#"}}}
	sub.Properties.SubscriptionIdentifiers = []int{7}
	b.send("c1", "app", "broker", sub)
	sub2 := &codec.Subscribe{PacketID: 2, Subscriptions: []codec.Subscription{{Filter: "plant/+/t"}, {Filter: "x"}}}
	sub2.Properties.SubscriptionIdentifiers = []int{9}
	b.send("c1", "app", "broker", sub2)
	ids := func(ids ...int) func(p *codec.Properties) {
		return func(p *codec.Properties) { p.SubscriptionIdentifiers = ids }
	}
	both := b.send("c1", "broker", "app", pub5("plant/a/t", ids(7, 9)))
	unknown := b.send("c1", "broker", "app", pub5("plant/a/t", ids(3)))
	elsewhere := b.send("c2", "broker", "app", pub5("plant/a/t", ids(7)))

	same(t, "two subscriptions", b.links(both), MQTT5{Subs: []SubRef{{ID: 7, Filter: "plant/#"}, {ID: 9, Filter: "plant/+/t x"}}})
	same(t, "unknown id", b.links(unknown), MQTT5{Subs: []SubRef{{ID: 3}}})
	same(t, "another connection", b.links(elsewhere), MQTT5{Subs: []SubRef{{ID: 7}}})
}

// TestLinksIgnore311AndGarbage: 3.1.1 packets and undecodable bytes get no
// links, and nothing panics.
func TestLinksIgnore311AndGarbage(t *testing.T) {
	m := New(Options{})
	for _, e := range []trace.Entry{
		{T: 1, Leg: trace.LegProxyBroker, From: "a", To: "b", Conn: "c1", Kind: "mqtt.PUBLISH", Bytes: []byte{0x30, 0x05, 0, 1, 'a', 3, 0x23}, Version: 5},
		{T: 2, Leg: trace.LegProxyBroker, From: "a", To: "b", Conn: "c1", Kind: "mqtt.PUBLISH", Bytes: pktPublish(0, 0, "a", "b"), Version: 4},
		{T: 3, Leg: trace.LegProxyBroker, From: "a", To: "b", Conn: "c1", Kind: "mqtt.SUBSCRIBE", Bytes: []byte{0x82}, Version: 5},
	} {
		m.Add(e, Local)
	}
	for _, a := range m.View(0, 10).Arrows {
		if a.MQTT5 != nil {
			t.Errorf("arrow %d has links %+v", a.Seq, a.MQTT5)
		}
	}
}
