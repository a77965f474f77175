package codec

// MaxPacketSize is the largest packet MQTT can express: a 1-byte type and
// flags, a 4-byte remaining length and 268,435,455 bytes after it [1.5.5].
const MaxPacketSize = 1 + 4 + maxVarint

const maxVarint = 268435455

// PacketLen reports the total length (fixed header plus remaining length) of
// the packet at the start of b. It returns 0 and nil when b does not yet hold
// a whole fixed header; the packet itself is complete once len(b) >= n.
//
// It checks framing only: the Remaining Length must be a variable byte
// integer of at most 4 bytes in its minimal encoding [MQTT-1.5.5-1]
// (ErrVarint), and the total length must not exceed max (ErrPacketTooLarge);
// max <= 0 means MaxPacketSize. The type and flag bits are checked by Decode,
// not here. Nothing is allocated except for an error.
func PacketLen(b []byte, max int) (n int, err error) {
	if len(b) < 2 {
		return 0, nil
	}
	rem, w, err := readVarint(b, 1)
	if err != nil {
		if err == errNeedMore {
			return 0, nil
		}
		return 0, newErr(PacketType(b[0]>>4), "mqtt.len", 1, "MQTT-1.5.5-1", err)
	}
	n = 1 + w + rem
	if max <= 0 {
		max = MaxPacketSize
	}
	if n > max {
		return 0, newErr(PacketType(b[0]>>4), "mqtt.len", 1, "3.1.2.11.4", ErrPacketTooLarge)
	}
	return n, nil
}

// Splitter cuts a byte stream into whole MQTT packets, whatever its chunking:
// one packet spread over many WebSocket frames or TCP segments, or many
// packets in one. Feed it with Write and drain it with Next:
//
//	s := codec.NewSplitter(0)
//	s.Write(chunk)
//	for {
//		pkt, ok, err := s.Next()
//		if err != nil { /* stream is broken: close the connection */ }
//		if !ok { break } // need more bytes
//		handle(pkt)
//	}
//
// A packet returned by Next is a view into the Splitter's buffer, valid until
// the next call to Write or Reset; copy it to keep it. The size limit is
// checked from the fixed header before the body is buffered further than the
// bytes already written. After an error the Splitter keeps returning it.
// A Splitter is not safe for concurrent use.
type Splitter struct {
	max   int
	buf   []byte
	start int
	err   error
}

// NewSplitter returns a Splitter that rejects packets longer than max bytes
// in total (max <= 0 means MaxPacketSize).
func NewSplitter(max int) *Splitter { return &Splitter{max: max} }

// Write appends p to the stream. It never fails (it returns len(p), nil) so
// that a Splitter is an io.Writer; errors surface from Next.
func (s *Splitter) Write(p []byte) (int, error) {
	if s.start > 0 {
		// Drop the packets already returned, keeping the partial tail.
		k := copy(s.buf, s.buf[s.start:])
		s.buf = s.buf[:k]
		s.start = 0
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// Next returns the next whole packet, or ok == false when more bytes are
// needed. A non-nil error (ErrVarint or ErrPacketTooLarge, inside a
// *DecodeError whose Offset counts from the packet's start) means the stream
// cannot be resynchronised.
func (s *Splitter) Next() (pkt []byte, ok bool, err error) {
	if s.err != nil {
		return nil, false, s.err
	}
	b := s.buf[s.start:]
	n, err := PacketLen(b, s.max)
	if err != nil {
		s.err = err
		return nil, false, err
	}
	if n == 0 || len(b) < n {
		return nil, false, nil
	}
	s.start += n
	return b[:n:n], true, nil
}

// Buffered returns the number of bytes written but not yet returned by Next.
func (s *Splitter) Buffered() int { return len(s.buf) - s.start }

// Reset discards buffered bytes and any error, keeping the buffer's memory.
func (s *Splitter) Reset() {
	s.buf = s.buf[:0]
	s.start = 0
	s.err = nil
}
