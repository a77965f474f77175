package httpdissect

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestAgainstTshark: an upgrade request and its 101 answer, written to a
// pcap as one TCP connection to port 8080, read by tshark's HTTP
// dissector: every field we name has tshark's value, and each line we call
// http.request.line or http.response.line is one of tshark's. (Lifeline's
// own export writes the upgrade in a frame comment, where Wireshark's MQTT
// dissector can follow on the connection.)
func TestAgainstTshark(t *testing.T) {
	heads := []string{
		"GET /mqtt?broker=b:1883 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
			"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\nUser-Agent: lifeline-test\r\nSec-WebSocket-Protocol: mqtt, mqttv3.1\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
	}
	file := filepath.Join(t.TempDir(), "upgrade.pcap")
	if err := os.WriteFile(file, tcpExchange(t, []byte(heads[0]), []byte(heads[1])), 0o644); err != nil {
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

// tcpExchange is a pcap of one TCP connection from 127.0.0.1:40001 to
// 127.0.0.1:8080: its handshake, the request and the answer.
func tcpExchange(t *testing.T, request, answer []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	seq := [2]uint32{1000, 5000}
	lo := net.IPv4(127, 0, 0, 1)
	for _, s := range []struct {
		dir           int
		syn, ack, psh bool
		data          []byte
	}{{0, true, false, false, nil}, {1, true, true, false, nil}, {0, false, true, false, nil}, {0, false, true, true, request}, {1, false, true, true, answer}} {
		tcp := &layers.TCP{SrcPort: 40001, DstPort: 8080, Seq: seq[s.dir], SYN: s.syn, ACK: s.ack, PSH: s.psh, Window: 65535}
		if s.dir == 1 {
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		}
		if s.ack {
			tcp.Ack = seq[1-s.dir]
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: lo, DstIP: lo}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(s.data)); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		seq[s.dir] += uint32(len(s.data))
		if s.syn {
			seq[s.dir]++
		}
	}
	return out.Bytes()
}
