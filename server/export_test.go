package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// exportFields are compared between the trace's packets (the codec's
// dissection) and tshark's reading of the exported file.
var exportFields = []string{"mqtt.msgtype", "mqtt.hdrflags", "mqtt.len", "mqtt.ver", "mqtt.clientid", "mqtt.kalive",
	"mqtt.conflags", "mqtt.topic", "mqtt.msgid", "mqtt.qos", "mqtt.msg", "mqtt.sub.qos", "mqtt.conack.val",
	"mqtt.property_id", "mqtt.connack.reason_code", "mqtt.pubrec.reason_code", "mqtt.suback.reason_code"}

// TestExportLiveTrace records a real session with `lifeline trace -json`
// against a broker, exports it with capture.WritePcapng and reads the file
// with tshark: the same MQTT packets in the same order with the same field
// values, the TCP handshake with the broker's real address and port.
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
			port := netip.MustParseAddrPort(broker).Port()
			cmd := exec.Command(tshark, "-n", "-r", file, "-d", "tcp.port=="+strconv.Itoa(int(port))+",mqtt", "-Y", "mqtt",
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

			// The handshake, to the broker's real address and port.
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
			if len(lines) != 2 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], "127.0.0.1\t"+strconv.Itoa(int(port))) {
				t.Errorf("SYN and SYN/ACK: %q, want a SYN from 127.0.0.1 to %s first", lines, broker)
			}
		})
	}
}
