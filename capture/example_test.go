package capture_test

import (
	"bytes"
	"fmt"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A CLI session's PUBLISH and PUBACK written as pcapng without the trace
// comments, then read back: the export made up a handshake and addresses
// for the parties, and the import sees what a capture shows.
func ExampleReadTrace() {
	entries := []trace.Entry{
		{T: 0, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: "mqtt.PUBLISH",
			Bytes: []byte{0x32, 0x09, 0, 3, 'a', '/', 'b', 0, 1, 'h', 'i'}, Version: 4},
		{T: 1.5, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: "mqtt.PUBACK",
			Bytes: []byte{0x40, 0x02, 0, 1}, Version: 4},
	}
	var pcapng bytes.Buffer
	if _, err := capture.WritePcapng(&pcapng, entries, &capture.ExportOptions{NoComments: true}); err != nil {
		panic(err)
	}
	res, err := capture.ReadTrace(&pcapng)
	if err != nil {
		panic(err)
	}
	for _, e := range res.Entries {
		fmt.Printf("%d %5.1f %s %s → %s %s\n", e.Seq, e.T, e.Conn, e.From, e.To, e.Summary)
	}
	fmt.Println(res.Problems)
	// Output:
	// 1   0.0 c1 127.0.0.4:40001 → 127.0.0.3:1883 [SYN] Seq=0 Win=65535
	// 2   0.0 c1 127.0.0.3:1883 → 127.0.0.4:40001 [SYN, ACK] Seq=0 Ack=1 Win=65535
	// 3   0.0 c1 127.0.0.4:40001 → 127.0.0.3:1883 [ACK] Seq=1 Ack=1
	// 4   0.0 c1 127.0.0.4:40001 → 127.0.0.3:1883 PUBLISH id=1 qos=1 a/b (2 B)
	// 5   1.5 c1 127.0.0.3:1883 → 127.0.0.4:40001 PUBACK id=1
	// []
}
