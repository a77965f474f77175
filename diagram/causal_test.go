package diagram

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// realEntry is an entry of a made-up session at its real time (ms) and on
// the clock that recorded it.
type realEntry struct {
	at  float64
	src Source
	e   trace.Entry
}

// skewSession is a session through the proxy at real times: the proxy
// answers the upgrade at 5, the page's open event and CONNECT follow 0.2 ms
// later, each hop of the relay takes 0.3 ms. failed leaves the broker out:
// the dial failed, the proxy closes right after the 101, and the page's
// CONNECT, sent on open, crosses the close.
func skewSession(failed bool) []realEntry {
	r := func(at float64, e trace.Entry) realEntry { return realEntry{at, Remote, e} }
	l := func(at float64, e trace.Entry) realEntry { return realEntry{at, Local, e} }
	if failed {
		closeTo := ev(0, bp, "proxy", "browser", trace.KindWSClose, nil)
		closeTo.Error = "dial tcp 127.0.0.1:9: connect: connection refused"
		return []realEntry{
			r(1, ev(0, bp, "browser", "proxy", trace.KindWSUpgrade, nil)),
			r(2, ev(0, pb, "proxy", "broker", trace.KindTCPSyn, nil)),
			r(5, ev(0, bp, "proxy", "browser", trace.KindWSAccept, nil)),
			r(5.05, closeTo),
			l(5.2, mq(0, bp, "browser", "proxy", pktConnect(30))),
		}
	}
	return []realEntry{
		r(1, ev(0, bp, "browser", "proxy", trace.KindWSUpgrade, nil)),
		r(2, ev(0, pd, "proxy", "dns", trace.KindDNSQuery, dnsMsg(7, false))),
		r(2.5, ev(0, pd, "dns", "proxy", trace.KindDNSResponse, dnsMsg(7, true))),
		r(3, ev(0, pb, "proxy", "broker", trace.KindTCPSyn, nil)),
		r(3.1, ev(0, pb, "broker", "proxy", trace.KindTCPSynAck, nil)),
		r(3.2, ev(0, pb, "proxy", "broker", trace.KindTCPAck, nil)),
		r(5, ev(0, bp, "proxy", "browser", trace.KindWSAccept, nil)),
		l(5.2, mq(0, bp, "browser", "proxy", pktConnect(30))),
		r(5.5, mq(0, pb, "proxy", "broker", pktConnect(30))),
		r(5.8, mq(0, pb, "broker", "proxy", pktConnack())),
		l(6.1, mq(0, bp, "proxy", "browser", pktConnack())),
		l(6.2, mq(0, bp, "browser", "proxy", pktPublish(1, 1, "t", "x"))),
		r(6.5, mq(0, pb, "proxy", "broker", pktPublish(1, 1, "t", "x"))),
		r(6.8, mq(0, pb, "broker", "proxy", pktPuback(1))),
		l(7.1, mq(0, bp, "proxy", "browser", pktPuback(1))),
		l(9, mq(0, bp, "browser", "proxy", pktDisconnect())),
		r(9.3, mq(0, pb, "proxy", "broker", pktDisconnect())),
		r(9.4, ev(0, pb, "proxy", "broker", trace.KindTCPFin, nil)),
		r(9.5, ev(0, bp, "browser", "proxy", trace.KindWSClose, nil)),
	}
}

