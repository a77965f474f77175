package codec

import (
	"strconv"
	"strings"
)

// Tree is the dissection of one packet: Wireshark-style fields with their
// byte spans, and expert notes saying where and why a malformed packet
// broke.
type Tree struct {
	Type    PacketType `json:"type"`
	Name    string     `json:"name"`    // packet type name, e.g. "CONNECT"
	Version Version    `json:"version"` // version the packet was read as
	Summary string     `json:"summary"` // one line for a diagram arrow; "" if malformed
	Fields  []Field    `json:"fields"`
	Expert  []Expert   `json:"expert,omitempty"`
}

// Field is one dissected field. Name is Wireshark's display filter name
// (e.g. "mqtt.kalive"), Value is written as `tshark -T fields` writes it
// (decimal integers, 0x.. for flag bytes and property ids, 1/0 for flag
// bits, byte strings as lowercase hex), Offset and Length locate it in the
// packet and Label is for people ("Keep Alive: 60"). Groups such as
// mqtt.properties have an empty Value and Children.
type Field struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	Offset   int     `json:"offset"`
	Length   int     `json:"length"`
	Label    string  `json:"label"`
	Children []Field `json:"children,omitempty"`
}

// Expert is a note on a malformed or invalid packet: the offset where it
// broke, the spec clause and what is wrong.
type Expert struct {
	Offset  int    `json:"offset"`
	Clause  string `json:"clause"`
	Message string `json:"message"`
}

// recorder collects fields while a cursor walks a packet.
type recorder struct {
	root   []Field
	path   []int // indices of the open groups, from the root down
	notes  []Expert
	broken bool
}

func (r *recorder) list() *[]Field {
	l := &r.root
	for _, i := range r.path {
		l = &(*l)[i].Children
	}
	return l
}

func (r *recorder) add(f Field) {
	l := r.list()
	*l = append(*l, f)
}

// open adds a group field and makes it the parent of the next fields.
func (r *recorder) open(name, value, label string, off, length int) {
	l := r.list()
	*l = append(*l, Field{Name: name, Value: value, Label: label, Offset: off, Length: length})
	r.path = append(r.path, len(*l)-1)
}

// close ends the innermost group; if end >= 0 it sets the group's length
// to reach end.
func (r *recorder) close(end int) {
	if len(r.path) == 0 {
		return
	}
	i := r.path[len(r.path)-1]
	r.path = r.path[:len(r.path)-1]
	if end >= 0 {
		f := &(*r.list())[i]
		f.Length = end - f.Offset
	}
}

func (r *recorder) num(name, label string, off, n, v int) {
	s := strconv.Itoa(v)
	r.add(Field{Name: name, Value: s, Label: label + ": " + s, Offset: off, Length: n})
}

func (r *recorder) text(name, label string, off, n int, s string) {
	r.add(Field{Name: name, Value: s, Label: label + ": " + s, Offset: off, Length: n})
}

// bytes records binary data: shown as text when it is printable UTF-8 (a
// reading, a command), as hex otherwise; Value is always the hex.
func (r *recorder) bytes(name, label string, off int, b []byte) {
	h := hexString(b)
	shown := h
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	if printable(b) {
		n := min(len(b), 64)
		for n < len(b) && b[n]&0xc0 == 0x80 { // not inside a character
			n--
		}
		shown = string(b[:n])
		if n < len(b) {
			shown += "…"
		}
	}
	r.add(Field{Name: name, Value: h, Label: label + ": " + shown + " (" + strconv.Itoa(len(b)) + " bytes)", Offset: off, Length: len(b)})
}

func (r *recorder) flag(name, label string, off int, set bool) {
	v, l := "0", "Not set"
	if set {
		v, l = "1", "Set"
	}
	r.add(Field{Name: name, Value: v, Label: label + ": " + l, Offset: off, Length: 1})
}

func (r *recorder) expert(off int, clause, field string, err error) {
	r.broken = true
	msg := err.Error()
	if field != "" && field[0] != '_' {
		msg = field + ": " + msg
	}
	r.notes = append(r.notes, Expert{Offset: off, Clause: clause, Message: msg})
}

// printable reports whether b is UTF-8 text without control characters
// (no newlines either): a reading, a command. Other Unicode counts as
// printable (Unicode's tables would grow the WebAssembly client), and so
// does nothing for an invalid byte (it reads as U+FFFD).
func printable(b []byte) bool {
	for _, c := range string(b) {
		if c < 0x20 || c >= 0x7f && c < 0xa0 || c == 0xfffd {
			return false
		}
	}
	return len(b) > 0
}

func hex8(b byte) string { return "0x" + hex2(b) }

