//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestFindingsPanel: the expert panel lists what the analysis finds in a
// live session, with counts, and a finding shows its arrow when clicked.
// An empty retained PUBLISH (clearing the topic's retained message) is a
// note on each leg, with any broker; the embedded one here.
func TestFindingsPanel(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({clientId: 'expert-1', keepAlive: 60}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('lifeline/lamp', '', {qos: 1, retain: true}).then(() => true)`)
	waitFor(t, ctx, "the findings on both legs",
		`document.querySelectorAll('#findings li[data-code="retain.cleared"]').length === 2`, 10*time.Second)

	got := eval[[]string](t, ctx, `lifeline.findings().map(f => f.severity + ' ' + f.code + ' ' + f.leg)`)
	if strings.Join(got, "\n") != "note retain.cleared browser-proxy\nnote retain.cleared proxy-broker" {
		t.Fatalf("findings:\n%s", strings.Join(got, "\n"))
	}
	counts := eval[string](t, ctx, `document.getElementById('findings-counts').textContent`)
	if !strings.Contains(counts, "2 note") || !strings.Contains(counts, "0 error") {
		t.Fatalf("counts %q", counts)
	}
	text := eval[string](t, ctx, `document.querySelector('#findings li').textContent`)
	if !strings.Contains(text, `clears the retained message of "lifeline/lamp"`) || !strings.Contains(text, "[3.3.1.3]") {
		t.Fatalf("finding text %q", text)
	}

	// Clicking the second finding (the broker leg) selects its PUBLISH.
	want := eval[int](t, ctx, `lifeline.findings()[1].seq[0]`)
	eval[bool](t, ctx, `(document.querySelector('#findings li:nth-child(2) button').click(), true)`)
	waitFor(t, ctx, "the arrow selected", `lifeline._ui.diagram.selected === `+itoa(want), 5*time.Second)
	kind := eval[string](t, ctx, `lifeline.trace().find(e => e.seq === `+itoa(want)+`).kind + ' ' + lifeline.trace().find(e => e.seq === `+itoa(want)+`).leg`)
	if kind != "mqtt.PUBLISH proxy-broker" {
		t.Fatalf("clicked finding points at %s", kind)
	}
	screenshot(t, ctx, "findings")
}
