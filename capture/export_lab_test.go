package capture

import (
	"bytes"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// What is not a packet on the wire — the kernel's socket state, the lab
// bench's controls and marks, a TLS handshake — never becomes one: on a
// connection with packets it rides whole in the comment of a bare ACK and
// is read back from there; without comments, or without a connection on
// the wire, it is left out.
func TestExportEntriesNotOnTheWire(t *testing.T) {
	const leg = trace.LegProxyBroker
	session := []trace.Entry{
		{Kind: trace.KindTCPSyn, From: "proxy", To: "broker"},
		{Kind: trace.KindTCPSynAck, From: "broker", To: "proxy"},
		{Kind: trace.KindTCPAck, From: "proxy", To: "broker"},
		{Kind: trace.KindTCPState, From: "proxy", To: "proxy", Summary: "kernel: ESTABLISHED"},
		{Kind: trace.KindTLS, From: "proxy", To: "broker", Summary: "TLS 1.3", Note: "not on the wire"},
		{Kind: "mqtt.PINGREQ", From: "proxy", To: "broker", Bytes: []byte{0xc0, 0}},
		{Kind: trace.KindLabHold, From: "proxy", To: "proxy", Bytes: []byte{0xd0, 0}, Summary: "held PINGRESP"},
		{Kind: trace.KindBrokerDrop, From: "broker", To: "broker", Summary: "dropped", Drop: &trace.Drop{Client: "c", Reason: "queue full", Topic: "a/b", QoS: 1}},
		{Kind: trace.KindTCPFin, From: "proxy", To: "broker"},
		{Kind: trace.KindTCPFin, From: "broker", To: "proxy"},
		{Kind: trace.KindLabDelay, From: "browser", To: "proxy", Summary: "delay after the FIN"},
	}
	for i := range session {
		session[i].T, session[i].Leg, session[i].Conn, session[i].Observed = float64(i), leg, "c1", trace.ObservedWire
		if session[i].Summary == "" {
			session[i].Summary = session[i].Kind
		}
	}
	file, back, skipped := exportImport(t, session)
	if skipped != 0 {
		t.Errorf("%d entries left out, want none", skipped)
	}
	sameEntries(t, back.Entries, session)
	// The bare ACKs carry nothing for tshark: one MQTT packet, no data in
	// the others.
	if rows := tsharkStockRows(t, file, "mqtt", "mqtt.msgtype"); len(rows) != 1 {
		t.Errorf("tshark reads %d MQTT packets, want the PINGREQ alone", len(rows))
	}
	if rows := tsharkStockRows(t, file, "tcp.len > 0", "tcp.len"); len(rows) != 1 {
		t.Errorf("tshark reads %d segments with data, want 1", len(rows))
	}

	// Without comments, and on a connection with nothing on the wire,
	// they are left out.
	var b bytes.Buffer
	if skipped, err := WritePcapng(&b, session, &ExportOptions{NoComments: true}); skipped != 5 || err != nil {
		t.Errorf("without comments: %d left out (%v), want 5", skipped, err)
	}
	x, err := NewExporter(&b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []trace.Entry{
		{Kind: trace.KindTCPState, Leg: leg, Conn: "c9", From: "proxy", To: "proxy", Summary: "kernel: ESTABLISHED"},
		{Kind: trace.KindLabHold, Leg: trace.LegBrowserProxy, From: "proxy", To: "proxy", Bytes: []byte{0x40, 2, 0, 1}},
		{Kind: trace.KindLabDelay, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy"},
	} {
		x.Learn(&e)
		if ok, err := x.Write(&e); ok || err != nil {
			t.Errorf("%s: written %v, %v; want left out", e.Kind, ok, err)
		}
	}
}
