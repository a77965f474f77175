package textdiagram

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/golden"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func TestRenderGolden(t *testing.T) {
	entries := []trace.Entry{
		{T: 0.1, Leg: trace.LegProxyDNS, From: "client", To: "dns", Kind: trace.KindDNSQuery, Summary: "A broker.lifeline.test", Observed: trace.ObservedWire},
		{T: 0.9, Leg: trace.LegProxyDNS, From: "dns", To: "client", Kind: trace.KindDNSResponse, Summary: "A 127.0.0.1", Observed: trace.ObservedWire},
		{T: 1.2, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: trace.KindTCPSyn, Summary: "SYN to 127.0.0.1:1883", Observed: trace.ObservedKernel},
		{T: 1.3, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: trace.KindTCPSynAck, Summary: "SYN-ACK", Observed: trace.ObservedKernel},
		{T: 2, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: "mqtt.CONNECT", Summary: `CONNECT v5.0 id="dev" keepalive=5`, Observed: trace.ObservedWire},
		{T: 2.5, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: "mqtt.CONNACK", Summary: "CONNACK Success", Observed: trace.ObservedWire},
		{T: 3, From: "client", To: "client", Kind: "error", Summary: "", Error: "no PINGRESP within 2.5s"},
		{T: 12.25, Leg: trace.LegClientBroker, From: "broker", To: "client", Kind: trace.KindTCPFin, Summary: "FIN", Observed: trace.ObservedKernel, Error: "reset"},
	}
	for _, mask := range []bool{false, true} {
		name := "basic.golden"
		if mask {
			name = "masked.golden"
		}
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, entries, Options{Parties: []string{"client", "dns", "broker"}, MaskTimes: mask}); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, name, b.Bytes())
		})
	}
}

func TestLaneOrder(t *testing.T) {
	var b bytes.Buffer
	Render(&b, []trace.Entry{{From: "broker", To: "client", Kind: "mqtt.PINGRESP", Summary: "PINGRESP"}}, Options{Parties: []string{"client", "dns", "broker"}})
	want := "       client          broker\n" +
		"  t (ms)  |               |\n" +
		"   0.000  | PINGRESP      |\n" +
		"          |<--------------|\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// connect is the bytes of a CONNECT with client id id.
func connect(t *testing.T, id string) []byte {
	t.Helper()
	b, err := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 5, ClientID: id}, codec.V311)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// captureEntries looks like a capture's: parties are addresses, two devices,
// their lookups from ephemeral ports, a labels too long for any lane.
func captureEntries(t *testing.T) []trace.Entry {
	const dev, app, ns, br = "127.0.0.1:43270", "127.0.0.1:39020", "127.0.0.53:53", "127.0.0.10:1883"
	long := "Standard query response 0xdf62 Refused AAAA broker.iot.example, and then some more words to wrap"
	return []trace.Entry{
		{T: 0, Leg: trace.LegClientDNS, From: "127.0.0.1:37608", To: ns, Kind: trace.KindDNSQuery, Summary: "Standard query 0xd46d A broker.iot.example"},
		{T: 0.2, Leg: trace.LegClientDNS, From: ns, To: "127.0.0.1:37608", Kind: trace.KindDNSResponse, Summary: long, Error: "Refused"},
		{T: 0.4, Leg: trace.LegClientBroker, From: dev, To: br, Kind: trace.KindTCPSyn, Summary: "[SYN] Seq=0", Observed: trace.ObservedKernel},
		{T: 0.5, Leg: trace.LegClientBroker, From: dev, To: br, Kind: "mqtt.CONNECT", Summary: `CONNECT v3.1.1 id="device01" keepalive=5 clean`, Bytes: connect(t, "device01"), Version: 4},
		{T: 0.6, Leg: trace.LegClientBroker, From: br, To: dev, Kind: "mqtt.CONNACK", Summary: "CONNACK Success"},
		{T: 1000, Leg: trace.LegClientDNS, From: "127.0.0.1:60249", To: ns, Kind: trace.KindDNSQuery, Summary: "Standard query 0x7072 A broker.iot.example"},
		{T: 1000.1, Leg: trace.LegClientBroker, From: app, To: br, Kind: "mqtt.CONNECT", Summary: `CONNECT v3.1.1 id="cloud-app"`, Bytes: connect(t, "cloud-app"), Version: 4},
		{T: 1000.2, Leg: trace.LegClientBroker, From: app, To: br, Kind: trace.KindTCPAck, Summary: "ACK 127.0.0.1:39020 → 127.0.0.10:1883 (a label with an arrow in it)"},
		{T: 1001, From: app, To: app, Kind: "error", Error: "a note on the lane that is longer than the sixty-four columns a label may take"},
	}
}

