package capture

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
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

// fuzzSeeds are small captures for FuzzImport. Go's fuzzer minimizes every
// input that reaches new code, for up to a minute each by default, with a
// pass that tries removing every run of bytes (quadratic in the input's
// length): from seeds of whole captures (15 KB and more) it kept
// minimizing and never got to fuzz in a 10 s run. Hence small seeds, a cap
// on the input's size (maxFuzzInput), and `make test-fuzz` bounding
// minimization (-fuzzminimizetime, FUZZ_MINIMIZE). A few frames each cover
// pcap and pcapng, DNS, the handshake, MQTT over TCP, the WebSocket leg
// and the exporter's comments.
func fuzzSeeds(tb testing.TB) [][]byte {
	frames := readFrames(tb, testenv.Capture(tb, "lifecycle-v311-qos1.pcapng"))
	seeds := [][]byte{
		writePcap(tb, frames[:6], layers.LinkTypeEthernet),   // DNS, handshake, CONNECT
		writePcap(tb, frames[8:14], layers.LinkTypeEthernet), // mid-connection
	}
	for _, s := range seeds {
		// A snap length of 2 KiB, not 256 KiB: pcapgo allocates a
		// buffer of the snap length for every input.
		binary.LittleEndian.PutUint32(s[16:], 2048)
	}
	live := liveTraceFrom(readLifecycleF(tb))
	var ng bytes.Buffer
	if _, err := WritePcapng(&ng, live[:8], nil); err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, ng.Bytes(), ng.Bytes()[:ng.Len()*2/3])
	return seeds
}

// maxFuzzInput bounds what the fuzz targets read: larger inputs (from an
// earlier run's cached corpus, or grown by mutation) return at once, so
// that neither gathering the corpus's coverage nor minimizing a new input
// eats a short run.
const maxFuzzInput = 4 << 10

// FuzzImport feeds arbitrary bytes to the reader: it must never panic,
// hang or emit an entry without a kind.
func FuzzImport(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		if len(b) > maxFuzzInput {
			f.Fatalf("a seed of %d bytes, over maxFuzzInput", len(b))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		checkImport(t, b)
	})
}

func checkImport(t *testing.T, b []byte) {
	t.Helper()
	res, err := ReadTrace(bytes.NewReader(b))
	if err != nil {
		return
	}
	for _, e := range res.Entries {
		if e.Kind == "" || e.Observed == "" {
			t.Fatalf("entry without kind or observed: %+v", e)
		}
	}
}

// TestImportRegressions reads the inputs that once crashed the reader
// (found by FuzzImport, in the fuzzer's file format; kept out of its
// corpus because at 17 KB each they are too large to fuzz from).
func TestImportRegressions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "regress", "FuzzImport", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no regression inputs found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			head, lit, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
			lit, ok2 := strings.CutPrefix(lit, "[]byte(")
			lit, ok3 := strings.CutSuffix(lit, ")")
			if !ok || !ok2 || !ok3 || head != "go test fuzz v1" {
				t.Fatalf("not a fuzz input file")
			}
			b, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatal(err)
			}
			checkImport(t, []byte(b))
		})
	}
}

// FuzzExport feeds arbitrary JSON to the export endpoint's reader and
// writer: it must never panic, and what it writes must read back as a
// capture.
func FuzzExport(f *testing.F) {
	live := liveTraceFrom(readLifecycleF(f))
	seed, err := json.Marshal(map[string]any{"entries": live[:10]})
	if err != nil {
		f.Fatal(err)
	}
	if len(seed) > maxFuzzInput {
		f.Fatalf("a seed of %d bytes, over maxFuzzInput", len(seed))
	}
	f.Add(seed)
	f.Add([]byte(`{"entries":[{"kind":"mqtt.PINGREQ","from":"device","to":"broker","leg":"client-broker","bytes":"wAA="},{"kind":"tcp.fin","from":"broker","to":"device","conn":"1.2.3.4:5->6.7.8.9:1883"}]}`))
	f.Add([]byte(`{"x":1,"entries":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		var out bytes.Buffer
		x, err := NewExporter(&out, nil)
		if err != nil {
			t.Fatal(err)
		}
		if eachEntry(bytes.NewReader(b), func(e *trace.Entry) error { x.Learn(e); return nil }) != nil {
			return
		}
		if err := eachEntry(bytes.NewReader(b), func(e *trace.Entry) error { _, err := x.Write(e); return err }); err != nil {
			return // an entry the exporter cannot frame (said as an error)
		}
		if err := x.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadTrace(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("the export does not read back: %v", err)
		}
	})
}
