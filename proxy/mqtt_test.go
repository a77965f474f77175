package proxy

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// A stream of packets seen by the proxy in tests: CONNECT (v4 and v5),
// CONNACK, PUBLISH with a two-byte Remaining Length, PINGREQ, DISCONNECT.
var (
	connect4 = []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	connect5 = []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 0}
	connack  = []byte{0x20, 0x02, 0x00, 0x00}
	publish  = append([]byte{0x30, 0x82, 0x01, 0x00, 0x01, 't'}, make([]byte, 127)...)
	pingreq  = []byte{0xc0, 0x00}
	disc     = []byte{0xe0, 0x00}
)

func concat(ps ...[]byte) []byte { return bytes.Join(ps, nil) }

// splitAll feeds b to a stream in chunks of size n and returns the packets.
func splitAll(b []byte, n, max int) ([][]byte, error) {
	s := stream{max: max, keep: true}
	var out [][]byte
	fed, ends := 0, 0 // bytes fed before this chunk; where the last packet ended
	for len(b) > 0 {
		k := min(n, len(b))
		if err := s.feed(b[:k], func(first byte, size int, pkt []byte, end int) {
			if pkt[0] != first || len(pkt) != size {
				panic("packet and its header disagree")
			}
			if ends += size; fed+end != ends {
				panic("the end offset is not where the packet ends")
			}
			out = append(out, append([]byte(nil), pkt...))
		}); err != nil {
			return out, err
		}
		b = b[k:]
		fed += k
	}
	if s.partial() {
		return out, errPartial
	}
	return out, nil
}

var errPartial = errors.New("stream ends inside a packet")

func TestStreamSplits(t *testing.T) {
	all := concat(connect4, connack, publish, pingreq, disc)
	for _, chunk := range []int{1, 2, 3, 5, 64, 1000} {
		got, err := splitAll(all, chunk, 0)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		want := [][]byte{connect4, connack, publish, pingreq, disc}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d packets, want %d", chunk, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("chunk %d packet %d = % x, want % x", chunk, i, got[i], want[i])
			}
		}
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"varint of five bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, codec.ErrVarint},
		{"varint not minimal", []byte{0x30, 0x80, 0x00}, 0, codec.ErrVarint},
		{"too large", []byte{0x30, 0x80, 0x01}, 100, codec.ErrPacketTooLarge},
		{"partial", []byte{0x30, 0x05, 0x00}, 0, errPartial},
		{"partial header", []byte{0x30, 0x80}, 0, errPartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := splitAll(tt.in, 1, tt.max); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStreamKeepMax(t *testing.T) {
	s := stream{keep: true, keepMax: 10}
	var sizes, kept []int
	s.feed(concat(connack, publish, pingreq), func(_ byte, n int, pkt []byte, _ int) {
		sizes = append(sizes, n)
		kept = append(kept, len(pkt))
	})
	if len(sizes) != 3 || sizes[1] != len(publish) || kept[1] != 0 || kept[0] != 4 || kept[2] != 2 {
		t.Fatalf("sizes %v kept %v: want the big PUBLISH followed but not copied", sizes, kept)
	}
}

func TestConnectVersion(t *testing.T) {
	tests := []struct {
		pkt  []byte
		want int
	}{
		{connect4, 4},
		{connect5, 5},
		{[]byte{0x10, 0x0e, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 0}, 3},
		{connack, 0},
		{[]byte{0x10}, 0},
		{[]byte{0x10, 0x02, 0, 4}, 0},
	}
	for _, tt := range tests {
		if got := connectVersion(tt.pkt); got != tt.want {
			t.Errorf("connectVersion(% x) = %d, want %d", tt.pkt, got, tt.want)
		}
	}
}

// FuzzStream checks that the packets found do not depend on how the stream
// is cut, and that they add up to the bytes fed.
func FuzzStream(f *testing.F) {
	f.Add(concat(connect4, connack, publish, pingreq, disc), 3)
	f.Add(connect5, 1)
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 2)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk <= 0 || chunk > len(b)+1 {
			chunk = len(b) + 1
		}
		whole, errWhole := splitAll(b, len(b)+1, 1<<16)
		cut, errCut := splitAll(b, chunk, 1<<16)
		if (errWhole == nil) != (errCut == nil) || len(whole) != len(cut) {
			t.Fatalf("whole: %d packets, %v; in chunks of %d: %d packets, %v", len(whole), errWhole, chunk, len(cut), errCut)
		}
		total := 0
		for i := range whole {
			if !bytes.Equal(whole[i], cut[i]) {
				t.Fatalf("packet %d differs", i)
			}
			total += len(whole[i])
		}
		if errWhole == nil && total != len(b) {
			t.Fatalf("packets cover %d of %d bytes", total, len(b))
		}
		for _, p := range whole {
			connectVersion(p)
		}
	})
}

