//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// pageBytes evaluates an expression giving a Uint8Array (or a Promise of
// one) and returns its bytes.
func pageBytes(t *testing.T, ctx context.Context, expr string) []byte {
	t.Helper()
	b64 := eval[string](t, ctx, `Promise.resolve(`+expr+`).then(b => { let s = ''; for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000)); return btoa(s); })`)
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pageTrace(t *testing.T, ctx context.Context) []trace.Entry {
	t.Helper()
	var es []trace.Entry
	if err := json.Unmarshal([]byte(eval[string](t, ctx, `JSON.stringify(lifeline.trace())`)), &es); err != nil {
		t.Fatal(err)
	}
	return es
}

// modelView is the whole diagram model of entries, as the page builds it
// from an opened trace.
func modelView(es []trace.Entry) diagram.View {
	m := diagram.New(diagram.Options{})
	for _, e := range es {
		m.Add(e, diagram.Imported)
	}
	v := m.View(0, m.Len())
	v.Clock = diagram.ClockInfo{}
	return v
}

// pageView is the page's diagram model, without the clock (an opened trace
// is on one clock already) and the remote flags (where an arrow came from),
// and with the exchanges numbered by their first row: exchange ids are
// handed out as arrows arrive, and a live session's arrows arrive out of
// order.
const pageView = `JSON.stringify((() => {
	const v = lifeline._view(0, lifeline._total());
	delete v.clock;
	const ids = new Map();
	for (const a of v.arrows) {
		delete a.remote;
		if (a.exchange && !ids.has(a.exchange)) ids.set(a.exchange, ids.size + 1);
		a.exchange = ids.get(a.exchange) || 0;
	}
	for (const sp of v.spans) sp.exchange = ids.get(sp.exchange);
	return v;
})())`

// TestExports records a real session through the proxy and exports it every
// way: the JSON trace, opened again, gives the same diagram model (in Go,
// built from the recorded and the re-opened entries, and in the page); the
// pcapng, read by tshark, has the session's MQTT packets in order on both
// legs with the same field values as the trace, its DNS and its TCP
// handshake; the Mermaid text parses as a sequence diagram (this test's
// grammar and Mermaid's own parser); the SVG has one arrow per arrow of the
// diagram, in order; the PNG is that picture.
func TestExports(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({client: 'device', clientId: 'export-1', username: 'dev', password: 'pw', keepAlive: 2}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.subscribe('plant/#', {client: 'device', qos: 2}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('plant/t1', '{"celsius": 21.5}', {client: 'device', qos: 1}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('plant/<b>;%%', 'x', {client: 'device', qos: 2}).then(() => true)`)
	waitFor(t, ctx, "a ping", `lifeline.trace().some(e => e.kind === 'mqtt.PINGRESP' && e.to === 'device')`, 12*time.Second) // keepalive 2 s; slack for a loaded machine
	eval[bool](t, ctx, `lifeline.disconnect({client: 'device'}).then(() => true)`)
	waitFor(t, ctx, "the broker leg's close", `lifeline.trace().some(e => e.kind === 'tcp.fin' && e.leg === 'proxy-broker')`, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // the last entries of the close
	recorded := pageTrace(t, ctx)
	// The page's own model of the session and its JSON export, taken at
	// once with the trace: a clock ping answered later (every 5 s, while
	// the exports below run) may move the proxy's entries by the better
	// offset it brings.
	before := eval[string](t, ctx, pageView)
	exported := pageBytes(t, ctx, `lifeline.exportJSON()`)

	t.Run("pcapng", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "session.pcapng")
		if k := os.Getenv("KEEP_PCAPNG"); k != "" {
			file = k
		}
		if err := os.WriteFile(file, pageBytes(t, ctx, `lifeline.exportPcapng()`), 0o644); err != nil {
			t.Fatal(err)
		}
		checkPcapng(t, file, recorded)
	})

	// The JSON export opened.
	n := eval[int](t, ctx, `lifeline.importCapture(Uint8Array.from(atob(`+jsString(base64.StdEncoding.EncodeToString(exported))+`), c => c.charCodeAt(0))).then(r => r.entries)`)
	if n != len(recorded) {
		t.Fatalf("the JSON export opened as %d arrows, the session had %d", n, len(recorded))
	}
	t.Run("json", func(t *testing.T) {
		reopened := pageTrace(t, ctx)
		if !reflect.DeepEqual(reopened, recorded) {
			t.Errorf("the re-opened trace differs from the recorded one")
		}
		if a, b := modelView(recorded), modelView(reopened); !reflect.DeepEqual(a, b) {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			t.Errorf("diagram model of the recorded entries\n%s\nof the re-opened ones\n%s", ja, jb)
		}
		if after := eval[string](t, ctx, pageView); after != before {
			var b, a map[string]any
			json.Unmarshal([]byte(before), &b)
			json.Unmarshal([]byte(after), &a)
			for k := range b {
				if !reflect.DeepEqual(a[k], b[k]) {
					jb, _ := json.Marshal(b[k])
					ja, _ := json.Marshal(a[k])
					t.Errorf("the page's model changed on the JSON round trip: %s\nbefore %.2000s\nafter  %.2000s", k, jb, ja)
				}
			}
		}
	})

	view := modelView(recorded)
	t.Run("mermaid", func(t *testing.T) {
		text := eval[string](t, ctx, `lifeline.exportMermaid()`)
		checkMermaid(t, text, view)
		// Mermaid's own parser.
		js, err := os.ReadFile(filepath.Join("mermaid", "mermaid-11.17.2.min.js"))
		if err != nil {
			t.Fatalf("Mermaid's bundle is missing (run `make deps`): %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.createElement('script'); s.textContent = `+jsString(string(js))+`; document.head.append(s); return typeof mermaid === 'object'; })()`)); err != nil {
			t.Fatalf("loading Mermaid's bundle: %.300v", err)
		}
		if got := eval[string](t, ctx, `mermaid.parse(`+jsString(text)+`).then(r => r.diagramType)`); got != "sequence" {
			t.Errorf("mermaid.parse says %q, want sequence", got)
		}
		// The parser is not lenient: broken text is refused.
		if got := eval[string](t, ctx, `mermaid.parse('sequenceDiagram\n    p0->>: x\n').then(() => 'accepted', e => 'refused')`); got != "refused" {
			t.Errorf("mermaid.parse %s a message without a receiver", got)
		}
	})

	t.Run("svg", func(t *testing.T) {
		text := eval[string](t, ctx, `lifeline.exportSVG()`)
		kinds, w, h := readSVG(t, text)
		var want []string
		for _, a := range view.Arrows {
			want = append(want, a.Kind)
		}
		if !reflect.DeepEqual(kinds, want) {
			t.Errorf("the SVG's arrows top to bottom:\n got %v\nwant %v", kinds, want)
		}
		img, err := png.Decode(bytes.NewReader(pageBytes(t, ctx, `lifeline.exportPNG()`)))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 2*w || b.Dy() != 2*h {
			t.Errorf("PNG %v, want twice the SVG's %d×%d", b, w, h)
		}
		colours := map[uint32]bool{}
		for y := 0; y < img.Bounds().Dy(); y += 3 {
			for x := 0; x < img.Bounds().Dx(); x += 3 {
				r, g, b, _ := img.At(x, y).RGBA()
				colours[r>>8<<16|g>>8<<8|b>>8] = true
			}
		}
		if len(colours) < 8 {
			t.Errorf("the PNG has %d colours: the diagram was not painted", len(colours))
		}
		if dir := os.Getenv("LIFELINE_ARTIFACTS"); dir != "" || true {
			if dir == "" {
				dir = filepath.Join("..", "artifacts")
			}
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "export.svg"), []byte(text), 0o644)
			var buf bytes.Buffer
			png.Encode(&buf, img)
			os.WriteFile(filepath.Join(dir, "export.png"), buf.Bytes(), 0o644)
		}
	})

	// Last, as it replaces what the page shows: the pcapng export opened
	// again gives the same entries (DNS off port 53, the broker off 1883,
	// the WebSocket upgrade and close included) and the same diagram.
	t.Run("pcapng reopened", func(t *testing.T) {
		n := eval[int](t, ctx, `lifeline.exportPcapng().then(b => lifeline.importCapture(b)).then(r => r.entries)`)
		if n != len(recorded) {
			t.Errorf("the pcapng export opened as %d arrows, the session had %d", n, len(recorded))
		}
		reopened := pageTrace(t, ctx)
		for i := range min(len(reopened), len(recorded)) {
			if g, w := reopened[i], recorded[i]; !reflect.DeepEqual(g, w) {
				t.Errorf("entry %d:\n reopened %+v\n recorded %+v", i, g, w)
			}
		}
		a, b := modelView(recorded), modelView(reopened)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		firstDiff(t, "diagram model (Go) of the recorded entries and of the re-opened pcapng", ja, jb)
		firstDiff(t, "the page's model before and after opening the pcapng", []byte(before), []byte(eval[string](t, ctx, pageView)))
	})
}

