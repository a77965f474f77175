package httpdissect

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestAgainstTshark: an upgrade request and its 101 answer, written to
// pcapng by the capture exporter, read by tshark's HTTP dissector: every
// field we name has tshark's value, and each line we call
// http.request.line or http.response.line is one of tshark's.
func TestAgainstTshark(t *testing.T) {
	heads := []string{
		"GET /mqtt?broker=b:1883 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
			"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\nUser-Agent: lifeline-test\r\nSec-WebSocket-Protocol: mqtt, mqttv3.1\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
	}
	es := []trace.Entry{
		{Seq: 1, T: 1, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: trace.KindWSUpgrade, Bytes: []byte(heads[0]), Observed: trace.ObservedWire, Conn: "c1"},
		{Seq: 2, T: 2, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: trace.KindWSAccept, Bytes: []byte(heads[1]), Observed: trace.ObservedWire, Conn: "c1"},
	}
	var b bytes.Buffer
	if _, err := capture.WritePcapng(&b, es, nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upgrade.pcapng")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{"http.request.method", "http.request.uri", "http.request.version", "http.host", "http.upgrade", "http.connection",
		"http.user_agent", "http.sec_websocket_key", "http.sec_websocket_version", "http.sec_websocket_protocol", "http.sec_websocket_accept",
		"http.response.version", "http.response.code", "http.response.phrase", "http.request.line", "http.response.line"}
	args := []string{"-r", file, "-Y", "http", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"}
	for _, n := range names {
		args = append(args, "-e", n)
	}
	out, err := exec.Command(testenv.Tshark(t), args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("tshark found %d HTTP messages, want 2:\n%s", len(lines), out)
	}
	for i, line := range lines {
		want := strings.Split(line, "\t")
		got := map[string][]string{}
		var walk func(fs []codec.Field)
		walk = func(fs []codec.Field) {
			for _, f := range fs {
				if f.Name != "" {
					got[f.Name] = append(got[f.Name], strings.ReplaceAll(f.Value, "\r\n", `\r\n`))
				}
				walk(f.Children)
			}
		}
		tree := Dissect([]byte(heads[i]))
		walk(tree.Fields)
		for j, n := range names {
			g := strings.Join(got[n], "|")
			if strings.HasSuffix(n, ".line") {
				for _, l := range got[n] {
					if !strings.Contains("|"+want[j]+"|", "|"+l+"|") {
						t.Errorf("message %d: %s %q is not among tshark's %q", i+1, n, l, want[j])
					}
				}
				continue
			}
			if g != want[j] {
				t.Errorf("message %d: %s = %q, tshark %q", i+1, n, g, want[j])
			}
		}
	}
}
