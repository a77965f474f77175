package diagram_test

import (
	"fmt"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func Example() {
	m := diagram.New(diagram.Options{})
	// The server's clock runs 1000 ms ahead of the page's: a ping sent at
	// page 0 came back at page 2, stamped 1001 by the server.
	m.AddClockSample(diagram.Sample{Sent: 0, Received: 2, Server: 1001})
	m.Add(trace.Entry{T: 10, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: "mqtt.PINGREQ", Bytes: []byte{0xc0, 0}}, diagram.Local)
	m.Add(trace.Entry{T: 1011, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: "mqtt.PINGREQ", Bytes: []byte{0xc0, 0}}, diagram.Remote)
	m.Add(trace.Entry{T: 1012, Leg: trace.LegProxyBroker, From: "broker", To: "proxy", Kind: "mqtt.PINGRESP", Bytes: []byte{0xd0, 0}}, diagram.Remote)
	m.Add(trace.Entry{T: 13, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: "mqtt.PINGRESP", Bytes: []byte{0xd0, 0}}, diagram.Local)

	v := m.View(0, 10)
	for _, l := range v.Lanes {
		fmt.Printf("| %s ", l.Label)
	}
	fmt.Println("|")
	for _, a := range v.Arrows {
		fmt.Printf("%5.1f ms (+%.1f) %-7s %d→%d %s\n", a.T, a.Delta, a.From, a.FromLane, a.ToLane, a.Kind)
	}
	for _, s := range v.Spans {
		fmt.Println(s.Name, s.Rows)
	}
	fmt.Printf("clock: server %+.0f ms ± %.0f\n", v.Clock.Offset, v.Clock.Uncertainty)
	// Output:
	// | Browser | Lifeline proxy | Broker |
	//  10.0 ms (+10.0) browser 0→1 mqtt.PINGREQ
	//  11.0 ms (+1.0) proxy   1→2 mqtt.PINGREQ
	//  12.0 ms (+1.0) broker  2→1 mqtt.PINGRESP
	//  13.0 ms (+1.0) proxy   1→0 mqtt.PINGRESP
	// keepalive ping [0 3]
	// keepalive ping [1 2]
	// clock: server +1000 ms ± 1
}
