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
	// Through a shape: the first entry of its shape makes it, the next
	// one is written with it.
	var s shapes
	for range 2 {
		got, ok := s.appendEntryMsg(nil, &e)
		if ok != (err == nil) || (ok && string(got) != string(want)) {
			t.Errorf("shapes.appendEntryMsg: %v\n got %s\nwant %s", ok, got, want)
		}
	}
}

// checkShape checks that an entry written through the shape of another
// (the same but for seq, t, summary and bytes) is what encoding/json writes.
func checkShape(t *testing.T, first, e trace.Entry) {
	t.Helper()
	var s shapes
	s.appendEntryMsg(nil, &first)
	want, err := json.Marshal(entryMsg{Type: "entry", Entry: &e})
	got, ok := s.appendEntryMsg(nil, &e)
	if ok != (err == nil) || (ok && string(got) != string(want)) {
		t.Errorf("through the shape of %+v: %v\n got %s\nwant %s", first, ok, got, want)
	}
}

func TestEntryShape(t *testing.T) {
	relayed := trace.Entry{Seq: 1, T: 0.5, Leg: trace.LegProxyBroker, From: "broker", To: "proxy", Kind: "mqtt.PUBLISH",
		Summary: "PUBLISH qos=0 a (1 B)", Bytes: []byte{0x30, 4, 0, 1, 'a', 'x'}, Observed: trace.ObservedWire,
		Conn: "c1", Src: "127.0.0.1:1883", Dst: "127.0.0.1:5000", Version: 4}
	next := relayed
	next.Seq, next.T, next.Summary, next.Bytes = 1234567, 98765.4321, "PUBLISH <&> \"x\" \u2028 \xff", make([]byte, 70000)
	odd := relayed // constants that look like the values the shape is cut at
	odd.Src, odd.Dst, odd.Conn = `"summary":"","bytes":"AA=="`, `{"type":"entry","entry":{"seq":0,"t":0`, ""
	oddNext := odd
	oddNext.Seq, oddNext.Summary, oddNext.Bytes = 2, "s", []byte{1}
	noVersion := relayed
	noVersion.Version, noVersion.Dst = 0, ""
	tests := []struct {
		name        string
		first, then trace.Entry
	}{
		{"relayed packets", relayed, next},
		{"constants like the cuts", odd, oddNext},
		{"optional fields left out", noVersion, func() trace.Entry { e := noVersion; e.Seq = 9; return e }()},
		{"then a note: written whole", relayed, func() trace.Entry { e := next; e.Note = "n"; return e }()},
		{"then an error: written whole", relayed, func() trace.Entry { e := next; e.Error = "e"; return e }()},
		{"then no bytes: written whole", relayed, func() trace.Entry { e := next; e.Bytes = nil; return e }()},
		{"then a time not a number", relayed, func() trace.Entry { e := next; e.T = math.NaN(); return e }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkShape(t, tt.first, tt.then) })
	}
	// The shapes are used, not only checked.
	for _, e := range []trace.Entry{relayed, odd, noVersion} {
		var s shapes
		s.appendEntryMsg(nil, &e)
		for k, sh := range s.m {
			if sh == nil {
				t.Errorf("no shape for %+v", k)
			}
		}
	}
}

func FuzzEntryShape(f *testing.F) {
	f.Add(1, 2.5, "mqtt.PUBLISH", "c1", "127.0.0.1:1", 4, 7, 1e-7, "PUBLISH <a&b>", []byte{1, 2})
	f.Fuzz(func(t *testing.T, seq int, tm float64, kind, conn, src string, version, seq2 int, tm2 float64, summary string, b []byte) {
		first := trace.Entry{Seq: seq, T: tm, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: kind,
			Bytes: []byte{0}, Observed: trace.ObservedWire, Conn: conn, Src: src, Dst: kind, Version: version}
		then := first
		then.Seq, then.T, then.Summary, then.Bytes = seq2, tm2, summary, b
		checkShape(t, first, then)
	})
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

// TestShapesInterleaved writes, through one shapes, the entries of two
// sessions' packets both ways and of two kinds, interleaved as a trace
// channel's writer meets them: each is what encoding/json writes.
func TestShapesInterleaved(t *testing.T) {
	var kinds []trace.Entry
	for _, conn := range []string{"c1", "c2"} {
		for _, from := range []string{"proxy", "broker"} {
			for _, kind := range []string{"mqtt.PUBLISH", "mqtt.PUBACK"} {
				to := "broker"
				if from == "broker" {
					to = "proxy"
				}
				kinds = append(kinds, trace.Entry{Leg: trace.LegProxyBroker, From: from, To: to, Kind: kind,
					Observed: trace.ObservedWire, Conn: conn, Src: conn + ":1", Dst: conn + ":2", Version: 5})
			}
		}
	}
	var s shapes
	for i := range 200 {
		e := kinds[(i*i+i/3)%len(kinds)]
		e.Seq, e.T, e.Summary, e.Bytes = i, float64(i)/7, "summary "+itoa(i), []byte{byte(i), 1, 2}
		want, err := json.Marshal(entryMsg{Type: "entry", Entry: &e})
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := s.appendEntryMsg(nil, &e); !ok || string(got) != string(want) {
			t.Fatalf("entry %d: %v\n got %s\nwant %s", i, ok, got, want)
		}
	}
	if len(s.m) != len(kinds) {
		t.Errorf("%d shapes for %d kinds of entry", len(s.m), len(kinds))
	}
}
