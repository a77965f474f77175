package expert

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

const (
	cli = "10.0.0.1:40000"
	brk = "10.0.0.2:1883"
)

// tr builds a hand-made trace of one connection.
type tr struct {
	t       testing.TB
	v       codec.Version
	entries []trace.Entry
}

func newTr(t testing.TB, v codec.Version) *tr { return &tr{t: t, v: v} }

func (b *tr) add(ms float64, from, to string, raw []byte) *tr {
	typ := "?"
	if len(raw) > 0 {
		typ = codec.PacketType(raw[0] >> 4).String()
	}
	b.entries = append(b.entries, trace.Entry{Seq: len(b.entries) + 1, T: ms, Leg: trace.LegClientBroker,
		From: from, To: to, Kind: trace.KindMQTT(typ), Bytes: raw, Observed: trace.ObservedWire, Conn: "c1", Version: int(b.v)})
	return b
}

func (b *tr) pkt(p codec.Packet) []byte {
	b.t.Helper()
	raw, err := codec.AppendPacket(nil, p, b.v)
	if err != nil {
		b.t.Fatalf("encoding %T: %v", p, err)
	}
	return raw
}

// up sends p from the client to the broker at ms; down the other way.
func (b *tr) up(ms float64, p codec.Packet) *tr   { return b.add(ms, cli, brk, b.pkt(p)) }
func (b *tr) down(ms float64, p codec.Packet) *tr { return b.add(ms, brk, cli, b.pkt(p)) }
func (b *tr) upHex(ms float64, h string) *tr {
	raw, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.add(ms, cli, brk, raw)
}

// connected opens the connection: CONNECT with keepalive k, CONNACK with
// the given properties.
func (b *tr) connected(k uint16, ack codec.Properties) *tr {
	return b.up(0, &codec.Connect{Version: b.v, CleanStart: true, KeepAlive: k, ClientID: "dev"}).
		down(1, &codec.Connack{Properties: ack})
}