// firstDiff reports the first difference between two JSON documents, by
// path, with the two values.
func firstDiff(t *testing.T, what string, x, y []byte) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(x, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(y, &b); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, a, b any) bool
	walk = func(path string, a, b any) bool {
		switch av := a.(type) {
		case map[string]any:
			if bv, ok := b.(map[string]any); ok && len(av) == len(bv) {
				for k := range av {
					if walk(path+"."+k, av[k], bv[k]) {
						return true
					}
				}
				return false
			}
		case []any:
			if bv, ok := b.([]any); ok && len(av) == len(bv) {
				for i := range av {
					if walk(path+"["+strconv.Itoa(i)+"]", av[i], bv[i]) {
						return true
					}
				}
				return false
			}
		default:
			if reflect.DeepEqual(a, b) {
				return false
			}
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		t.Errorf("%s differ at %s:\n %.600s\n %.600s", what, path, ja, jb)
		return true
	}
	walk("", a, b)
}

// readSVG reads the exported SVG as XML: the data-kind of its arrows in
// document order, and its size.
func readSVG(t *testing.T, text string) (kinds []string, w, h int) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(text))
	style := false
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := func(name string) string {
			for _, a := range el.Attr {
				if a.Name.Local == name {
					return a.Value
				}
			}
			return ""
		}
		switch {
		case el.Name.Local == "svg" && w == 0:
			if el.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg element in namespace %q", el.Name.Space)
			}
			w, _ = strconv.Atoi(attr("width"))
			h, _ = strconv.Atoi(attr("height"))
		case el.Name.Local == "style":
			style = true
		case el.Name.Local == "g" && attr("data-kind") != "":
			kinds = append(kinds, attr("data-kind"))
		}
	}
	if w == 0 || h == 0 || !style {
		t.Fatalf("the SVG has no size (%d×%d) or no style sheet", w, h)
	}
	return kinds, w, h
}

