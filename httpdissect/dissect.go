package httpdissect

import (
	"bytes"
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// headerFields are the headers of an upgrade Wireshark has a field for.
var headerFields = map[string]string{
	"host":                     "http.host",
	"upgrade":                  "http.upgrade",
	"connection":               "http.connection",
	"user-agent":               "http.user_agent",
	"sec-websocket-key":        "http.sec_websocket_key",
	"sec-websocket-version":    "http.sec_websocket_version",
	"sec-websocket-protocol":   "http.sec_websocket_protocol",
	"sec-websocket-accept":     "http.sec_websocket_accept",
	"sec-websocket-extensions": "http.sec_websocket_extensions",
}

// Dissect returns the field tree of an HTTP/1.x head (a request or a
// response, up to and including the empty line; what follows it is not
// read). It never panics; what cannot be read is an Expert note.
func Dissect(head []byte) (t codec.Tree) {
	t.Name = "HTTP"
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		t.Expert = append(t.Expert, codec.Expert{Offset: len(head), Message: "HTTP head without its closing empty line"})
		end = len(head)
	}
	lineEnd := func(off int) int {
		if i := bytes.Index(head[off:end], []byte("\r\n")); i >= 0 {
			return off + i
		}
		return end
	}
	first := lineEnd(0)
	line := string(head[:first])
	parts := strings.SplitN(line, " ", 3)
	response := strings.HasPrefix(line, "HTTP/")
	prefix := "http.request."
	if response {
		prefix = "http.response."
	}
	if len(parts) < 2 {
		t.Expert = append(t.Expert, codec.Expert{Message: "the first line is not an HTTP request or status line: " + quote(line)})
		return t
	}
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	names, labels := [3]string{"method", "uri", "version"}, [3]string{"Request Method", "Request URI", "Request Version"}
	if response {
		names, labels = [3]string{"version", "code", "phrase"}, [3]string{"Response Version", "Status Code", "Response Phrase"}
		t.Name = "HTTP response"
		t.Summary = parts[1] + " " + parts[2]
	} else {
		t.Name = "HTTP request"
		t.Summary = parts[0] + " " + parts[1]
	}
	first1 := codec.Field{Label: line, Offset: 0, Length: first}
	off := 0
	for i, p := range parts {
		first1.Children = append(first1.Children, codec.Field{Name: prefix + names[i], Value: p, Label: labels[i] + ": " + p, Offset: off, Length: len(p)})
		off = min(off+len(p)+1, first) // a missing part is empty at the line's end
	}
	t.Fields = append(t.Fields, first1)
	for off = first + 2; off < end; {
		e := lineEnd(off)
		h := string(head[off:e])
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			t.Expert = append(t.Expert, codec.Expert{Offset: off, Message: "a header line without a colon: " + quote(h)})
		} else {
			value = strings.TrimSpace(value)
			field := headerFields[lower(name)]
			f := codec.Field{Name: field, Value: value, Label: name + ": " + value, Offset: off, Length: e - off}
			if field == "" {
				f.Name, f.Value = prefix+"line", h+"\r\n"
			}
			t.Fields = append(t.Fields, f)
		}
		off = e + 2
	}
	return t
}

// quote writes s between quotes with bytes outside printable ASCII as \xNN
// (strconv.Quote would bring Unicode's tables into the WebAssembly client).
func quote(s string) string {
	const digits = "0123456789abcdef"
	b := []byte{'"'}
	for i := 0; i < len(s) && i < 80; i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', digits[c>>4], digits[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// lower is s in ASCII lower case (header names are ASCII).
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
