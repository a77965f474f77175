package diagram

import (
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

const (
	bp = trace.LegBrowserProxy
	pd = trace.LegProxyDNS
	pb = trace.LegProxyBroker
	bb = trace.LegBrowserBroker
)

// lifecycle is a whole session through the proxy: the page's own entries
// (local, page clock) and the server's (remote, server clock = page clock +
// 1000 ms), as they would arrive.
func lifecycle() (local, remote []trace.Entry) {
	const off = 1000
	remote = []trace.Entry{
		ev(off+1, bp, "browser", "proxy", trace.KindWSUpgrade, nil),
		ev(off+2, pd, "proxy", "dns", trace.KindDNSQuery, dnsMsg(0x1a2b, false)),
		ev(off+3, pd, "dns", "proxy", trace.KindDNSResponse, dnsMsg(0x1a2b, true)),
		ev(off+4, pb, "proxy", "broker", trace.KindTCPSyn, nil),
		ev(off+4.1, pb, "broker", "proxy", trace.KindTCPSynAck, nil),
		ev(off+4.2, pb, "proxy", "broker", trace.KindTCPAck, nil),
		ev(off+5, bp, "proxy", "browser", trace.KindWSAccept, nil),
		mq(off+10.5, pb, "proxy", "broker", pktConnect(2)),
		mq(off+11, pb, "broker", "proxy", pktConnack()),
		mq(off+20.5, pb, "proxy", "broker", pktSubscribe(1, "cmd/#")),
		mq(off+21, pb, "broker", "proxy", pktSuback(1)),
		mq(off+30.5, pb, "proxy", "broker", pktPublish(1, 2, "t", "x")),
		mq(off+31, pb, "broker", "proxy", pktPuback(2)),
		mq(off+2030.5, pb, "proxy", "broker", pktPingreq()),
		mq(off+2031, pb, "broker", "proxy", pktPingresp()),
		mq(off+3000.5, pb, "proxy", "broker", pktDisconnect()),
		ev(off+3001, pb, "proxy", "broker", trace.KindTCPFin, nil),
		ev(off+3001.5, bp, "browser", "proxy", trace.KindWSClose, nil),
	}
	local = []trace.Entry{
		mq(10, bp, "browser", "proxy", pktConnect(2)),
		mq(11.5, bp, "proxy", "browser", pktConnack()),
		mq(20, bp, "browser", "proxy", pktSubscribe(1, "cmd/#")),
		mq(21.5, bp, "proxy", "browser", pktSuback(1)),
		mq(30, bp, "browser", "proxy", pktPublish(1, 2, "t", "x")),
		mq(31.5, bp, "proxy", "browser", pktPuback(2)),
		mq(2030, bp, "browser", "proxy", pktPingreq()),
		mq(2031.5, bp, "proxy", "browser", pktPingresp()),
		mq(3000, bp, "browser", "proxy", pktDisconnect()),
	}
	return local, remote
}

// feed adds the local and remote entries interleaved the way they arrive:
// remote entries a little after their time.
func feed(m *Model, local, remote []trace.Entry, lag float64) {
	i, j := 0, 0
	for i < len(local) || j < len(remote) {
		if j >= len(remote) || (i < len(local) && local[i].T <= remote[j].T-1000+lag) {
			m.Add(local[i], Local)
			i++
		} else {
			m.Add(remote[j], Remote)
			j++
		}
	}
}

func TestMergeOrdersBothLegsOnThePageClock(t *testing.T) {
	want := []string{
		"ws.upgrade", "dns.query", "dns.response", "tcp.syn", "tcp.synack", "tcp.ack", "ws.accept",
		"mqtt.CONNECT", "mqtt.CONNECT", "mqtt.CONNACK", "mqtt.CONNACK",
		"mqtt.SUBSCRIBE", "mqtt.SUBSCRIBE", "mqtt.SUBACK", "mqtt.SUBACK",
		"mqtt.PUBLISH", "mqtt.PUBLISH", "mqtt.PUBACK", "mqtt.PUBACK",
		"mqtt.PINGREQ", "mqtt.PINGREQ", "mqtt.PINGRESP", "mqtt.PINGRESP",
		"mqtt.DISCONNECT", "mqtt.DISCONNECT", "tcp.fin", "ws.close",
	}
	for _, lag := range []float64{0, 0.7, 3} {
		t.Run("remote lag "+strconv.FormatFloat(lag, 'g', -1, 64)+" ms", func(t *testing.T) {
			local, remote := lifecycle()
			m := New(Options{})
			// One sample: the pong took 2 ms and the server stamped it
			// halfway: offset 1000 ± 1.
			m.AddClockSample(Sample{Sent: 0, Received: 2, Server: 1001})
			feed(m, local, remote, lag)
			if got := kinds(m); !reflect.DeepEqual(got, want) {
				t.Fatalf("order:\n got %v\nwant %v", got, want)
			}
			v := m.View(0, 100)
			for i, a := range v.Arrows {
				if a.Row != i {
					t.Fatalf("arrow %d has row %d", i, a.Row)
				}
				if i > 0 && a.T < v.Arrows[i-1].T {
					t.Fatalf("row %d at %v before row %d at %v", i, a.T, i-1, v.Arrows[i-1].T)
				}
				if i > 0 && a.Delta != a.T-v.Arrows[i-1].T {
					t.Fatalf("row %d delta %v", i, a.Delta)
				}
			}
			// The relayed packets narrow the ping's ±1 ms: each hop takes
			// 0.5 ms, so the offset is known to ±0.5. Ten pairs: the nine
			// relayed packets and the 101 before the page's CONNECT.
			if c := m.Clock(); !c.Aligned || c.Offset != 1000 || math.Abs(c.Uncertainty-0.499) > 1e-9 || c.Pairs != 10 {
				t.Fatalf("clock %+v", c)
			}
		})
	}
}

func TestLanesOrderClientsProxyDNSBroker(t *testing.T) {
	tests := []struct {
		name    string
		entries []trace.Entry
		want    []string
	}{
		{"through the proxy, broker seen first", []trace.Entry{
			ev(1, pb, "proxy", "broker", trace.KindTCPSyn, nil),
			ev(2, pd, "proxy", "dns", trace.KindDNSQuery, dnsMsg(1, false)),
			mq(3, bp, "browser", "proxy", pktConnect(60)),
		}, []string{"browser", "proxy", "dns", "broker"}},
		{"direct WebSocket", []trace.Entry{
			mq(1, bb, "browser", "broker", pktConnect(60)),
		}, []string{"browser", "broker"}},
		{"two clients keep their order of appearance", []trace.Entry{
			mq(1, bp, "device", "proxy", pktConnect(60)),
			mq(2, bp, "app", "proxy", pktConnect(60)),
			mq(3, pb, "proxy", "broker", pktConnect(60)),
		}, []string{"device", "app", "proxy", "broker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			for _, e := range tt.entries {
				m.Add(e, Local)
			}
			var got []string
			for _, l := range m.Lanes() {
				got = append(got, l.Party)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("lanes %v, want %v", got, tt.want)
			}
			for _, a := range m.View(0, 10).Arrows {
				if got[a.FromLane] != a.From || got[a.ToLane] != a.To {
					t.Fatalf("arrow %s: lanes %d→%d for %s→%s", a.Kind, a.FromLane, a.ToLane, a.From, a.To)
				}
			}
		})
	}
}