// causes lists the orders known for certain in a skewSession, as indexes
// into it: cause before effect.
func causes(s []realEntry) [][2]int {
	var out [][2]int
	for i := range s {
		for j := range s {
			if s[i].src == s[j].src && s[i].at < s[j].at {
				out = append(out, [2]int{i, j}) // one clock keeps its order
			}
		}
	}
	find := func(src Source, leg, kind, from string, after int) int {
		for i := after + 1; i < len(s); i++ {
			if e := s[i].e; s[i].src == src && e.Leg == leg && e.Kind == kind && e.From == from {
				return i
			}
		}
		return -1
	}
	accept := find(Remote, bp, trace.KindWSAccept, "proxy", -1)
	out = append(out, [2]int{accept, find(Local, bp, "mqtt.CONNECT", "browser", -1)})
	if c := find(Remote, bp, trace.KindWSClose, "proxy", -1); c >= 0 {
		out = append(out, [2]int{find(Local, bp, "mqtt.CONNECT", "browser", -1), c})
	}
	for i, x := range s {
		if x.src != Local || !strings.HasPrefix(x.e.Kind, "mqtt.") {
			continue
		}
		if x.e.From == "browser" {
			if k := find(Remote, pb, x.e.Kind, "proxy", -1); k >= 0 && s[k].at > x.at {
				out = append(out, [2]int{i, k})
			}
		} else if k := find(Remote, pb, x.e.Kind, "broker", -1); k >= 0 {
			out = append(out, [2]int{k, i})
		}
	}
	if c := find(Remote, bp, trace.KindWSClose, "browser", -1); c >= 0 {
		out = append(out, [2]int{find(Local, bp, "mqtt.DISCONNECT", "browser", -1), c})
	}
	return out
}

// TestCausalOrderWithASkewedPageClock feeds sessions whose page clock the
// ping samples misjudge (too early and too late, by several ms, with a
// wide or a confidently narrow uncertainty, with a coarse page timer): the
// diagram must keep every order known for certain.
func TestCausalOrderWithASkewedPageClock(t *testing.T) {
	const off = 1000.0 // the server's clock runs this far ahead
	tests := []struct {
		name   string
		failed bool
		skew   float64 // the ping's error: estimate = off + skew
		unc    float64 // the ping's ± (half its round trip)
		coarse float64 // the page's timer resolution, 0 for exact
	}{
		{"page ahead 5 ms, wide ping", false, -5, 10, 0},
		{"page behind 5 ms, wide ping", false, 5, 10, 0},
		{"page ahead 3 ms, narrow ping", false, -3, 0.2, 0},
		{"page behind 3 ms, narrow ping", false, 3, 0.2, 0},
		{"page behind 8 ms, coarse timer", false, 8, 0.5, 1},
		{"page ahead 8 ms, coarse timer", false, -8, 0.5, 1},
		{"failed dial, page behind 4 ms", true, 4, 0.2, 0},
		{"failed dial, page ahead 4 ms", true, -4, 0.2, 0},
		{"failed dial, page behind 6 ms, wide ping", true, 6, 10, 0},
	}
	for _, tc := range tests {
		for _, remoteFirst := range []bool{false, true} {
			name := tc.name
			if remoteFirst {
				name += ", proxy's entries first"
			}
			t.Run(name, func(t *testing.T) {
				s := skewSession(tc.failed)
				m := New(Options{})
				est := off + tc.skew
				m.AddClockSample(Sample{Sent: 0, Received: 2 * tc.unc, Server: est + tc.unc})
				seqs := make([]int, len(s))
				add := func(i int) {
					x := s[i]
					e := x.e
					switch x.src {
					case Remote:
						e.T = x.at + off
					default:
						e.T = x.at
						if tc.coarse > 0 {
							e.T = math.Floor(x.at/tc.coarse) * tc.coarse
						}
					}
					seqs[i] = m.Add(e, x.src)
				}
				for pass := 0; pass < 2; pass++ { // the page's entries and the proxy's, in either order
					for i, x := range s {
						if (x.src == Remote) == (remoteFirst == (pass == 0)) {
							add(i)
						}
					}
				}
				row := map[int]int{}
				var drawn []string
				for r, e := range m.Entries() {
					row[e.Seq] = r
					drawn = append(drawn, strconv.FormatFloat(e.T, 'f', 3, 64)+" "+e.Leg+" "+e.From+">"+e.To+" "+e.Kind)
				}
				for _, c := range causes(s) {
					if row[seqs[c[0]]] >= row[seqs[c[1]]] {
						t.Errorf("%s %s drawn after %s %s (clock %+v):\n%s", s[c[0]].e.Leg, s[c[0]].e.Kind, s[c[1]].e.Leg, s[c[1]].e.Kind,
							m.Clock(), strings.Join(drawn, "\n"))
					}
				}
				v := m.View(0, 100)
				for i := 1; i < len(v.Arrows); i++ {
					if v.Arrows[i].T < v.Arrows[i-1].T {
						t.Fatalf("row %d at %v before row %d at %v", i, v.Arrows[i].T, i-1, v.Arrows[i-1].T)
					}
				}
				for _, a := range v.Arrows {
					if want := tc.failed && a.Kind == "mqtt.CONNECT"; a.NotRelayed != want {
						t.Errorf("%s %s>%s notRelayed %v, want %v", a.Kind, a.From, a.To, a.NotRelayed, want)
					}
				}
			})
		}
	}
}

