package wsclient

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Opcode is a WebSocket frame's opcode [RFC 6455, 5.2].
type Opcode byte

// The opcodes RFC 6455 defines.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved opcode 0x" + strconv.FormatUint(uint64(o), 16)
}

// Control reports whether o is a control opcode (close, ping, pong, reserved 0xB-0xF).
func (o Opcode) Control() bool { return o&0x8 != 0 }

// FrameHeader is a parsed frame header.
type FrameHeader struct {
	Fin    bool
	RSV    byte // the three reserved bits, as bits 2..0
	Opcode Opcode
	Masked bool
	Mask   [4]byte
	Length uint64 // payload length
	Size   int    // header length in bytes (2 to 14)
}

// ErrFrame is wrapped by every error of ParseFrameHeader and ParseClose.
var ErrFrame = errors.New("invalid WebSocket frame")

func frameErr(msg string) error { return &frameError{msg} }

type frameError struct{ msg string }

func (e *frameError) Error() string { return "invalid WebSocket frame: " + e.msg }
func (e *frameError) Unwrap() error { return ErrFrame }

// ParseFrameHeader reads the frame header at the start of b. It returns
// ok == false (and no error) when b does not yet hold the whole header. It
// checks what can be checked from the header alone: reserved opcodes, RSV
// bits (no extension is ever negotiated here), control frames that are
// fragmented or longer than 125 bytes, a 64-bit length with its top bit set,
// and lengths not in their shortest form [RFC 6455, 5.2, 5.5].
func ParseFrameHeader(b []byte) (h FrameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.RSV = (b[0] >> 4) & 0x7
	h.Opcode = Opcode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		h.Length = uint64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
		if h.Length < 126 {
			return h, true, frameErr("16-bit length " + strconv.FormatUint(h.Length, 10) + " not in its shortest form")
		}
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		h.Length = binary.BigEndian.Uint64(b[2:10])
		n = 10
		if h.Length>>63 != 0 {
			return h, true, frameErr("64-bit length with its most significant bit set")
		}
		if h.Length <= 0xffff {
			return h, true, frameErr("64-bit length " + strconv.FormatUint(h.Length, 10) + " not in its shortest form")
		}
	default:
		h.Length = uint64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, false, nil
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	h.Size = n
	switch {
	case h.Opcode > OpBinary && h.Opcode < OpClose || h.Opcode > OpPong:
		return h, true, frameErr(h.Opcode.String())
	case h.RSV != 0:
		return h, true, frameErr("reserved bits " + strconv.Itoa(int(h.RSV)) + " set without an extension")
	case h.Opcode.Control() && !h.Fin:
		return h, true, frameErr("fragmented " + h.Opcode.String() + " frame")
	case h.Opcode.Control() && h.Length > 125:
		return h, true, frameErr(h.Opcode.String() + " frame of " + strconv.FormatUint(h.Length, 10) + " bytes (at most 125)")
	}
	return h, true, nil
}

// Unmask XORs p in place with the mask, starting at payload offset pos.
func Unmask(p []byte, mask [4]byte, pos int) {
	for i := range p {
		p[i] ^= mask[(pos+i)&3]
	}
}

// ParseClose reads a close frame's payload: a status code and a UTF-8
// reason, or nothing (code 1005, "no status", is returned then). Codes that
// may not be sent (below 1000, 1004-1006, 1015, 1016-2999 unassigned, 5000
// and above) are errors, as are a 1-byte payload and a reason that is not
// UTF-8 [RFC 6455, 5.5.1, 7.4].
func ParseClose(p []byte) (code int, reason string, err error) {
	switch len(p) {
	case 0:
		return 1005, "", nil
	case 1:
		return 0, "", frameErr("close payload of 1 byte (a code needs 2)")
	}
	code = int(binary.BigEndian.Uint16(p))
	reason = string(p[2:])
	if !ValidCloseCode(code) {
		return code, reason, frameErr("close code " + strconv.Itoa(code) + " may not be sent")
	}
	if !utf8.ValidString(reason) {
		return code, reason, frameErr("close reason is not UTF-8")
	}
	return code, reason, nil
}

// ValidCloseCode reports whether code may appear in a close frame.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// closeNames are the names of the registered close codes.
var closeNames = map[int]string{
	1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
	1005: "no status", 1006: "abnormal closure", 1007: "invalid payload data", 1008: "policy violation",
	1009: "message too big", 1010: "mandatory extension", 1011: "internal error", 1012: "service restart",
	1013: "try again later", 1014: "bad gateway", 1015: "TLS handshake",
}

// CloseText names a close code and its reason: `1000 normal closure "bye"`.
func CloseText(code int, reason string) string {
	s := strconv.Itoa(code)
	if n, ok := closeNames[code]; ok {
		s += " " + n
	} else if code >= 4000 && code <= 4999 {
		s += " (application's own)"
	} else if code >= 3000 && code <= 3999 {
		s += " (registered by a library)"
	}
	if reason != "" {
		s += " " + strconv.Quote(reason)
	}
	return s
}
