package expert_test

import (
	"fmt"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/expert"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A client subscribes at QoS 2, the broker grants QoS 1, then acknowledges
// a PUBLISH the client never sent.
func ExampleAnalyze() {
	var es []trace.Entry
	add := func(ms float64, from, to string, p codec.Packet) {
		b, _ := codec.AppendPacket(nil, p, codec.V311)
		es = append(es, trace.Entry{Seq: len(es) + 1, T: ms, From: from, To: to, Conn: "c1",
			Kind: trace.KindMQTT(p.Type().String()), Bytes: b, Version: 4})
	}
	add(0, "device", "broker", &codec.Connect{Version: codec.V311, CleanStart: true, ClientID: "d"})
	add(1, "broker", "device", &codec.Connack{})
	add(2, "device", "broker", &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "cmd/#", QoS: 2}}})
	add(3, "broker", "device", &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1}})
	add(4, "broker", "device", &codec.Puback{PacketID: 9})
	for _, f := range expert.Analyze(es, expert.Options{}) {
		fmt.Println(f)
	}
	// Output:
	// note #4,#3 [3.8.4]: SUBACK grants QoS 1 for "cmd/#", lower than the QoS 2 asked for
	// warning #5 [MQTT-2.3.1-6]: PUBACK for packet id 9, but no request has that id
}
