package textdiagram

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRenderGolden(t *testing.T) {
	entries := []trace.Entry{
		{T: 0.1, Leg: trace.LegProxyDNS, From: "client", To: "dns", Kind: trace.KindDNSQuery, Summary: "A broker.lifeline.test", Observed: trace.ObservedWire},
		{T: 0.9, Leg: trace.LegProxyDNS, From: "dns", To: "client", Kind: trace.KindDNSResponse, Summary: "A 127.0.0.1", Observed: trace.ObservedWire},
		{T: 1.2, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: trace.KindTCPSyn, Summary: "SYN to 127.0.0.1:1883", Observed: trace.ObservedKernel},
		{T: 1.3, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: trace.KindTCPSynAck, Summary: "SYN-ACK", Observed: trace.ObservedKernel},
		{T: 2, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: "mqtt.CONNECT", Summary: `CONNECT v5.0 id="dev" keepalive=5`, Observed: trace.ObservedWire},
		{T: 2.5, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: "mqtt.CONNACK", Summary: "CONNACK Success", Observed: trace.ObservedWire},
		{T: 3, From: "client", To: "client", Kind: "error", Summary: "", Error: "no PINGRESP within 2.5s"},
		{T: 12.25, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: trace.KindTCPFin, Summary: "FIN", Observed: trace.ObservedKernel, Error: "reset"},
	}
	for _, mask := range []bool{false, true} {
		name := "basic.golden"
		if mask {
			name = "masked.golden"
		}
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, entries, Options{Parties: []string{"client", "dns", "broker"}, MaskTimes: mask}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name)
			if *update {
				os.WriteFile(path, b.Bytes(), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("got:\n%s\nwant:\n%s", b.Bytes(), want)
			}
		})
	}
}

func TestLaneOrder(t *testing.T) {
	var b bytes.Buffer
	Render(&b, []trace.Entry{{From: "broker", To: "client", Kind: "mqtt.PINGRESP", Summary: "PINGRESP"}}, Options{Parties: []string{"client", "dns", "broker"}})
	want := "    t (ms) client                            broker\n" +
		"       0.000  | PINGRESP                        |\n" +
		"              |<--------------------------------|\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}
