package diagram

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// qos1Flood drives m as the page is driven by a QoS 1 flood (e2e
// BenchmarkPageClients, receive at QoS 1): the broker's PUBLISH read by the
// proxy, the page's receive and PUBACK, the proxy's relay of the PUBACK.
// The page's timer is coarse (0.1 ms, as a browser's performance.now() is
// without cross-origin isolation), so the pairs' bounds on the clock
// offset contradict and keep moving it; the proxy's entries arrive a frame
// late, and the page reads the model once a frame (every 32 messages).
// msg(i) adds message i, the first i from 0.
func qos1Flood(m *Model) (msg func(i int)) {
	m.AddClockSample(Sample{Sent: 0, Received: 0.4, Server: 1000.2})
	coarse := func(t float64) float64 { return math.Floor(t*10) / 10 }
	const perFrame = 32
	var pending [][2]float64 // the proxy's entries not yet arrived: server times
	var pkts [][]byte
	for i := 0; i < 64; i++ {
		pkts = append(pkts, pktPublish(1, i+1, "bench/in", "21.5"), pktPuback(i+1))
	}
	at := 0.0
	return func(i int) {
		at += 0.1
		m.Add(mq(coarse(at+0.03), bp, "proxy", "browser", pkts[2*(i%64)]), Local)
		m.Add(mq(coarse(at+0.05), bp, "browser", "proxy", pkts[2*(i%64)+1]), Local)
		pending = append(pending, [2]float64{1000 + at, 1000 + at + 0.08})
		if i%perFrame == perFrame-1 {
			for j, p := range pending {
				k := i - len(pending) + 1 + j
				m.Add(mq(p[0], pb, "broker", "proxy", pkts[2*(k%64)]), Remote)
				m.Add(mq(p[1], pb, "proxy", "broker", pkts[2*(k%64)+1]), Remote)
			}
			pending = pending[:0]
			m.Len()
		}
	}
}

// BenchmarkFloodFrames is the model under a QoS 1 flood (qos1Flood),
// starting full (DefaultMaxArrows). ns/op is per message (four arrows).
func BenchmarkFloodFrames(b *testing.B) { benchFlood(b, qos1Flood, 4) }

