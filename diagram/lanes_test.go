package diagram

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
	"golang.org/x/net/dns/dnsmessage"
)

// connectBytes is a CONNECT made by package codec, in either version (v5
// with properties before the client id).
func connectBytes(t *testing.T, v codec.Version, id string) []byte {
	t.Helper()
	c := &codec.Connect{Version: v, CleanStart: true, KeepAlive: 5, ClientID: id}
	if v == codec.V5 {
		c.Properties.Set(codec.PropSessionExpiry).SessionExpiry = 3600
		c.Properties.User = []codec.UserProperty{{Key: "site", Value: "plant 7"}}
	}
	b, err := codec.AppendPacket(nil, c, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dnsAnswer is a response to an A or AAAA query for name, made by
// x/net/dns/dnsmessage (with name compression, as resolvers send them),
// through a CNAME when alias is set.
func dnsAnswer(t *testing.T, name, alias string, ip netip.Addr) []byte {
	t.Helper()
	typ := dnsmessage.TypeA
	if ip.Is6() {
		typ = dnsmessage.TypeAAAA
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true, Authoritative: true})
	b.EnableCompression()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	q := dnsmessage.MustNewName(name + ".")
	must(b.Question(dnsmessage.Question{Name: q, Type: typ, Class: dnsmessage.ClassINET}))
	must(b.StartAnswers())
	owner := q
	if alias != "" {
		target := dnsmessage.MustNewName(alias + ".")
		must(b.CNAMEResource(dnsmessage.ResourceHeader{Name: q, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.CNAMEResource{CNAME: target}))
		owner = target
	}
	h := dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: 60}
	if ip.Is4() {
		must(b.AResource(h, dnsmessage.AResource{A: ip.As4()}))
	} else {
		must(b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: ip.As16()}))
	}
	out, err := b.Finish()
	must(err)
	return out
}

// lanesOf is the lanes as "Label | Detail", left to right.
func lanesOf(m *Model) []string {
	var out []string
	for _, l := range m.Lanes() {
		out = append(out, l.Label+" | "+l.Detail)
	}
	return out
}

