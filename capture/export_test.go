package capture

import (
	"bytes"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func readLifecycle(t *testing.T) *Result { return readLifecycleF(t) }

func readLifecycleF(t testing.TB) *Result {
	t.Helper()
	f, err := os.Open(testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ReadTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// liveTrace builds a trace shaped like a live session's: party names
// instead of addresses, the proxy's DNS lookup, the browser's WebSocket leg
// and the broker leg carrying the same real MQTT bytes.
func liveTrace(t *testing.T) []trace.Entry { return liveTraceFrom(readLifecycle(t)) }

func liveTraceFrom(res *Result) []trace.Entry {
	var out []trace.Entry
	add := func(e trace.Entry) {
		e.Seq = len(out) + 1
		e.T = float64(len(out)) * 1.5
		if e.Observed == "" {
			e.Observed = trace.ObservedWire
		}
		out = append(out, e)
	}
	add(trace.Entry{Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: trace.KindWSUpgrade, Summary: "GET /mqtt", Conn: "c1"})
	add(trace.Entry{Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: trace.KindWSAccept, Summary: "101", Conn: "c1"})
	for _, e := range res.Entries {
		if strings.HasPrefix(e.Kind, "dns.") && strings.Contains(e.Summary, " A ") && len(out) < 4 {
			e.Leg, e.From, e.To, e.Conn, e.Src, e.Dst = trace.LegProxyDNS, "proxy", "dns", "c1", "", ""
			if e.Kind == trace.KindDNSResponse {
				e.From, e.To = "dns", "proxy"
			}
			add(e)
		}
	}
	for _, k := range []string{trace.KindTCPSyn, trace.KindTCPSynAck, trace.KindTCPAck} {
		from, to := "proxy", "broker"
		if k == trace.KindTCPSynAck {
			from, to = to, from
		}
		add(trace.Entry{Leg: trace.LegProxyBroker, From: from, To: to, Kind: k, Summary: k, Conn: "c1", Observed: trace.ObservedKernel})
	}
	for _, e := range res.Entries {
		if e.Conn != "c1" || !strings.HasPrefix(e.Kind, "mqtt.") {
			continue
		}
		toBroker := strings.HasSuffix(e.To, ":1883")
		e.Src, e.Dst = "", ""
		b := e
		b.Leg, b.From, b.To = trace.LegBrowserProxy, "browser", "proxy"
		p := e
		p.Leg, p.From, p.To = trace.LegProxyBroker, "proxy", "broker"
		if toBroker {
			add(b)
			add(p)
		} else {
			b.From, b.To = b.To, b.From
			p.From, p.To = p.To, p.From
			add(p)
			add(b)
		}
	}
	add(trace.Entry{Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: trace.KindWSClose, Bytes: []byte{0x03, 0xe8}, Summary: "Close 1000", Conn: "c1"})
	add(trace.Entry{Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: trace.KindTCPFin, Summary: "FIN", Conn: "c1", Observed: trace.ObservedKernel})
	add(trace.Entry{Leg: trace.LegProxyBroker, From: "proxy", To: "broker", Kind: trace.KindTLS, Summary: "not on the wire", Conn: "c1"})
	return out
}

func exportImport(t *testing.T, entries []trace.Entry) (string, *Result, int) {
	t.Helper()
	var buf bytes.Buffer
	skipped, err := WritePcapng(&buf, entries, &ExportOptions{Start: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "export.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ReadTrace(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return file, res, skipped
}

// sameEntries compares traces entry by entry, ignoring Seq and allowing
// the float rounding of times through nanosecond timestamps.
func sameEntries(t *testing.T, got, want []trace.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if math.Abs(g.T-w.T) > 1e-5 {
			t.Errorf("entry %d: t %v, want %v", i, g.T, w.T)
		}
		g.T, w.T, g.Seq, w.Seq = 0, 0, 0, 0
		if !bytes.Equal(g.Bytes, w.Bytes) {
			t.Errorf("entry %d (%s): bytes\n %x\nwant\n %x", i, w.Kind, g.Bytes, w.Bytes)
		}
		g.Bytes, w.Bytes = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("entry %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}

func TestExportRoundTripOfImportedCapture(t *testing.T) {
	orig := readLifecycle(t)
	file, back, skipped := exportImport(t, orig.Entries)
	if skipped != 0 || len(back.Problems) != 0 {
		t.Errorf("skipped %d, problems %v", skipped, back.Problems)
	}
	sameEntries(t, back.Entries, orig.Entries)

	// tshark dissects the export like the original.
	items, sum := scanFile(t, file)
	checkExportAgainstTshark(t, file, items)
	checkDNSAndHandshakes(t, file, items, sum)
}

func TestExportRoundTripOfLiveTrace(t *testing.T) {
	live := liveTrace(t)
	file, back, skipped := exportImport(t, live)
	if os.Getenv("KEEP") != "" {
		data, _ := os.ReadFile(file)
		os.WriteFile(os.Getenv("KEEP"), data, 0o644)
	}
	if skipped != 0 {
		t.Errorf("skipped %d entries, want none", skipped)
	}
	// Everything comes back: the WebSocket upgrade and close and the TLS
	// entry from their comments, the rest from the wire.
	sameEntries(t, back.Entries, live)

	// Stock tshark, no setting: every MQTT packet of both legs, of the
	// right type, in order; DNS; the handshakes.
	items, _ := scanFile(t, file)
	checkMQTTTypes(t, file, live)
	checkExportAgainstTshark(t, file, items)
	dns := tsharkStockRows(t, file, "dns", "dns.qry.name")
	if len(dns) != 2 || dns[0].fields["dns.qry.name"][0] != "broker.iot.example" {
		t.Errorf("tshark DNS rows %+v, want the query and the response for broker.iot.example", dns)
	}
	syn := tsharkStockRows(t, file, "tcp.flags.syn==1", "tcp.flags.ack", "tcp.dstport")
	if len(syn) != 4 {
		t.Errorf("tshark sees %d SYN segments, want 4 (two handshakes)", len(syn))
	}
}

// checkMQTTTypes checks that stock tshark reads in file every MQTT packet of
// entries, of the same type, in the same order.
func checkMQTTTypes(t *testing.T, file string, entries []trace.Entry) {
	t.Helper()
	var want, got []string
	for _, e := range entries {
		if strings.HasPrefix(e.Kind, "mqtt.") && len(e.Bytes) > 0 {
			want = append(want, strconv.Itoa(int(e.Bytes[0]>>4)))
		}
	}
	for _, r := range tsharkStockRows(t, file, "mqtt", "mqtt.msgtype") {
		got = append(got, r.fields["mqtt.msgtype"]...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("stock tshark reads MQTT packet types\n %v\nthe trace has\n %v", got, want)
	}
}

// BenchmarkScan reads a capture of 100,000 MQTT packets (PUBLISH/PUBACK
// pairs over ten connections) made by the exporter.
func BenchmarkScan(b *testing.B) {
	var entries []trace.Entry
	for c := 0; c < 10; c++ {
		conn := "c" + string(rune('0'+c))
		for i := 0; i < 5000; i++ {
			entries = append(entries,
				trace.Entry{T: float64(len(entries)), Leg: trace.LegClientBroker, From: "device" + conn, To: "broker", Conn: conn,
					Kind: "mqtt.PUBLISH", Bytes: []byte{0x32, 0x0a, 0, 3, 't', '/', '1', 0, 7, '2', '1', '.'}},
				trace.Entry{T: float64(len(entries) + 1), Leg: trace.LegClientBroker, From: "broker", To: "device" + conn, Conn: conn,
					Kind: "mqtt.PUBACK", Bytes: []byte{0x40, 0x02, 0, 7}})
		}
	}
	var buf bytes.Buffer
	if _, err := WritePcapng(&buf, entries, &ExportOptions{NoComments: true}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if _, err := Scan(bytes.NewReader(buf.Bytes()), Options{}, func(it Item) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n < len(entries) {
			b.Fatalf("%d entries, want at least %d", n, len(entries))
		}
	}
}

// TestMemoryFollowsOpenConnections reads a capture of 2,000 connections
// one after the other, a second apart: the scanner must forget the ended
// ones instead of keeping every connection of the file.
func TestMemoryFollowsOpenConnections(t *testing.T) {
	var entries []trace.Entry
	for c := 0; c < 2000; c++ {
		conn := "c" + strconv.Itoa(c)
		from := "127.0.0.1:" + strconv.Itoa(20000+c)
		base := float64(c) * 1000
		for i, e := range []trace.Entry{
			{From: from, To: "127.0.0.3:1883", Kind: trace.KindTCPSyn},
			{From: "127.0.0.3:1883", To: from, Kind: trace.KindTCPSynAck},
			{From: from, To: "127.0.0.3:1883", Kind: trace.KindTCPAck},
			{From: from, To: "127.0.0.3:1883", Kind: "mqtt.PINGREQ", Bytes: []byte{0xc0, 0}},
			{From: from, To: "127.0.0.3:1883", Kind: trace.KindTCPFin},
			{From: "127.0.0.3:1883", To: from, Kind: trace.KindTCPFin},
			{From: from, To: "127.0.0.3:1883", Kind: trace.KindTCPAck},
		} {
			e.T, e.Leg, e.Conn = base+float64(i), trace.LegClientBroker, conn
			entries = append(entries, e)
		}
	}
	var buf bytes.Buffer
	if _, err := WritePcapng(&buf, entries, &ExportOptions{NoComments: true}); err != nil {
		t.Fatal(err)
	}
	ng, err := pcapgo.NewNgReader(&buf, pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	s := newScanner(Options{}, func(Item) error { n++; return nil })
	if err := s.run(ngSource{ng}); err != nil {
		t.Fatal(err)
	}
	if n != len(entries) || len(s.problems) > 0 {
		t.Errorf("%d entries, want %d; problems %v", n, len(entries), s.problems)
	}
	// Two minutes of TIME_WAIT at one connection a second, plus the
	// 4096-frame sweep interval: at most a few hundred remembered.
	if len(s.conns) > 800 {
		t.Errorf("%d connections still held after reading 2000 that ended", len(s.conns))
	}
	if len(s.listed) != 2000 {
		t.Errorf("%d connections listed, want 2000", len(s.listed))
	}
}

// TestExportAddresses checks where the exported frames' addresses come
// from: the entries' Src and Dst, never their summaries or notes, and
// placeholders when an entry has none.
func TestExportAddresses(t *testing.T) {
	const device, broker, dnsAt = "10.0.0.2:53422", "192.0.2.7:1883", "127.0.0.53:53"
	withFields := func(es []trace.Entry) {
		for i := range es {
			e := &es[i]
			switch {
			case e.Kind == trace.KindTCPSyn:
				e.Src, e.Dst = device, broker
			case e.Kind == trace.KindTCPSynAck:
				e.Src, e.Dst = broker, device
			case e.Kind == trace.KindDNSQuery:
				e.Dst = dnsAt
			case e.Kind == trace.KindDNSResponse:
				e.Src = dnsAt
			case e.Leg == trace.LegProxyBroker && e.From == "broker":
				e.Src, e.Dst = broker, device
			case e.Leg == trace.LegProxyBroker:
				e.Src, e.Dst = device, broker
			}
		}
	}
	withSummaries := func(es []trace.Entry) {
		for i := range es {
			e := &es[i]
			switch e.Kind {
			case trace.KindTCPSyn:
				e.Summary = "SYN to " + broker
			case trace.KindTCPSynAck:
				e.Summary = "SYN-ACK from " + broker
			case trace.KindTCPAck:
				e.Summary = "ACK " + device + " → " + broker
			case trace.KindDNSQuery:
				e.Note = "to " + dnsAt + " over udp"
			}
		}
	}
	// midStream keeps the broker leg's MQTT packets from the CONNACK on:
	// a capture that starts after the connection opened, its first packet
	// the broker's.
	midStream := func(es []trace.Entry) []trace.Entry {
		var out []trace.Entry
		for _, e := range es {
			if e.Leg == trace.LegProxyBroker && strings.HasPrefix(e.Kind, "mqtt.") && (len(out) > 0 || e.Kind == "mqtt.CONNACK") {
				e.From, e.To = e.Src, e.Dst // named by address, as capture import names them
				out = append(out, e)
			}
		}
		return out
	}
	tests := []struct {
		name           string
		edit           func([]trace.Entry) []trace.Entry
		client, server string
		dns            string
	}{
		{"no addresses: placeholders", func(es []trace.Entry) []trace.Entry { return es }, "127.0.0.2:", "127.0.0.3:1883", "127.0.0.53:53"},
		{"fields", func(es []trace.Entry) []trace.Entry { withFields(es); return es }, device, broker, dnsAt},
		{"summaries are not read", func(es []trace.Entry) []trace.Entry { withSummaries(es); return es }, "127.0.0.2:", "127.0.0.3:1883", "127.0.0.53:53"},
		{"mid-stream: the lower port serves", func(es []trace.Entry) []trace.Entry { withFields(es); return midStream(es) }, device, broker, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := tt.edit(liveTrace(t))
			var buf bytes.Buffer
			if _, err := WritePcapng(&buf, es, &ExportOptions{NoComments: true}); err != nil {
				t.Fatal(err)
			}
			res, err := ReadTrace(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, c := range res.Conns {
				if c.Server == "127.0.0.2:1883" {
					continue // the browser leg to the proxy, its MQTT unframed
				}
				found = true
				if !strings.HasPrefix(c.Client, tt.client) || c.Server != tt.server {
					t.Errorf("broker connection %s → %s, want %s… → %s", c.Client, c.Server, tt.client, tt.server)
				}
			}
			if !found {
				t.Errorf("no broker connection in %+v", res.Conns)
			}
			for _, e := range res.Entries {
				if e.Kind == trace.KindDNSQuery && e.Dst != tt.dns {
					t.Errorf("DNS query to %s, want %s", e.Dst, tt.dns)
				}
			}
		})
	}
}

// TestImportTakesCommentsAtTheirWord reads frames as Lifeline's exports
// write them, or did, or as a damaged file might: DNS on a port other than
// 53, commented as DNS, is DNS (exports wrote the embedded zone's own
// port); an entry comment that does not read, or lacks its kind, is a
// problem of its frame, and the rest is read.
func TestImportTakesCommentsAtTheirWord(t *testing.T) {
	var query trace.Entry
	for _, e := range readLifecycle(t).Entries {
		if e.Kind == trace.KindDNSQuery {
			query = e
			break
		}
	}
	if query.Bytes == nil {
		t.Fatal("no DNS query in the lifecycle capture")
	}
	query.Leg, query.From, query.To, query.Src, query.Dst = trace.LegProxyDNS, "proxy", "dns", "", ""
	var buf bytes.Buffer
	x, err := NewExporter(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1")
	at := time.Unix(0, 0)
	udp := &layers.UDP{SrcPort: 40000, DstPort: 47019}
	if err := x.ip(src, dst, layers.IPProtocolUDP, udp, query.Bytes, at, comment(&query)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{commentEntry + "{", commentEntry + `{"kind":""}`} {
		tcp := &layers.TCP{SrcPort: 40001, DstPort: 1883, ACK: true, Window: 1}
		if err := x.ip(src, dst, layers.IPProtocolTCP, tcp, nil, at, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := ReadTrace(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || res.Entries[0].Kind != trace.KindDNSQuery || res.Entries[0].Leg != trace.LegProxyDNS {
		t.Errorf("entries %+v, want the DNS query on the proxy's leg", res.Entries)
	}
	if len(res.Problems) != 2 || res.Problems[0].Frame != 2 || res.Problems[1].Frame != 3 {
		t.Errorf("problems %+v, want one for frame 2 and one for frame 3", res.Problems)
	}
}

// TestNumbering: the seqs a Lifeline export's comments restore are kept
// unless taken; every other entry is numbered after the largest given,
// so that every seq is given once.
func TestNumbering(t *testing.T) {
	for _, tt := range []struct {
		name     string
		restored []int // 0: none restored (no comment)
		want     []int
	}{
		{"a capture", []int{0, 0, 0}, []int{1, 2, 3}},
		{"an export", []int{2, 1, 5, 3}, []int{2, 1, 5, 3}},
		{"an export, its frames reordered", []int{7, 3, 4}, []int{7, 3, 4}},
		{"comments after plain frames", []int{0, 0, 2, 9, 0}, []int{1, 2, 3, 9, 10}},
		{"a seq given twice", []int{4, 4, 1, 0, 1}, []int{4, 5, 1, 6, 7}},
		{"a plain number, then a comment claims it", []int{5, 0, 6}, []int{5, 6, 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var n numbering
			var got []int
			for _, s := range tt.restored {
				e := trace.Entry{Seq: s}
				n.give(&e)
				got = append(got, e.Seq)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("seqs %v, want %v", got, tt.want)
			}
		})
	}
}
