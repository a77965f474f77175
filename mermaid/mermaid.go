package mermaid

import (
	"strconv"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Append appends a diagram view as a Mermaid sequence diagram: one
// participant per lane (p0, p1 … as the lane's label), one message per
// arrow in row order — solid ->> for bytes seen on the wire, dashed -->>
// for what the kernel observed — labelled with its summary (its kind when
// it has none), and a note over the two parties for an arrow with an
// error. Text from the wire goes through MermaidText, so it can neither
// end a statement nor start a comment or markup. The page's "Export
// Mermaid" is this, called through the wasm.
func Append(dst []byte, v *diagram.View) []byte {
	dst = append(dst, "sequenceDiagram\n"...)
	for i, l := range v.Lanes {
		dst = append(dst, "    participant p"...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, " as "...)
		dst = AppendText(dst, l.Label)
		dst = append(dst, '\n')
	}
	for i := range v.Arrows {
		a := &v.Arrows[i]
		arrow := "->>"
		if a.Observed == trace.ObservedKernel {
			arrow = "-->>"
		}
		label := a.Summary
		if label == "" {
			label = a.Kind
		}
		dst = append(dst, "    "...)
		dst = appendParticipant(dst, a.FromLane)
		dst = append(dst, arrow...)
		dst = appendParticipant(dst, a.ToLane)
		dst = append(dst, ": "...)
		dst = AppendText(dst, label)
		dst = append(dst, '\n')
		if a.Error != "" {
			dst = append(dst, "    Note over "...)
			dst = appendParticipant(dst, a.FromLane)
			if a.ToLane != a.FromLane {
				dst = append(dst, ',')
				dst = appendParticipant(dst, a.ToLane)
			}
			dst = append(dst, ": error: "...)
			dst = AppendText(dst, a.Error)
			dst = append(dst, '\n')
		}
	}
	return dst
}

func appendParticipant(dst []byte, lane int) []byte {
	return strconv.AppendInt(append(dst, 'p'), int64(lane), 10)
}

// AppendText appends s with Mermaid's entity codes for the
// characters its sequence grammar reads as syntax (# ; % < >), line breaks
// and tabs turned into spaces and other control characters into codes; a
// text that is empty or all white space (as JavaScript's trim sees it)
// becomes a space's code, as Mermaid needs some text.
func AppendText(dst []byte, s string) []byte {
	if blank(s) {
		return append(dst, "#32;"...)
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var code string
		switch {
		case c == '#':
			code = "#35;"
		case c == ';':
			code = "#59;"
		case c == '%':
			code = "#37;"
		case c == '<':
			code = "#lt;"
		case c == '>':
			code = "#gt;"
		case c == '\r' || c == '\n' || c == '\t':
			code = " "
		case c < 0x20 || c == 0x7f:
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		if code == "" {
			dst = append(dst, '#')
			dst = strconv.AppendInt(dst, int64(c), 10)
			dst = append(dst, ';')
		} else {
			dst = append(dst, code...)
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// blank reports whether s holds only what JavaScript's String.prototype.trim
// removes: white space and line terminators (ECMA-262 WhiteSpace,
// LineTerminator).
func blank(s string) bool {
	for _, r := range s {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		default:
			if r < 0x2000 || r > 0x200a {
				return false
			}
		}
	}
	return true
}
