package pagejson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/dnsdissect"
	"github.com/lifeline-mqtt/lifeline/httpdissect"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

func connectBytes(t *testing.T) []byte {
	t.Helper()
	b, err := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60, ClientID: "dev1"}, codec.V311)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJSONMatchesTheSchema checks the hand-written JSON against
// encoding/json of the same Go values: the page and the exports read the
// schema of docs/trace.md.
func TestJSONMatchesTheSchema(t *testing.T) {
	m := diagram.New(diagram.Options{})
	m.AddClockSample(diagram.Sample{Sent: 0, Received: 2, Server: 1001})
	conn := connectBytes(t)
	entries := []trace.Entry{
		{T: 1.5, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: "mqtt.CONNECT", Summary: `CONNECT id="dev1" <&>`, Bytes: conn, Observed: "wire", Conn: "c1", Version: 4},
		{T: 1003, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: "mqtt.CONNECT", Bytes: conn, Observed: "wire", Conn: "c1", Version: 4, Src: "127.0.0.1:40001", Dst: "127.0.0.1:1883"},
		{T: 1004, Leg: trace.LegProxyBroker, From: "broker", To: "proxy", Kind: "tcp.rst", Observed: "kernel", Note: "a note", Error: "reset\u2028by peer"},
	}
	m.Add(entries[0], diagram.Local)
	m.Add(entries[1], diagram.Remote)
	m.Add(entries[2], diagram.Remote)
	// A CONNECT the proxy closed without relaying (notRelayed).
	m.Add(trace.Entry{T: 5, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: "mqtt.CONNECT", Bytes: conn, Observed: "wire", Conn: "c2", Version: 4}, diagram.Local)
	m.Add(trace.Entry{T: 1004.5, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: "ws.close", Observed: "wire", Conn: "c2", Error: "refused"}, diagram.Remote)
	v := m.View(0, 10)
	if n := len(v.Arrows); n != 5 || !v.Arrows[4].NotRelayed && !v.Arrows[3].NotRelayed {
		t.Fatalf("want five arrows, one not relayed: %+v", v.Arrows)
	}

	same := func(t *testing.T, got []byte, want any) {
		t.Helper()
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%v in %s", err, got)
		}
		json.Unmarshal(wantJSON, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("got  %s\nwant %s", got, wantJSON)
		}
	}
	var w jsonw.Writer
	t.Run("view", func(t *testing.T) {
		w.Reset()
		WriteView(&w, &v)
		same(t, w.B, v)
	})
	t.Run("view with a broker timer", func(t *testing.T) {
		tv := v
		tv.Deadlines = append([]diagram.Deadline{{T: 3000, Row: 1.5, Lane: 2, Pending: true, Label: "session expiry 2 s: session kept until here [3.1.2.11.2]",
			Timer: diagram.TimerSessionExpiry, Interval: 2, Clause: "3.1.2.11.2"}}, v.Deadlines...)
		w.Reset()
		WriteView(&w, &tv)
		same(t, w.B, tv)
	})
	t.Run("entries", func(t *testing.T) {
		w.Reset()
		WriteEntries(&w, m.Entries())
		same(t, w.B, m.Entries())
	})
	t.Run("classes", func(t *testing.T) {
		w.Reset()
		WriteClasses(&w, diagram.Classes)
		same(t, w.B, diagram.Classes)
	})
	t.Run("tree", func(t *testing.T) {
		tree := codec.Dissect(conn, codec.V311)
		w.Reset()
		WriteTree(&w, &tree)
		same(t, w.B, tree)
	})
}

// TestReadEntryReadsWhatWriteEntryWrites round-trips entries with every
// field set and with none, and checks ReadEntry against encoding/json's
// reading of the same text.
func TestReadEntryReadsWhatWriteEntryWrites(t *testing.T) {
	tests := []struct {
		name string
		e    trace.Entry
	}{
		{"empty", trace.Entry{}},
		{"every field", trace.Entry{Seq: 7, T: 12.25, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: "mqtt.CONNECT",
			Summary: "CONNECT \"x\" <&>", Bytes: connectBytes(t), Observed: trace.ObservedWire, Note: "a\u2028note", Conn: "c3", Src: "10.0.0.2:53422", Dst: "[2001:db8::1]:1883", Version: 5, Error: "bad"}},
		{"broker.drop", trace.Entry{Seq: 9, T: 40, Leg: trace.LegProxyBroker, From: "broker", To: "broker", Kind: trace.KindBrokerDrop,
			Summary: "queue full: PUBLISH q1 a/b", Observed: trace.ObservedBroker, Conn: "c2", Version: 5,
			Drop: &trace.Drop{Client: "dash-1", Reason: trace.DropQueueFull, Topic: "a/b", QoS: 1, Size: 9, Queued: 3, Inflight: 3, Bytes: 1 << 33, Limit: "3 messages queued", Refused: true}}},
		{"broker.drop, zero counts", trace.Entry{Kind: trace.KindBrokerDrop, Drop: &trace.Drop{Reason: trace.DropExpired}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w jsonw.Writer
			WriteEntry(&w, &tt.e)
			for _, names := range []*Names{nil, NewNames(), {m: map[string]string{}, PacketSummaries: true}} {
				r := jsonw.NewReader(w.B)
				got := ReadEntry(r, names)
				if r.Err() {
					t.Fatalf("ReadEntry failed on %s", w.B)
				}
				var std trace.Entry
				if err := json.Unmarshal(w.B, &std); err != nil {
					t.Fatal(err)
				}
				want := tt.e
				if names != nil && !names.PacketSummaries && strings.HasPrefix(want.Kind, "mqtt.") && len(want.Bytes) > 0 {
					want.Summary, std.Summary = "", "" // skipped, not read
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("got  %+v\nwant %+v", got, want)
				}
				if !reflect.DeepEqual(got, std) {
					t.Fatalf("encoding/json read %+v, ReadEntry %+v", std, got)
				}
			}
		})
	}
}

