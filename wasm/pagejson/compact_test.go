package pagejson

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// compactSample is a run of records as the proxy writes them: a line, two
// shapes, packets of each, a shape defined again.
func compactSample() (msg []byte, lines []string, entries []trace.Entry) {
	pub := trace.Entry{Seq: 7, T: 12.625, Leg: trace.LegProxyBroker, From: "broker", To: "proxy", Kind: "mqtt.PUBLISH",
		Bytes: []byte{0x30, 5, 0, 1, 't', 'h', 'i'}, Observed: trace.ObservedWire, Conn: "c1", Src: "127.0.0.1:1883", Dst: "127.0.0.1:40000", Version: 4}
	ack := trace.Entry{Seq: 8, T: 12.75, Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: "mqtt.PUBACK",
		Bytes: []byte{0x40, 2, 0, 1}, Observed: trace.ObservedWire, Conn: "c1", Version: 5}
	hello := `{"type":"hello","token":"ab","serverTime":1.5}`
	msg = AppendCompactLine(msg, []byte(hello))
	msg = AppendCompactShape(msg, 0, &pub)
	msg = AppendCompactPacket(msg, 0, &pub)
	msg = AppendCompactShape(msg, 1, &ack)
	msg = AppendCompactPacket(msg, 1, &ack)
	pub2 := pub
	pub2.Seq, pub2.T, pub2.Bytes = 9, 13, []byte{0x30, 3, 0, 1, 'u'}
	msg = AppendCompactPacket(msg, 0, &pub2)
	ack2 := ack
	ack2.Seq, ack2.Conn = 10, "c2"
	msg = AppendCompactShape(msg, 1, &ack2) // redefined: another connection
	msg = AppendCompactPacket(msg, 1, &ack2)
	return msg, []string{hello}, []trace.Entry{pub, ack, pub2, ack2}
}

func TestCompactRoundTrip(t *testing.T) {
	msg, wantLines, want := compactSample()
	var c Compact
	c.Names = NewNames()
	var lines []string
	var got []trace.Entry
	if err := c.Read(msg, func(b []byte) { lines = append(lines, string(b)) }, func(e trace.Entry) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("lines %q, want %q", lines, wantLines)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries\n%+v\nwant\n%+v", got, want)
	}
	// The shapes are remembered for the next message.
	next := AppendCompactPacket(nil, 0, &want[0])
	got = nil
	if err := c.Read(next, func([]byte) {}, func(e trace.Entry) { got = append(got, e) }); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want[0]) {
		t.Errorf("a packet of a shape defined in an earlier message: %+v, %v", got, err)
	}
}

func TestCompactMalformed(t *testing.T) {
	good, _, _ := compactSample()
	shape := AppendCompactShape(nil, 3, &trace.Entry{Leg: trace.LegProxyBroker, Kind: "mqtt.PINGREQ"})
	tests := []struct {
		name, msg, err string
	}{
		{"unknown tag", "\x07", "an unknown tag 7 in the record at byte 0"},
		{"truncated line", "\x00\x05abc", "a truncated line in the record at byte 0"},
		{"line without a length", "\x00", "a truncated line"},
		{"shape id too large", "\x01\x80\x08\x02{}", "a shape id that is truncated or not below 1024"},
		{"shape not JSON", "\x01\x00\x03abc", "a shape that is not an entry's JSON"},
		{"truncated shape", "\x01\x00\x09{}", "a truncated shape"},
		{"undefined shape", "\x02\x05\x01" + strings.Repeat("\x00", 8) + "\x00", "a packet of shape 5, never defined"},
		{"truncated time", string(shape) + "\x02\x03\x01\x00\x00", "a truncated packet in the record at byte " + itoa(len(shape))},
		{"truncated bytes", string(shape) + "\x02\x03\x01" + strings.Repeat("\x00", 8) + "\x09ab", "a packet's truncated bytes"},
		{"seq too large", string(shape) + "\x02\x03\xff\xff\xff\xff\x7f" + strings.Repeat("\x00", 8) + "\x00", "a truncated packet"},
		{"good, then garbage", string(good) + "\x09", "an unknown tag 9 in the record at byte " + itoa(len(good))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Compact
			err := c.Read([]byte(tt.msg), func([]byte) {}, func(trace.Entry) {})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Read(%q) = %v, want an error saying %q", tt.msg, err, tt.err)
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

// FuzzCompact reads any bytes as a compact message: an error or records,
// never a panic; every entry's bytes lie within the message, and what was
// read writes back into records that read the same.
func FuzzCompact(f *testing.F) {
	good, _, _ := compactSample()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var c Compact
		var lines [][]byte
		var got []trace.Entry
		err := c.Read(msg, func(b []byte) { lines = append(lines, b) }, func(e trace.Entry) { got = append(got, e) })
		for _, e := range got {
			if len(e.Bytes) > len(msg) {
				t.Fatalf("an entry of %d bytes from a message of %d", len(e.Bytes), len(msg))
			}
		}
		if err != nil {
			return
		}
		var again []byte
		for _, l := range lines {
			again = AppendCompactLine(again, l)
		}
		for i := range got {
			again = AppendCompactShape(again, i%MaxCompactShapes, &got[i])
			again = AppendCompactPacket(again, i%MaxCompactShapes, &got[i])
		}
		var c2 Compact
		var lines2 [][]byte
		var got2 []trace.Entry
		if err := c2.Read(again, func(b []byte) { lines2 = append(lines2, b) }, func(e trace.Entry) { got2 = append(got2, e) }); err != nil {
			t.Fatalf("records written from what was read do not read: %v", err)
		}
		if len(lines2) != len(lines) || len(got2) != len(got) {
			t.Fatalf("read back %d lines and %d entries, want %d and %d", len(lines2), len(got2), len(lines), len(got))
		}
		for i := range lines {
			if !bytes.Equal(lines[i], lines2[i]) {
				t.Fatalf("line %d read back %q, want %q", i, lines2[i], lines[i])
			}
		}
	})
}
