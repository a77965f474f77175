package proxy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, target string
		host         string
		port         int
		wantErr      string // in the error's words; "" for none
	}{
		{"name and port", "broker.iot.example:1883", "broker.iot.example", 1883, ""},
		{"IPv6 in brackets", "[2001:db8::1]:8883", "2001:db8::1", 8883, ""},
		{"no port", "broker.iot.example", "", 0, "no port: give one, as in broker.iot.example:1883"},
		{"no port after the colon", "broker.iot.example:", "", 0, `no port after "broker.iot.example:": give one, as in broker.iot.example:1883`},
		{"IPv6 without a port", "[2001:db8::1]", "", 0, "no port: give one, as in [2001:db8::1]:1883"},
		{"port out of range", "broker.iot.example:70000", "", 0, `port "70000" is not a number from 1 to 65535`},
		{"port zero", "broker.iot.example:0", "", 0, "not a number from 1 to 65535"},
		{"port not a number", "broker.iot.example:mqtt", "", 0, `port "mqtt" is not a number`},
		{"no host", ":1883", "", 0, "no host before the port"},
		{"empty", "", "", 0, "no broker: give one as HOST:PORT"},
		{"too many colons", "a:b:c", "", 0, `"a:b:c" is not HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := parseTarget(tt.target)
			if tt.wantErr == "" {
				if err != nil || host != tt.host || port != tt.port {
					t.Fatalf("parseTarget(%q) = %q, %d, %v; want %q, %d", tt.target, host, port, err, tt.host, tt.port)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseTarget(%q) error %v, want one saying %q", tt.target, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "allow") {
				t.Fatalf("parseTarget(%q) error %q speaks of the allowlist: a missing port is no policy matter", tt.target, err)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"broker.iot.example:1883", "broker.iot.example", "[::1]", "[::1]:1", ":1", "a:b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := parseTarget(s)
		if err == nil && (host == "" || port < 1 || port > 65535) {
			t.Fatalf("parseTarget(%q) = %q, %d with no error", s, host, port)
		}
	})
}

// A close reason is cut to the 123 bytes a close frame holds after a whole
// word, never inside one (the page showed "-allow-privat...").
func TestClipAtWord(t *testing.T) {
	long := "broker.with.a.rather.long.name.lifeline.test resolves to 127.0.0.1, a loopback address: refused without -allow-private"
	tests := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("x", 123), strings.Repeat("x", 123)},
		{"policy: " + long, "policy: broker.with.a.rather.long.name.lifeline.test resolves to 127.0.0.1, a loopback address: refused without..."},
		{strings.Repeat("é", 70), strings.Repeat("é", 59) + "..."},
	}
	for _, tt := range tests {
		got := clip(tt.in)
		if got != tt.want || len(got) > 123 {
			t.Errorf("clip(%q) = %q (%d bytes), want %q", tt.in, got, len(got), tt.want)
		}
	}
	// The refusal of a private address says its flag within a close frame.
	p := &Policy{Allow: []Pattern{{Host: "broker.lifeline.test"}}, OwnAddrs: func() ([]netip.Addr, error) { return nil, nil }}
	err := p.CheckAddr("broker.lifeline.test", netip.MustParseAddrPort("127.0.0.1:1"))
	if err == nil || len("policy: "+err.Error()) > 123 || !strings.HasSuffix(err.Error(), "-allow-private") {
		t.Errorf("refusal %v does not fit a close frame with its flag", err)
	}
}
