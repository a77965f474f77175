//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestOpenACapture opens a real device capture (testdata/captures, made by
// scripts/make-captures.sh with dnsmasq, mosquitto and dumpcap) through "Open trace": the server reads it, the page
// draws its DNS, TCP and MQTT, and the CONNECT's tree shows the device's
// keepalive of 5 s.
func TestOpenACapture(t *testing.T) {
	b, err := os.ReadFile(testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	n := eval[int](t, ctx, `lifeline.importCapture(Uint8Array.from(atob(`+jsString(base64.StdEncoding.EncodeToString(b))+`), c => c.charCodeAt(0))).then(r => r.entries)`)
	if n < 20 {
		t.Fatalf("the capture opened as %d arrows", n)
	}
	kinds := eval[string](t, ctx, `[...new Set(lifeline.trace().map(e => e.kind))].join(' ')`)
	for _, k := range []string{"dns.query", "dns.response", "tcp.syn", "mqtt.CONNECT", "mqtt.CONNACK", "mqtt.SUBSCRIBE", "mqtt.PUBLISH", "mqtt.PUBACK", "mqtt.PINGREQ", "mqtt.PINGRESP", "mqtt.DISCONNECT"} {
		if !strings.Contains(" "+kinds+" ", " "+k+" ") {
			t.Fatalf("the capture's diagram lacks %s: %s", k, kinds)
		}
	}
	eval[bool](t, ctx, `(lifeline._ui.diagram.select(lifeline.trace().find(e => e.kind === 'mqtt.CONNECT').seq, true), true)`)
	waitFor(t, ctx, "the CONNECT's tree", `document.querySelector('#tree [data-field="mqtt.kalive"]')`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#tree [data-field="mqtt.kalive"] .label').textContent`); got != "Keep Alive: 5" {
		t.Fatalf("keepalive %q", got)
	}
	screenshot(t, ctx, "opened-capture")
}

// dropFile dispatches the drag of a file over the page and its drop, as the
// browser does when a file from the desktop is dropped on the diagram: a
// DataTransfer holding a File made of the bytes. It returns whether the drop
// target showed while the file was dragged over the page.
func dropFile(t *testing.T, ctx context.Context, name string, b []byte) bool {
	t.Helper()
	return eval[bool](t, ctx, `(async () => {
		const bytes = Uint8Array.from(atob(`+jsString(base64.StdEncoding.EncodeToString(b))+`), c => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], `+jsString(name)+`, { type: 'application/octet-stream' }));
		const at = document.getElementById('diagram-scroll');
		const ev = (type) => new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt });
		at.dispatchEvent(ev('dragenter'));
		const over = !at.dispatchEvent(ev('dragover')); // cancelled: the page accepts the drop
		const shown = !document.getElementById('drop-target').hidden && getComputedStyle(document.getElementById('drop-target')).display !== 'none';
		at.dispatchEvent(ev('drop'));
		await lifeline._opening;
		return over && shown && document.getElementById('drop-target').hidden;
	})()`)
}

// TestDropACapture drops files on the page: the real device capture opens
// as its diagram (DNS, the handshake, every MQTT step on the client-broker
// leg), a capture cut short shows what it holds and says which frame is
// missing, and a file that is no capture is refused in words.
func TestDropACapture(t *testing.T) {
	b, err := os.ReadFile(testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)

	// "Open trace" is reached by the keyboard and opens the file chooser.
	eval[bool](t, ctx, `(document.getElementById('open-file').addEventListener('click', (e) => { e.preventDefault(); window.chooserOpened = true; }), true)`)
	for i := 0; i < 10 && eval[string](t, ctx, `document.activeElement.id`) != "open-trace"; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	if !eval[bool](t, ctx, `window.chooserOpened === true`) {
		t.Fatal(`"Open trace" cannot be reached and pressed by the keyboard`)
	}

	if !dropFile(t, ctx, "lifecycle-v311-qos1.pcapng", b) {
		t.Fatal("the drop target did not show while the file was dragged, or stayed after the drop")
	}
	waitFor(t, ctx, "the capture's arrows", `lifeline._total() >= 40`, 5*time.Second)
	as := drawnArrows(t, ctx)
	const cb = "client-broker"
	dev := "10.203.0.1:34366" // device01's connection in the capture
	inOrder(t, as, []step{
		{"dns.query", "client-dns", ""},
		{"dns.response", "client-dns", ""},
		{"tcp.syn", cb, dev},
		{"tcp.synack", cb, ""},
		{"tcp.ack", cb, dev},
		{"mqtt.CONNECT", cb, dev},
		{"mqtt.CONNACK", cb, ""},
		{"mqtt.SUBSCRIBE", cb, dev},
		{"mqtt.SUBACK", cb, ""},
		{"mqtt.PINGREQ", cb, dev},
		{"mqtt.PINGRESP", cb, ""},
		{"mqtt.DISCONNECT", cb, dev},
		{"tcp.fin", cb, ""},
	})
	inOrder(t, as, []step{{"mqtt.PUBLISH", cb, ""}, {"mqtt.PUBACK", cb, ""}})
	screenshot(t, ctx, "dropped-capture")
	// The lanes read as people name them, whole, side by side: clients by
	// their client id over their address, the device's lookups in one
	// lane, the DNS server and the broker by the name that led to it.
	heads := eval[[]string](t, ctx, `[...document.querySelectorAll('#lane-heads .lane-head')].map(h => h.querySelector('.lh-label').textContent + ' | ' + (h.querySelector('.lh-detail') || {textContent: ''}).textContent)`)
	want := []string{
		"device01 | 10.203.0.1:34366", "device01-report | 10.203.0.1:34370", "cloud-app | 10.203.0.1:34372",
		"DNS lookups | from 10.203.0.1", "DNS 10.203.0.53 | name server 10.203.0.53:53", "broker.iot.example | broker 10.203.0.10:1883",
	}
	if strings.Join(heads, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lane heads:\n%s\nwant:\n%s", strings.Join(heads, "\n"), strings.Join(want, "\n"))
	}
	if bad := eval[string](t, ctx, `(() => {
		const hs = [...document.querySelectorAll('#lane-heads .lane-head')];
		const box = document.getElementById('lane-heads').getBoundingClientRect();
		for (const [i, h] of hs.entries()) {
			const r = h.getBoundingClientRect();
			if (h.scrollWidth > h.clientWidth + 1 || h.scrollHeight > h.clientHeight + 1) return 'head ' + i + ' overflows';
			if (r.bottom > box.bottom) return 'head ' + i + ' sticks out below the heads';
			if (i > 0 && hs[i - 1].getBoundingClientRect().right > r.left) return 'heads ' + (i - 1) + ' and ' + i + ' overlap';
			if (!h.title.includes(h.querySelector('.lh-label').textContent)) return 'head ' + i + ' lacks a title';
		}
		return '';
	})()`); bad != "" {
		t.Fatal(bad)
	}
	if st := eval[string](t, ctx, `document.getElementById('status').textContent`); !strings.Contains(st, "Opened lifecycle-v311-qos1.pcapng") {
		t.Fatalf("status %q", st)
	}
	if eval[bool](t, ctx, `!document.getElementById('open-report').hidden`) {
		t.Fatalf("a whole capture reported problems: %s", eval[string](t, ctx, `document.getElementById('open-report').textContent`))
	}

	// Cut short in the middle of a block: the frames before are shown,
	// the report names the frame that is missing.
	if !dropFile(t, ctx, "cut.pcapng", b[:3000]) {
		t.Fatal("the drop target misbehaved for the cut capture")
	}
	waitFor(t, ctx, "the report", `!document.getElementById('open-report').hidden`, 5*time.Second)
	report := eval[string](t, ctx, `document.getElementById('open-report').textContent`)
	for _, want := range []string{"cut.pcapng", "could not be read", "The rest is shown", "Frame 25", "cut short"} {
		if !strings.Contains(report, want) {
			t.Fatalf("report %q does not say %q", report, want)
		}
	}
	if n := eval[int](t, ctx, `lifeline._total()`); n < 10 || n >= 40 {
		t.Fatalf("the cut capture shows %d arrows", n)
	}
	screenshot(t, ctx, "dropped-cut-capture")

	// Not a capture at all: refused in words, the diagram left as it was.
	before := eval[int](t, ctx, `lifeline._total()`)
	dropFile(t, ctx, "notes.txt", []byte("hello, this is not a capture\n"))
	waitFor(t, ctx, "the refusal", `/Could not open notes.txt/.test(document.getElementById('open-report').textContent)`, 5*time.Second)
	report = eval[string](t, ctx, `document.getElementById('open-report').textContent`)
	if !strings.Contains(report, "neither a capture (pcap, pcapng) nor a Lifeline JSON trace") || strings.Contains(report, "capture:") {
		t.Fatalf("refusal %q", report)
	}
	if n := eval[int](t, ctx, `lifeline._total()`); n != before {
		t.Fatalf("a refused file changed the diagram: %d arrows, had %d", n, before)
	}
	// A broken JSON trace.
	dropFile(t, ctx, "broken.json", []byte(`{"entries": [`))
	waitFor(t, ctx, "the JSON refusal", `/Could not open broken.json/.test(document.getElementById('open-report').textContent)`, 5*time.Second)
}