func TestCaptureLanes(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, captureEntries(t), Options{}); err != nil {
		t.Fatal(err)
	}
	head := strings.SplitN(b.String(), "\n", 2)[0]
	// Clients (with their ids), the lookups' host, the DNS server, the broker.
	want := []string{"device01 127.0.0.1:43270", "cloud-app 127.0.0.1:39020", "127.0.0.1 (DNS client)", "127.0.0.53:53", "127.0.0.10:1883"}
	at := 0
	for _, w := range want {
		i := strings.Index(head[at:], w)
		if i < 0 {
			t.Fatalf("header %q: want lanes %q in that order", head, want)
		}
		at += i + len(w)
	}
	golden.Check(t, "capture.golden", b.Bytes())
}

// Every label sits between the two lanes of its arrow (a note between its
// lane and the next), its continuation lines too, and leaves the lanes
// outside that span in place.
func TestLabelsStayBetweenLanes(t *testing.T) {
	var b bytes.Buffer
	Render(&b, captureEntries(t), Options{})
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	var lanes []int
	for i, r := range []rune(lines[1]) {
		if r == '|' {
			lanes = append(lanes, i)
		}
	}
	if len(lanes) != 5 {
		t.Fatalf("%d lanes in %q, want 5", len(lanes), lines[1])
	}
	isArrow := func(l string) bool { return strings.Trim(l, " |-.<>") == "" }
	// span returns the lanes an arrow line joins.
	span := func(l string) (lo, hi int) {
		r := []rune(l)
		lo, hi = -1, -1
		for i, c := range lanes {
			if c+1 < len(r) && r[c+1] != ' ' && lo < 0 {
				lo = i
			}
			if c > 0 && c-1 < len(r) && r[c-1] != ' ' {
				hi = i
			}
		}
		return lo, hi
	}
	var label []string // the label line and its continuation lines
	check := func(lo, hi int) {
		for _, l := range label {
			r := []rune(l)
			for i := lanes[0]; i < len(r); i++ {
				inside := i > lanes[lo]+1 && i < lanes[hi]
				lane := false
				for k, c := range lanes {
					lane = lane || (c == i && (k <= lo || k >= hi))
				}
				switch {
				case lane && r[i] != '|':
					t.Errorf("label covers the lane at column %d:\n%s", i, l)
				case !lane && !inside && r[i] != ' ' && r[i] != '|':
					t.Errorf("label outside lanes %d–%d at column %d:\n%s", lo, hi, i, l)
				}
			}
		}
	}
	for i := 2; i < len(lines); i++ {
		l := lines[i]
		if isArrow(l) {
			continue
		}
		label = []string{l}
		lo, hi := -1, -1
		if i+1 < len(lines) && isArrow(lines[i+1]) {
			lo, hi = span(lines[i+1])
			i++
		} else { // a note: find its lane
			r := []rune(l)
			for k, c := range lanes {
				if c+2 < len(r) && r[c+2] == '*' {
					lo, hi = k, min(k+1, len(lanes)-1)
				}
			}
		}
		for i+1 < len(lines) && !isArrow(lines[i+1]) && strings.TrimSpace(string([]rune(lines[i+1])[:lanes[0]])) == "" {
			i++
			label = append(label, lines[i])
		}
		if lo < 0 || hi <= lo {
			t.Fatalf("cannot tell the span of:\n%s", strings.Join(label, "\n"))
		}
		check(lo, hi)
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		text string
		room int
		want []string
	}{
		{"fits", 10, []string{"fits"}},
		{"exactly ten", 11, []string{"exactly ten"}},
		{"cut at a space please", 12, []string{"cut at a…", "…space…", "…please"}},
		{"averyveryverylongword", 10, []string{"averyvery…", "…verylong…", "…word"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := wrap(tt.text, tt.room)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("wrap(%q, %d) = %q, want %q", tt.text, tt.room, got, tt.want)
			}
		})
	}
}

