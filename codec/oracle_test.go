package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// The oracle tests check the codec and the dissector against Wireshark:
// tshark extracts the MQTT bytes from real captures, the codec decodes and
// re-encodes them byte-exact, and every dissected field value must equal
// what `tshark -T fields` prints for the same field of the same frame.

// oracleFields are the Wireshark fields compared with tshark.
var oracleFields = []string{
	"mqtt.hdrflags", "mqtt.msgtype", "mqtt.hdr_reserved", "mqtt.dupflag", "mqtt.qos", "mqtt.retain", "mqtt.len",
	"mqtt.proto_len", "mqtt.protoname", "mqtt.ver", "mqtt.conflags", "mqtt.conflag.uname", "mqtt.conflag.passwd",
	"mqtt.conflag.retain", "mqtt.conflag.qos", "mqtt.conflag.willflag", "mqtt.conflag.cleansess", "mqtt.conflag.reserved",
	"mqtt.kalive", "mqtt.clientid_len", "mqtt.clientid", "mqtt.willtopic_len", "mqtt.willtopic", "mqtt.willmsg_len",
	"mqtt.willmsg", "mqtt.username_len", "mqtt.username", "mqtt.passwd_len", "mqtt.passwd",
	"mqtt.conack.flags", "mqtt.conack.flags.sp", "mqtt.conack.flags.reserved", "mqtt.conack.val",
	"mqtt.topic_len", "mqtt.topic", "mqtt.msgid", "mqtt.msg", "mqtt.sub.qos", "mqtt.suback.qos",
	"mqtt.property_len", "mqtt.property_id", "mqtt.prop_number", "mqtt.prop_string_len", "mqtt.prop_string",
	"mqtt.prop_key_len", "mqtt.prop_key", "mqtt.prop_value_len", "mqtt.prop_value", "mqtt.property.content_type",
	"mqtt.property.max_qos", "mqtt.property.topic_alias",
	"mqtt.subscription_options", "mqtt.subscription_options_qos", "mqtt.subscription_options_nl",
	"mqtt.subscription_options_rap", "mqtt.subscription_options_retain", "mqtt.subscription_options_reserved",
	"mqtt.connack.reason_code", "mqtt.puback.reason_code", "mqtt.pubrec.reason_code", "mqtt.pubrel.reason_code",
	"mqtt.pubcomp.reason_code", "mqtt.suback.reason_code", "mqtt.unsuback.reason_code",
	"mqtt.disconnect.reason_code", "mqtt.auth.reason_code",
}

var update = flag.Bool("update", false, "rewrite testdata/captures/*.tsv, the stored tshark output, from tshark run live")

func tshark(t *testing.T) string {
	t.Helper()
	return testenv.Tshark(t)
}

// runTshark returns the tab-separated field rows tshark prints for file,
// and tshark's output as it printed it.
func runTshark(t *testing.T, file, filter string, fields []string, opts ...string) ([][]string, []byte) {
	t.Helper()
	args := append([]string{"-r", file, "-Y", filter, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}, opts...)
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return splitRows(out), out
}

// splitRows splits tshark's -T fields output into rows of cells.
func splitRows(out []byte) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// oracleTables is what tshark says of a capture: the MQTT fields of each
// frame it shows as MQTT (frame.number, then oracleFields), and each TCP
// segment with a payload (frame.number, tcp.stream, tcp.srcport,
// tcp.dstport, tcp.payload).
type oracleTables struct {
	mqtt, tcp [][]string
}

// The tables' tshark filters and fields, and the suffixes of the files
// that store them beside each capture.
var (
	mqttTable = struct{ filter, suffix string }{"mqtt", ".mqtt.tsv"}
	tcpTable  = struct{ filter, suffix string }{"tcp.len > 0", ".tcp.tsv"}
	tcpFields = []string{"frame.number", "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.payload"}
)

