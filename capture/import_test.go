package capture

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func scanFile(t testing.TB, file string) ([]Item, *Summary) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []Item
	sum, err := Scan(f, Options{}, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%s): %v", file, err)
	}
	return items, sum
}

// mqttFieldNames are the tshark fields compared for every MQTT packet:
// every field of the codec's dissector that tshark 4.0 also has.
var mqttFieldNames = []string{
	"mqtt.hdrflags", "mqtt.msgtype", "mqtt.dupflag", "mqtt.qos", "mqtt.retain", "mqtt.len",
	"mqtt.proto_len", "mqtt.protoname", "mqtt.ver", "mqtt.conflags", "mqtt.conflag.uname",
	"mqtt.conflag.passwd", "mqtt.conflag.retain", "mqtt.conflag.qos", "mqtt.conflag.willflag",
	"mqtt.conflag.cleansess", "mqtt.conflag.reserved", "mqtt.kalive", "mqtt.clientid_len", "mqtt.clientid",
	"mqtt.willtopic_len", "mqtt.willtopic", "mqtt.willmsg_len", "mqtt.willmsg", "mqtt.username_len",
	"mqtt.username", "mqtt.passwd_len", "mqtt.passwd", "mqtt.conack.flags", "mqtt.conack.flags.sp",
	"mqtt.conack.val", "mqtt.topic_len", "mqtt.topic", "mqtt.msgid", "mqtt.msg", "mqtt.sub.qos",
	"mqtt.suback.qos", "mqtt.property_len", "mqtt.property_id", "mqtt.prop_key", "mqtt.prop_value",
	"mqtt.connack.reason_code", "mqtt.puback.reason_code", "mqtt.pubrec.reason_code",
	"mqtt.pubrel.reason_code", "mqtt.pubcomp.reason_code", "mqtt.suback.reason_code",
	"mqtt.disconnect.reason_code", "mqtt.subscription_options",
}

// ourFields lists, per field name, the values of the MQTT packets in
// items that frame completed, in order.
func ourFields(items []Item, frame int) map[string][]string {
	out := map[string][]string{}
	for _, it := range items {
		if it.Frame != frame || !strings.HasPrefix(it.Entry.Kind, "mqtt.") {
			continue
		}
		for _, f := range packetFields(it.Entry.Bytes, it.Entry.Version) {
			if slices.Contains(mqttFieldNames, f[0]) {
				out[f[0]] = append(out[f[0]], f[1])
			}
		}
	}
	return out
}

// packetFields returns (name, value) pairs of the codec's dissection of a
// packet, depth first, as tshark writes them.
func packetFields(pkt []byte, v int) [][2]string {
	var out [][2]string
	var walk func([]codec.Field)
	walk = func(fs []codec.Field) {
		for _, f := range fs {
			if f.Value != "" || len(f.Children) == 0 {
				out = append(out, [2]string{f.Name, f.Value})
			}
			walk(f.Children)
		}
	}
	walk(codec.Dissect(pkt, codec.Version(v)).Fields)
	return out
}

// checkAgainstTshark compares the MQTT packets of items, frame by frame,
// with what tshark dissects in file.
func checkAgainstTshark(t *testing.T, file string, items []Item, decodeAs []string) {
	t.Helper()
	var extra []string
	for _, d := range decodeAs {
		extra = append(extra, "-d", d)
	}
	compareWithTshark(t, file, items, tsharkRows(t, file, "mqtt", extra, mqttFieldNames...))
}

// checkExportAgainstTshark is checkAgainstTshark for a file Lifeline
// exported, read by tshark as installed: no plugin, no decode-as, no
// setting.
func checkExportAgainstTshark(t *testing.T, file string, items []Item) {
	t.Helper()
	compareWithTshark(t, file, items, tsharkStockRows(t, file, "mqtt", mqttFieldNames...))
}

func compareWithTshark(t *testing.T, file string, items []Item, rows []tsharkRow) {
	t.Helper()
	if len(rows) == 0 {
		t.Fatalf("tshark found no MQTT in %s", file)
	}
	var ourFrames []int
	for _, it := range items {
		if strings.HasPrefix(it.Entry.Kind, "mqtt.") && (len(ourFrames) == 0 || ourFrames[len(ourFrames)-1] != it.Frame) {
			ourFrames = append(ourFrames, it.Frame)
		}
	}
	var theirFrames []int
	for _, r := range rows {
		theirFrames = append(theirFrames, r.frame)
	}
	if !slices.Equal(ourFrames, theirFrames) {
		t.Fatalf("frames with MQTT packets:\n ours   %v\n tshark %v", ourFrames, theirFrames)
	}
	packets, values := 0, 0
	for _, r := range rows {
		ours := ourFields(items, r.frame)
		packets += len(ours["mqtt.msgtype"])
		for _, name := range mqttFieldNames {
			values += len(r.fields[name])
			if !slices.Equal(ours[name], r.fields[name]) {
				t.Errorf("frame %d %s: ours %q, tshark %q", r.frame, name, ours[name], r.fields[name])
			}
		}
	}
	t.Logf("%s: %d MQTT packets in %d frames, %d field values compared with tshark", filepath.Base(file), packets, len(rows), values)
}