// TestWriteDetail checks the detail panel's JSON: the entry, its class, the
// exchange with its arrows, and an MQTT packet's tree (as encoding/json
// writes codec.Dissect's) and none for other kinds.
func TestWriteDetail(t *testing.T) {
	conn := connectBytes(t)
	connect := trace.Entry{Seq: 3, T: 1.5, Leg: trace.LegBrowserBroker, From: "browser", To: "broker", Kind: "mqtt.CONNECT", Bytes: conn, Observed: "wire"}
	connack := trace.Entry{Seq: 4, T: 2.5, Leg: trace.LegBrowserBroker, From: "broker", To: "browser", Kind: "mqtt.CONNACK", Bytes: []byte{0x20, 2, 0, 0}, Observed: "wire"}
	syn := trace.Entry{Seq: 1, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: trace.KindTCPSyn, Observed: "kernel"}
	tree := codec.Dissect(conn, codec.V311)
	dnsMsg := []byte{0xdf, 0xbe, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'b', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1}
	answer := trace.Entry{Seq: 2, Leg: trace.LegProxyDNS, From: "dns", To: "proxy", Kind: trace.KindDNSResponse, Bytes: dnsMsg, Observed: "wire"}
	head := []byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
	accept := trace.Entry{Seq: 5, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: trace.KindWSAccept, Bytes: head, Observed: "wire"}
	tests := []struct {
		name string
		e    trace.Entry
		x    *diagram.Exchange
		kept []trace.Entry
		want map[string]any
	}{
		{"MQTT in an exchange", connect, &diagram.Exchange{ID: 2, Name: "connect", Done: true, Seqs: []int{3, 9, 4}}, []trace.Entry{connect, connack},
			map[string]any{"entry": connect, "class": "connect", "tree": tree, "exchange": map[string]any{"id": 2, "name": "connect", "done": true,
				"arrows": []map[string]any{{"seq": 3, "kind": "mqtt.CONNECT", "from": "browser", "to": "broker", "t": 1.5}, {"seq": 4, "kind": "mqtt.CONNACK", "from": "broker", "to": "browser", "t": 2.5}}}}},
		{"TCP alone", syn, nil, nil, map[string]any{"entry": syn, "class": "tcp"}},
		{"HTTP upgrade", accept, nil, nil, map[string]any{"entry": accept, "class": diagram.Class(accept.Kind), "tree": httpdissect.Dissect(head)}},
		{"DNS", answer, nil, nil, map[string]any{"entry": answer, "class": diagram.Class(answer.Kind), "tree": dnsdissect.Dissect(dnsMsg)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w jsonw.Writer
			entry := func(seq int) (trace.Entry, bool) {
				for _, e := range tt.kept {
					if e.Seq == seq {
						return e, true
					}
				}
				return trace.Entry{}, false // paged out
			}
			WriteDetail(&w, &tt.e, tt.x, entry)
			wantJSON, err := json.Marshal(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			var g, wt any
			if err := json.Unmarshal(w.B, &g); err != nil {
				t.Fatalf("%v in %s", err, w.B)
			}
			json.Unmarshal(wantJSON, &wt)
			if !reflect.DeepEqual(g, wt) {
				t.Fatalf("got  %s\nwant %s", w.B, wantJSON)
			}
		})
	}
}

// TestReadEntryNamesStream reads entries in a row with one Names, as the
// trace channel does: a name equal to the last entry's, a new one, one
// written with an escape, and a value that only starts like the last.
func TestReadEntryNamesStream(t *testing.T) {
	texts := []string{
		`{"leg":"proxy-broker","from":"broker","to":"proxy","kind":"mqtt.PUBLISH","observed":"wire","conn":"c1"}`,
		`{"leg":"proxy-broker","from":"broker","to":"proxy","kind":"mqtt.PUBLISH","observed":"wire","conn":"c1"}`,
		`{"leg":"proxy-broker","from":"proxy","to":"broker","kind":"mqtt.PUBACK","observed":"wire","conn":"c12"}`,
		`{"leg":"proxy-broker","from":"pro\u0078y","to":"br\"oker","kind":"mqtt.PUBACK","observed":"wire","conn":"c1"}`,
		`{"leg":"proxy-broker","from":"br\"oker","to":"br\"oker","kind":"mqtt.PUBACK","observed":"wire","conn":"c"}`,
	}
	names := NewNames()
	for _, text := range texts {
		r := jsonw.NewStringReader(text)
		got := ReadEntry(r, names)
		var want trace.Entry
		if err := json.Unmarshal([]byte(text), &want); err != nil {
			t.Fatal(err)
		}
		if r.Err() || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", text, got, want)
		}
	}
}
