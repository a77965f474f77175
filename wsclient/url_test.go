package wsclient

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in, want string // want: the Target's String, or "error: " and a piece of the message
	}{
		{"ws://127.0.0.1:9001/mqtt", "ws://127.0.0.1:9001/mqtt"},
		{"ws://broker.example", "ws://broker.example:80/"},
		{"wss://broker.example/mqtt?x=1", "wss://broker.example:443/mqtt?x=1"},
		{"WSS://Broker.example:8084/", "wss://Broker.example:8084/"},
		{"mqtt://broker.example", "mqtt://broker.example:1883"},
		{"mqtts://[::1]:8883", "mqtts://[::1]:8883"},
		{"mqtt://h:1883/", "mqtt://h:1883"},
		{"ws://h:0/", "error: port 0 is out of range"},
		{"ws://h:65536/", "error: port 65536 is out of range"},
		{"ws://h:99999999999/", "error: out of range"},
		{"ws://h:/", "error: empty port"},
		{"ws://h:x/", "error: invalid port"},
		{"ftp://h/", `error: unknown scheme "ftp"`},
		{"http://h/mqtt", "error: for its WebSocket write ws://"},
		{"h:1883", `error: unknown scheme "h"`},
		{"127.0.0.1:1883", "error: first path segment in URL cannot contain colon"},
		{"broker.example", "error: no scheme"},
		{"ws:///mqtt", "error: no host"},
		{"ws:broker", "error: no host"},
		{"ws://user:pw@h/", "error: credentials in the URL"},
		{"mqtt://h/topic", "error: mqtt:// has no path"},
		{"ws://h/#x", "error: a fragment"},
		{"ws://h w/", "error: invalid character"},
		{"", "error: no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrBadURL) {
					t.Fatalf("ParseURL(%q) = %v, %v; want an error with %q", tt.in, got, err, want)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParseURL(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzParseURL: never panics; an accepted URL prints as one that parses
// to the same target.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"ws://127.0.0.1:9001/mqtt", "wss://h/x?y=1", "mqtt://[::1]:1883", "ws://h:0/", "ftp://x", "ws://h/#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseURL(s)
		if err != nil {
			return
		}
		if tg.Port < 1 || tg.Port > 65535 || tg.Host == "" {
			t.Fatalf("%q: accepted %+v", s, tg)
		}
		again, err := ParseURL(tg.String())
		if err != nil || again != tg {
			t.Fatalf("%q: %+v prints as %q, which parses to %+v, %v", s, tg, tg.String(), again, err)
		}
	})
}
