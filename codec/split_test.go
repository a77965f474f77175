package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestPacketLen(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want int
		err  error
	}{
		{"empty", nil, 0, 0, nil},
		{"type only", []byte{0xc0}, 0, 0, nil},
		{"pingreq", []byte{0xc0, 0x00}, 0, 2, nil},
		{"header only", []byte{0x30, 0x05}, 0, 7, nil},
		{"two byte length partial", []byte{0x30, 0x80}, 0, 0, nil},
		{"two byte length", []byte{0x30, 0x80, 0x01}, 0, 131, nil},
		{"max varint", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 0, MaxPacketSize, nil},
		{"MQTT-1.5.5-1 five byte varint", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, 0, ErrVarint},
		{"MQTT-1.5.5-1 non-minimal", []byte{0x30, 0x80, 0x00}, 0, 0, ErrVarint},
		{"MQTT-1.5.5-1 non-minimal 0x81 0x00", []byte{0x30, 0x81, 0x00}, 0, 0, ErrVarint},
		{"too large", []byte{0x30, 0x80, 0x01}, 100, 0, ErrPacketTooLarge},
		{"exactly max", []byte{0x30, 0x62}, 100, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := PacketLen(tt.in, tt.max)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if n != tt.want {
				t.Fatalf("n = %d, want %d", n, tt.want)
			}
		})
	}
}

func TestSplitterChunking(t *testing.T) {
	var stream []byte
	pkts := [][]byte{
		{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00},
		{0x20, 0x02, 0x00, 0x00},
		{0xc0, 0x00},
		append([]byte{0x30, 0x82, 0x01, 0x00, 0x01, 't'}, bytes.Repeat([]byte{'x'}, 127)...),
		{0xe0, 0x00},
	}
	for _, p := range pkts {
		stream = append(stream, p...)
	}
	for chunk := 1; chunk <= len(stream); chunk++ {
		s := NewSplitter(0)
		var got [][]byte
		for i := 0; i < len(stream); i += chunk {
			end := min(i+chunk, len(stream))
			s.Write(stream[i:end])
			for {
				p, ok, err := s.Next()
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if !ok {
					break
				}
				got = append(got, bytes.Clone(p))
			}
		}
		if len(got) != len(pkts) {
			t.Fatalf("chunk %d: got %d packets, want %d", chunk, len(got), len(pkts))
		}
		for i := range pkts {
			if !bytes.Equal(got[i], pkts[i]) {
				t.Fatalf("chunk %d packet %d: got % x, want % x", chunk, i, got[i], pkts[i])
			}
		}
		if s.Buffered() != 0 {
			t.Fatalf("chunk %d: %d bytes left", chunk, s.Buffered())
		}
	}
}

func TestSplitterTooLargeBeforeBody(t *testing.T) {
	s := NewSplitter(1024)
	s.Write([]byte{0x30, 0xff, 0xff, 0x7f}) // claims 2 MiB, no body yet
	_, _, err := s.Next()
	var de *DecodeError
	if !errors.Is(err, ErrPacketTooLarge) || !errors.As(err, &de) || de.Offset != 1 {
		t.Fatalf("err = %v, want ErrPacketTooLarge at offset 1", err)
	}
	if _, _, err2 := s.Next(); err2 != err {
		t.Fatalf("error not sticky: %v", err2)
	}
	s.Reset()
	s.Write([]byte{0xc0, 0x00})
	if p, ok, err := s.Next(); !ok || err != nil || len(p) != 2 {
		t.Fatalf("after Reset: %v %v %v", p, ok, err)
	}
}
