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
	Names  *Names  // interns the shapes' strings; nil: none
	shapes []shape // by id
}

// shape is a shape's fields, if one was defined under its id.
type shape struct {
	e       trace.Entry
	defined bool
}

// Read reads one binary message of the channel: line is called with each
// CompactLine's message, entry with each packet's entry (its Bytes a slice
// of msg), in order. A malformed record ends the reading with an error
// saying where; what came before it has been handed on.
func (c *Compact) Read(msg []byte, line func([]byte), entry func(trace.Entry)) error {
	r := records{msg: msg}
	for r.off < len(msg) {
		at := r.off
		fail := func(what string) error {
			return errors.New("trace message: " + what + " in the record at byte " + strconv.Itoa(at))
		}
		tag := msg[r.off]
		r.off++
		switch tag {
		case CompactLine:
			b, ok := r.bytes()
			if !ok {
				return fail("a truncated line")
			}
			line(b)
		case CompactShape:
			id, ok := r.uvarint()
			if !ok || id >= MaxCompactShapes {
				return fail("a shape id that is truncated or not below " + strconv.Itoa(MaxCompactShapes))
			}
			b, ok := r.bytes()
			if !ok {
				return fail("a truncated shape")
			}
			jr := jsonw.NewReader(b)
			e := ReadEntry(jr, c.Names)
			if jr.Err() {
				return fail("a shape that is not an entry's JSON")
			}
			for uint64(len(c.shapes)) <= id {
				c.shapes = append(c.shapes, shape{})
			}
			c.shapes[id] = shape{e, true}
		case CompactPacket:
			id, ok := r.uvarint()
			if !ok {
				return fail("a truncated shape id")
			}
			if id >= uint64(len(c.shapes)) || !c.shapes[id].defined {
				return fail("a packet of shape " + strconv.FormatUint(id, 10) + ", never defined")
			}
			e := c.shapes[id].e
			seq, ok := r.uvarint()
			if !ok || seq > math.MaxInt32 || len(msg)-r.off < 8 {
				return fail("a truncated packet")
			}
			e.Seq = int(seq)
			e.T = math.Float64frombits(binary.LittleEndian.Uint64(msg[r.off:]))
			r.off += 8
			if e.Bytes, ok = r.bytes(); !ok {
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

// records is a cursor in a message of the compact form.
type records struct {
	msg []byte
	off int
}

// uvarint reads a uvarint; false if the message ends or it overflows.
func (r *records) uvarint() (uint64, bool) {
	v, n := binary.Uvarint(r.msg[r.off:])
	if n <= 0 {
		return 0, false
	}
	r.off += n
	return v, true
}

// bytes reads a uvarint length and that many bytes, a slice of the
// message; false if it ends first.
func (r *records) bytes() ([]byte, bool) {
	n, ok := r.uvarint()
	if !ok || n > uint64(len(r.msg)-r.off) {
		return nil, false
	}
	b := r.msg[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b, true
}
