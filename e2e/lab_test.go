//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// The Lab panel holds the broker's PUBACK at the proxy: the held mark is on
// the diagram and the counter says 1, the publish stays unacknowledged,
// Step lets it go and the publish completes; a refused control says why.
func TestLabHeldAcknowledgement(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	waitFor(t, ctx, "the broker from /api/config", `document.querySelector('#connect-form [name=broker]').value !== 'broker.lifeline.test:1883'`, 5*time.Second)
	setField(t, ctx, `#connect-form [name=clientId]`, "lab-device")
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "connected", `document.getElementById('conn-state').dataset.state === 'connected'`, 10*time.Second)

	if got := eval[string](t, ctx, `lifeline.lab.hold({dir: 'toPage', types: ['PUBACK']}).then(st => st.holds.toPage.join())`); got != "PUBACK" {
		t.Fatalf("lab.hold answered holds %q, want PUBACK", got)
	}
	eval[bool](t, ctx, `(window.__acked = false, lifeline.publish('lab/reading', '21.5', {qos: 1}).then(() => { window.__acked = true; }), true)`)
	waitFor(t, ctx, "the PUBACK held at the proxy", `document.querySelector('#diagram .mark[data-kind="lab.hold"]')`, 5*time.Second)
	waitFor(t, ctx, "the held counter", `document.getElementById('lab-held').textContent === '1 held'`, 5*time.Second)
	if eval[bool](t, ctx, `window.__acked`) {
		t.Fatal("the publish was acknowledged while its PUBACK was held")
	}
	if got := eval[string](t, ctx, `lifeline.trace().filter(e => e.kind === 'lab.hold' && e.from === 'proxy').map(e => e.summary).join('|')`); !strings.HasPrefix(got, "PUBACK held at the proxy") {
		t.Errorf("lab.hold entries %q", got)
	}
	eval[bool](t, ctx, `(document.getElementById('lab-panel').scrollIntoView({block: 'center'}), true)`)
	time.Sleep(200 * time.Millisecond) // a frame for the panel's state
	screenshot(t, ctx, "lab-held-ack")

	click(t, ctx, `#lab-step`)
	waitFor(t, ctx, "the publish acknowledged after Step", `window.__acked === true`, 5*time.Second)
	waitFor(t, ctx, "the counter back to 0", `document.getElementById('lab-held').textContent === '0 held'`, 5*time.Second)
	waitFor(t, ctx, "the release mark", `document.querySelector('#diagram .mark[data-kind="lab.release"]')`, 5*time.Second)

	// Refusals come back in words, and change nothing.
	for _, tt := range []struct{ expr, want string }{
		{`lifeline.lab.delay({ms: 9000})`, "out of range"},
		{`lifeline.lab.hold({dir: 'toPage', types: ['PUBLISHED']})`, "unknown packet type"},
		{`lifeline.lab.step()`, "nothing is held"},
		{`lifeline.lab.state({client: 'nobody'})`, "not connected"},
	} {
		got := eval[string](t, ctx, tt.expr+`.then(() => 'resolved', e => e.message)`)
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want an error with %q", tt.expr, got, tt.want)
		}
	}

	// Drop the next PUBACK with the panel: the publish is never acknowledged.
	setField(t, ctx, `#lab-drop-type`, "PUBACK")
	setField(t, ctx, `#lab-drop-dir`, "toPage")
	click(t, ctx, `#lab-drop`)
	waitFor(t, ctx, "the drop rule", `document.getElementById('lab-state').textContent.includes('dropping next 1')`, 5*time.Second)
	eval[bool](t, ctx, `(window.__acked2 = false, lifeline.publish('lab/reading', '22', {qos: 1}).then(() => { window.__acked2 = true; }), true)`)
	waitFor(t, ctx, "the PUBACK dropped at the proxy", `document.querySelector('#diagram .mark[data-kind="lab.drop"]')`, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if eval[bool](t, ctx, `window.__acked2`) {
		t.Fatal("the publish was acknowledged although its PUBACK was dropped")
	}
}
