package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// exportFields are compared between the trace's packets (the codec's
// dissection) and tshark's reading of the exported file.
var exportFields = []string{"mqtt.msgtype", "mqtt.hdrflags", "mqtt.len", "mqtt.ver", "mqtt.clientid", "mqtt.kalive",
	"mqtt.conflags", "mqtt.topic", "mqtt.msgid", "mqtt.qos", "mqtt.msg", "mqtt.sub.qos", "mqtt.conack.val",
	"mqtt.property_id", "mqtt.connack.reason_code", "mqtt.pubrec.reason_code", "mqtt.suback.reason_code"}

// TestExportLiveTrace records a real session with `lifeline trace -json`
// against a broker, exports it with capture.WritePcapng and reads the file
// with tshark as installed (no setting): the same MQTT packets in the same
// order with the same field values, the TCP handshake with the broker's
// real address and MQTT's port (the broker's own is in the comments).
func TestExportLiveTrace(t *testing.T) {
	tshark := testenv.Tshark(t)
	broker := testenv.Mochi(t)
	for _, v := range []string{"4", "5"} {
		t.Run("v"+v, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{"trace", "-json", "-v", v, "-id", "export-" + v, "-sub", "lifeline/x/#:2",
				"-pub", "lifeline/x/a=hello:2", "-pub", "lifeline/x/b=again:1", "-wait", "50ms", "mqtt://" + broker}
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("trace: %v\n%s", err, errb.String())
			}
			var entries []trace.Entry
			sc := bufio.NewScanner(&out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var e trace.Entry
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatal(err)
				}
				entries = append(entries, e)
			}
			file := filepath.Join(t.TempDir(), "session.pcapng")
			var buf bytes.Buffer
			if _, err := capture.WritePcapng(&buf, entries, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}

			// What tshark reads, packet by packet.
			cmd := exec.Command(tshark, "-n", "-r", file, "-Y", "mqtt",
				"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\x1f", "-e", "ip.dst")
			for _, f := range exportFields {
				cmd.Args = append(cmd.Args, "-e", f)
			}
			tout, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var theirs []map[string][]string
			for _, line := range strings.Split(strings.TrimRight(string(tout), "\n"), "\n") {
				cells := strings.Split(line, "\t")
				row := map[string][]string{}
				for i, f := range exportFields {
					if cells[i+1] != "" {
						row[f] = strings.Split(cells[i+1], "\x1f")
					}
				}
				theirs = append(theirs, row)
			}
			// What the trace holds, frame by frame (the exporter writes
			// one packet a frame).
			var ours []map[string][]string
			for _, e := range entries {
				if !strings.HasPrefix(e.Kind, "mqtt.") {
					continue
				}
				row := map[string][]string{}
				var walk func([]codec.Field)
				walk = func(fs []codec.Field) {
					for _, f := range fs {
						if slices.Contains(exportFields, f.Name) && f.Value != "" {
							row[f.Name] = append(row[f.Name], f.Value)
						}
						walk(f.Children)
					}
				}
				walk(codec.Dissect(e.Bytes, codec.Version(e.Version)).Fields)
				ours = append(ours, row)
			}
			if len(ours) < 8 {
				t.Fatalf("only %d MQTT packets in the trace", len(ours))
			}
			if len(ours) != len(theirs) {
				t.Fatalf("trace has %d MQTT packets, tshark reads %d from the export", len(ours), len(theirs))
			}
			for i := range ours {
				for _, f := range exportFields {
					if !slices.Equal(ours[i][f], theirs[i][f]) {
						t.Errorf("packet %d %s: trace %q, tshark %q", i+1, f, ours[i][f], theirs[i][f])
					}
				}
			}

			// The handshake, to the broker's real address and port 1883.
			hs, err := exec.Command(tshark, "-n", "-r", file, "-Y", "tcp.flags.syn==1", "-T", "fields",
				"-e", "tcp.flags.ack", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport").Output()
			if err != nil {
				t.Fatal(err)
			}
			// The client's real port is in the trace's ACK summary.
			want := "0\t127.0.0.1\t"
			for _, e := range entries {
				if l, _, ok := strings.Cut(strings.TrimPrefix(e.Summary, "ACK "), " → "); ok && e.Kind == trace.KindTCPAck {
					want = "0\t" + strings.Replace(l, ":", "\t", 1) + "\t"
				}
			}
			if want == "0\t127.0.0.1\t" {
				t.Errorf("no ACK entry with the local address in the trace")
			}
			lines := strings.Split(strings.TrimSpace(string(hs)), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], "127.0.0.1\t1883") {
				t.Errorf("SYN and SYN/ACK: %q, want a SYN from 127.0.0.1 to 127.0.0.1:1883 first (the broker is %s)", lines, broker)
			}
		})
	}
}

