package codec

import (
	"errors"
	"unicode/utf8"
	"unsafe"
)

// Cursor helpers in the style of dnsmessage: each readX takes the packet and
// an offset and returns the value, the next offset and an error; each
// appendX appends to dst. Errors from readX are bare sentinels; callers wrap
// them in a *DecodeError with the packet type, field name and clause.

var errNeedMore = errors.New("need more bytes")

// readVarint reads a variable byte integer [1.5.5] at off. It returns
// errNeedMore if b ends inside it, ErrVarint if it is longer than 4 bytes or
// not minimally encoded [MQTT-1.5.5-1].
func readVarint(b []byte, off int) (v, width int, err error) {
	mult := 1
	for i := 0; i < 4; i++ {
		if off+i >= len(b) {
			return 0, 0, errNeedMore
		}
		c := b[off+i]
		v += int(c&0x7f) * mult
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, ErrVarint // a trailing 0x00 continuation: not minimal
			}
			return v, i + 1, nil
		}
		mult <<= 7
	}
	return 0, 0, ErrVarint
}

// appendVarint appends v (0..268435455) as a variable byte integer.
func appendVarint(dst []byte, v int) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v > 0 {
			dst = append(dst, c|0x80)
		} else {
			return append(dst, c)
		}
	}
}

// varintLen returns the encoded width of v.
func varintLen(v int) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	}
	return 4
}

// cursor walks one packet. rec is nil when only decoding; when dissecting it
// receives every field with its offset and length, so the decoder and the
// dissector are the same code and cannot drift apart.
type cursor struct {
	b   []byte
	off int
	end int // end of the packet
	t   PacketType
	v   Version
	rec *recorder

	scanned int // scan flags of the last string read
}

// fail returns a *DecodeError at the cursor's offset (or at off if >= 0) and
// notes it in the dissection.
func (c *cursor) failAt(off int, field, clause string, err error) error {
	if c.rec != nil {
		c.rec.expert(off, clause, field, err)
	}
	return &DecodeError{Type: c.t, Field: field, Offset: off, Clause: clause, Err: err}
}

func (c *cursor) fail(field, clause string, err error) error {
	return c.failAt(c.off, field, clause, err)
}

// need checks that n more bytes are available before the end of the packet.
func (c *cursor) need(n int, field string) error {
	if c.end-c.off < n {
		return c.short(field)
	}
	return nil
}

//go:noinline
func (c *cursor) short(field string) error {
	return c.fail(field, "MQTT-1.5", ErrShort)
}

func (c *cursor) u8(name, label string) (byte, error) {
	if c.end-c.off < 1 {
		return 0, c.short(name)
	}
	v := c.b[c.off]
	if c.rec != nil && name != "" {
		c.rec.num(name, label, c.off, 1, int(v))
	}
	c.off++
	return v, nil
}

func (c *cursor) u16(name, label string) (uint16, error) {
	b := c.b[c.off:c.end]
	if len(b) < 2 {
		return 0, c.short(name)
	}
	v := uint16(b[0])<<8 | uint16(b[1])
	if c.rec != nil && name != "" {
		c.rec.num(name, label, c.off, 2, int(v))
	}
	c.off += 2
	return v, nil
}

func (c *cursor) u32(name, label string) (uint32, error) {
	if err := c.need(4, name); err != nil {
		return 0, err
	}
	b := c.b[c.off:]
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if c.rec != nil && name != "" {
		c.rec.num(name, label, c.off, 4, int(v))
	}
	c.off += 4
	return v, nil
}

func (c *cursor) varint(name, label string) (int, error) {
	v, w, err := readVarint(c.b[:c.end], c.off)
	if err == errNeedMore {
		return 0, c.fail(name, "MQTT-1.5", ErrShort)
	}
	if err != nil {
		return 0, c.fail(name, "MQTT-1.5.5-1", err)
	}
	if c.rec != nil && name != "" {
		c.rec.num(name, label, c.off, w, v)
	}
	c.off += w
	return v, nil
}

