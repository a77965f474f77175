package proxy_test

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Addresses of other ranges are classified here on values only: no test
// sends a packet to them.
func TestClassify(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"::ffff:10.0.0.1", "private"},
		{"fc00::1", "private (unique local)"},
		{"fd12:3456::1", "private (unique local)"},
		{"169.254.169.254", "cloud metadata"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"::", "unspecified"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"100.64.0.1", "shared (carrier-grade NAT)"},
		{"198.18.0.1", "benchmarking"},
		{"192.0.2.1", "documentation"},
		{"2001:db8::1", "documentation"},
		{"64:ff9b::a00:1", "NAT64"},
		{"2002:a00:1::", "6to4"},
		{"::10.0.0.1", "IPv4-compatible (deprecated)"},
		// IPv4-translated (SIIT, ::ffff:0:a.b.c.d): the IPv4 address decides.
		{"::ffff:0:7f00:1", "loopback"},
		{"::ffff:0:127.0.0.1", "loopback"},
		{"::ffff:0:a00:1", "private"},
		{"::ffff:0:a9fe:a9fe", "cloud metadata"},
		{"::ffff:0:0:0", "unspecified"},
		{"::ffff:0:808:808", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := proxy.Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Classify(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestParseAllow(t *testing.T) {
	tests := []struct {
		list    string
		want    string // the patterns' String, comma-joined
		wantErr bool
	}{
		{"*:1883,*:8883", "*:1883,*:8883", false},
		{"broker.example.com:8883 *.example.org:*", "broker.example.com:8883,*.example.org:*", false},
		{"[2001:db8::1]:1883", "[2001:db8::1]:1883", false},
		{"192.0.2.0/24:1883", "192.0.2.0/24:1883", false},
		{"Broker.Example.COM:1883", "broker.example.com:1883", false},
		{"", "", false},
		{"broker.example.com", "", true},
		{"broker.example.com:0", "", true},
		{"broker.example.com:70000", "", true},
		{"a*b.example.com:1883", "", true},
		{":1883", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			ps, err := proxy.ParseAllow(tt.list)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseAllow(%q) error = %v, want error %v", tt.list, err, tt.wantErr)
			}
			var s []string
			for _, p := range ps {
				s = append(s, p.String())
			}
			if got := strings.Join(s, ","); got != tt.want {
				t.Errorf("ParseAllow(%q) = %q, want %q", tt.list, got, tt.want)
			}
		})
	}
}

func TestPolicyDecisions(t *testing.T) {
	allow, _ := proxy.ParseAllow("*.example.com:8883,broker.example.org:1883,198.51.100.7:*,*:1884")
	p := proxy.Policy{Allow: allow, Exempt: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1883")}, Zone: "lifeline.test"}
	priv := p
	priv.AllowPrivate = true
	tests := []struct {
		name   string
		policy *proxy.Policy
		host   string
		addr   string
		ok     bool
	}{
		{"subdomain public", &p, "eu.example.com", "93.184.215.14:8883", true},
		{"subdomain wrong port", &p, "eu.example.com", "93.184.215.14:1883", false},
		{"exact name", &p, "broker.example.org", "93.184.215.14:1883", true},
		{"name not listed", &p, "evil.example.net", "93.184.215.14:1883", false},
		{"address pattern", &p, "198.51.100.7", "198.51.100.7:1883", false}, // documentation range: not public
		{"any host on port", &p, "anything.test", "203.0.114.1:1884", true},
		{"rebinding to loopback", &p, "eu.example.com", "127.0.0.1:8883", false},
		{"rebinding to metadata", &p, "eu.example.com", "169.254.169.254:8883", false},
		{"rebinding to mapped private", &p, "eu.example.com", "[::ffff:10.0.0.1]:8883", false},
		{"private allowed", &priv, "eu.example.com", "10.0.0.1:8883", true},
		{"private allowed but not listed", &priv, "evil.example.net", "10.0.0.1:1883", false},
		{"embedded broker", &p, "broker.lifeline.test", "127.0.0.1:1883", true},
		{"embedded broker mapped", &p, "localhost", "[::ffff:127.0.0.1]:1883", true},
		{"zone name elsewhere", &p, "other.lifeline.test", "127.0.0.1:1884", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.CheckAddr(tt.host, netip.MustParseAddrPort(tt.addr))
			if (err == nil) != tt.ok {
				t.Fatalf("CheckAddr(%s, %s) = %v, want ok %v", tt.host, tt.addr, err, tt.ok)
			}
			if err != nil && !proxy.IsRefusal(err) {
				t.Fatalf("error %v is not a refusal", err)
			}
		})
	}
}

