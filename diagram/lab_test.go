package diagram

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// The lab bench's effects and the kernel's socket states happen at one
// party: their arrows start and end on the same lane, in classes of their
// own, and a held packet's bytes do not open an exchange.
func TestLabMarksStayOnTheirLane(t *testing.T) {
	m := New(Options{})
	for _, e := range []trace.Entry{
		mq(10, pb, "broker", "proxy", pktPuback(2)),
		ev(10.1, bp, "proxy", "proxy", trace.KindLabHold, pktPuback(2)),
		ev(11, pb, "proxy", "proxy", trace.KindTCPState, nil),
		ev(12, bp, "browser", "proxy", trace.KindLabRelease, nil),
		ev(12.1, pb, "proxy", "proxy", trace.KindLabDrop, pktPublish(1, 3, "t", "x")),
	} {
		m.Add(e, Imported)
	}
	v := m.View(0, 10)
	want := []struct {
		kind, class string
		self        bool
	}{
		{"mqtt.PUBACK", "publish", false},
		{trace.KindLabHold, "lab", true},
		{trace.KindTCPState, "tcp", true},
		{trace.KindLabRelease, "lab", false},
		{trace.KindLabDrop, "lab", true},
	}
	if len(v.Arrows) != len(want) {
		t.Fatalf("%d arrows, want %d", len(v.Arrows), len(want))
	}
	for i, w := range want {
		a := v.Arrows[i]
		if a.Kind != w.kind || a.Class != w.class || (a.FromLane == a.ToLane) != w.self {
			t.Errorf("arrow %d: %s class %s lanes %d→%d; want %s class %s, same lane %v", i, a.Kind, a.Class, a.FromLane, a.ToLane, w.kind, w.class, w.self)
		}
		if w.kind != "mqtt.PUBACK" && a.Exchange != 0 {
			t.Errorf("arrow %d (%s) is in exchange %d, want none", i, a.Kind, a.Exchange)
		}
	}
	if v.Counts["lab"] != 3 {
		t.Errorf("counts %v, want 3 lab", v.Counts)
	}
}

// A packet the proxy held is marked where it arrived at the proxy: the
// latest arrow of its connection with its bytes ending at the proxy, not
// an earlier identical one, nor one of another connection.
func TestHeldPacketMarked(t *testing.T) {
	m := New(Options{})
	withConn := func(e trace.Entry, c string) trace.Entry { e.Conn = c; return e }
	for _, e := range []trace.Entry{
		withConn(mq(10, pb, "broker", "proxy", pktPuback(2)), "c1"), // not held: released long ago
		withConn(mq(11, pb, "broker", "proxy", pktPuback(2)), "c2"), // another connection
		withConn(mq(12, pb, "broker", "proxy", pktPuback(2)), "c1"), // this one
		withConn(ev(12.1, bp, "proxy", "proxy", trace.KindLabHold, pktPuback(2)), "c1"),
		withConn(mq(13, bp, "proxy", "browser", pktPuback(2)), "c1"), // its forwarding
	} {
		m.Add(e, Imported)
	}
	var held []int
	for _, a := range m.View(0, 10).Arrows {
		if a.Held {
			held = append(held, a.Row)
		}
	}
	if len(held) != 1 || held[0] != 2 {
		t.Errorf("held rows %v, want [2]", held)
	}
}