// The Mermaid sequence-diagram grammar, as far as the export uses it.
var (
	mermaidParticipant = regexp.MustCompile(`^    participant (p[0-9]+) as ((?:[^#;\n%<>]|#[0-9a-z]+;)+)$`)
	mermaidMessage     = regexp.MustCompile(`^    (p[0-9]+)(->>|-->>)(p[0-9]+): ((?:[^#;\n%<>]|#[0-9a-z]+;)+)$`)
	mermaidNote        = regexp.MustCompile(`^    Note over (p[0-9]+)(?:,(p[0-9]+))?: ((?:[^#;\n%<>]|#[0-9a-z]+;)+)$`)
)

// checkMermaid checks the export line by line against the view: a header,
// one participant per lane in order, one message per arrow in order with
// the right ends, style and text (entity codes undone), a note per error.
func checkMermaid(t *testing.T, text string, v diagram.View) {
	t.Helper()
	unescape := strings.NewReplacer("#35;", "#", "#59;", ";", "#37;", "%", "#lt;", "<", "#gt;", ">", "#32;", " ").Replace
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != "sequenceDiagram" {
		t.Fatalf("first line %q", lines[0])
	}
	lines = lines[1:]
	for i, l := range v.Lanes {
		if i >= len(lines) {
			t.Fatal("too few lines")
		}
		m := mermaidParticipant.FindStringSubmatch(lines[i])
		if m == nil || m[1] != "p"+strconv.Itoa(i) || unescape(m[2]) != l.Label {
			t.Errorf("participant %d: %q, want p%d as %q", i, lines[i], i, l.Label)
		}
	}
	lines = lines[len(v.Lanes):]
	k := 0
	for _, a := range v.Arrows {
		if k >= len(lines) {
			t.Fatalf("%d lines for %d arrows", len(lines), len(v.Arrows))
		}
		m := mermaidMessage.FindStringSubmatch(lines[k])
		k++
		style := "->>"
		if a.Observed == trace.ObservedKernel {
			style = "-->>"
		}
		label := a.Summary
		if label == "" {
			label = a.Kind
		}
		if m == nil || m[1] != "p"+strconv.Itoa(a.FromLane) || m[3] != "p"+strconv.Itoa(a.ToLane) || m[2] != style || unescape(m[4]) != strings.ReplaceAll(label, "\n", " ") {
			t.Errorf("arrow %d (%s %s→%s %q): line %q", a.Seq, a.Kind, a.From, a.To, label, lines[k-1])
		}
		if a.Error != "" {
			if k >= len(lines) || !mermaidNote.MatchString(lines[k]) {
				t.Errorf("arrow %d has an error but no note", a.Seq)
			}
			k++
		}
	}
	if k != len(lines) {
		t.Errorf("%d lines after the last arrow: %q", len(lines)-k, lines[k:])
	}
}

