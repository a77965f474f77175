package pagejson

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

// The compact form of the trace channel (/trace?batch=3, the page's; see
// docs/trace.md) carries a packet's entry as its bytes, raw, with its
// sequence number and time, and names the rest (leg, parties, kind,
// observed, conn, addresses, version) by a shape defined once: a flood's
// entries cost a reader a few bytes each beyond the packet, where a JSON
// line is about 300 (the packet in base64 among them) that the reader must
// parse. A binary message of the channel is a run of records, each a tag
// byte and then:
//
//	CompactLine   uvarint n, n bytes: one message of the channel, JSON, as
//	              batch=1 would have it on a line
//	CompactShape  uvarint id, uvarint n, n bytes: the JSON of an entry
//	              without seq, t, summary and bytes: what the packets of
//	              shape id (below MaxCompactShapes) share. A shape defined
//	              again replaces the last.
//	CompactPacket uvarint id, uvarint seq, 8 bytes t (a float64, little
//	              endian), uvarint n, n bytes: an entry of shape id with
//	              that seq, t and bytes, and no summary (the reader labels
//	              a packet from its bytes)
const (
	CompactLine   = 0
	CompactShape  = 1
	CompactPacket = 2
)

// MaxCompactShapes bounds the shape ids of the compact form.
const MaxCompactShapes = 1024

// AppendCompactLine appends a CompactLine record holding msg.
func AppendCompactLine(b, msg []byte) []byte {
	b = binary.AppendUvarint(append(b, CompactLine), uint64(len(msg)))
	return append(b, msg...)
}

// AppendCompactShape appends a CompactShape record defining shape id as
// e's fields other than seq, t, summary and bytes.
func AppendCompactShape(b []byte, id int, e *trace.Entry) []byte {
	shape := *e
	shape.Seq, shape.T, shape.Summary, shape.Bytes = 0, 0, "", nil
	w := jsonw.Writer{}
	WriteEntry(&w, &shape)
	b = binary.AppendUvarint(append(b, CompactShape), uint64(id))
	b = binary.AppendUvarint(b, uint64(len(w.B)))
	return append(b, w.B...)
}

// AppendCompactPacket appends a CompactPacket record: e's seq, t and bytes,
// as an entry of shape id.
func AppendCompactPacket(b []byte, id int, e *trace.Entry) []byte {
	b = binary.AppendUvarint(append(b, CompactPacket), uint64(id))
	b = binary.AppendUvarint(b, uint64(e.Seq))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.T))
	b = binary.AppendUvarint(b, uint64(len(e.Bytes)))
	return append(b, e.Bytes...)
}

// Compact reads the compact form. It remembers the shapes defined, for
// the packets of later messages: one Compact per channel.
type Compact struct {
	Names  *Names // interns the shapes' strings; nil: none
	shapes map[uint64]trace.Entry
}

// Read reads one binary message of the channel: line is called with each
// CompactLine's message, entry with each packet's entry (its Bytes a slice
// of msg), in order. A malformed record ends the reading with an error
// saying where; what came before it has been handed on.
func (c *Compact) Read(msg []byte, line func([]byte), entry func(trace.Entry)) error {
	for off := 0; off < len(msg); {
		at := off
		fail := func(what string) error {
			return errors.New("trace message: " + what + " in the record at byte " + strconv.Itoa(at))
		}
		tag := msg[off]
		off++
		uv := func() (uint64, bool) {
			v, n := binary.Uvarint(msg[off:])
			if n <= 0 {
				return 0, false
			}
			off += n
			return v, true
		}
		// bytes reads a length and that many bytes.
		bytes := func() ([]byte, bool) {
			n, ok := uv()
			if !ok || n > uint64(len(msg)-off) {
				return nil, false
			}
			b := msg[off : off+int(n) : off+int(n)]
			off += int(n)
			return b, true
		}
		switch tag {
		case CompactLine:
			b, ok := bytes()
			if !ok {
				return fail("a truncated line")
			}
			line(b)
		case CompactShape:
			id, ok := uv()
			if !ok || id >= MaxCompactShapes {
				return fail("a shape id that is truncated or not below " + strconv.Itoa(MaxCompactShapes))
			}
			b, ok := bytes()
			if !ok {
				return fail("a truncated shape")
			}
			r := jsonw.NewReader(b)
			e := ReadEntry(r, c.Names)
			if r.Err() {
				return fail("a shape that is not an entry's JSON")
			}
			if c.shapes == nil {
				c.shapes = map[uint64]trace.Entry{}
			}
			c.shapes[id] = e
		case CompactPacket:
			id, ok := uv()
			if !ok {
				return fail("a truncated shape id")
			}
			e, defined := c.shapes[id]
			if !defined {
				return fail("a packet of shape " + strconv.FormatUint(id, 10) + ", never defined")
			}
			seq, ok := uv()
			if !ok || seq > math.MaxInt32 || len(msg)-off < 8 {
				return fail("a truncated packet")
			}
			e.Seq = int(seq)
			e.T = math.Float64frombits(binary.LittleEndian.Uint64(msg[off:]))
			off += 8
			if e.Bytes, ok = bytes(); !ok {
				return fail("a packet's truncated bytes")
			}
			if len(e.Bytes) == 0 {
				e.Bytes = nil
			}
			entry(e)
		default:
			return fail("an unknown tag " + strconv.Itoa(int(tag)))
		}
	}
	return nil
}
