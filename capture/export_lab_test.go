package capture

import (
	"bytes"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// What is not a packet on the wire — the kernel's socket state, the lab
// bench's controls and marks — is left out of an exported capture.
func TestExportLeavesOutStatesAndLabMarks(t *testing.T) {
	var b bytes.Buffer
	x, err := NewExporter(&b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []trace.Entry{
		{Kind: trace.KindTCPState, Leg: trace.LegProxyBroker, From: "proxy", To: "proxy", Summary: "kernel: ESTABLISHED"},
		{Kind: trace.KindLabHold, Leg: trace.LegBrowserProxy, From: "proxy", To: "proxy", Bytes: []byte{0x40, 2, 0, 1}},
		{Kind: trace.KindLabDelay, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy"},
	} {
		x.Learn(&e)
		if ok, err := x.Write(&e); ok || err != nil {
			t.Errorf("%s: written %v, %v; want left out", e.Kind, ok, err)
		}
	}
}