// brief writes findings as "code #seq,#seq" lines, for comparison.
func brief(fs []Finding) string {
	var lines []string
	for _, f := range fs {
		s := f.Severity.String() + " " + f.Code
		for _, q := range f.Seq {
			s += " #" + strconv.Itoa(q)
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func aliasMax(n uint16) codec.Properties {
	var p codec.Properties
	p.TopicAliasMaximum = n
	p.Set(codec.PropTopicAliasMaximum)
	return p
}

func aliased(topic string, a uint16) *codec.Publish {
	p := &codec.Publish{Topic: topic, Payload: []byte("x")}
	p.Properties.TopicAlias = a
	p.Properties.Set(codec.PropTopicAlias)
	return p
}

func TestAnalyze(t *testing.T) {
	none := codec.Properties{}
	cases := []struct {
		name  string
		build func(b *tr)
		want  string
	}{
		{"clean QoS 1 exchange", func(b *tr) {
			b.connected(60, none).up(2, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "a/#", QoS: 1}}}).
				down(3, &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1}}).
				up(4, &codec.Publish{QoS: 1, PacketID: 2, Topic: "a/b", Payload: []byte("1")}).
				down(5, &codec.Puback{PacketID: 2}).up(6, &codec.Disconnect{})
		}, ""},
		{"MQTT-2.2.1-5 PUBACK for an unknown id", func(b *tr) {
			b.connected(0, none).down(2, &codec.Puback{PacketID: 9})
		}, "warning ack.unknown-id #3"},
		{"PUBCOMP before PUBREL", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{QoS: 2, PacketID: 4, Topic: "a", Payload: []byte("1")}).
				down(3, &codec.Pubrec{PacketID: 4}).down(4, &codec.Pubcomp{PacketID: 4})
		}, "warning answer.missing #4\nwarning ack.unknown-id #5"},
		{"QoS 2 both ways complete", func(b *tr) {
			b.connected(0, none).down(2, &codec.Publish{QoS: 2, PacketID: 1, Topic: "a", Payload: []byte("1")}).
				up(3, &codec.Pubrec{PacketID: 1}).down(4, &codec.Pubrel{PacketID: 1}).up(5, &codec.Pubcomp{PacketID: 1})
		}, ""},
		{"MQTT-2.2.1-3 id reused while in flight", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{QoS: 1, PacketID: 7, Topic: "a", Payload: []byte("1")}).
				up(3, &codec.Subscribe{PacketID: 7, Subscriptions: []codec.Subscription{{Filter: "b"}}}).
				down(4, &codec.Suback{PacketID: 7, ReasonCodes: []codec.ReasonCode{0}})
		}, "error id.reused #4 #3"},
		{"DUP resend is a retransmission, not a reuse", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{QoS: 1, PacketID: 7, Topic: "a", Payload: []byte("1")}).
				up(3, &codec.Publish{Dup: true, QoS: 1, PacketID: 7, Topic: "a", Payload: []byte("1")}).
				down(4, &codec.Puback{PacketID: 7})
		}, "chat publish.retransmit #4 #3"},
		{"answer missing at the end and past the threshold", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("1")}).
				up(20_000, &codec.Pingreq{}).down(20_001, &codec.Pingresp{}).
				up(20_002, &codec.Unsubscribe{PacketID: 2, Filters: []string{"a"}})
		}, "warning answer.missing #3\nwarning answer.missing #6"},
		{"late answer", func(b *tr) {
			b.connected(0, none).up(2, &codec.Pingreq{}).down(15_000, &codec.Pingresp{})
		}, "warning answer.late #4 #3"},
		{"CONNACK never came", func(b *tr) {
			b.up(0, &codec.Connect{Version: b.v, CleanStart: true, ClientID: "dev"})
		}, "warning answer.missing #1"},
		{"granted QoS lower than requested", func(b *tr) {
			b.connected(0, none).up(2, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "a", QoS: 2}, {Filter: "b", QoS: 1}}}).
				down(3, &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1, 1}})
		}, "note suback.downgraded #4 #3"},
		{"MQTT-3.3.2-2 wildcard in a PUBLISH topic", func(b *tr) {
			b.connected(0, none).upHex(2, "30 05 0003 612f2b")
		}, "error publish.wildcard #3"},
		{"MQTT-3.3.1-2 DUP with QoS 0", func(b *tr) {
			b.connected(0, none).upHex(2, "38 04 0001 61 78")
		}, "error publish.dup-qos0 #3"},
		{"malformed bytes", func(b *tr) {
			b.connected(0, none).upHex(2, "30 7f 00")
		}, "error malformed #3"},
		{"retained message cleared", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{Retain: true, Topic: "a/b"})
		}, "note retain.cleared #3"},
		{"MQTT-3.1.2-23 keepalive missed", func(b *tr) {
			b.connected(5, none).up(4_000, &codec.Pingreq{}).down(4_001, &codec.Pingresp{}).
				up(12_000, &codec.Pingreq{}).down(12_001, &codec.Pingresp{})
		}, "warning keepalive.missed #5"},
		{"keepalive kept with jitter", func(b *tr) {
			b.connected(5, none).up(5_050, &codec.Pingreq{}).down(5_051, &codec.Pingresp{}).
				up(10_100, &codec.Pingreq{}).down(10_101, &codec.Pingresp{}).up(10_200, &codec.Disconnect{})
		}, ""},
		{"client silent until the end", func(b *tr) {
			b.connected(2, none).down(9_000, &codec.Publish{Topic: "a", Payload: []byte("x")})
		}, "warning keepalive.missed #1"},
		{"3.1.1 CONNACK refused", func(b *tr) {
			b.up(0, &codec.Connect{Version: b.v, CleanStart: true, ClientID: "dev"}).down(1, &codec.Connack{ReasonCode: 5})
		}, "warning reason.failure #2"},
		{"3.1.1 SUBACK failure", func(b *tr) {
			b.connected(0, none).up(2, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "a"}}}).
				down(3, &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{0x80}})
		}, "warning reason.failure #4 #3"},
		{"3.14 DISCONNECT from a 3.1.1 broker (mochi's takeover)", func(b *tr) {
			b.connected(0, none).down(2, &codec.Disconnect{})
		}, "error disconnect.from-server #3"},
		{"SUBACK with too few codes", func(b *tr) {
			b.connected(0, none).up(2, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "a"}, {Filter: "b"}}}).
				down(3, &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{0}})
		}, "error ack.count #4 #3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTr(t, codec.V311)
			c.build(b)
			got := brief(Analyze(b.entries, Options{}))
			if got != c.want {
				t.Errorf("findings:\n%s\nwant:\n%s", got, c.want)
			}
			checkGrowing(t, b.entries, Options{})
		})
	}
}