// TestExportProxiedSessionRoundTrip records real sessions with `lifeline
// trace -json` — through lifeline serve's /mqtt to its embedded broker by
// the embedded zone's name (broker, zone and proxy all off their usual
// ports), and over TLS straight to a broker — exports each through the
// page's endpoint (POST /api/export/pcapng) and checks the file two ways:
// tshark as installed, with no plugin and no setting, reads every MQTT
// packet of both legs with its type in the trace's order, and the DNS
// messages; and Lifeline's own import gives back the trace it exported,
// entry for entry: DNS, TCP, TLS, the WebSocket upgrade and close, MQTT.
func TestExportProxiedSessionRoundTrip(t *testing.T) {
	tshark := testenv.Tshark(t)
	lines := startServe(t, "-embedded-broker", "127.0.0.1:0")
	base := strings.TrimSuffix(lines["lifeline: serving "], "/")
	brokerPort := netip.MustParseAddrPort(strings.TrimPrefix(lines["lifeline: embedded broker "], "mqtt://")).Port()
	named := net.JoinHostPort(embedded.BrokerName, strconv.Itoa(int(brokerPort)))

	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	leaf, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, nb, na)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	pubsub := []string{"-json", "-wait", "50ms", "-sub", "x/#:2", "-pub", "x/a=two:2", "-pub", "x/b=one:1", "-pub", "x/c=zero:0"}
	for _, tc := range []struct {
		name  string
		args  []string
		kinds []string // leg and kind that must be in the trace
	}{
		{"proxied v3.1.1", []string{"-v", "4", "-proxy", base, "mqtt://" + named},
			[]string{"proxy-dns dns.query", "proxy-dns dns.response", "proxy-broker tcp.syn", "proxy-broker mqtt.PUBCOMP",
				"client-broker ws.upgrade", "client-broker ws.accept", "client-broker mqtt.PUBREL", "client-broker ws.close", "proxy-broker tcp.fin"}},
		{"proxied v5", []string{"-v", "5", "-proxy", base, "mqtt://" + named},
			[]string{"proxy-dns dns.query", "client-broker ws.upgrade", "client-broker mqtt.PUBCOMP", "proxy-broker mqtt.PUBCOMP"}},
		{"mqtts", []string{"-v", "5", "-cacert", caFile, "mqtts://" + wstest.TLSFront(t, leaf, "127.0.0.1:"+strconv.Itoa(int(brokerPort)))},
			[]string{"client-broker tls.handshake", "client-broker tls.certificate", "client-broker mqtt.PUBCOMP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, err := traceCmd(t, append(pubsub, tc.args...)...)
			if err != nil {
				t.Fatalf("trace: %v\n%s", err, errs)
			}
			var entries []trace.Entry
			have := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var e trace.Entry
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				entries = append(entries, e)
				have[e.Leg+" "+e.Kind] = true
			}
			for _, k := range tc.kinds {
				if !have[k] {
					t.Errorf("the trace has no %s", k)
				}
			}

			// The page's export.
			body, _ := json.Marshal(map[string]any{"entries": entries})
			resp, err := http.Post(base+"/api/export/pcapng", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			pcapng, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("export: %d %v: %s", resp.StatusCode, err, pcapng)
			}
			file := filepath.Join(t.TempDir(), "export.pcapng")
			if err := os.WriteFile(file, pcapng, 0o644); err != nil {
				t.Fatal(err)
			}

			// tshark as installed.
			var want []string
			dns := 0
			for _, e := range entries {
				switch {
				case strings.HasPrefix(e.Kind, "mqtt.") && len(e.Bytes) > 0:
					want = append(want, strconv.Itoa(int(e.Bytes[0]>>4)))
				case strings.HasPrefix(e.Kind, "dns."):
					dns++
				}
			}
			field := func(filter, name string) []string {
				out, err := exec.Command(tshark, "-n", "-r", file, "-Y", filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", name).Output()
				if err != nil {
					t.Fatalf("tshark -Y %s: %v", filter, err)
				}
				var got []string
				for _, l := range strings.Fields(string(out)) {
					got = append(got, strings.Split(l, ",")...)
				}
				return got
			}
			if got := field("mqtt", "mqtt.msgtype"); !slices.Equal(got, want) {
				t.Errorf("tshark reads the MQTT packet types\n %v\nthe trace has\n %v", got, want)
			}
			if got := field("dns", "dns.qry.name"); len(got) != dns {
				t.Errorf("tshark reads %d DNS messages (%v), the trace has %d", len(got), got, dns)
			}

			// Lifeline's import: the same entries.
			back, err := capture.ReadTrace(bytes.NewReader(pcapng))
			if err != nil {
				t.Fatal(err)
			}
			if len(back.Problems) > 0 {
				t.Errorf("problems reading the export back: %+v", back.Problems)
			}
			if len(back.Entries) != len(entries) {
				t.Errorf("%d entries read back, %d exported", len(back.Entries), len(entries))
			}
			for i := range min(len(back.Entries), len(entries)) {
				g, w := back.Entries[i], entries[i]
				if math.Abs(g.T-w.T) > 1e-3 {
					t.Errorf("entry %d (%s): t %v, want %v", i, w.Kind, g.T, w.T)
				}
				g.T, w.T = 0, 0
				if len(g.Bytes) == 0 && len(w.Bytes) == 0 {
					g.Bytes, w.Bytes = nil, nil
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("entry %d:\n read back %+v\n exported  %+v", i, g, w)
				}
			}
		})
	}
}