// TestCaptureLanes lays out the lanes of an opened capture as a device's
// capture shows its parties: host:port addresses. Clients are named by
// their client id, DNS lookups from ephemeral ports share a lane per host,
// the DNS server and the broker (by the name that led to it) say what they
// are; clients, then DNS, then brokers; arrows land on their lanes.
func TestCaptureLanes(t *testing.T) {
	const (
		dev    = "127.0.0.1:43270"
		app    = "[::1]:39020"
		ns     = "127.0.0.53:53"
		broker = "127.0.0.10:1883"
		b6     = "[fd00::10]:8883"
	)
	dnsLeg := trace.LegClientDNS
	tests := []struct {
		name    string
		entries []trace.Entry
		lanes   []string
		arrows  map[string][2]int // kind -> lanes of its first arrow
	}{
		{
			name: "lookups, then two clients of one broker found by name",
			entries: []trace.Entry{
				{Leg: dnsLeg, From: "127.0.0.1:37608", To: ns, Kind: "dns.query", Bytes: dnsMsg(7, false)},
				{Leg: dnsLeg, From: ns, To: "127.0.0.1:37608", Kind: "dns.response", Bytes: dnsAnswer(t, "broker.iot.example", "", netip.MustParseAddr("127.0.0.10"))},
				{Leg: dnsLeg, From: "127.0.0.1:60249", To: ns, Kind: "dns.query", Bytes: dnsMsg(8, false)},
				{Leg: dnsLeg, From: ns, To: "127.0.0.1:60249", Kind: "dns.response", Error: "Refused"},
				{Leg: "client-broker", From: dev, To: broker, Kind: "tcp.syn"},
				{Leg: "client-broker", From: broker, To: dev, Kind: "tcp.synack"},
				{Leg: "client-broker", From: dev, To: broker, Kind: "mqtt.CONNECT", Bytes: connectBytes(t, codec.V311, "device01")},
				{Leg: "client-broker", From: broker, To: dev, Kind: "mqtt.CONNACK", Bytes: pktConnack()},
				{Leg: "client-broker", From: app, To: broker, Kind: "mqtt.CONNECT", Bytes: connectBytes(t, codec.V5, "cloud-app")},
			},
			lanes: []string{
				"device01 | " + dev,
				"cloud-app | " + app,
				"DNS lookups | from 127.0.0.1",
				"DNS 127.0.0.53 | name server " + ns,
				"broker.iot.example | broker " + broker,
			},
			arrows: map[string][2]int{"dns.query": {2, 3}, "dns.response": {3, 2}, "tcp.syn": {0, 4}, "mqtt.CONNACK": {4, 0}},
		},
		{
			name: "a broker seen before its name, a CNAME, IPv6, a client without a CONNECT",
			entries: []trace.Entry{
				{Leg: "client-broker", From: "10.0.0.5:50000", To: b6, Kind: "tcp.syn"},
				{Leg: dnsLeg, From: "10.0.0.5:53001", To: "10.0.0.1:5353", Kind: "dns.query", Bytes: dnsMsg(9, false)},
				{Leg: dnsLeg, From: "10.0.0.1:5353", To: "10.0.0.5:53001", Kind: "dns.response", Bytes: dnsAnswer(t, "mqtt.example.com", "edge-7.cdn.example.net", netip.MustParseAddr("fd00::10"))},
			},
			lanes: []string{
				"10.0.0.5:50000 | ",
				"DNS lookups | from 10.0.0.5",
				"DNS 10.0.0.1:5353 | name server 10.0.0.1:5353",
				"mqtt.example.com | broker " + b6,
			},
			arrows: map[string][2]int{"tcp.syn": {0, 3}, "dns.query": {1, 2}},
		},
		{
			name: "a port that did DNS and then MQTT keeps its own lane",
			entries: []trace.Entry{
				{Leg: dnsLeg, From: dev, To: ns, Kind: "dns.query", Bytes: dnsMsg(7, false)},
				{Leg: "client-broker", From: dev, To: broker, Kind: "mqtt.CONNECT", Bytes: connectBytes(t, codec.V311, "device01")},
			},
			lanes:  []string{"device01 | " + dev, "DNS 127.0.0.53 | name server " + ns, "broker " + broker + " | "},
			arrows: map[string][2]int{"dns.query": {0, 1}, "mqtt.CONNECT": {0, 2}},
		},
		{
			name: "a live session's named parties are unchanged",
			entries: []trace.Entry{
				{Leg: "proxy-dns", From: "proxy", To: "dns", Kind: "dns.query", Bytes: dnsMsg(1, false)},
				{Leg: "proxy-dns", From: "dns", To: "proxy", Kind: "dns.response", Bytes: dnsAnswer(t, "broker.lifeline.test", "", netip.MustParseAddr("127.0.0.1"))},
				{Leg: "browser-proxy", From: "browser", To: "proxy", Kind: "mqtt.CONNECT", Bytes: connectBytes(t, codec.V5, "lifeline-1")},
				{Leg: "proxy-broker", From: "proxy", To: "broker", Kind: "mqtt.CONNECT", Bytes: connectBytes(t, codec.V5, "lifeline-1")},
			},
			lanes:  []string{"Browser | ", "Lifeline proxy | ", "DNS server | ", "Broker | "},
			arrows: map[string][2]int{"dns.query": {1, 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{})
			for _, e := range tc.entries {
				m.Add(e, Imported)
			}
			if got := lanesOf(m); strings.Join(got, "\n") != strings.Join(tc.lanes, "\n") {
				t.Fatalf("lanes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.lanes, "\n"))
			}
			v := m.View(0, m.Len())
			for kind, want := range tc.arrows {
				for _, a := range v.Arrows {
					if a.Kind == kind {
						if got := [2]int{a.FromLane, a.ToLane}; got != want {
							t.Errorf("%s drawn from lane %d to %d, want %d to %d", kind, got[0], got[1], want[0], want[1])
						}
						break
					}
				}
			}
		})
	}
}

// TestDNSAnswers reads the address records of real responses, and nothing
// from malformed ones.
func TestDNSAnswers(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"A", dnsAnswer(t, "broker.iot.example", "", netip.MustParseAddr("127.0.0.10")), "broker.iot.example=127.0.0.10"},
		{"AAAA via CNAME", dnsAnswer(t, "a.example", "b.example", netip.MustParseAddr("2001:db8::1")), "a.example=2001:db8::1"},
		{"AAAA zeros", dnsAnswer(t, "z.example", "", netip.MustParseAddr("::")), "z.example=::"},
		{"AAAA two runs", dnsAnswer(t, "r.example", "", netip.MustParseAddr("2001:0:0:1:0:0:0:1")), "r.example=2001:0:0:1::1"},
		{"a query", dnsMsg(3, false), ""},
		{"cut short", dnsAnswer(t, "broker.iot.example", "", netip.MustParseAddr("127.0.0.10"))[:40], ""},
		{"pointer loop", []byte{0, 7, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			dnsAnswers(tc.b, func(name, ip string) { got = append(got, name+"="+ip) })
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			// The address text is what net/netip writes.
			if tc.want != "" {
				ip := tc.want[strings.Index(tc.want, "=")+1:]
				if a := netip.MustParseAddr(ip); a.String() != ip {
					t.Fatalf("%s written as %s by netip", ip, a)
				}
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct{ in, host, port string }{
		{"127.0.0.1:1883", "127.0.0.1", "1883"},
		{"[::1]:53", "::1", "53"},
		{"broker", "", ""},
		{"browser", "", ""},
		{"broker.lifeline.test:1883", "", ""},
		{":1883", "", ""},
		{"127.0.0.1:", "", ""},
	}
	for _, tc := range tests {
		h, p, ok := splitHostPort(tc.in)
		if h != tc.host || p != tc.port || ok != (tc.host != "") {
			t.Errorf("splitHostPort(%q) = %q %q %v", tc.in, h, p, ok)
		}
	}
}