func TestExchangesLinkRequestsAndAnswers(t *testing.T) {
	type group struct {
		name string
		rows []int
		done bool
	}
	tests := []struct {
		name    string
		entries []trace.Entry
		want    []group
	}{
		{"QoS 1 publish by packet id, not by order", []trace.Entry{
			mq(1, bb, "browser", "broker", pktPublish(1, 7, "a", "1")),
			mq(2, bb, "browser", "broker", pktPublish(1, 8, "a", "2")),
			mq(3, bb, "broker", "browser", pktPuback(8)),
			mq(4, bb, "broker", "browser", pktPuback(7)),
		}, []group{{"QoS 1 publish, packet id 7", []int{0, 3}, true}, {"QoS 1 publish, packet id 8", []int{1, 2}, true}}},
		{"QoS 2: the four steps", []trace.Entry{
			mq(1, bb, "browser", "broker", pktPublish(2, 3, "a", "1")),
			mq(2, bb, "broker", "browser", pktPubrec(3)),
			mq(3, bb, "browser", "broker", pktPubrel(3)),
			mq(4, bb, "broker", "browser", pktPubcomp(3)),
		}, []group{{"QoS 2 publish, packet id 3", []int{0, 1, 2, 3}, true}}},
		{"same packet id used by each side is two exchanges", []trace.Entry{
			mq(1, bb, "browser", "broker", pktPublish(1, 1, "a", "1")),
			mq(2, bb, "broker", "browser", pktPublish(1, 1, "b", "2")),
			mq(3, bb, "browser", "broker", pktPuback(1)),
			mq(4, bb, "broker", "browser", pktPuback(1)),
		}, []group{{"QoS 1 publish, packet id 1", []int{0, 3}, true}, {"QoS 1 publish, packet id 1", []int{1, 2}, true}}},
		{"QoS 0 publish stands alone", []trace.Entry{
			mq(1, bb, "browser", "broker", pktPublish(0, 0, "a", "1")),
		}, nil},
		{"subscribe, unsubscribe, ping, connect", []trace.Entry{
			mq(1, bb, "browser", "broker", pktConnect(5)),
			mq(2, bb, "broker", "browser", pktConnack()),
			mq(3, bb, "browser", "broker", pktSubscribe(1, "x")),
			mq(4, bb, "broker", "browser", pktSuback(1)),
			mq(5, bb, "browser", "broker", pktUnsubscribe(2, "x")),
			mq(6, bb, "broker", "browser", pktUnsuback(2)),
			mq(7, bb, "browser", "broker", pktPingreq()),
			mq(8, bb, "broker", "browser", pktPingresp()),
			mq(9, bb, "browser", "broker", pktDisconnect()),
		}, []group{
			{"connect", []int{0, 1}, true}, {"subscribe, packet id 1", []int{2, 3}, true},
			{"unsubscribe, packet id 2", []int{4, 5}, true}, {"keepalive ping", []int{6, 7}, true},
		}},
		{"answer on another leg is not linked", []trace.Entry{
			mq(1, bp, "browser", "proxy", pktSubscribe(1, "x")),
			mq(2, pb, "broker", "proxy", pktSuback(1)),
		}, []group{{"subscribe, packet id 1", []int{0}, false}}},
		{"DNS by id, TCP handshake and close", []trace.Entry{
			ev(1, pd, "proxy", "dns", trace.KindDNSQuery, dnsMsg(0xa, false)),
			ev(2, pd, "proxy", "dns", trace.KindDNSQuery, dnsMsg(0xb, false)),
			ev(3, pd, "dns", "proxy", trace.KindDNSResponse, dnsMsg(0xb, true)),
			ev(4, pd, "dns", "proxy", trace.KindDNSResponse, dnsMsg(0xa, true)),
			ev(5, pb, "proxy", "broker", trace.KindTCPSyn, nil),
			ev(6, pb, "broker", "proxy", trace.KindTCPSynAck, nil),
			ev(7, pb, "proxy", "broker", trace.KindTCPAck, nil),
			ev(8, pb, "proxy", "broker", trace.KindTCPFin, nil),
			ev(9, pb, "broker", "proxy", trace.KindTCPFin, nil),
			ev(10, pb, "proxy", "broker", trace.KindTCPAck, nil),
		}, []group{
			{"DNS query, id 0x000a", []int{0, 3}, true}, {"DNS query, id 0x000b", []int{1, 2}, true},
			{"TCP three-way handshake", []int{4, 5, 6}, true}, {"TCP close", []int{7, 8, 9}, true},
		}},
		{"WebSocket upgrade and close", []trace.Entry{
			ev(1, bp, "browser", "proxy", trace.KindWSUpgrade, nil),
			ev(2, bp, "proxy", "browser", trace.KindWSAccept, nil),
			ev(3, bp, "browser", "proxy", trace.KindWSClose, nil),
			ev(4, bp, "proxy", "browser", trace.KindWSClose, nil),
		}, []group{{"WebSocket upgrade", []int{0, 1}, true}, {"WebSocket close", []int{2, 3}, true}}},
		{"TCP close is done with both FINs: the kernel's ACKs are not seen", []trace.Entry{
			ev(1, pb, "proxy", "broker", trace.KindTCPFin, nil),
			ev(2, pb, "broker", "proxy", trace.KindTCPFin, nil),
		}, []group{{"TCP close", []int{0, 1}, true}}},
		{"one FIN is a close still waiting", []trace.Entry{
			ev(1, pb, "proxy", "broker", trace.KindTCPFin, nil),
		}, []group{{"TCP close", []int{0}, false}}},
		{"a dropped WebSocket (no close frame) waits for nothing", []trace.Entry{
			kernel(ev(1, bp, "browser", "proxy", trace.KindWSClose, nil)),
			kernel(ev(2, bp, "proxy", "browser", trace.KindWSClose, nil)),
			ev(3, pb, "proxy", "broker", trace.KindWSClose, nil),
			kernel(ev(4, pb, "broker", "proxy", trace.KindWSClose, nil)),
			kernel(ev(5, bb, "broker", "browser", trace.KindWSClose, nil)),
		}, []group{{"WebSocket close", []int{0, 1}, true}, {"WebSocket close", []int{2, 3}, true}, {"WebSocket close", []int{4}, true}}},
		{"a close frame not yet answered waits", []trace.Entry{
			ev(1, bp, "proxy", "browser", trace.KindWSClose, nil),
		}, []group{{"WebSocket close", []int{0}, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			for _, e := range tt.entries {
				m.Add(e, Local)
			}
			var got []group
			for _, s := range m.View(0, 100).Spans {
				got = append(got, group{s.Name, s.Rows, s.Done})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("exchanges:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSpanColumnsDoNotOverlap(t *testing.T) {
	m := New(Options{})
	for id := 1; id <= 6; id++ { // six publishes in flight, then their acks
		m.Add(mq(float64(id), bb, "browser", "broker", pktPublish(1, id, "a", "")), Local)
	}
	for id := 1; id <= 6; id++ {
		m.Add(mq(float64(10+id), bb, "broker", "browser", pktPuback(id)), Local)
	}
	v := m.View(0, 100)
	used := 0
	for _, s := range v.Spans {
		if s.Column >= 0 {
			used++
		}
	}
	if used != 4 {
		t.Fatalf("%d spans got a column, want the 4 columns filled", used)
	}
	for i, a := range v.Spans {
		for _, b := range v.Spans[i+1:] {
			if a.Column >= 0 && a.Column == b.Column && a.Rows[1] >= b.Rows[0] && b.Rows[1] >= a.Rows[0] {
				t.Fatalf("spans %v and %v overlap in column %d", a.Rows, b.Rows, a.Column)
			}
		}
	}
}

func TestKeepaliveDeadlines(t *testing.T) {
	tests := []struct {
		name    string
		entries []trace.Entry
		want    []Deadline // T, Met, Pending, KeepAlive
	}{
		{"idle then ping in time, then disconnect before the next is due", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(2)),
			mq(1, bb, "broker", "browser", pktConnack()),
			mq(100, bb, "browser", "broker", pktPublish(0, 0, "a", "")),
			mq(2100, bb, "browser", "broker", pktPingreq()),
			mq(2101, bb, "broker", "browser", pktPingresp()),
			mq(3000, bb, "browser", "broker", pktDisconnect()),
		}, []Deadline{{T: 2100, KeepAlive: 2, Met: true}}},
		{"still connected: the next one is pending", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(2)),
			mq(1, bb, "broker", "browser", pktConnack()),
		}, []Deadline{{T: 2000, KeepAlive: 2, Pending: true}}},
		{"busy client: no deadline matters until it goes quiet", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(2)),
			mq(500, bb, "browser", "broker", pktPublish(0, 0, "a", "")),
			mq(900, bb, "browser", "broker", pktPublish(0, 0, "a", "")),
			mq(1300, bb, "browser", "broker", pktPublish(0, 0, "a", "")),
		}, []Deadline{{T: 3300, KeepAlive: 2, Pending: true}}},
		{"silent past one and a half keepalives: missed", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(2)),
			mq(4000, bb, "browser", "broker", pktPingreq()),
			mq(4001, bb, "browser", "broker", pktDisconnect()),
		}, []Deadline{{T: 2000, KeepAlive: 2}}},
		{"the close was reported before the CONNECT arrived", []trace.Entry{
			func() trace.Entry {
				e := ev(5, bp, "proxy", "browser", trace.KindWSClose, nil)
				e.Error = "policy: refused"
				return e
			}(),
			mq(10, bp, "browser", "proxy", pktConnect(30)),
		}, nil},
		{"SUBSCRIBE and PUBLISH reset CONNECT's deadline: only the pending one is drawn", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(5)),
			mq(1, bb, "broker", "browser", pktConnack()),
			mq(3000, bb, "browser", "broker", pktSubscribe(1, "x")),
			mq(3001, bb, "broker", "browser", pktSuback(1)),
			mq(4000, bb, "browser", "broker", pktPublish(0, 0, "a", "")),
		}, []Deadline{{T: 9000, KeepAlive: 5, Pending: true}}},
		{"reset, then the connection closed before the next was due", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(5)),
			mq(3000, bb, "browser", "broker", pktSubscribe(1, "x")),
			mq(4000, bb, "browser", "broker", pktDisconnect()),
		}, nil},
		{"keepalive 0 turns it off", []trace.Entry{
			mq(0, bb, "browser", "broker", pktConnect(0)),
			mq(1, bb, "broker", "browser", pktConnack()),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			for _, e := range tt.entries {
				m.Add(e, Local)
			}
			var got []Deadline
			for _, d := range m.View(0, 100).Deadlines {
				if d.Label == "" {
					t.Fatalf("deadline %+v: want lane 0 and a label", d)
				}
				got = append(got, Deadline{T: d.T, KeepAlive: d.KeepAlive, Met: d.Met, Pending: d.Pending})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("deadlines:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDeadlineRowFallsBetweenArrows(t *testing.T) {
	m := New(Options{})
	m.Add(mq(0, bb, "browser", "broker", pktConnect(1)), Local)
	m.Add(mq(10, bb, "broker", "browser", pktConnack()), Local)
	m.Add(mq(1010, bb, "browser", "broker", pktPingreq()), Local)
	m.Add(mq(1011, bb, "broker", "browser", pktPingresp()), Local)
	ds := m.View(0, 10).Deadlines
	if len(ds) != 2 {
		t.Fatalf("deadlines %+v", ds)
	}
	if ds[0].T != 1000 || ds[0].Row <= 1 || ds[0].Row >= 2 {
		t.Fatalf("first deadline %+v: want between rows 1 and 2", ds[0])
	}
	if !ds[1].Pending || ds[1].Row <= 3 {
		t.Fatalf("second deadline %+v: want pending after the last row", ds[1])
	}
}

func TestClockSampleRealignsRemoteEntries(t *testing.T) {
	m := New(Options{})
	m.Add(mq(5, bp, "browser", "proxy", pktConnect(60)), Local)
	m.Add(mq(1006, pb, "proxy", "broker", pktConnect(60)), Remote) // no offset yet: it lands at 1006
	if got := kinds(m); got[1] != "mqtt.CONNECT" || m.Entries()[1].Leg != pb {
		t.Fatalf("before alignment: %v", m.Entries())
	}
	m.Add(mq(500, bp, "proxy", "browser", pktConnack()), Local)
	if e := m.Entries(); e[1].Kind != "mqtt.CONNACK" {
		t.Fatalf("before alignment the remote entry should sort last: %v", kinds(m))
	}
	m.AddClockSample(Sample{Sent: 0, Received: 10, Server: 1005}) // offset 1000 ± 5
	m.AddClockSample(Sample{Sent: 0, Received: 40, Server: 1020}) // worse: ignored
	e := m.Entries()
	if e[1].Leg != pb || e[1].T != 6 || e[2].Kind != "mqtt.CONNACK" {
		t.Fatalf("after alignment: %+v", e)
	}
	if c := m.Clock(); c.Offset != 1000 || c.Uncertainty != 5 || c.Samples != 2 {
		t.Fatalf("clock %+v", c)
	}
}

func TestCausalityCorrectsACoarseClock(t *testing.T) {
	// The server runs 1000 ms ahead; a slow ping put the estimate at
	// 1003 ± 5, which would draw the proxy's forward before the page's send.
	m := New(Options{})
	m.AddClockSample(Sample{Sent: 0, Received: 10, Server: 1008})
	m.Add(mq(100, bp, "browser", "proxy", pktConnect(30)), Local)
	m.Add(mq(1100.2, pb, "proxy", "broker", pktConnect(30)), Remote)
	m.Add(mq(1101, pb, "broker", "proxy", pktConnack()), Remote)
	m.Add(mq(101.3, bp, "proxy", "browser", pktConnack()), Local)
	var got []string
	for _, e := range m.Entries() {
		got = append(got, e.Leg+" "+e.Kind)
	}
	want := []string{bp + " mqtt.CONNECT", pb + " mqtt.CONNECT", pb + " mqtt.CONNACK", bp + " mqtt.CONNACK"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	c := m.Clock()
	if c.Offset < 999.7 || c.Offset >= 1000.2 || c.Pairs != 2 || c.Uncertainty > 0.5 {
		t.Fatalf("clock %+v: want the offset within the causal bounds [999.7, 1000.2]", c)
	}
	// Bounds that contradict each other (a coarse page timer) meet halfway.
	var k Clock
	k.Add(Sample{Sent: 0, Received: 10, Server: 1005})
	k.Before(100, 1100)  // offset <= 1000
	k.After(100, 1100.4) // offset >= 1000.4
	if i := k.Info(); math.Abs(i.Offset-1000.2) > 1e-9 {
		t.Fatalf("contradicting bounds: %+v", i)
	}
}

func TestFilterHidesClassesAndRenumbersRows(t *testing.T) {
	local, remote := lifecycle()
	m := New(Options{})
	m.AddClockSample(Sample{Sent: 0, Received: 0, Server: 1000})
	feed(m, local, remote, 1)
	all := m.Len()
	m.SetHidden("tcp", "dns", "ws")
	v := m.View(0, 100)
	if v.Total != all-9 || len(v.Arrows) != v.Total {
		t.Fatalf("filtered %d of %d, view %d", v.Total, all, len(v.Arrows))
	}
	for i, a := range v.Arrows {
		if a.Class == "tcp" || a.Class == "dns" || a.Class == "ws" || a.Row != i {
			t.Fatalf("row %d: %+v", i, a)
		}
		if m.RowOf(a.Seq) != i {
			t.Fatalf("RowOf(%d) = %d, want %d", a.Seq, m.RowOf(a.Seq), i)
		}
	}
	if v.Arrows[0].Kind != "mqtt.CONNECT" || v.Arrows[0].Delta != v.Arrows[0].T-0 {
		t.Fatalf("first shown %+v", v.Arrows[0])
	}
	// A late arrival while filtered lands in its row.
	m.Add(mq(15, bp, "browser", "proxy", pktPingreq()), Local)
	m.Add(ev(16, pb, "proxy", "broker", trace.KindTCPRst, nil), Local)
	if got := m.View(0, 100).Arrows[4]; got.Kind != "mqtt.PINGREQ" || got.T != 15 {
		t.Fatalf("row 4 = %+v", got)
	}
	syn := m.Entries()[3]
	if syn.Kind != "tcp.syn" || m.RowOf(syn.Seq) != -1 {
		t.Fatalf("hidden %s has row %d", syn.Kind, m.RowOf(syn.Seq))
	}
	m.SetHidden()
	if m.Len() != all+2 {
		t.Fatalf("unfiltered %d, want %d", m.Len(), all+2)
	}
}

func TestPageOutKeepsMemoryBoundedAndCounts(t *testing.T) {
	m := New(Options{MaxArrows: 100})
	m.Add(mq(0, bb, "browser", "broker", pktConnect(60)), Local)
	const n = 5000
	for i := 1; i <= n; i++ {
		id := i%65535 + 1
		m.Add(mq(float64(i), bb, "broker", "browser", pktPublish(1, id, "a", "x")), Local)
		if i%2 == 0 { // every other publish stays unanswered
			m.Add(mq(float64(i)+0.5, bb, "browser", "broker", pktPuback(id)), Local)
		}
	}
	kept := m.Len()
	if kept > 100 || kept < 90 {
		t.Fatalf("kept %d arrows, want 90..100", kept)
	}
	p := m.PagedOut()
	if p.Count+kept != n+n/2+1 {
		t.Fatalf("paged out %d + kept %d != %d", p.Count, kept, n+n/2+1)
	}
	if p.ByKind["mqtt.CONNECT"] != 1 || p.ByKind["mqtt.PUBLISH"]+p.ByKind["mqtt.PUBACK"] != p.Count-1 {
		t.Fatalf("paged out by kind %v", p.ByKind)
	}
	open := len(m.open) + len(m.openMore)
	for _, x := range m.openTab {
		if x != nil {
			open++
		}
	}
	if open > kept || m.bySeq.len() != kept {
		t.Fatalf("%d open exchanges and %d seqs kept for %d arrows", open, m.bySeq.len(), kept)
	}
	v := m.View(0, kept)
	if v.Arrows[len(v.Arrows)-1].T != n+0.5 || v.Arrows[0].Row != 0 {
		t.Fatalf("view after paging: first %+v last %+v", v.Arrows[0], v.Arrows[len(v.Arrows)-1])
	}
	if v.Counts["publish"] != n+n/2 {
		t.Fatalf("counts %v, want every publish arrow counted", v.Counts)
	}
	if _, ok := m.Entry(1); ok {
		t.Fatal("the first entry is still kept")
	}
	if got := m.RowOf(v.Arrows[5].Seq); got != 5 {
		t.Fatalf("RowOf after paging = %d", got)
	}
}

func TestImportedEntriesKeepTheirSeq(t *testing.T) {
	m := New(Options{})
	a := m.Add(trace.Entry{Seq: 7, T: 1, Kind: "mqtt.PINGREQ", From: "browser", To: "broker", Leg: bb}, Imported)
	b := m.Add(trace.Entry{Seq: 7, T: 2, Kind: "mqtt.PINGRESP", From: "broker", To: "browser", Leg: bb}, Imported)
	c := m.Add(trace.Entry{T: 3, Kind: "mqtt.PINGREQ", From: "browser", To: "broker", Leg: bb}, Local)
	if a != 7 || b == 7 || c == 7 || b == c {
		t.Fatalf("seqs %d %d %d", a, b, c)
	}
}

func TestRealignOfALargeDiagramWaitsForTheNextRead(t *testing.T) {
	m := New(Options{})
	for i := 0; i < 2500; i++ {
		m.Add(mq(float64(i), bb, "broker", "browser", pktPublish(0, 0, "a", "")), Local)
	}
	m.Add(mq(1100.5, pb, "proxy", "broker", pktPingreq()), Remote) // no offset yet: at 1100.5
	m.AddClockSample(Sample{Sent: 0, Received: 0, Server: 1000})   // now at 100.5
	if !m.stale {
		t.Fatal("a large diagram realigned at once")
	}
	if row := m.RowOf(2501); row != 101 {
		t.Fatalf("row of the remote entry after the offset = %d, want 101", row)
	}
	if m.stale {
		t.Fatal("still stale after a read")
	}
}

func TestClearKeepsClockFilterAndNumbering(t *testing.T) {
	m := New(Options{})
	m.AddClockSample(Sample{Sent: 0, Received: 10, Server: 1005}) // offset 1000 ± 5
	m.SetHidden("tcp")
	m.Add(ev(1, pb, "proxy", "broker", "tcp.syn", nil), Local)
	last := m.Add(mq(5, bp, "browser", "proxy", pktConnect(60)), Local)
	m.Clear()
	if m.Len() != 0 || len(m.Lanes()) != 0 || len(m.Entries()) != 0 {
		t.Fatalf("after Clear: %d rows, lanes %v", m.Len(), m.Lanes())
	}
	seq := m.Add(mq(1020, pb, "proxy", "broker", pktConnect(60)), Remote)
	m.Add(ev(1030, pb, "broker", "proxy", "tcp.fin", nil), Remote)
	if seq <= last {
		t.Errorf("seq %d after Clear reuses a number (last was %d)", seq, last)
	}
	if e, _ := m.Entry(seq); e.T != 20 {
		t.Errorf("remote entry at page time %v, want 20: the clock was forgotten", e.T)
	}
	if m.Len() != 1 {
		t.Errorf("%d rows shown, want 1: the tcp filter was forgotten", m.Len())
	}
}

// kernel marks e as observed by the kernel (no bytes seen).
func kernel(e trace.Entry) trace.Entry {
	e.Observed = trace.ObservedKernel
	return e
}

// TestLateArrivalsKeepRows: entries arriving far behind the newest (a
// lagging trace channel), while the oldest are paged out, still land in
// time order, and every arrow's RowOf is its row in the view, with and
// without a filter.
func TestLateArrivalsKeepRows(t *testing.T) {
	for _, hidden := range [][]string{nil, {"ping"}} {
		m := New(Options{MaxArrows: 300})
		m.SetHidden(hidden...)
		m.Add(mq(0, bb, "browser", "broker", pktConnect(60)), Local)
		for i := 1; i <= 2000; i++ {
			m.Add(mq(float64(i), bb, "broker", "browser", pktPublish(0, 0, "a", "x")), Local)
			if i%7 == 0 { // far behind: 150 arrows back
				m.Add(mq(float64(i)-75.5, bb, "browser", "broker", pktPingreq()), Local)
			}
			if i%97 == 0 {
				v := m.View(0, m.Len())
				for r, a := range v.Arrows {
					if r > 0 && a.T < v.Arrows[r-1].T {
						t.Fatalf("hidden %v, after %d: row %d at %v before row %d at %v", hidden, i, r, a.T, r-1, v.Arrows[r-1].T)
					}
					if got := m.RowOf(a.Seq); got != r {
						t.Fatalf("hidden %v, after %d: RowOf(%d) = %d, want %d", hidden, i, a.Seq, got, r)
					}
				}
			}
		}
	}
}