func hexString(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = hexDigits[c>>4]
		out[2*i+1] = hexDigits[c&15]
	}
	return string(out)
}

// Dissect returns the field tree of the packet in b, read as version v (for
// CONNECT the version comes from the packet's own protocol level byte; a v
// other than V5 is read as V311). It
// never panics: a malformed packet is dissected as far as it is readable and
// the tree's Expert notes say where and why it broke.
func Dissect(b []byte, v Version) (t Tree) {
	rec := &recorder{}
	if v != V5 {
		v = V311 // 0 (unknown) and 3 (MQTT 3.1) are read as 3.1.1
	}
	t.Version = v
	defer func() {
		// Belt and braces: the cursor bounds-checks every read, but a
		// dissector must never take the page down.
		if x := recover(); x != nil {
			rec.path = nil
			rec.expert(0, "", "", errInternal)
			t.Fields, t.Expert, t.Summary = rec.root, rec.notes, ""
		}
	}()
	if len(b) == 0 {
		rec.expert(0, "MQTT-2.1.1", "", ErrShort)
		t.Expert = rec.notes
		return t
	}
	t.Type = PacketType(b[0] >> 4)
	t.Name = t.Type.String()
	p, err := decode(b, v, rec)
	if c, ok := p.(*Connect); ok && c.Version != 0 {
		t.Version = c.Version
	}
	rec.path = nil
	t.Fields, t.Expert = rec.root, rec.notes
	if err == nil {
		t.Summary = Summary(p)
	}
	return t
}

var errInternal = &kindError{"internal dissector error", ErrMalformed}

// Text renders the tree for a terminal: one field a line, children
// indented by two spaces, then the expert notes.
func (t Tree) Text() string {
	var sb strings.Builder
	sb.WriteString("MQTT ")
	sb.WriteString(t.Version.String())
	sb.WriteString(" ")
	if t.Summary != "" {
		sb.WriteString(t.Summary)
	} else {
		sb.WriteString(t.Name)
		sb.WriteString(" (malformed)")
	}
	sb.WriteByte('\n')
	writeFields(&sb, t.Fields, 1)
	for _, e := range t.Expert {
		sb.WriteString("  [Expert] offset ")
		sb.WriteString(strconv.Itoa(e.Offset))
		sb.WriteString(": ")
		sb.WriteString(e.Message)
		if e.Clause != "" {
			sb.WriteString(" [")
			sb.WriteString(e.Clause)
			sb.WriteString("]")
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func writeFields(sb *strings.Builder, fs []Field, depth int) {
	for _, f := range fs {
		for i := 0; i < depth; i++ {
			sb.WriteString("  ")
		}
		sb.WriteString(f.Label)
		sb.WriteString("  [")
		sb.WriteString(f.Name)
		sb.WriteString(" @")
		sb.WriteString(strconv.Itoa(f.Offset))
		sb.WriteString("+")
		sb.WriteString(strconv.Itoa(f.Length))
		sb.WriteString("]\n")
		writeFields(sb, f.Children, depth+1)
	}
}

// Find returns the first field named name, searching depth first, and
// whether there is one.
func (t Tree) Find(name string) (Field, bool) {
	var out []Field
	collect(t.Fields, name, &out, true)
	if len(out) == 0 {
		return Field{}, false
	}
	return out[0], true
}

// All returns every field named name in document order.
func (t Tree) All(name string) []Field {
	var out []Field
	collect(t.Fields, name, &out, false)
	return out
}

func collect(fs []Field, name string, out *[]Field, first bool) {
	for _, f := range fs {
		if first && len(*out) > 0 {
			return
		}
		if f.Name == name {
			*out = append(*out, f)
		}
		collect(f.Children, name, out, first)
	}
}

// setLen sets the length of the innermost open group.
func (r *recorder) setLen(n int) {
	if len(r.path) == 0 {
		return
	}
	i := r.path[len(r.path)-1]
	saved := r.path
	r.path = r.path[:len(r.path)-1]
	(*r.list())[i].Length = n
	r.path = saved
}

// DissectAll splits b into packets and dissects each, starting as version v
// and switching to the version of any CONNECT it meets. Bytes that do not
// form a whole packet at the end, or a broken fixed header, end the list
// with a tree whose Expert notes say why.
func DissectAll(b []byte, v Version) []Tree {
	var out []Tree
	for len(b) > 0 {
		n, err := PacketLen(b, 0)
		if err != nil || n == 0 || n > len(b) {
			out = append(out, Dissect(b, v))
			break
		}
		t := Dissect(b[:n], v)
		if t.Type == TypeConnect && t.Version != 0 {
			v = t.Version
		}
		out = append(out, t)
		b = b[n:]
	}
	return out
}
