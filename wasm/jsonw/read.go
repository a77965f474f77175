package jsonw

import (
	"encoding/base64"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Reader walks one JSON text without reflection. It is made for the small,
// flat messages of the trace side channel, read at thousands a second:
// one string crossing from JavaScript and no allocations beyond the strings
// it returns. Any syntax error makes every later call fail (Err).
type Reader struct {
	b   []byte
	off int
	err bool
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// NewStringReader returns a Reader over s without copying it (a Reader
// never writes to its bytes).
func NewStringReader(s string) *Reader {
	return &Reader{b: unsafe.Slice(unsafe.StringData(s), len(s))}
}

// Intern returns a string equal to the next string value, from t when t
// holds it, so that the values that repeat (names of legs, parties, kinds)
// are not allocated again for every message. t grows up to max entries.
func (r *Reader) Intern(t map[string]string, max int) string {
	v, ok := r.plain()
	if ok {
		if s, ok := t[v]; ok {
			return s
		}
		v = strings.Clone(v) // kept: not a view into the text
	} else {
		v = r.String()
		if s, ok := t[v]; ok {
			return s
		}
	}
	if len(t) < max {
		t[v] = v
	}
	return v
}

// plain reads a string without escapes or control characters, returned as
// a view into the text, valid while the text is; ok is false (nothing
// read) for anything else.
func (r *Reader) plain() (s string, ok bool) {
	if r.peek() != '"' {
		return "", false
	}
	start := r.off + 1
	end := start
	for end < len(r.b) && r.b[end] != '"' && r.b[end] != '\\' && r.b[end] >= 0x20 && r.b[end] < 0x80 {
		end++
	}
	if end >= len(r.b) || r.b[end] != '"' {
		return "", false
	}
	r.off = end + 1
	return unsafe.String(&r.b[start], end-start), true
}

// Is reads the next value if it is the string s, written plainly (s has
// no character JSON would escape), and reports whether it was: a repeated
// value is recognised without a copy or a hash.
func (r *Reader) Is(s string) bool {
	if r.peek() != '"' {
		return false
	}
	end := r.off + 1 + len(s)
	if end >= len(r.b) || r.b[end] != '"' || string(r.b[r.off+1:end]) != s {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	r.off = end + 1
	return true
}

// Base64 reads a string of standard base64 and decodes it; ok is false
// when it is not one. The text is decoded where it lies, without the copy
// String would make.
func (r *Reader) Base64() (b []byte, ok bool) {
	v, isPlain := r.plain()
	if !isPlain {
		v = r.String()
		if r.err {
			return nil, false
		}
	}
	b = make([]byte, base64.StdEncoding.DecodedLen(len(v)))
	n, err := base64.StdEncoding.Decode(b, unsafe.Slice(unsafe.StringData(v), len(v)))
	return b[:n], err == nil
}

// Offset is the reader's place in the text, for Seek.
func (r *Reader) Offset() int { return r.off }

// Seek moves the reader to an offset Offset returned, to read a value
// again or later.
func (r *Reader) Seek(off int) { r.off = off }

// Err reports whether the text was malformed.
func (r *Reader) Err() bool { return r.err }

func (r *Reader) ws() {
	for r.off < len(r.b) {
		switch r.b[r.off] {
		case ' ', '\t', '\n', '\r':
			r.off++
		default:
			return
		}
	}
}

func (r *Reader) peek() byte {
	r.ws()
	if r.err || r.off >= len(r.b) {
		r.err = true
		return 0
	}
	return r.b[r.off]
}

func (r *Reader) expect(c byte) bool {
	if r.peek() != c {
		r.err = true
		return false
	}
	r.off++
	return true
}

// Object calls f for each key of the object at the cursor; f must read the
// value (with one of the readers, or Skip). A key is a view into the text
// (no allocation: keys are compared, a dozen for each entry): f must not
// keep it.
func (r *Reader) Object(f func(key string)) {
	if !r.expect('{') {
		return
	}
	if r.peek() == '}' {
		r.off++
		return
	}
	for !r.err {
		k, ok := r.plain()
		if !ok {
			k = r.String()
		}
		if !r.expect(':') {
			return
		}
		f(k)
		switch r.peek() {
		case ',':
			r.off++
		case '}':
			r.off++
			return
		default:
			r.err = true
		}
	}
}

// Array calls f for each element of the array at the cursor.
func (r *Reader) Array(f func()) {
	if !r.expect('[') {
		return
	}
	if r.peek() == ']' {
		r.off++
		return
	}
	for !r.err {
		f()
		switch r.peek() {
		case ',':
			r.off++
		case ']':
			r.off++
			return
		default:
			r.err = true
		}
	}
}

// String reads a string; null reads as "".
func (r *Reader) String() string {
	switch r.peek() {
	case '"':
	case 'n':
		r.Skip()
		return ""
	default:
		r.err = true
		return ""
	}
	r.off++
	start := r.off
	// Fast path: no escapes.
	for r.off < len(r.b) {
		c := r.b[r.off]
		if c == '"' {
			s := r.b[start:r.off]
			r.off++
			if utf8.Valid(s) {
				return string(s)
			}
			return string([]rune(string(s))) // invalid bytes become U+FFFD, as encoding/json does
		}
		if c == '\\' || c < 0x20 {
			break
		}
		r.off++
	}
	out := append([]byte(nil), r.b[start:r.off]...)
	for r.off < len(r.b) {
		c := r.b[r.off]
		switch {
		case c == '"':
			r.off++
			if !utf8.Valid(out) {
				return string([]rune(string(out)))
			}
			return string(out)
		case c < 0x20:
			r.err = true
			return ""
		case c != '\\':
			out = append(out, c)
			r.off++
			continue
		}
		if r.off+1 >= len(r.b) {
			break
		}
		e := r.b[r.off+1]
		r.off += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r1, ok := r.hex4()
			if !ok {
				r.err = true
				return ""
			}
			if utf16.IsSurrogate(r1) {
				if r.off+1 < len(r.b) && r.b[r.off] == '\\' && r.b[r.off+1] == 'u' {
					save := r.off
					r.off += 2
					if r2, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(r1, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							continue
						}
					}
					r.off = save
				}
				r1 = utf8.RuneError
			}
			out = utf8.AppendRune(out, r1)
		default:
			r.err = true
			return ""
		}
	}
	r.err = true
	return ""
}

func (r *Reader) hex4() (rune, bool) {
	if r.off+4 > len(r.b) {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.off : r.off+4] {
		v <<= 4
		switch {
		case '0' <= c && c <= '9':
			v |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			v |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			v |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	r.off += 4
	return v, true
}

// number returns the text of the number at the cursor, checked against
// JSON's grammar: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
func (r *Reader) number() []byte {
	r.ws()
	start := r.off
	digits := func() int {
		n := 0
		for r.off < len(r.b) && r.b[r.off] >= '0' && r.b[r.off] <= '9' {
			r.off++
			n++
		}
		return n
	}
	at := func(c byte) bool {
		if r.off < len(r.b) && r.b[r.off] == c {
			r.off++
			return true
		}
		return false
	}
	at('-')
	if at('0') {
		// no more digits may follow a leading zero
	} else if digits() == 0 {
		r.err = true
	}
	if at('.') && digits() == 0 {
		r.err = true
	}
	if at('e') || at('E') {
		if !at('+') {
			at('-')
		}
		if digits() == 0 {
			r.err = true
		}
	}
	return r.b[start:r.off]
}

// Float reads a number; null reads as 0.
func (r *Reader) Float() float64 {
	if r.peek() == 'n' {
		r.Skip()
		return 0
	}
	f := parseNumber(r.number())
	if math.IsInf(f, 0) {
		r.err = true // out of float64's range, as encoding/json says
	}
	return f
}

// SlowFloat, when set, converts the numbers that the fast path cannot
// convert exactly (more than 15 significant digits, or large exponents).
// The browser client sets it to JavaScript's Number, which rounds
// correctly; strconv.ParseFloat would add its tables to the WebAssembly
// client.
var SlowFloat func(text string) float64

// parseNumber converts a number already checked against JSON's grammar.
// With at most 15 significant digits and a power of ten up to 22 the result
// is exact (Clinger's fast path: both factors are exact doubles, and one
// operation rounds once); other numbers go to SlowFloat.
func parseNumber(b []byte) float64 {
	text := b
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var mant uint64
	exp, digits := 0, 0
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if mant > 0 || b[i] != '0' {
			digits++
		}
		if digits <= 19 {
			mant = mant*10 + uint64(b[i]-'0')
		} else {
			exp++
		}
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if mant > 0 || b[i] != '0' {
				digits++
			}
			if digits <= 19 {
				mant = mant*10 + uint64(b[i]-'0')
				exp--
			}
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if mant == 0 {
		if neg {
			return math.Copysign(0, -1)
		}
		return 0
	}
	if (digits > 15 || exp < -22 || exp > 22) && SlowFloat != nil {
		return SlowFloat(string(text))
	}
	f := float64(mant)
	switch {
	case exp > 0:
		f *= pow10(exp)
	case exp < 0:
		f /= pow10(-exp)
	}
	if neg {
		f = -f
	}
	return f
}

func pow10(n int) float64 {
	if n > 400 {
		return math.Inf(1)
	}
	p := 1.0
	for base := 10.0; n > 0; n >>= 1 {
		if n&1 != 0 {
			p *= base
		}
		base *= base
	}
	return p
}

// Int reads a number as an int (fractions are cut).
func (r *Reader) Int() int { return int(r.Float()) }

// Bool reads true or false; null reads as false.
func (r *Reader) Bool() bool {
	switch r.peek() {
	case 't':
		return r.word("true")
	case 'f':
		r.word("false")
	case 'n':
		r.word("null")
	default:
		r.err = true
	}
	return false
}

func (r *Reader) word(w string) bool {
	if r.off+len(w) > len(r.b) || string(r.b[r.off:r.off+len(w)]) != w {
		r.err = true
		return false
	}
	r.off += len(w)
	return true
}

// Skip reads and forgets any value.
func (r *Reader) Skip() {
	switch r.peek() {
	case '{':
		r.Object(func(string) { r.Skip() })
	case '[':
		r.Array(r.Skip)
	case '"':
		_ = r.String()
	case 't':
		r.word("true")
	case 'f':
		r.word("false")
	case 'n':
		r.word("null")
	default:
		r.number()
	}
}

// End reports whether only white space follows the value read.
func (r *Reader) End() bool {
	r.ws()
	return !r.err && r.off == len(r.b)
}
