package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// TestDissectFileJSON: every MQTT packet of the lifecycle capture, with the
// frame numbers and types tshark gives, and each field with its name,
// value, offset, length and label.
func TestDissectFileJSON(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	out, err := exec.Command(testenv.Tshark(t), "-r", file, "-Y", "mqtt", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.topic").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		for _, typ := range strings.Split(f[1], ",") {
			want = append(want, f[0]+" "+typ)
		}
	}

	stdout, stderr, err := runCmd(t, "dissect", file, "-json")
	if err != nil || stderr != "" {
		t.Fatalf("dissect: %v\n%s", err, stderr)
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p struct {
			Frame    int     `json:"frame"`
			T        float64 `json:"t"`
			Src, Dst string
			Tree     struct {
				Type   int `json:"type"`
				Fields []struct {
					Name, Value, Label string
					Offset, Length     *int
				} `json:"fields"`
			} `json:"tree"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, strconv.Itoa(p.Frame)+" "+strconv.Itoa(p.Tree.Type))
		if p.Src == "" || p.Dst == "" || len(p.Tree.Fields) == 0 {
			t.Errorf("frame %d: %+v", p.Frame, p)
		}
		for _, f := range p.Tree.Fields {
			if !strings.HasPrefix(f.Name, "mqtt.") || f.Label == "" || f.Offset == nil || f.Length == nil {
				t.Errorf("frame %d: field %+v lacks name, label, offset or length", p.Frame, f)
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packets (frame type):\n%s\ntshark:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDissectCommand(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	for _, c := range []struct {
		name    string
		args    []string
		wantOut []string // substrings of stdout
		wantErr string   // substring of the error, "" for success
	}{
		{"file text", []string{"dissect", file}, []string{
			"Frame 8  0.000285s  10.203.0.1:34366 → 10.203.0.10:1883  c1",
			"Keep Alive: 5  [mqtt.kalive @10+2]",
			"Frame 47 ", "Topic: devices/device01/cmd",
		}, ""},
		{"hex text", []string{"dissect", "-hex", "30 0a 00 03 61 2f 62 68 65 6c 6c 6f"}, []string{"PUBLISH qos=0 a/b", "[mqtt.topic @4+3]", "[mqtt.msg @7+5]"}, ""},
		{"hex v5 json", []string{"dissect", "-json", "-v", "5", "-hex", "e0:02:8e:00"}, []string{`"name":"mqtt.disconnect.reason_code"`, `"value":"142"`}, ""},
		{"malformed hex packet", []string{"dissect", "-hex", "300b0003"}, []string{"(malformed)", "[Expert]"}, "malformed PUBLISH at offset"},
		{"not hex", []string{"dissect", "-hex", "zz"}, nil, "-hex"},
		{"bad version", []string{"dissect", "-v", "6", "-hex", "c000"}, nil, "-v must be 4 or 5"},
		{"nothing to dissect", []string{"dissect"}, nil, "one capture file or -hex"},
		{"missing file", []string{"dissect", filepath.Join(t.TempDir(), "none.pcap")}, nil, "no such file"},
		{"not a capture", []string{"dissect", "dissect_test.go"}, nil, "not a pcap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := runCmd(t, c.args...)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			for _, s := range c.wantOut {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%.1500s", s, out)
				}
			}
		})
	}
}

// TestDissectFileMalformed: a capture with a malformed MQTT packet prints
// every packet and then fails, naming the frame, the packet and what is
// wrong, as a linter would.
func TestDissectFileMalformed(t *testing.T) {
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	bad := []byte{0x38, 0x05, 0, 3, 'a', '/', 'b'} // DUP set at QoS 0 [MQTT-3.3.1-2]
	es := []trace.Entry{
		{Seq: 1, T: 1, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: trace.KindTCPSyn, Observed: trace.ObservedKernel, Conn: "c1"},
		{Seq: 2, T: 2, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: "mqtt.CONNECT", Bytes: connect, Observed: trace.ObservedWire, Conn: "c1", Version: 4},
		{Seq: 3, T: 3, Leg: trace.LegClientBroker, From: "client", To: "broker", Kind: "mqtt.PUBLISH", Bytes: bad, Observed: trace.ObservedWire, Conn: "c1", Version: 4},
	}
	var b bytes.Buffer
	if _, err := capture.WritePcapng(&b, es, nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bad.pcapng")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "dissect", file)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 MQTT packets malformed") || !strings.Contains(err.Error(), "malformed PUBLISH at offset 0: mqtt.dupflag: DUP set on a QoS 0 message [MQTT-3.3.1-2]") {
		t.Fatalf("error %v, want one malformed PUBLISH named", err)
	}
	if !strings.Contains(out, "CONNECT") || !strings.Contains(out, "(malformed)") {
		t.Fatalf("output lacks the packets:\n%s", out)
	}
}
