package capture

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestProblems damages the lifecycle capture in one place each and checks
// that the damage is reported with its frame number and the rest is read.
func TestProblems(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	frames := readFrames(t, file)
	whole := readTraceBytes(t, writePcap(t, frames, layers.LinkTypeEthernet))
	const ethIPTCP = 14 + 20 + 32 // this capture's TCP header carries timestamps
	edit := func(f func(fr []frame) []frame) []byte {
		c := make([]frame, len(frames))
		for i, fr := range frames {
			c[i] = frame{fr.ci, bytes.Clone(fr.data)}
		}
		return writePcap(t, f(c), layers.LinkTypeEthernet)
	}
	for _, c := range []struct {
		name    string
		file    []byte
		frame   int
		reason  string
		missing []string // kinds of entries lost, in order
	}{
		{"pcapng cut inside its last block", raw[:len(raw)-40], 59, "cut short after frame 58", nil},
		{"pcap cut inside the last frame", func() []byte {
			b := writePcap(t, frames, layers.LinkTypeEthernet)
			return b[:len(b)-10]
		}(), 58, "cut short inside frame 58", []string{"tcp.ack"}},
		{"frame cut by the snap length", edit(func(fr []frame) []frame {
			// The PUBLISH of frame 26: keep 20 of its 61 bytes.
			fr[25].ci.Length = len(fr[25].data)
			fr[25].data = fr[25].data[:ethIPTCP+20]
			fr[25].ci.CaptureLength = len(fr[25].data)
			return fr
		}), 26, "truncated", []string{"mqtt.PUBLISH"}},
		{"invalid MQTT header", edit(func(fr []frame) []frame {
			fr[11].data[ethIPTCP] = 0x00 // SUBSCRIBE's type byte
			return fr
		}), 12, "malformed MQTT", []string{"mqtt.SUBSCRIBE"}},
		{"connection closed inside a packet", edit(func(fr []frame) []frame {
			fr[27].data[ethIPTCP+1] = 5 // DISCONNECT claims 5 more bytes, then FIN
			return fr
		}), 29, "connection closed inside an MQTT packet", []string{"mqtt.DISCONNECT"}},
		{"malformed IP header", edit(func(fr []frame) []frame {
			fr[12].data[14] = 0x41 // IPv4 header length 4 bytes
			return fr
		}), 13, "malformed frame", []string{"mqtt.SUBACK"}},
		{"malformed DNS", edit(func(fr []frame) []frame {
			fr[0].data = fr[0].data[:len(fr[0].data)-6] // the question cut short
			fr[0].ci.Length = len(fr[0].data)
			fr[0].data[14+3] -= 6    // IPv4 total length
			fr[0].data[14+20+5] -= 6 // UDP length
			return fr
		}), 1, "malformed DNS", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := readTraceBytes(t, c.file)
			found := false
			for _, p := range res.Problems {
				if p.Frame == c.frame && strings.Contains(p.Reason, c.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %v, want one at frame %d saying %q", res.Problems, c.frame, c.reason)
			}
			// Everything else is still there, in order.
			var lost []string
			i := 0
			for _, w := range whole.Entries {
				if i < len(res.Entries) && res.Entries[i].Kind == w.Kind && (bytes.Equal(res.Entries[i].Bytes, w.Bytes) || res.Entries[i].Error != "") {
					i++
					continue
				}
				lost = append(lost, w.Kind)
			}
			if i != len(res.Entries) {
				t.Errorf("entries after %d do not match the undamaged trace: %+v", i, res.Entries[i])
			}
			if strings.Join(lost, " ") != strings.Join(c.missing, " ") {
				t.Errorf("lost %v, want %v", lost, c.missing)
			}
		})
	}
}

func TestNotACapture(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("GET / HTTP/1.1\r\n"), {0x0a, 0x0d, 0x0d, 0x0a, 1, 2}} {
		if _, err := ReadTrace(bytes.NewReader(b)); err == nil {
			t.Errorf("ReadTrace(%q) succeeded", b)
		}
	}
}

// FuzzImport feeds arbitrary bytes to the reader: it must never panic,
// hang or emit an entry without a kind.
func FuzzImport(f *testing.F) {
	files := testenv.Captures(f)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	var buf bytes.Buffer
	if _, err := WritePcapng(&buf, liveTraceFrom(readLifecycleF(f)), nil); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ReadTrace(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, e := range res.Entries {
			if e.Kind == "" || e.Observed == "" {
				t.Fatalf("entry without kind or observed: %+v", e)
			}
		}
	})
}
