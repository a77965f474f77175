package proxy

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// appendEntryMsg appends {"type":"entry","entry":…} for e, byte for byte
// what encoding/json makes of entryMsg (TestAppendEntryMsgMatchesJSON and
// FuzzAppendEntryMsg check), without its reflection: the trace channel
// encodes an entry for every packet. It returns ok false for what it does
// not encode itself (a Drop, a T that is not a finite number); the caller
// then uses encoding/json.
func appendEntryMsg(b []byte, e *trace.Entry) (_ []byte, ok bool) {
	if e.Drop != nil || math.IsNaN(e.T) || math.IsInf(e.T, 0) {
		return b, false
	}
	b = append(b, `{"type":"entry","entry":{"seq":`...)
	b = strconv.AppendInt(b, int64(e.Seq), 10)
	b = append(b, `,"t":`...)
	b = appendJSONFloat(b, e.T)
	b = appendField(b, "leg", e.Leg)
	b = appendField(b, "from", e.From)
	b = appendField(b, "to", e.To)
	b = appendField(b, "kind", e.Kind)
	b = appendField(b, "summary", e.Summary)
	if len(e.Bytes) > 0 {
		b = append(b, `,"bytes":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.Bytes)
		b = append(b, '"')
	}
	b = appendField(b, "observed", e.Observed)
	for _, f := range [...]struct{ name, v string }{{"note", e.Note}, {"conn", e.Conn}, {"src", e.Src}, {"dst", e.Dst}} {
		if f.v != "" {
			b = appendField(b, f.name, f.v)
		}
	}
	if e.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(e.Version), 10)
	}
	if e.Error != "" {
		b = appendField(b, "error", e.Error)
	}
	return append(b, "}}"...), true
}

// appendField appends ,"name":"v".
func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendJSONFloat appends f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString appends s quoted as encoding/json quotes a string (HTML
// characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
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
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