func TestFrameBuffered(t *testing.T) {
	mask := []byte{1, 2, 3, 4}
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty", nil, false},
		{"one byte", []byte{0x82}, false},
		{"masked 2-byte payload whole", concat([]byte{0x82, 0x82}, mask, []byte{9, 9}), true},
		{"masked payload short", concat([]byte{0x82, 0x82}, mask, []byte{9}), false},
		{"masked key short", []byte{0x82, 0x82, 1, 2}, false},
		{"16-bit length whole", concat([]byte{0x82, 0xfe, 0x00, 0x80}, mask, make([]byte, 128)), true},
		{"16-bit length short", concat([]byte{0x82, 0xfe, 0x00, 0x80}, mask, make([]byte, 127)), false},
		{"64-bit length header short", []byte{0x82, 0xff, 0, 0, 0, 0}, false},
		{"64-bit length huge", concat([]byte{0x82, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0}, mask), false},
		{"close frame", []byte{0x88, 0x00}, true},
	}
	for _, tt := range tests {
		// The same bytes split anywhere between the WebSocket's buffer and
		// the pageReader's give the same answer.
		for i := 0; i <= len(tt.b); i++ {
			if got := frameBuffered(tt.b[:i], tt.b[i:]); got != tt.want {
				t.Errorf("%s split at %d: frameBuffered = %v, want %v", tt.name, i, got, tt.want)
			}
		}
	}
}

// FuzzFrameBuffered checks that a whole frame stays whole when more bytes
// arrive behind it, and that where the bytes are split between the two
// buffers does not matter.
func FuzzFrameBuffered(f *testing.F) {
	f.Add([]byte{0x82, 0x82, 1, 2, 3, 4, 9, 9}, []byte{0x82})
	f.Add([]byte{0x82, 0xfe, 0x00, 0x01, 1, 2, 3, 4, 0}, []byte{})
	f.Fuzz(func(t *testing.T, b, more []byte) {
		all := append(append([]byte{}, b...), more...)
		whole := frameBuffered(b, nil)
		if whole && !frameBuffered(all, nil) {
			t.Fatalf("% x is a whole frame but not with % x behind it", b, more)
		}
		if got, want := frameBuffered(b, more), frameBuffered(all, nil); got != want {
			t.Fatalf("frameBuffered(% x, % x) = %v, but %v for the bytes in one piece", b, more, got, want)
		}
	})
}

func TestSummary(t *testing.T) {
	tests := []struct {
		pkt     []byte
		version int
		want    string
		wantErr bool
	}{
		{connack, 4, "CONNACK", false},
		{pingreq, 4, "PINGREQ", false},
		{[]byte{0x30, 0x03, 0x00, 0x01}, 4, "PUBLISH (4 bytes)", true}, // topic cut short
		{appendPublish(t, codec.Publish{Topic: "a/b", QoS: 1, PacketID: 7, Retain: true, Dup: true, Payload: []byte("xyz"),
			Properties: codec.Properties{TopicAlias: 3, Present: 1 << codec.PropTopicAlias}}, codec.V5), 5,
			"PUBLISH id=7 qos=1 dup retain a/b (3 B)", false},
		{appendPublish(t, codec.Publish{Topic: "c", Payload: []byte("12345")}, codec.V311), 4, "PUBLISH qos=0 c (5 B)", false},
		{appendPublish(t, codec.Publish{QoS: 2, PacketID: 9, Properties: codec.Properties{TopicAlias: 4, Present: 1 << codec.PropTopicAlias}}, codec.V5), 5,
			"PUBLISH id=9 qos=2 alias:4 (0 B)", false},
		{appendPublish(t, codec.Publish{Topic: "d", Payload: []byte("1")}, codec.V5), 5, "PUBLISH qos=0 d (1 B)", false},
	}
	// The trace channel's writer decodes every PUBLISH into the same
	// struct: nothing of one packet may show in the next one's summary.
	var pub codec.Publish
	for _, tt := range tests {
		for _, reuse := range []*codec.Publish{nil, &pub} {
			got, err := summary(tt.pkt, tt.version, reuse)
			if (err != nil) != tt.wantErr || len(got) < len(tt.want) || got[:len(tt.want)] != tt.want {
				t.Errorf("summary(% x, reused %v) = %q, %v; want %q… error %v", tt.pkt, reuse != nil, got, err, tt.want, tt.wantErr)
			}
		}
	}
	if !reflect.ValueOf(pub).IsZero() {
		t.Errorf("the reused PUBLISH holds %+v after summary, want it zero", pub)
	}
}

func appendPublish(t *testing.T, p codec.Publish, v codec.Version) []byte {
	t.Helper()
	b, err := codec.AppendPacket(nil, &p, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