func TestAnalyzeV5(t *testing.T) {
	none := codec.Properties{}
	cases := []struct {
		name  string
		build func(b *tr)
		want  string
	}{
		{"failure reason codes", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("1")}).
				down(3, &codec.Puback{PacketID: 1, ReasonCode: 0x87}).
				up(4, &codec.Subscribe{PacketID: 2, Subscriptions: []codec.Subscription{{Filter: "$share/g/a"}}}).
				down(5, &codec.Suback{PacketID: 2, ReasonCodes: []codec.ReasonCode{0x9e}}).
				up(6, &codec.Publish{QoS: 2, PacketID: 3, Topic: "a", Payload: []byte("1")}).
				down(7, &codec.Pubrec{PacketID: 3, ReasonCode: 0x80}).
				down(8, &codec.Disconnect{ReasonCode: 0x8e})
		}, "warning reason.failure #4 #3\nwarning reason.failure #6 #5\nwarning reason.failure #8 #7\nwarning reason.failure #9"},
		{"PUBACK 0x10 no matching subscribers is no failure", func(b *tr) {
			b.connected(0, none).up(2, &codec.Publish{QoS: 1, PacketID: 1, Topic: "a", Payload: []byte("1")}).
				down(3, &codec.Puback{PacketID: 1, ReasonCode: 0x10})
		}, ""},
		{"CONNACK refused", func(b *tr) {
			b.up(0, &codec.Connect{Version: b.v, CleanStart: true, ClientID: "dev"}).down(1, &codec.Connack{ReasonCode: 0x86})
		}, "warning reason.failure #2"},
		{"alias set then used", func(b *tr) {
			b.connected(0, aliasMax(5)).up(2, aliased("a/b", 1)).up(3, aliased("", 1))
		}, "chat alias.set #3"},
		{"alias used before set", func(b *tr) {
			b.connected(0, aliasMax(5)).up(2, aliased("", 2))
		}, "error alias.unknown #3"},
		{"alias beyond the maximum", func(b *tr) {
			b.connected(0, aliasMax(1)).up(2, aliased("a", 2))
		}, "error alias.maximum #3\nchat alias.set #3"},
		{"alias with no maximum given", func(b *tr) {
			b.connected(0, none).up(2, aliased("a", 1))
		}, "error alias.maximum #3\nchat alias.set #3"},
		{"broker alias bounded by the client's maximum", func(b *tr) {
			var cp codec.Properties
			cp.TopicAliasMaximum = 3
			cp.Set(codec.PropTopicAliasMaximum)
			b.up(0, &codec.Connect{Version: b.v, CleanStart: true, ClientID: "dev", Properties: cp}).down(1, &codec.Connack{}).
				down(2, aliased("x", 3)).down(3, aliased("", 3)).down(4, aliased("y", 4))
		}, "chat alias.set #3\nerror alias.maximum #5\nchat alias.set #5"},
		{"aliases are per direction", func(b *tr) {
			var cp codec.Properties
			cp.TopicAliasMaximum = 3
			cp.Set(codec.PropTopicAliasMaximum)
			b.up(0, &codec.Connect{Version: b.v, CleanStart: true, ClientID: "dev", Properties: cp}).down(1, &codec.Connack{Properties: aliasMax(3)}).
				up(2, aliased("x", 1)).down(3, aliased("", 1))
		}, "chat alias.set #3\nerror alias.unknown #4"},
		{"2.2.2.2 a property twice", func(b *tr) {
			b.connected(0, none).upHex(2, "30 09 0001 61 04 01010101 78")
		}, "error property.duplicate #3"},
		{"alias 0 refused by the codec", func(b *tr) {
			b.connected(0, aliasMax(5)).upHex(2, "30 08 0001 61 03 230000 78")
		}, "error malformed #3"},
		{"UNSUBACK failure", func(b *tr) {
			b.connected(0, none).up(2, &codec.Unsubscribe{PacketID: 1, Filters: []string{"a"}}).
				down(3, &codec.Unsuback{PacketID: 1, ReasonCodes: []codec.ReasonCode{0x87}})
		}, "warning reason.failure #4 #3"},
		{"server keep alive replaces the client's", func(b *tr) {
			var p codec.Properties
			p.ServerKeepAlive = 2
			p.Set(codec.PropServerKeepAlive)
			b.connected(60, p).up(5_000, &codec.Pingreq{})
		}, "warning keepalive.missed #3\nwarning answer.missing #3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTr(t, codec.V5)
			c.build(b)
			got := brief(Analyze(b.entries, Options{}))
			if got != c.want {
				t.Errorf("findings:\n%s\nwant:\n%s", got, c.want)
			}
			checkGrowing(t, b.entries, Options{})
		})
	}
}

