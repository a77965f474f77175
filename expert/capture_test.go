package expert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/expert"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// capturedFindings lists, per capture of testdata/captures, the findings
// expected, written by hand from reading each capture with
//
//	tshark -r FILE -Y mqtt -T fields -e frame.number -e frame.time_relative \
//	  -e tcp.stream -e tcp.srcport -e _ws.col.Info -e mqtt.kalive -e mqtt.qos
//
// All three are clean lifecycles recorded against mosquitto: every
// SUBSCRIBE, PUBLISH (QoS 1 or 2), PUBREL and PINGREQ is answered, the
// SUBACK grants the QoS asked for (1, or 2 in the QoS 2 capture; the v5
// SUBACK's reason code is "Granted QoS 1"), no retained or aliased
// PUBLISH, and device01 (keepalive 5 s) sends its PINGREQ 5.004 s after
// its SUBSCRIBE (frames 12 → 32, or 34 in the QoS 2 capture) and its
// PUBACK/PUBREC 2.5 s later, inside the keepalive. So: no findings.
var capturedFindings = map[string][]string{
	"lifecycle-v311-qos1.pcapng": nil,
	"lifecycle-v311-qos2.pcapng": nil,
	"lifecycle-v5-qos1.pcapng":   nil,
}

func readCapture(t *testing.T, path string) []trace.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := capture.ReadTrace(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return res.Entries
}

func TestCaptures(t *testing.T) {
	files := testenv.Captures(t)
	if len(files) != len(capturedFindings) {
		t.Errorf("%d captures in testdata/captures, %d with expected findings: list the new one here", len(files), len(capturedFindings))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := capturedFindings[name]
			if !ok {
				t.Fatalf("no expected findings written for %s", name)
			}
			es := readCapture(t, path)
			var got []string
			for _, f := range expert.Analyze(es, expert.Options{}) {
				got = append(got, f.String())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestCaptureDamaged removes or repeats real packets of a capture: the
// analysis must point at exactly the packets concerned.
func TestCaptureDamaged(t *testing.T) {
	es := readCapture(t, testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
	// The cloud app's connection (c3) publishes at QoS 1 and gets its
	// PUBACK; the device (c1) receives the same message and acknowledges it.
	find := func(conn, kind string) int {
		for i, e := range es {
			if e.Conn == conn && e.Kind == kind {
				return i
			}
		}
		t.Fatalf("no %s on %s", kind, conn)
		return -1
	}
	pub, ack := find("c3", trace.KindMQTT("PUBLISH")), find("c3", trace.KindMQTT("PUBACK"))

	dropped := append(append([]trace.Entry(nil), es[:ack]...), es[ack+1:]...)
	fs := expert.Analyze(dropped, expert.Options{})
	if len(fs) != 1 || fs[0].Code != expert.CodeNoAnswer || fs[0].Seq[0] != es[pub].Seq {
		t.Errorf("PUBACK dropped: findings %v, want answer.missing on #%d", fs, es[pub].Seq)
	}

	// The device's PUBACK sent twice: the second acknowledges nothing.
	dack := find("c1", trace.KindMQTT("PUBACK"))
	twice := append([]trace.Entry(nil), es[:dack+1]...)
	again := es[dack]
	again.Seq = 1000
	twice = append(append(twice, again), es[dack+1:]...)
	fs = expert.Analyze(twice, expert.Options{})
	if len(fs) != 1 || fs[0].Code != expert.CodeUnknownID || fs[0].Seq[0] != 1000 {
		t.Errorf("PUBACK repeated: findings %v, want ack.unknown-id on #1000", fs)
	}
}