// TestBracketsKeepToTheirConnection interleaves two clients' QoS 2
// exchanges with the same packet id on the proxy's broker leg (one proxy
// lifeline, one broker lifeline): each bracket joins the four steps of one
// connection, never a step of the other.
func TestBracketsKeepToTheirConnection(t *testing.T) {
	m := New(Options{})
	on := func(conn string, e trace.Entry) trace.Entry { e.Conn = conn; return e }
	steps := []trace.Entry{
		on("c1", mq(1, pb, "proxy", "broker", pktPublish(2, 2, "t", "x"))),
		on("c2", mq(2, pb, "broker", "proxy", pktPublish(2, 2, "t", "x"))),
		on("c1", mq(3, pb, "broker", "proxy", pktPubrec(2))),
		on("c2", mq(4, pb, "proxy", "broker", pktPubrec(2))),
		on("c2", mq(5, pb, "broker", "proxy", pktPubrel(2))),
		on("c1", mq(6, pb, "proxy", "broker", pktPubrel(2))),
		on("c1", mq(7, pb, "broker", "proxy", pktPubcomp(2))),
		on("c2", mq(8, pb, "proxy", "broker", pktPubcomp(2))),
	}
	for _, e := range steps {
		m.Add(e, Imported)
	}
	v := m.View(0, 100)
	if len(v.Spans) != 2 {
		t.Fatalf("%d brackets, want 2: %+v", len(v.Spans), v.Spans)
	}
	for _, sp := range v.Spans {
		var conns []string
		for _, r := range sp.Rows {
			conns = append(conns, v.Arrows[r].Conn)
		}
		if len(sp.Rows) != 4 || !sp.Done || conns[0] != conns[1] || conns[0] != conns[2] || conns[0] != conns[3] {
			t.Errorf("bracket %q: rows %v of connections %v, done %v: want the four steps of one connection", sp.Name, sp.Rows, conns, sp.Done)
		}
	}
}

// BenchmarkAddRelayed adds a flood of packets the page sent and the
// proxy's relays of them (an arrow each), with a ping that misjudged the
// page's clock by 3 ms: what the causal order costs per arrow.
func BenchmarkAddRelayed(b *testing.B) {
	for _, skew := range []float64{0, 3} {
		b.Run("ping off by "+strconv.FormatFloat(skew, 'g', -1, 64)+" ms", func(b *testing.B) {
			m := New(Options{})
			m.AddClockSample(Sample{Sent: 0, Received: 0.2, Server: 1000 + skew + 0.1})
			pkts := make([][]byte, 64)
			for i := range pkts {
				pkts[i] = pktPublish(0, 0, "bench/"+strconv.Itoa(i), "21.5")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				at := float64(i) * 0.5
				p := pkts[i%len(pkts)]
				m.Add(mq(at, bp, "browser", "proxy", p), Local)
				m.Add(mq(1000+at+0.1, pb, "proxy", "broker", p), Remote)
			}
		})
	}
}