// TestConnsAndLegs: the same packets on two legs and on two connections
// are analysed apart.
func TestConnsAndLegs(t *testing.T) {
	b := newTr(t, codec.V311)
	b.connected(0, codec.Properties{}).down(2, &codec.Puback{PacketID: 5})
	var es []trace.Entry
	for i, leg := range []string{trace.LegBrowserProxy, trace.LegProxyBroker} {
		for _, e := range b.entries {
			e.Leg = leg
			e.Seq = len(es) + 1
			e.Conn = "c" + strconv.Itoa(i+1)
			es = append(es, e)
		}
	}
	got := Analyze(es, Options{})
	if len(got) != 2 || got[0].Leg != trace.LegBrowserProxy || got[1].Leg != trace.LegProxyBroker || got[1].Seq[0] != 6 {
		t.Fatalf("findings: %v", got)
	}
}

func TestFindingJSON(t *testing.T) {
	f := Finding{Severity: Warning, Code: CodeNoAnswer, Seq: []int{3}, Conn: "c1", Text: "t", Clause: "4.3.2"}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"severity":"warning","code":"answer.missing","seq":[3],"conn":"c1","text":"t","clause":"4.3.2"}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var back Finding
	if err := json.Unmarshal(b, &back); err != nil || back.Severity != Warning {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if n := Counts([]Finding{f, f, {Severity: Error}}); n != [4]int{0, 0, 2, 1} {
		t.Fatalf("counts %v", n)
	}
}

func FuzzAnalyze(f *testing.F) {
	f.Add([]byte{0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 5, 2, 0, 5, 0, 0, 1, 'a', 0, 0}, []byte{0x40, 0x02, 0x00, 0x01}, byte(5))
	f.Add([]byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '+'}, []byte{0x62, 0x02, 0x00, 0x01}, byte(4))
	f.Add([]byte{0x32, 0x06, 0x00, 0x01, 'a', 0, 1, 3, 0x23, 0, 1}, []byte{0x90, 0x03, 0x00, 0x01, 0x80}, byte(5))
	f.Fuzz(func(t *testing.T, up, down []byte, v byte) {
		var es []trace.Entry
		add := func(from, to string, b []byte) {
			es = append(es, trace.Entry{Seq: len(es) + 1, T: float64(len(es) * 7000), From: from, To: to, Kind: "mqtt.x", Bytes: b, Conn: "c1", Version: int(v % 6)})
		}
		// Each input is split at every packet length it claims, as a
		// stream would be; the rest goes in whole.
		for i, in := range [][]byte{up, down} {
			from, to := cli, brk
			if i == 1 {
				from, to = brk, cli
			}
			for len(in) > 0 {
				n, err := codec.PacketLen(in, 0)
				if err != nil || n <= 0 || n > len(in) {
					n = len(in)
				}
				add(from, to, in[:n])
				in = in[n:]
			}
		}
		add(cli, brk, up)
		add(brk, cli, down)
		for _, fd := range Analyze(es, Options{}) {
			if len(fd.Seq) == 0 || fd.Text == "" {
				t.Fatalf("finding without packet or text: %+v", fd)
			}
		}
		checkGrowing(t, es, Options{})
	})
}

// checkGrowing feeds es to one Analyzer an entry at a time: after each,
// its findings are Analyze's of the entries so far.
func checkGrowing(t testing.TB, es []trace.Entry, o Options) {
	t.Helper()
	a := NewAnalyzer(o)
	for i := range es {
		a.Add(&es[i])
		got, want := a.Findings(), Analyze(es[:i+1], o)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after %d of %d entries, the Analyzer has\n%s\nand Analyze\n%s", i+1, len(es), brief(got), brief(want))
		}
	}
}

