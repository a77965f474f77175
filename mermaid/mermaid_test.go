package mermaid

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/internal/golden"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// mermaidView is a diagram with what the Mermaid export must get right:
// wire and kernel arrows, an arrow without a summary, text with Mermaid's
// syntax characters, line breaks and control characters, a blank summary
// and errors (one on a note to a party's own lane).
func mermaidView(t *testing.T) diagram.View {
	t.Helper()
	m := diagram.New(diagram.Options{})
	for _, e := range []trace.Entry{
		{T: 0.1, Leg: trace.LegProxyDNS, From: "proxy", To: "dns", Kind: trace.KindDNSQuery, Summary: "query id 0x1a2b A? broker.lifeline.test.", Observed: trace.ObservedWire},
		{T: 0.9, Leg: trace.LegProxyDNS, From: "dns", To: "proxy", Kind: trace.KindDNSResponse, Summary: "", Observed: trace.ObservedWire, Error: "NXDOMAIN"},
		{T: 1.2, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: trace.KindTCPSyn, Summary: "SYN to 127.0.0.1:1883", Observed: trace.ObservedKernel},
		{T: 2, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: "mqtt.PUBLISH", Summary: "PUBLISH a/#;b%<c>\nnext\tcol\x01 \x7f end", Observed: trace.ObservedWire},
		{T: 2.5, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: "mqtt.PUBACK", Summary: "  \u00a0", Observed: trace.ObservedWire},
		{T: 3, Leg: trace.LegBrowserProxy, From: "browser", To: "browser", Kind: "error", Summary: "ü <note>", Error: "no PINGRESP; gave up\r\n"},
	} {
		m.Add(e, diagram.Local)
	}
	return m.View(0, m.Len())
}

func TestMermaidGolden(t *testing.T) {
	v := mermaidView(t)
	golden.Check(t, "mermaid.golden", Append(nil, &v))
}

func TestMermaidText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"", "#32;"},
		{" \t\n\u00a0\u2028\ufeff", "#32;"},
		{"\u0085", "\u0085"}, // not white space to JavaScript's trim
		{"a#b;c%d<e>f", "a#35;b#59;c#37;d#lt;e#gt;f"},
		{"line\r\nbreak\ttab", "line  break tab"},
		{"\x00\x1b\x7f", "#0;#27;#127;"},
		{"ü → ✓", "ü → ✓"},
	}
	for _, tt := range tests {
		if got := string(AppendText(nil, tt.in)); got != tt.want {
			t.Errorf("AppendText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
