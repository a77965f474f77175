//go:build e2e

package e2e

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sharedDir finds ../shared (the team's test data) from the repository, or
// $LIFELINE_SHARED.
func sharedDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LIFELINE_SHARED"); d != "" {
		return d
	}
	dir, _ := filepath.Abs(".")
	for ; dir != "/"; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(filepath.Join(dir, "shared", "captures")); err == nil && fi.IsDir() {
			return filepath.Join(dir, "shared")
		}
	}
	t.Fatal("shared/ not found beside the repository (set LIFELINE_SHARED)")
	return ""
}

// TestOpenACapture opens a real device capture (made with mosquitto and
// tshark, see DESIGN.md) through "Open trace": the server reads it, the page
// draws its DNS, TCP and MQTT, and the CONNECT's tree shows the device's
// keepalive of 5 s.
func TestOpenACapture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "captures", "lifecycle-v311-qos1.pcapng"))
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
