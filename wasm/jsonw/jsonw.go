// Package jsonw appends JSON text to a byte slice: objects, arrays, strings,
// numbers and booleans, written by hand so that the WebAssembly client needs
// neither encoding/json nor reflection (each would add to what every visitor
// downloads). The page parses the text with one JSON.parse, which is far
// cheaper than building JavaScript objects a property at a time across the
// Go/JavaScript boundary.
//
// A Writer does not check that calls nest correctly; its callers are few
// and tested against encoding/json.
package jsonw

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"
)

// Writer builds one JSON text. The zero value is ready to use.
//
// Its methods are marked go:noinline: inlined into every call site they
// made the WebAssembly client 7 KB (brotli) larger, for no speed that shows.
type Writer struct {
	B     []byte
	comma bool // a value was written at this level: the next needs a comma
}

// Reset empties the writer, keeping its buffer.
func (w *Writer) Reset() { w.B, w.comma = w.B[:0], false }

//go:noinline
func (w *Writer) sep() {
	if w.comma {
		w.B = append(w.B, ',')
	}
	w.comma = true
}

// Key writes an object key; the value follows.
//
//go:noinline
func (w *Writer) Key(k string) {
	w.sep()
	w.B = appendString(w.B, k)
	w.B = append(w.B, ':')
	w.comma = false
}

// Open starts an object ('{') or an array ('[').
//
//go:noinline
func (w *Writer) Open(c byte) {
	w.sep()
	w.B = append(w.B, c)
	w.comma = false
}

// Close ends an object ('}') or an array (']').
//
//go:noinline
func (w *Writer) Close(c byte) {
	w.B = append(w.B, c)
	w.comma = true
}

// String writes a string value.
//
//go:noinline
func (w *Writer) String(s string) { w.sep(); w.B = appendString(w.B, s) }

// Int writes an integer.
//
//go:noinline
func (w *Writer) Int(v int) { w.sep(); w.B = strconv.AppendInt(w.B, int64(v), 10) }

// Float writes a number the way encoding/json does; NaN and infinities,
// which JSON cannot carry, are written as 0.
func (w *Writer) Float(f float64) {
	w.sep()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.B = append(w.B, '0')
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.B = strconv.AppendFloat(w.B, f, format, -1, 64)
	if n := len(w.B); format == 'e' && n >= 4 && w.B[n-4] == 'e' && w.B[n-3] == '-' && w.B[n-2] == '0' {
		w.B[n-2] = w.B[n-1] // 1e-07 -> 1e-7
		w.B = w.B[:n-1]
	}
}

// Bool writes true or false.
//
//go:noinline
func (w *Writer) Bool(b bool) { w.sep(); w.B = strconv.AppendBool(w.B, b) }

// Null writes null.
func (w *Writer) Null() { w.sep(); w.B = append(w.B, "null"...) }

// Base64 writes bytes as a standard base64 string, as encoding/json does.
func (w *Writer) Base64(b []byte) {
	w.sep()
	w.B = append(w.B, '"')
	w.B = base64.StdEncoding.AppendEncode(w.B, b)
	w.B = append(w.B, '"')
}

// Field helpers write a key and its value.
//
//go:noinline
func (w *Writer) KString(k, v string) { w.Key(k); w.String(v) }

//go:noinline
func (w *Writer) KInt(k string, v int) { w.Key(k); w.Int(v) }

//go:noinline
func (w *Writer) KFloat(k string, v float64) { w.Key(k); w.Float(v) }

//go:noinline
func (w *Writer) KBool(k string, v bool) { w.Key(k); w.Bool(v) }

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as JSON: invalid UTF-8 becomes U+FFFD, and
// <, >, & and the line separators are escaped as encoding/json escapes them.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
