package netrec_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/netrec"
)

var parseHostTests = []struct {
	host string
	want string // "" for a name
}{
	{"127.0.0.1", "127.0.0.1"},
	{"127.1", "127.0.0.1"},
	{"127.0.1", "127.0.0.1"},
	{"2130706433", "127.0.0.1"},
	{"0x7f000001", "127.0.0.1"},
	{"0X7F.1", "127.0.0.1"},
	{"0177.0.0.1", "127.0.0.1"},
	{"017700000001", "127.0.0.1"},
	{"127.0.0.1.", "127.0.0.1"},
	{"10.0.258", "10.0.1.2"},
	{"0", "0.0.0.0"},
	{"0x", "0.0.0.0"},
	{"4294967295", "255.255.255.255"},
	{"::1", "::1"},
	{"[::1]", "::1"},
	{"[::ffff:127.0.0.1]", "::ffff:127.0.0.1"},
	{"::ffff:7f00:1", "::ffff:127.0.0.1"},
	{"4294967296", ""},
	{"256.0.0.1", ""},
	{"1.2.3.4.5", ""},
	{"1.2.65536", ""},
	{"08.0.0.1", ""},
	{"0xg", ""},
	{"-1", ""},
	{"+1", ""},
	{"1..2", ""},
	{"localhost", ""},
	{"broker.lifeline.test", ""},
	{"1e3", ""},
	{"", ""},
}

func TestParseHost(t *testing.T) {
	for _, tt := range parseHostTests {
		t.Run(tt.host, func(t *testing.T) {
			a, ok := netrec.ParseHost(tt.host)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tt.want {
				t.Fatalf("ParseHost(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestIsLocalhostName(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "a.b.localhost": true,
		"localhost.example": false, "notlocalhost": false, "127.0.0.1": false,
	} {
		if got := netrec.IsLocalhostName(host); got != want {
			t.Errorf("IsLocalhostName(%q) = %v, want %v", host, got, want)
		}
	}
}

// FuzzParseHost checks that every host read as an address is one that the
// numeric forms can express, and that dotted-quad output reads back the same.
func FuzzParseHost(f *testing.F) {
	for _, tt := range parseHostTests {
		f.Add(tt.host)
	}
	f.Fuzz(func(t *testing.T, host string) {
		a, ok := netrec.ParseHost(host)
		if !ok {
			return
		}
		if !a.IsValid() {
			t.Fatalf("ParseHost(%q) = invalid address, ok", host)
		}
		b, ok := netrec.ParseHost(a.String())
		if !ok || b != a {
			t.Fatalf("ParseHost(%q) = %v, which reads back as %v %v", host, a, b, ok)
		}
		if a.Is4() && strings.ContainsAny(host, "[]:") {
			if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil {
				t.Fatalf("ParseHost(%q) = %v from a host with IPv6 punctuation", host, a)
			}
		}
	})
}

func ExampleParseHost() {
	for _, h := range []string{"2130706433", "127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "broker.example.com"} {
		a, ok := netrec.ParseHost(h)
		fmt.Println(h, a, ok)
	}
	// Output:
	// 2130706433 127.0.0.1 true
	// 127.1 127.0.0.1 true
	// 0x7f.0.0.1 127.0.0.1 true
	// [::ffff:127.0.0.1] ::ffff:127.0.0.1 true
	// broker.example.com invalid IP false
}
