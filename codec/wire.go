package codec

import "errors"

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
