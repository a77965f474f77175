package proxy

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// entryMsg is a /trace entry message as encoding/json writes it.
type entryMsg struct {
	Type  string       `json:"type"`
	Entry *trace.Entry `json:"entry"`
}

// checkEntryMsg checks that appendEntryMsg writes what encoding/json
// writes of e, or declines what it does not encode.
func checkEntryMsg(t *testing.T, e trace.Entry) {
	t.Helper()
	want, err := json.Marshal(entryMsg{Type: "entry", Entry: &e})
	got, ok := appendEntryMsg(nil, &e)
	switch {
	case !ok && err != nil:
	case !ok:
		t.Errorf("appendEntryMsg declined %+v, which encoding/json encodes", e)
	case err != nil:
		t.Errorf("appendEntryMsg encoded %+v, which encoding/json refuses (%v)", e, err)
	case string(got) != string(want):
		t.Errorf("appendEntryMsg:\n got %s\nwant %s", got, want)
	}
}

func TestAppendEntryMsgMatchesJSON(t *testing.T) {
	full := trace.Entry{Seq: 7, T: 12.345, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: "mqtt.PUBLISH",
		Summary: "PUBLISH qos=0 a/b", Bytes: []byte{0x30, 3, 0, 1, 'a'}, Observed: trace.ObservedWire,
		Note: "n", Conn: "c1", Src: "127.0.0.1:1", Dst: "[::1]:2", Version: 5, Error: "e"}
	tests := []struct {
		name string
		e    trace.Entry
	}{
		{"zero", trace.Entry{}},
		{"every field", full},
		{"empty bytes", trace.Entry{Bytes: []byte{}}},
		{"negative seq and time", trace.Entry{Seq: -1, T: -0.5}},
		{"tiny time", trace.Entry{T: 1e-7}},
		{"tiny negative time", trace.Entry{T: -3.2e-9}},
		{"huge time", trace.Entry{T: 1e21}},
		{"large time", trace.Entry{T: 123456789012.125}},
		{"negative zero", trace.Entry{T: math.Copysign(0, -1)}},
		{"not a number", trace.Entry{T: math.NaN()}},
		{"infinite", trace.Entry{T: math.Inf(1)}},
		{"escapes", trace.Entry{Summary: "\"\\/<>&\b\f\n\r\t\x00\x1f\x7f é \u2028\u2029 \xff\xfe end"}},
		{"a drop", trace.Entry{Kind: trace.KindBrokerDrop, Drop: &trace.Drop{Client: "x", Reason: trace.DropQueueFull,
			Topic: "a/<b>", QoS: 1, Size: 10, Queued: 3, Inflight: 2, Bytes: 1 << 40, Limit: "1000 messages", Refused: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkEntryMsg(t, tt.e) })
	}
}

func FuzzAppendEntryMsg(f *testing.F) {
	f.Add(1, 2.5, "mqtt.PUBLISH", "PUBLISH <a&b>", []byte{1, 2}, "\xff\u2028", 5)
	f.Fuzz(func(t *testing.T, seq int, tm float64, kind, summary string, b []byte, note string, version int) {
		checkEntryMsg(t, trace.Entry{Seq: seq, T: tm, Kind: kind, Summary: summary, Bytes: b, Note: note,
			Conn: note, Src: summary, Version: version, Error: kind})
	})
}