// mqttFields are the MQTT fields compared between the trace (dissected by
// the codec) and tshark's reading of the exported pcapng.
var mqttFields = []string{"mqtt.msgtype", "mqtt.len", "mqtt.msgid", "mqtt.qos", "mqtt.topic", "mqtt.msg", "mqtt.kalive", "mqtt.clientid", "mqtt.username", "mqtt.passwd", "mqtt.conack.val", "mqtt.sub.qos"}

// checkPcapng reads the exported capture with tshark as installed (no
// plugin, no decode-as: the broker's port is not 1883 and the page's leg is
// a WebSocket, and the export is written to dissect anyway): on each leg
// (told apart by the frame comments) the MQTT packets of the trace in order
// with the same field values; the DNS query and response; the TCP
// handshake to the broker.
func checkPcapng(t *testing.T, file string, es []trace.Entry) {
	t.Helper()
	tshark := func(filter string, fields ...string) [][]string {
		t.Helper()
		args := []string{"-n", "-r", file, "-Y", filter, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f", "-e", "frame.number"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		path := testenv.Tshark(t)
		out, err := exec.Command(path, args...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		var rows [][]string
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if l != "" {
				rows = append(rows, strings.Split(l, "\t"))
			}
		}
		return rows
	}
	for _, leg := range []struct {
		name, filter string
		pick         func(e trace.Entry) bool
	}{
		{"broker", `mqtt && frame.comment contains "\"leg\":\"proxy-broker\""`, func(e trace.Entry) bool { return e.Leg == trace.LegProxyBroker }},
		{"page", `mqtt && frame.comment contains "\"leg\":\"browser-proxy\""`, func(e trace.Entry) bool { return e.Leg == trace.LegBrowserProxy }},
	} {
		t.Run(leg.name, func(t *testing.T) {
			want := map[string][]string{}
			packets := 0
			for _, e := range es {
				if !strings.HasPrefix(e.Kind, "mqtt.") || !leg.pick(e) {
					continue
				}
				packets++
				tree := codec.Dissect(e.Bytes, codec.Version(e.Version))
				for _, f := range mqttFields {
					for _, x := range tree.All(f) {
						want[f] = append(want[f], x.Value)
					}
				}
			}
			got := map[string][]string{}
			for _, r := range tshark(leg.filter, mqttFields...) {
				for i, f := range mqttFields {
					if i+1 < len(r) && r[i+1] != "" {
						got[f] = append(got[f], strings.Split(r[i+1], "\x1f")...)
					}
				}
			}
			if len(want["mqtt.msgtype"]) != packets || packets < 10 {
				t.Fatalf("%d MQTT packets on the leg, %d message types", packets, len(want["mqtt.msgtype"]))
			}
			for _, f := range mqttFields {
				if !reflect.DeepEqual(got[f], want[f]) {
					t.Errorf("%s in order:\ntshark %q\ntrace  %q", f, got[f], want[f])
				}
			}
		})
	}
	// DNS: the proxy asks for A and AAAA; every query is answered.
	queries, answers := 0, 0
	for _, r := range tshark("dns", "dns.qry.name", "dns.flags.response") {
		if len(r) < 3 || r[1] != "broker.lifeline.test" {
			t.Errorf("tshark DNS row %q: want broker.lifeline.test", r)
			continue
		}
		if r[2] == "1" || r[2] == "True" {
			answers++
		} else {
			queries++
		}
	}
	if queries == 0 || answers != queries {
		t.Errorf("tshark sees %d DNS queries and %d responses", queries, answers)
	}
	// The handshake to the broker: SYN, SYN-ACK, then the first ACK.
	hs := tshark(`tcp.len == 0 && tcp.seq <= 1 && tcp.ack <= 1 && frame.comment contains "\"leg\":\"proxy-broker\""`, "tcp.flags.syn", "tcp.flags.ack")
	var flags []string
	for _, r := range hs {
		flags = append(flags, r[1]+r[2])
	}
	if len(flags) < 3 || strings.Join(flags[:3], " ") != "10 11 01" && strings.Join(flags[:3], " ") != "TrueFalse TrueTrue FalseTrue" {
		t.Errorf("the TCP handshake to the broker, (SYN, ACK) flags of the first segments: %q", flags)
	}
}