// liveTables runs tshark on file; with -update it stores its output beside
// the capture.
func liveTables(t *testing.T, file string) oracleTables {
	t.Helper()
	mqtt, mout := runTshark(t, file, mqttTable.filter, append([]string{"frame.number"}, oracleFields...))
	tcp, tout := runTshark(t, file, tcpTable.filter, tcpFields)
	if *update {
		base := strings.TrimSuffix(file, ".pcapng")
		if err := os.WriteFile(base+mqttTable.suffix, mout, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+tcpTable.suffix, tout, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return oracleTables{mqtt: mqtt, tcp: tcp}
}

// storedTables reads the tshark output stored beside file by -update.
func storedTables(t *testing.T, file string) oracleTables {
	t.Helper()
	base := strings.TrimSuffix(file, ".pcapng")
	var tables oracleTables
	for _, x := range []struct {
		suffix string
		rows   *[][]string
	}{{mqttTable.suffix, &tables.mqtt}, {tcpTable.suffix, &tables.tcp}} {
		b, err := os.ReadFile(base + x.suffix)
		if err != nil {
			t.Fatalf("stored tshark output: %v (go test ./codec/ -run TestOracleCaptures -update writes it)", err)
		}
		*x.rows = splitRows(b)
	}
	return tables
}

// oracleFrame is what the codec made of one frame's MQTT packets.
type oracleFrame struct {
	packets [][]byte
	values  map[string][]string
}

// compareWithTshark checks each frame tshark shows as MQTT (rows: the MQTT
// table of oracleTables) against ours.
func compareWithTshark(t *testing.T, file string, rows [][]string, ours map[int]*oracleFrame) int {
	t.Helper()
	if len(rows) == 0 {
		t.Fatalf("%s: tshark shows no MQTT frames", file)
	}
	seen := map[int]bool{}
	checked := 0
	for _, row := range rows {
		frame, _ := strconv.Atoi(row[0])
		seen[frame] = true
		of := ours[frame]
		if of == nil {
			t.Errorf("%s frame %d: tshark shows MQTT, the codec found no whole packet ending there", file, frame)
			continue
		}
		for i, name := range oracleFields {
			want := ""
			if i+1 < len(row) {
				want = row[i+1]
			}
			// tshark prints an empty byte string (a PUBLISH without
			// payload) as <MISSING>; the dissector writes "".
			want = strings.ReplaceAll(want, "<MISSING>", "")
			got := strings.Join(of.values[name], ",")
			if got != want {
				t.Errorf("%s frame %d %s: codec %q, tshark %q", file, frame, name, got, want)
			}
			checked++
		}
	}
	for frame := range ours {
		if !seen[frame] {
			t.Errorf("%s frame %d: the codec found MQTT packets, tshark shows none", file, frame)
		}
	}
	return checked
}

// dissectInto decodes, re-encodes and dissects pkt, adding its field values
// to of. The re-encoding must equal canon, or pkt when canon is nil.
func dissectInto(t *testing.T, where string, pkt, canon []byte, v Version, of *oracleFrame) Version {
	t.Helper()
	if PacketType(pkt[0]>>4) == TypeConnect {
		if pv, err := PeekVersion(pkt); err == nil {
			v = pv
		}
	}
	p, err := Decode(pkt, v)
	if err != nil {
		t.Errorf("%s: Decode(%x): %v", where, pkt, err)
		return v
	}
	out, err := AppendPacket(nil, p, v)
	switch {
	case err == nil && bytes.Equal(out, pkt):
		// Byte-exact, MQTT 5.0 properties in the order they came
		// (mosquitto puts content type before message expiry).
	case err == nil && canon != nil && len(canon) != len(pkt) && bytes.Equal(out, canon):
		// The codec writes the shorter form of an optional field.
	default:
		t.Errorf("%s: re-encoding is not byte-exact:\n got %x (%v)\nwant %x", where, out, err, pkt)
	}
	tree := Dissect(pkt, v)
	if len(tree.Expert) > 0 {
		t.Errorf("%s: expert notes on a good packet: %+v", where, tree.Expert)
	}
	of.packets = append(of.packets, pkt)
	var walk func([]Field)
	walk = func(fs []Field) {
		for _, f := range fs {
			of.values[f.Name] = append(of.values[f.Name], f.Value)
			walk(f.Children)
		}
	}
	walk(tree.Fields)
	return v
}

// TestOracleCaptures checks the codec against tshark on the repository's
// captures (testdata/captures, recorded by scripts/make-captures.sh): against
// the tshark output stored beside each capture, and against tshark run live
// on it, so a reviewer reads what is compared and a different tshark's
// opinion is heard too.
func TestOracleCaptures(t *testing.T) {
	for _, file := range testenv.Captures(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if *update {
				liveTables(t, file) // rewrites the stored output first
			}
			// The stored output needs no tshark; the live run fails
			// (in its own subtest) when tshark is missing.
			t.Run("stored", func(t *testing.T) { oracleCapture(t, file, storedTables(t, file)) })
			t.Run("live", func(t *testing.T) { oracleCapture(t, file, liveTables(t, file)) })
		})
	}
}