func TestPolicyCheckName(t *testing.T) {
	allow, _ := proxy.ParseAllow("*.example.com:8883,192.0.2.0/24:1883")
	p := proxy.Policy{Allow: allow, Zone: "lifeline.test"}
	tests := []struct {
		host string
		port int
		ok   bool
	}{
		{"eu.example.com", 8883, true},
		{"example.com", 8883, false},
		{"eu.example.com", 1883, true}, // a CIDR pattern on 1883 may match the address: decided after DNS
		{"eu.example.com", 1884, false},
		{"broker.lifeline.test", 1, true},
		{"localhost", 1, true},
		{"2130706433", 1, true},
		{"[::1]", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.host+":"+strconv.Itoa(tt.port), func(t *testing.T) {
			if err := p.CheckName(tt.host, tt.port); (err == nil) != tt.ok {
				t.Fatalf("CheckName(%s, %d) = %v, want ok %v", tt.host, tt.port, err, tt.ok)
			}
		})
	}
}

// refusedSession opens /mqtt?broker=target with a trace and returns the close
// code, reason and trace entries.
func refusedSession(t *testing.T, e *env, target string) (websocket.StatusCode, string, []trace.Entry) {
	t.Helper()
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("broker="+target+"&trace="+tc.token))
	code, reason := ws.Closed()
	got := tc.waitFor(t, "ws.close", func(en trace.Entry) bool { return en.Kind == trace.KindWSClose })
	return code, reason, got
}

func assertRefused(t *testing.T, code websocket.StatusCode, reason string, got []trace.Entry, ln *countingListener) {
	t.Helper()
	if code != websocket.StatusPolicyViolation {
		t.Errorf("close code %d (%q), want 1008", code, reason)
	}
	if reason == "" {
		t.Error("close reason is empty")
	}
	var closeErr string
	for _, en := range got {
		if en.Kind == trace.KindWSClose && en.From == "proxy" {
			closeErr = en.Error
		}
	}
	if closeErr == "" {
		t.Errorf("no ws.close entry with an error in the trace:\n%s", dump(got))
	}
	if n := ln.accepted.Load(); n != 0 {
		t.Fatalf("the target accepted %d connections; the refusal must come before connect()", n)
	}
}

// Loopback targets, in every spelling that leads there, are refused when
// -allow-private is off, and reached when it is on (so the test can fail).
func TestRefuseLoopbackForms(t *testing.T) {
	forms := []string{"127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1",
		"[::ffff:127.0.0.1]", "0.0.0.0", "rebind.lifeline.test", "LOCALHOST.", "127.0.0.1."}
	for _, private := range []bool{false, true} {
		for _, form := range forms {
			t.Run(form+"/allow-private="+strconv.FormatBool(private), func(t *testing.T) {
				ln := newCountingListener(t)
				e := newTestEnv(t, func(c *proxy.Config) {
					c.Policy.Allow = mustAllow(t, "*:*")
					c.Policy.AllowPrivate = private
				})
				e.dns.Set("rebind.lifeline.test", netip.MustParseAddr("127.0.0.1"))
				code, reason, got := refusedSession(t, e, form+":"+strconv.Itoa(ln.port()))
				if !private {
					assertRefused(t, code, reason, got, ln)
					return
				}
				if ln.accepted.Load() != 1 {
					t.Fatalf("with -allow-private, %s reached the listener %d times, want 1 (close %d %q)", form, ln.accepted.Load(), code, reason)
				}
			})
		}
	}
}

