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