// oracleCapture splits the TCP payloads of tables with the codec, decodes,
// re-encodes and dissects every packet, and compares with tshark's MQTT
// fields.
func oracleCapture(t *testing.T, file string, tables oracleTables) {
	t.Helper()
	// The TCP streams that carry MQTT.
	mqttFrames := map[string]bool{}
	for _, row := range tables.mqtt {
		mqttFrames[row[0]] = true
	}
	mqttStreams := map[string]bool{}
	for _, row := range tables.tcp {
		if mqttFrames[row[0]] {
			mqttStreams[row[1]] = true
		}
	}
	if len(mqttStreams) == 0 {
		t.Fatalf("%s: no TCP stream carries MQTT", file)
	}
	// Every TCP segment of those streams, split with our Splitter
	// per direction: a packet belongs to the frame where it ends,
	// which is where tshark shows a reassembled PDU too.
	type dir struct {
		s *Splitter
		v Version
	}
	dirs := map[string]*dir{}
	ours := map[int]*oracleFrame{}
	npkts := 0
	for _, row := range tables.tcp {
		if !mqttStreams[row[1]] {
			continue
		}
		frame, _ := strconv.Atoi(row[0])
		payload, err := hex.DecodeString(strings.ReplaceAll(row[4], ":", ""))
		if err != nil {
			t.Fatalf("frame %d: payload %q: %v", frame, row[4], err)
		}
		key := row[1] + "/" + row[2]
		d := dirs[key]
		if d == nil {
			d = &dir{s: NewSplitter(0), v: V311}
			dirs[key] = d
		}
		d.s.Write(payload)
		for {
			pkt, ok, err := d.s.Next()
			if err != nil {
				t.Fatalf("frame %d: %v", frame, err)
			}
			if !ok {
				break
			}
			of := ours[frame]
			if of == nil {
				of = &oracleFrame{values: map[string][]string{}}
				ours[frame] = of
			}
			v := dissectInto(t, "frame "+row[0], bytes.Clone(pkt), nil, d.v, of)
			if PacketType(pkt[0]>>4) == TypeConnect {
				// Both directions of the stream speak the CONNECT's version.
				d.v = v
				back := row[1] + "/" + row[3]
				if dirs[back] == nil {
					dirs[back] = &dir{s: NewSplitter(0)}
				}
				dirs[back].v = v
			}
			npkts++
		}
	}
	n := compareWithTshark(t, file, tables.mqtt, ours)
	t.Logf("%d MQTT packets in %d frames, %d field comparisons", npkts, len(ours), n)
}

// TestOracleVectors writes the good vectors of the table into a pcap (one
// TCP stream per version, opened by a CONNECT of that version, one packet
// a frame) and compares the dissection of every field with tshark's.
func TestOracleVectors(t *testing.T) {
	tshark(t)
	var pcap bytes.Buffer
	pcap.Write([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	ours := map[int]*oracleFrame{}
	frame := 0
	for _, v := range []Version{V311, V5} {
		seq := uint32(1000)
		port := uint16(40000 + int(v))
		for _, vec := range vectors {
			if vec.err != nil || vec.v != v {
				continue
			}
			b := vectorBytes(t, vec)
			frame++
			writeFrame(&pcap, frame, port, seq, b)
			seq += uint32(len(b))
			of := &oracleFrame{values: map[string][]string{}}
			ours[frame] = of
			var canon []byte
			if vec.enc != "" {
				canon, _ = hex.DecodeString(vec.enc)
			}
			dissectInto(t, vec.name, b, canon, v, of)
		}
	}
	file := filepath.Join(t.TempDir(), "vectors.pcap")
	if err := os.WriteFile(file, pcap.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, _ := runTshark(t, file, mqttTable.filter, append([]string{"frame.number"}, oracleFields...), "-d", "tcp.port==1883,mqtt")
	n := compareWithTshark(t, file, rows, ours)
	t.Logf("%d frames, %d field comparisons", frame, n)
}

// writeFrame appends a pcap record holding an Ethernet/IPv4/TCP segment from
// 10.0.0.1:port to 10.0.0.2:1883 with the given payload.
func writeFrame(w *bytes.Buffer, n int, port uint16, seq uint32, payload []byte) {
	pkt := make([]byte, 14+20+20, 54+len(payload))
	pkt[12], pkt[13] = 0x08, 0x00
	ip := pkt[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	ip[6], ip[8], ip[9] = 0x40, 64, 6
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	tcp := pkt[34:54]
	binary.BigEndian.PutUint16(tcp[0:], port)
	binary.BigEndian.PutUint16(tcp[2:], 1883)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12], tcp[13] = 0x50, 0x18
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	pkt = append(pkt, payload...)
	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(1700000000+n))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
	w.Write(rec[:])
	w.Write(pkt)
}
