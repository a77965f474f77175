package wsclient

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

func TestParseFrameHeader(t *testing.T) {
	tests := []struct {
		name, hex string
		want      FrameHeader
		more      bool   // needs more bytes
		err       string // a piece of the error
	}{
		{name: "binary 3 B", hex: "8203", want: FrameHeader{Fin: true, Opcode: OpBinary, Length: 3, Size: 2}},
		{name: "masked", hex: "8283a1b2c3d4", want: FrameHeader{Fin: true, Opcode: OpBinary, Masked: true, Mask: [4]byte{0xa1, 0xb2, 0xc3, 0xd4}, Length: 3, Size: 6}},
		{name: "16-bit length", hex: "027e0100", want: FrameHeader{Opcode: OpBinary, Length: 256, Size: 4}},
		{name: "64-bit length", hex: "827f0000000000010000", want: FrameHeader{Fin: true, Opcode: OpBinary, Length: 65536, Size: 10}},
		{name: "empty", hex: "", more: true},
		{name: "one byte", hex: "82", more: true},
		{name: "16-bit length cut", hex: "827e01", more: true},
		{name: "mask cut", hex: "8283a1b2", more: true},
		{name: "16-bit length not shortest", hex: "827e0005", err: "not in its shortest form"},
		{name: "64-bit length not shortest", hex: "827f0000000000000005", err: "not in its shortest form"},
		{name: "64-bit length top bit", hex: "827f8000000000000000", err: "most significant bit"},
		{name: "reserved opcode 3", hex: "8300", err: "reserved opcode 0x3"},
		{name: "reserved opcode 0xb", hex: "8b00", err: "reserved opcode 0xb"},
		{name: "RSV1 without extension", hex: "c200", err: "reserved bits 4"},
		{name: "fragmented ping", hex: "0900", err: "fragmented ping"},
		{name: "long close", hex: "887e0080", err: "close frame of 128 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.hex)
			h, ok, err := ParseFrameHeader(b)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrFrame) {
					t.Fatalf("got %+v, %v; want error %q", h, err, tt.err)
				}
			case tt.more:
				if ok || err != nil {
					t.Fatalf("got %+v, %v, %v; want more", h, ok, err)
				}
			default:
				if !ok || err != nil || h != tt.want {
					t.Fatalf("got %+v, %v, %v; want %+v", h, ok, err, tt.want)
				}
			}
		})
	}
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		hex, want, err string
	}{
		{"", "1005 no status", ""},
		{"03e8", "1000 normal closure", ""},
		{"03e9627965", `1001 going away "bye"`, ""},
		{"0fa06f776e", `4000 (application's own) "own"`, ""},
		{"0bb8", "3000 (registered by a library)", ""},
		{"03", "", "close payload of 1 byte"},
		{"03e7", "", "close code 999"},
		{"03ee", "", "close code 1006"},
		{"03ed", "", "close code 1005"},
		{"03f7", "", "close code 1015"},
		{"07d0", "", "close code 2000"},
		{"1388", "", "close code 5000"},
		{"03e8ff", "", "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.hex, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.hex)
			code, reason, err := ParseClose(b)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %d %q %v; want error %q", code, reason, err, tt.err)
				}
				return
			}
			if err != nil || CloseText(code, reason) != tt.want {
				t.Fatalf("got %q, %v; want %q", CloseText(code, reason), err, tt.want)
			}
		})
	}
}

// FuzzParseFrameHeader: never panics; a header it accepts is consistent.
func FuzzParseFrameHeader(f *testing.F) {
	for _, s := range []string{"8203", "8283a1b2c3d4", "027e0100", "827f0000000000010000", "887e0080", "c200"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok, err := ParseFrameHeader(b)
		if err == nil && ok {
			if h.Size < 2 || h.Size > 14 || h.Size > len(b) {
				t.Fatalf("size %d of %d bytes", h.Size, len(b))
			}
			if h.Opcode.Control() && (h.Length > 125 || !h.Fin) {
				t.Fatalf("accepted control frame %+v", h)
			}
		}
	})
}

// FuzzTap feeds the tap an upgrade and then arbitrary bytes in arbitrary
// pieces, from the server (after a 101) or from the client (after a GET):
// it never panics, buffers no more of the server's than the limit allows,
// and every entry it makes names a kind.
func FuzzTap(f *testing.F) {
	f.Add([]byte{0x82, 0x02, 0x20, 0x02, 0x00, 0x00}, uint8(3), false)
	f.Add([]byte{0x81, 0x02, 'h', 'i'}, uint8(1), false)
	f.Add([]byte{0x88, 0x02, 0x03, 0xe7}, uint8(2), false)
	f.Add([]byte{0x02, 0x02, 0x30, 0x05, 0x80, 0x03, 'a', 'b', 'c'}, uint8(4), false)
	f.Add([]byte{0x82, 0x82, 1, 2, 3, 4, 0xc1, 0x02}, uint8(5), true)
	f.Fuzz(func(t *testing.T, b []byte, cut uint8, fromClient bool) {
		tp := newTap(nil, &tap{limit: 64, emit: func(e trace.Entry) {
			if e.Kind == "" {
				t.Fatalf("entry without a kind: %+v", e)
			}
		}})
		s := tp.in
		if fromClient {
			s = tp.out
			s.feed([]byte("GET /mqtt HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"))
		} else {
			tp.offered = []string{"mqtt"}
			s.feed([]byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"))
		}
		step := int(cut%16) + 1
		for len(b) > 0 {
			n := min(step, len(b))
			s.feed(b[:n])
			b = b[n:]
			if !fromClient && len(s.buf) > 64+14 {
				t.Fatalf("buffered %d bytes over a limit of 64", len(s.buf))
			}
		}
	})
}