// packetID reads a Packet Identifier, which must not be 0 [MQTT-2.3.1-1]
// (MQTT 5.0: [MQTT-2.2.1-3]).
func (c *cursor) packetID() (uint16, error) {
	at := c.off
	id, err := c.u16("mqtt.msgid", "Message Identifier")
	if err == nil && id == 0 {
		err = c.failAt(at, "mqtt.msgid", clause(c.v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"), ErrZeroPacketID)
	}
	return id, err
}

// bin reads Binary Data [1.5.6]: a 2-byte length then that many bytes,
// returned as a view into the packet. text makes the dissection show it as
// a string (Wireshark's mqtt.passwd is a string).
func (c *cursor) bin(lenName, name, label string, text bool) ([]byte, error) {
	at := c.off
	n, err := c.u16("", "")
	if err != nil {
		return nil, err
	}
	if c.rec != nil && lenName != "" {
		c.rec.num(lenName, label+" Length", at, 2, int(n))
	}
	if c.end-c.off < int(n) {
		return nil, c.failAt(at, name, "MQTT-1.5.6", ErrShort)
	}
	v := c.b[c.off : c.off+int(n) : c.off+int(n)]
	if c.rec != nil {
		if text {
			c.rec.text(name, label, c.off, int(n), string(v))
		} else {
			c.rec.bytes(name, label, c.off, v)
		}
	}
	c.off += int(n)
	return v, nil
}

// str reads a UTF-8 Encoded String [1.5.4] as a view into the packet: it
// must be valid UTF-8 without surrogates [MQTT-1.5.4-1] and without U+0000
// [MQTT-1.5.4-2]; a leading BOM is kept, not stripped [MQTT-1.5.4-3]. It
// leaves the scan flags of the string in c.scanned.
func (c *cursor) str(lenName, name, label string) (string, error) {
	at := c.off
	b := c.b[at:c.end]
	if len(b) < 2 {
		return "", c.short(lenName)
	}
	n := int(b[0])<<8 | int(b[1])
	if c.rec != nil && lenName != "" {
		c.rec.num(lenName, label+" Length", at, 2, n)
	}
	if len(b)-2 < n {
		return "", c.failAt(at, name, "MQTT-1.5.4", ErrShort)
	}
	v := b[2 : 2+n]
	c.off += 2
	f := 0
	if n > 0 {
		f = scan(v)
	}
	c.scanned = f
	if f&(scanZero|scanHigh) != 0 {
		clause := ""
		if f&scanZero != 0 {
			clause = "MQTT-1.5.4-2"
		} else if !utf8.Valid(v) { // rejects surrogates and overlong forms
			clause = "MQTT-1.5.4-1"
		}
		if clause != "" {
			if c.rec != nil {
				c.rec.bytes(name, label, c.off, v)
			}
			return "", c.fail(name, clause, ErrInvalidUTF8)
		}
	}
	s := view(v)
	if c.rec != nil && name != "" {
		c.rec.text(name, label, c.off, n, s)
	}
	c.off += n
	return s, nil
}

// done checks that the packet has no bytes after its last field.
func (c *cursor) done() error {
	if c.off != c.end {
		if c.rec != nil {
			c.rec.bytes("_ws.malformed.trailing", "Trailing bytes", c.off, c.b[c.off:c.end])
		}
		return c.fail("", "MQTT-2.1.4", ErrTrailing)
	}
	return nil
}

func clause(v Version, v311, v5 string) string {
	if v == V5 {
		return v5
	}
	return v311
}

// Flags reported by scan.
const (
	scanZero     = 1 << iota // a 0x00 byte (U+0000)
	scanHigh                 // a byte >= 0x80 (non-ASCII)
	scanWildcard             // a '+' or '#'
)

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// hasZero reports (in the high bit of each byte) which bytes of w are 0;
// exact for the lowest such byte, which is all scan needs.
func hasZero(w uint64) uint64 { return (w - lo8) &^ w & hi8 }

// scan classifies the bytes of b eight at a time.
func scan(b []byte) (f int) {
	var acc, zero, wild uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		acc |= w
		zero |= hasZero(w)
		wild |= hasZero(w^(lo8*'+')) | hasZero(w^(lo8*'#'))
	}
	if acc&hi8 != 0 {
		f |= scanHigh
		// hasZero can report false positives above a byte >= 0x80; the
		// byte loop below decides exactly.
		zero, wild = 0, 0
		i = 0
	}
	if zero != 0 {
		f |= scanZero
	}
	if wild != 0 {
		f |= scanWildcard
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == 0:
			f |= scanZero
		case c >= 0x80:
			f |= scanHigh
		case c == '+' || c == '#':
			f |= scanWildcard
		}
	}
	return f
}

// view returns b as a string without copying. The string aliases the
// packet's bytes: see the package doc on zero-copy views.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendU16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendU16(dst, uint16(len(b)))
	return append(dst, b...)
}
