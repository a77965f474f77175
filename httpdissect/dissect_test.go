package httpdissect

import (
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
)

func flat(fs []codec.Field, into map[string][]string, head string, t *testing.T) {
	for _, f := range fs {
		if f.Offset < 0 || f.Offset+f.Length > len(head) {
			t.Errorf("%s @%d+%d outside the %d-byte head", f.Name, f.Offset, f.Length, len(head))
			continue
		}
		if f.Name != "" {
			into[f.Name] = append(into[f.Name], f.Value)
			// A field's bytes hold its value (a line's value is the line).
			if got := head[f.Offset : f.Offset+f.Length]; !strings.Contains(got, strings.TrimSuffix(f.Value, "\r\n")) {
				t.Errorf("%s: bytes %q do not hold %q", f.Name, got, f.Value)
			}
		}
		flat(f.Children, into, head, t)
	}
}

func TestDissect(t *testing.T) {
	req := "GET /mqtt?broker=b:1883 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\nSec-WebSocket-Protocol: mqtt, mqttv3.1\r\n\r\n"
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
	for _, c := range []struct {
		name, head, summary, note string
		want                      map[string]string // joined with |
	}{
		{"request", req, "GET /mqtt?broker=b:1883", "", map[string]string{
			"http.request.method": "GET", "http.request.uri": "/mqtt?broker=b:1883", "http.request.version": "HTTP/1.1",
			"http.host": "127.0.0.1:8080", "http.sec_websocket_protocol": "mqtt, mqttv3.1", "http.sec_websocket_version": "13",
			"http.request.line": "Origin: http://127.0.0.1:8080\r\n",
		}},
		{"response", resp, "101 Switching Protocols", "", map[string]string{
			"http.response.version": "HTTP/1.1", "http.response.code": "101", "http.response.phrase": "Switching Protocols",
			"http.sec_websocket_protocol": "mqtt", "http.sec_websocket_accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
		}},
		{"refused", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "403 Forbidden", "", map[string]string{
			"http.response.code": "403", "http.response.line": "Content-Length: 0\r\n",
		}},
		{"cut", "GET / HTTP/1.1\r\nHost: x", "GET /", "without its closing empty line", map[string]string{"http.host": "x"}},
		{"not HTTP", "\x10\x0c\x00\x04MQTT", "", "not an HTTP request", nil},
		{"bad header", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", "GET /", "without a colon", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree := Dissect([]byte(c.head))
			got := map[string][]string{}
			flat(tree.Fields, got, c.head, t)
			for k, v := range c.want {
				if g := strings.Join(got[k], "|"); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
			note := ""
			for _, x := range tree.Expert {
				note += x.Message + "; "
			}
			if tree.Summary != c.summary || (c.note == "") != (note == "") || !strings.Contains(note, c.note) {
				t.Errorf("summary %q note %q, want %q %q", tree.Summary, note, c.summary, c.note)
			}
		})
	}
}

func FuzzDissect(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree := Dissect(b)
		var check func([]codec.Field)
		check = func(fs []codec.Field) {
			for _, x := range fs {
				if x.Offset < 0 || x.Length < 0 || x.Offset+x.Length > len(b) {
					t.Fatalf("%q: %s @%d+%d outside", b, x.Name, x.Offset, x.Length)
				}
				check(x.Children)
			}
		}
		check(tree.Fields)
	})
}