// FuzzWrap: the pieces fit, and together they hold every character.
func FuzzWrap(f *testing.F) {
	f.Add("dns.response  Standard query response 0xdf62 Refused AAAA broker.iot.example", 20)
	f.Add("ACK 127.0.0.1:1 → 127.0.0.1:2", 8)
	f.Fuzz(func(t *testing.T, text string, room int) {
		if !utf8.ValidString(text) || room < 8 || room > 200 {
			return
		}
		parts := wrap(text, room)
		var all strings.Builder
		for i, p := range parts {
			if width(p) > room {
				t.Fatalf("piece %q wider than %d", p, room)
			}
			if i > 0 {
				p = strings.TrimPrefix(p, "…")
			}
			if i < len(parts)-1 {
				p = strings.TrimSuffix(p, "…")
			}
			all.WriteString(p)
		}
		strip := func(s string) string { return strings.ReplaceAll(s, " ", "") }
		if strip(all.String()) != strip(text) {
			t.Fatalf("pieces %q lose characters of %q", parts, text)
		}
	})
}

// Notes adds each entry's note to its label (lifeline trace over WebSocket:
// the frame a packet came in); without it, notes are not drawn.
func TestRenderNotes(t *testing.T) {
	e := []trace.Entry{{T: 1, From: "client", To: "broker", Kind: "mqtt.PINGREQ", Summary: "PINGREQ", Note: "in binary frame 4: FIN, 2 B, masked", Observed: trace.ObservedWire}}
	for _, tt := range []struct {
		notes bool
		want  string
	}{{true, "PINGREQ  · in binary frame 4"}, {false, "PINGREQ "}} {
		var b bytes.Buffer
		if err := Render(&b, e, Options{Notes: tt.notes}); err != nil {
			t.Fatal(err)
		}
		// The label wraps inside its lanes: compare without the drawing.
		squash := strings.NewReplacer(" ", "", "|", "", "…", "", "\n", "", "-", "", ">", "")
		joined := squash.Replace(b.String())
		if !strings.Contains(joined, squash.Replace(tt.want)) || (!tt.notes && strings.Contains(joined, "frame")) {
			t.Errorf("notes %v:\n%s", tt.notes, b.String())
		}
	}
}

// TestRequestResponseLink: an MQTT 5.0 response, on any connection, gets a
// line under its arrow naming its request's time and the time between;
// the request and other packets get none.
func TestRequestResponseLink(t *testing.T) {
	pub := func(topic, respTopic, corr string) []byte {
		p := &codec.Publish{Topic: topic, Payload: []byte("x")}
		if respTopic != "" {
			p.Properties.ResponseTopic = respTopic
			p.Properties.Set(codec.PropResponseTopic)
		}
		p.Properties.CorrelationData = []byte(corr)
		p.Properties.Set(codec.PropCorrelationData)
		b, err := codec.AppendPacket(nil, p, codec.V5)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	e := func(ms float64, conn, from, to, summary string, b []byte) trace.Entry {
		return trace.Entry{T: ms, Leg: trace.LegClientBroker, Conn: conn, From: from, To: to, Kind: "mqtt.PUBLISH",
			Summary: summary, Bytes: b, Version: 5, Observed: trace.ObservedWire}
	}
	entries := []trace.Entry{
		e(10, "c1", "app", "broker", "PUBLISH dev/cmd (request)", pub("dev/cmd", "reply/app", "42")),
		e(12.5, "c2", "broker", "dev", "PUBLISH dev/cmd", pub("dev/cmd", "reply/app", "42")),
		e(30, "c2", "dev", "broker", "PUBLISH reply/app (other)", pub("reply/app", "", "99")),
		e(50.25, "c2", "dev", "broker", "PUBLISH reply/app (response)", pub("reply/app", "", "42")),
	}
	for _, c := range []struct {
		mask bool
		want string
	}{
		{false, "↳ answers the request at 10.000 (+40.250 ms)"},
		{true, "↳ answers the request at t (+t ms)"},
	} {
		var b bytes.Buffer
		if err := Render(&b, entries, Options{Parties: []string{"app", "dev", "broker"}, MaskTimes: c.mask}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		var at []int
		for i, l := range lines {
			if strings.Contains(l, "↳") {
				at = append(at, i)
			}
		}
		if len(at) != 1 || !strings.Contains(lines[at[0]], c.want) ||
			!strings.Contains(lines[at[0]-2], "(response)") || !strings.Contains(lines[at[0]-1], "--->|") {
			t.Errorf("mask %v: want one %q under the response's arrow, got\n%s", c.mask, c.want, b.String())
		}
	}
}