// Prune forgets the findings about entries no longer kept, and nothing
// else: the analysis still knows what those entries were.
func TestAnalyzerPrune(t *testing.T) {
	b := newTr(t, codec.V311)
	b.connected(0, codec.Properties{}).
		down(2, &codec.Puback{PacketID: 9}).                    // #3: unknown id
		up(3, &codec.Publish{QoS: 1, PacketID: 4, Topic: "a"}). // #4
		up(4, &codec.Publish{QoS: 1, PacketID: 4, Topic: "b"}). // #5: id reused (#5, #4)
		down(5, &codec.Puback{PacketID: 4})                     // #6
	a := NewAnalyzer(Options{})
	for i := range b.entries {
		a.Add(&b.entries[i])
	}
	before := brief(a.Findings())
	a.Prune(func(seq int) bool { return seq >= 4 })
	after := brief(a.Findings())
	if strings.Contains(after, "#3") || !strings.Contains(before, "#3") {
		t.Fatalf("pruned before #4: before\n%s\nafter\n%s", before, after)
	}
	if want := strings.Replace(before, "warning ack.unknown-id #3\n", "", 1); after != want {
		t.Fatalf("after pruning:\n%s\nwant:\n%s", after, want)
	}
	// What follows is analysed as if #1 to #3 were still there: the
	// CONNECT was seen, so a PINGRESP with no PINGREQ is reported.
	b.down(6, &codec.Pingresp{})
	a.Add(&b.entries[len(b.entries)-1])
	if got := brief(a.Findings()); !strings.Contains(got, "ack.unknown-id #7") {
		t.Fatalf("a PINGRESP after pruning: %s", got)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{`a/b`: `"a/b"`, "a\"\\\n": `"a\"\\\x0a"`, "é": `"é"`} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// A trace whose oldest entries were dropped (the page keeps the newest
// 20,000 arrows): acknowledgements of requests that were dropped, with no
// CONNECT kept, are no finding when the trace says it was truncated; with
// the CONNECT kept, or in a whole trace, they are.
func TestTruncated(t *testing.T) {
	pubacks := func(b *tr) *tr {
		return b.down(10, &codec.Puback{PacketID: 7}).down(11, &codec.Pingresp{}).
			up(12, &codec.Publish{Topic: "t", QoS: 1, PacketID: 8}).down(13, &codec.Puback{PacketID: 8})
	}
	for _, tt := range []struct {
		name      string
		b         *tr
		truncated bool
		want      string
	}{
		{"truncated, no CONNECT", pubacks(newTr(t, codec.V311)), true, ""},
		{"whole, no CONNECT", pubacks(newTr(t, codec.V311)), false, "warning ack.unknown-id #1\nwarning ack.unknown-id #2"},
		{"truncated, CONNECT kept", pubacks(newTr(t, codec.V311).connected(60, codec.Properties{})), true, "warning ack.unknown-id #3\nwarning ack.unknown-id #4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := brief(Analyze(tt.b.entries, Options{Truncated: tt.truncated})); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// BenchmarkAnalyzerFlood is the page's live analysis under a flood of
// incoming QoS 1 PUBLISHes and their PUBACKs, both versions: per message,
// its time and what it allocates (the page's collector pays for it).
func BenchmarkAnalyzerFlood(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		b.Run(v.String(), func(b *testing.B) {
			t := newTr(b, v).connected(60, codec.Properties{})
			for i := range 1000 {
				id := uint16(i%60000 + 1)
				t.down(float64(2+i), &codec.Publish{Topic: "bench/sensor/7", QoS: 1, PacketID: id, Payload: []byte(`{"celsius":21.5,"n":123456}`)}).
					up(float64(2+i), &codec.Puback{PacketID: id})
			}
			a := NewAnalyzer(Options{})
			for i := range t.entries[:2] {
				a.Add(&t.entries[i])
			}
			flood := t.entries[2:]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := flood[i%len(flood)]
				e.Seq, e.T = i+3, float64(i+2)
				a.Add(&e)
			}
		})
	}
}