// benchFlood runs a flood's messages of arrows arrows each, from a model
// made full by the same flood.
func benchFlood(b *testing.B, flood func(*Model) func(int), arrows int) {
	msg := flood(New(Options{}))
	for i := 0; i < DefaultMaxArrows/arrows; i++ {
		msg(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg(DefaultMaxArrows/arrows + i)
	}
}

// TestFloodRealignsAmortized: under a flood whose packet pairs move the
// offset every frame, the model realigns (linear in the arrows kept) about
// once per eighth of them added, not once a frame; what the scripting API
// and the exports read (Entries) is exact at any moment, and so is the
// diagram after the first frame with nothing new (Settle).
func TestFloodRealignsAmortized(t *testing.T) {
	m := New(Options{})
	msg := qos1Flood(m)
	const n = 6000 // 24,000 arrows: the model full, paging out
	exact := func(when string, es []trace.Entry) {
		t.Helper()
		for i := 1; i < len(es); i++ {
			if es[i].T < es[i-1].T {
				t.Fatalf("%s: entry %d at %v after entry %d at %v", when, es[i].Seq, es[i].T, es[i-1].Seq, es[i-1].T)
			}
		}
		for _, it := range m.items {
			if c := it.after; c != nil && c.ord >= m.dropped && it.e.T <= c.e.T {
				t.Fatalf("%s: %s (seq %d) drawn at %v, not after its cause %s (seq %d) at %v", when, it.e.Kind, it.e.Seq, it.e.T, c.e.Kind, c.e.Seq, c.e.T)
			}
		}
	}
	for i := 0; i < n; i++ {
		msg(i)
		if i == n/2 {
			exact("mid-flood, Entries", m.Entries())
		}
	}
	// Once a frame would be n/32; the offset moves in nearly every frame.
	if frames := n / 32; m.aligns == 0 || m.aligns > frames/5 {
		t.Fatalf("%d realigns for %d messages (%d frames, %d arrows kept): want some, and at most a fifth of the frames", m.aligns, n, frames, len(m.items))
	}
	// The page settles the model once a frame: the frame that drew the
	// last arrows, then one with nothing new.
	m.Settle()
	if !m.Settle() || m.stale {
		t.Fatal("the first frame with nothing new did not realign")
	}
	v := m.View(0, m.Len())
	es := make([]trace.Entry, len(v.Arrows))
	for i, a := range v.Arrows {
		es[i] = trace.Entry{Seq: a.Seq, T: a.T}
	}
	exact("after the flood, View", es)
}

// Arrows that come late (the proxy's, behind the page's own) wait until
// the next read and are then placed by time, each after the arrows of the
// same time and in the order they came, with a filter set or not; reads
// in between see every arrow in its place.
func TestLateArrowsPlacedAtRead(t *testing.T) {
	for _, filtered := range []bool{false, true} {
		m := New(Options{})
		if filtered {
			m.SetHidden("tcp")
		}
		add := func(at float64, kind string) {
			m.Add(ev(at, bp, "browser", "proxy", kind, nil), Imported)
		}
		for _, at := range []float64{1, 2, 3, 5, 8} {
			add(at, trace.KindDNSQuery)
		}
		add(3, trace.KindTCPSyn) // late, at a time taken
		add(0.5, trace.KindDNSResponse)
		add(3, trace.KindDNSResponse) // late, same time, after the SYN
		if n := m.Len(); n != map[bool]int{false: 8, true: 7}[filtered] {
			t.Fatalf("filtered %v: %d rows", filtered, n)
		}
		add(9, trace.KindDNSQuery)
		add(4, trace.KindTCPAck)
		var got []string
		v := m.View(0, m.Len())
		for _, a := range v.Arrows {
			got = append(got, strconv.FormatFloat(a.T, 'g', -1, 64)+" "+a.Kind)
		}
		want := "0.5 dns.response|1 dns.query|2 dns.query|3 dns.query|3 tcp.syn|3 dns.response|4 tcp.ack|5 dns.query|8 dns.query|9 dns.query"
		if filtered {
			want = "0.5 dns.response|1 dns.query|2 dns.query|3 dns.query|3 dns.response|5 dns.query|8 dns.query|9 dns.query"
		}
		if g := strings.Join(got, "|"); g != want {
			t.Fatalf("filtered %v:\n got %s\nwant %s", filtered, g, want)
		}
		for i, a := range v.Arrows {
			if a.Row != i {
				t.Fatalf("filtered %v: arrow %d has row %d", filtered, i, a.Row)
			}
		}
	}
}

// qos0Flood drives m as the page is driven by a QoS 0 flood (e2e
// BenchmarkPageIncoming): a session connected and subscribed on both legs,
// then per message the proxy's read of the broker's PUBLISH (its own
// payload, as the bench publisher numbers them) and the page's receive of
// it; the proxy's entries arrive a frame late, and the page reads the
// model once a frame (every 32 messages).
func qos0Flood(m *Model) (msg func(i int)) {
	m.AddClockSample(Sample{Sent: 0, Received: 0.4, Server: 1000.2})
	coarse := func(t float64) float64 { return math.Floor(t*10) / 10 }
	for i, s := range []struct {
		leg, from, to string
		pkt           []byte
	}{
		{bp, "browser", "proxy", pktConnect(30)}, {pb, "proxy", "broker", pktConnect(30)},
		{pb, "broker", "proxy", pktConnack()}, {bp, "proxy", "browser", pktConnack()},
		{bp, "browser", "proxy", pktSubscribe(1, "bench/#")}, {pb, "proxy", "broker", pktSubscribe(1, "bench/#")},
		{pb, "broker", "proxy", pktSuback(1)}, {bp, "proxy", "browser", pktSuback(1)},
	} {
		src := Local
		if s.leg == pb {
			src = Remote
		}
		m.Add(mq(float64(i)/10+map[Source]float64{Local: 0, Remote: 1000}[src], s.leg, s.from, s.to, s.pkt), src)
	}
	const perFrame = 32
	var pending []float64 // the proxy's entries not yet arrived: server times
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = pktPublish(0, 0, "bench/t", `{"n":`+strconv.Itoa(i)+`,"temperature":21.5}`)
	}
	at := 1.0
	return func(i int) {
		at += 0.1
		m.Add(mq(coarse(at+0.03), bp, "proxy", "browser", pkts[i%len(pkts)]), Local)
		pending = append(pending, 1000+at)
		if i%perFrame == perFrame-1 {
			for j, p := range pending {
				k := i - len(pending) + 1 + j
				m.Add(mq(p, pb, "broker", "proxy", pkts[k%len(pkts)]), Remote)
			}
			pending = pending[:0]
			m.Len()
		}
	}
}

// BenchmarkFloodFramesQoS0 is the model under a QoS 0 flood (qos0Flood),
// starting full (DefaultMaxArrows). ns/op is per message (two arrows).
func BenchmarkFloodFramesQoS0(b *testing.B) { benchFlood(b, qos0Flood, 2) }
