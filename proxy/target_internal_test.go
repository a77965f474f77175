package proxy

import (
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
