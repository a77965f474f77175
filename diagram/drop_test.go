package diagram_test

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A broker.drop entry (a message the embedded broker dropped) is an arrow
// that starts and ends on the broker's lane, among the publish arrows, and
// joins no exchange: the page draws it ending at the broker, marked
// dropped.
func TestBrokerDropArrow(t *testing.T) {
	m := diagram.New(diagram.Options{})
	pb := trace.LegProxyBroker
	m.Add(trace.Entry{Seq: 1, T: 1, Leg: pb, From: "proxy", To: "broker", Kind: trace.KindTCPSyn, Observed: trace.ObservedKernel, Conn: "c1"}, diagram.Remote)
	m.Add(trace.Entry{Seq: 2, T: 2, Leg: pb, From: "broker", To: "broker", Kind: trace.KindBrokerDrop, Observed: trace.ObservedBroker, Conn: "c1",
		Summary: "queue full: PUBLISH q1 a (1 B) for x dropped (1000 queued, 20 in flight, 1 KiB held)",
		Drop:    &trace.Drop{Client: "x", Reason: trace.DropQueueFull, Topic: "a", QoS: 1, Size: 1, Queued: 1000, Inflight: 20}}, diagram.Remote)
	v := m.View(0, m.Len())
	if len(v.Arrows) != 2 {
		t.Fatalf("%d arrows, want 2", len(v.Arrows))
	}
	a := v.Arrows[1]
	broker := -1
	for i, l := range v.Lanes {
		if l.Party == "broker" {
			broker = i
		}
	}
	if a.Kind != trace.KindBrokerDrop || a.FromLane != broker || a.ToLane != broker || broker < 0 || a.Class != "publish" || a.Exchange != 0 || a.Observed != trace.ObservedBroker {
		t.Fatalf("drop arrow %+v, lanes %+v", a, v.Lanes)
	}
	if got, ok := m.Entry(a.Seq); !ok || got.Drop == nil || got.Drop.Reason != trace.DropQueueFull {
		t.Fatalf("the entry behind the arrow lost its drop: %+v", got)
	}
}