func TestRefuseNotAllowlisted(t *testing.T) {
	ln := newCountingListener(t)
	e := newTestEnv(t, func(c *proxy.Config) {
		c.Policy.Allow = mustAllow(t, "*:1883")
		c.Policy.AllowPrivate = true
	})
	for _, host := range []string{"127.0.0.1", "localhost", "elsewhere.example"} {
		t.Run(host, func(t *testing.T) {
			code, reason, got := refusedSession(t, e, host+":"+strconv.Itoa(ln.port()))
			assertRefused(t, code, reason, got, ln)
			if !strings.Contains(reason, "allowlist") {
				t.Errorf("reason %q does not mention the allowlist", reason)
			}
			for _, en := range got {
				if en.Kind == trace.KindDNSQuery {
					t.Errorf("a name outside the allowlist was looked up: %s", en.Summary)
				}
			}
		})
	}
}

// The embedded broker is reachable without -allow-private and whatever the
// allowlist says.
func TestEmbeddedBrokerExempt(t *testing.T) {
	e := newTestEnv(t, func(c *proxy.Config) { c.Policy.Allow = nil })
	for _, target := range []string{"", "broker=" + e.brokerAddr(), "broker=localhost:" + strconv.Itoa(e.broker.Addr().Port)} {
		t.Run(target, func(t *testing.T) {
			newPaho(t, e.mqttURL(target), "exempt")
		})
	}
}

// The machine's own addresses are refused like private ones, public or
// not, and the list is read again at every check: an address the host
// gains later is refused from then on. Values only: nothing is dialed.
func TestRefuseOwnAddresses(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("93.184.215.14")}
	allow, _ := proxy.ParseAllow("*:1883")
	p := proxy.Policy{Allow: allow, OwnAddrs: func() ([]netip.Addr, error) { return own, nil }}
	check := func(addr string) error {
		return p.CheckAddr("broker.example.com", netip.MustParseAddrPort(addr))
	}
	for _, addr := range []string{"93.184.215.14:1883", "[::ffff:93.184.215.14]:1883"} {
		err := check(addr)
		if err == nil || !proxy.IsRefusal(err) || !strings.Contains(err.Error(), "this machine's own") {
			t.Errorf("CheckAddr(%s) = %v, want a refusal naming the machine's own address", addr, err)
		}
	}
	if err := check("[2a00:1450:4001::1]:1883"); err != nil {
		t.Fatalf("an address the machine does not have: %v", err)
	}
	own = append(own, netip.MustParseAddr("2a00:1450:4001::1")) // added later
	if err := check("[2a00:1450:4001::1]:1883"); err == nil {
		t.Error("an address the machine gained after the first check was not refused")
	}
	priv := p
	priv.AllowPrivate = true
	if err := priv.CheckAddr("broker.example.com", netip.MustParseAddrPort("93.184.215.14:1883")); err != nil {
		t.Errorf("with -allow-private the machine's own address is refused: %v", err)
	}
	p.OwnAddrs = func() ([]netip.Addr, error) { return nil, errors.New("netlink: permission denied") }
	if err := check("[2a00:1450:4001::1]:1883"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("when the machine's addresses cannot be listed: %v, want a refusal saying why", err)
	}
}

// HostAddrs lists the kernel's addresses: loopback is always among them.
func TestHostAddrs(t *testing.T) {
	addrs, err := proxy.HostAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Fatalf("HostAddrs() = %v, lacks 127.0.0.1", addrs)
	}
	t.Logf("this machine's addresses: %v", addrs)
}

// BenchmarkCheckAddr is the cost of the check made before every connect,
// which lists the machine's addresses each time (HostAddrs).
func BenchmarkCheckAddr(b *testing.B) {
	allow, _ := proxy.ParseAllow("*:1883")
	p := proxy.Policy{Allow: allow}
	ap := netip.MustParseAddrPort("93.184.215.14:1883")
	for b.Loop() {
		if err := p.CheckAddr("broker.example.com", ap); err != nil {
			b.Fatal(err)
		}
	}
}