// checkDNSAndHandshakes checks that every DNS query name tshark sees is in
// the trace and that every TCP connection carrying MQTT has its handshake.
func checkDNSAndHandshakes(t *testing.T, file string, items []Item, sum *Summary) {
	t.Helper()
	rows := tsharkRows(t, file, "dns", nil, "dns.qry.name", "dns.flags.response")
	for _, r := range rows {
		found := false
		for _, it := range items {
			if it.Frame == r.frame && strings.HasPrefix(it.Entry.Kind, "dns.") && strings.Contains(it.Entry.Summary, r.fields["dns.qry.name"][0]) {
				want := trace.KindDNSQuery
				if r.fields["dns.flags.response"][0] == "1" || r.fields["dns.flags.response"][0] == "True" {
					want = trace.KindDNSResponse
				}
				if it.Entry.Kind != want {
					t.Errorf("frame %d: kind %s, tshark says %s", r.frame, it.Entry.Kind, want)
				}
				found = true
			}
		}
		if !found {
			t.Errorf("frame %d: DNS %v missing from the trace", r.frame, r.fields["dns.qry.name"])
		}
	}
	for _, c := range sum.Conns {
		var kinds []string
		for _, it := range items {
			if it.Entry.Conn == c.ID && strings.HasPrefix(it.Entry.Kind, "tcp.") {
				kinds = append(kinds, it.Entry.Kind)
			}
		}
		if len(kinds) < 3 || !slices.Equal(kinds[:3], []string{trace.KindTCPSyn, trace.KindTCPSynAck, trace.KindTCPAck}) {
			t.Errorf("conn %s (%s → %s): TCP entries %v, want the three-way handshake first", c.ID, c.Client, c.Server, kinds)
		}
	}
}

// TestCaptures imports each capture of testdata/captures and checks it
// against tshark.
func TestCaptures(t *testing.T) {
	for _, file := range testenv.Captures(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			items, sum := scanFile(t, file)
			if len(sum.Problems) > 0 {
				t.Errorf("problems: %v", sum.Problems)
			}
			checkAgainstTshark(t, file, items, nil)
			checkDNSAndHandshakes(t, file, items, sum)
		})
	}
}

// TestCaptureLifecycle pins what each capture's story is (see
// testdata/captures/README.md): every client resolves broker.iot.example,
// then connects with the capture's MQTT version; the trace knows which name
// led to which connection and who the clients are.
func TestCaptureLifecycle(t *testing.T) {
	for _, c := range []struct {
		file    string
		version int
	}{
		{"lifecycle-v311-qos1.pcapng", 4},
		{"lifecycle-v5-qos1.pcapng", 5},
		{"lifecycle-v311-qos2.pcapng", 4},
	} {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(testenv.Capture(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := ReadTrace(f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, conn := range res.Conns {
				if conn.DNSName != "broker.iot.example" || conn.Version != c.version || conn.Server != "10.203.0.10:1883" {
					t.Errorf("conn %+v: want broker.iot.example, version %d, server 10.203.0.10:1883", conn, c.version)
				}
				ids = append(ids, conn.ClientID)
			}
			if want := []string{"device01", "device01-report", "cloud-app"}; !reflect.DeepEqual(ids, want) {
				t.Errorf("client ids %q, want %q", ids, want)
			}
			for i, e := range res.Entries {
				if e.Seq != i+1 || e.Observed != trace.ObservedWire || e.From == "" || e.To == "" {
					t.Errorf("entry %d: %+v", i, e)
				}
				if i > 0 && e.T < res.Entries[i-1].T {
					t.Errorf("entry %d goes back in time: %v < %v", e.Seq, e.T, res.Entries[i-1].T)
				}
			}
			if res.Entries[0].Kind != trace.KindDNSQuery || res.Entries[0].T != 0 {
				t.Errorf("first entry %+v, want the DNS query at t=0", res.Entries[0])
			}
		})
	}
}
