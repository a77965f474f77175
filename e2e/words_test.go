//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// clippedMidWord lists the diagram's texts that were shortened (end in …)
// inside a word: the whole text, which the arrow's title holds, goes on
// with a letter after what is shown.
func clippedMidWord(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `(() => {
		const bad = [];
		const whole = new Map(lifeline.trace().map((e) => [e.seq, e]));
		for (const el of document.querySelectorAll('#diagram g[data-seq] text')) {
			const shown = el.textContent;
			if (!shown.endsWith('…')) continue;
			const e = whole.get(Number(el.closest('g[data-seq]').dataset.seq)) || {};
			const head = shown.slice(0, -1).replace(/^✕ /, '');
			for (const full of [e.summary || '', e.error || '']) {
				const at = full.indexOf(head);
				if (at >= 0 && /\w/.test(full.charAt(at + head.length))) bad.push(shown + ' (of: ' + full + ')');
			}
		}
		return bad;
	})()`)
}

// proxyClose is the proxy's last close arrow to the page: its label and
// its red badge as drawn.
func proxyClose(t *testing.T, ctx context.Context) (label, badge string) {
	t.Helper()
	waitFor(t, ctx, "the proxy's close arrow", `!!document.querySelector('#diagram g[data-kind="ws.close"][data-from="proxy"]')`, 10*time.Second)
	got := eval[[]string](t, ctx, `(() => { const g = [...document.querySelectorAll('#diagram g[data-kind="ws.close"][data-from="proxy"]')].pop(); return [g.querySelector('text.label').textContent, (g.querySelector('text.badge.err') || {}).textContent || '']; })()`)
	return got[0], got[1]
}

// TestRefusalsInWords: each refusal says its one cause, in whole words.
// A broker without a port is asked for one (not blamed on the -allow
// list); a refusal whose hint is long is cut after a whole word on the
// arrow, never inside "-allow-private"; and a publish over the proxy's
// -max-message is one close, 1009, with the same cause on the page's
// status and on the diagram — no MQTT 5 clause in a 3.1.1 session, no
// "malformed", no 1006.
func TestRefusalsInWords(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0", "-allow", "broker.lifeline.test:*")
	ctx := newBrowser(t)
	openPage(t, ctx, s)

	t.Run("no port", func(t *testing.T) {
		setField(t, ctx, `#connect-form [name=broker]`, "broker.iot.example")
		click(t, ctx, `#connect`)
		waitFor(t, ctx, "the error", `!document.getElementById('connect-error').hidden`, 10*time.Second)
		msg := eval[string](t, ctx, `document.getElementById('connect-error').textContent`)
		for _, want := range []string{"no port: give one, as in broker.iot.example:1883", "4002"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
		}
		for _, bad := range []string{"allow", "policy", "1008", "lost"} {
			if strings.Contains(msg, bad) {
				t.Errorf("error %q says %q: a missing port is no refusal by policy", msg, bad)
			}
		}
		label, badge := proxyClose(t, ctx)
		if label != "Close 4002" || !strings.HasPrefix(badge, "✕ no port") {
			t.Errorf("the close arrow says %q / %q, want the code above and the cause below, once", label, badge)
		}
		if n := eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'dns.query').length`); n != 0 {
			t.Errorf("%d DNS queries for a broker with no port", n)
		}
	})

	t.Run("long hint cut at a word", func(t *testing.T) {
		eval[bool](t, ctx, `(lifeline._clear(), true)`)
		setField(t, ctx, `#connect-form [name=broker]`, "broker.lifeline.test:1")
		click(t, ctx, `#connect`)
		waitFor(t, ctx, "the refusal", `lifeline.trace().some((e) => e.kind === 'ws.close' && e.from === 'proxy')`, 10*time.Second)
		// The trace's entry can come before the page's own socket closes:
		// until then the status still waits for CONNACK.
		said := `document.getElementById('connect-error').textContent + ' | ' + document.getElementById('conn-state').textContent`
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			msg := eval[string](t, ctx, said)
			if strings.Contains(msg, "-allow-private") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the page says %q, not the proxy's hint, 10 s after the proxy closed", msg)
				break
			}
		}
		_, badge := proxyClose(t, ctx)
		if !strings.HasSuffix(badge, "…") {
			t.Logf("the refusal's badge %q was not shortened at this width", badge)
		}
		if bad := clippedMidWord(t, ctx); len(bad) > 0 {
			t.Errorf("texts cut inside a word: %q", bad)
		}
		screenshot(t, ctx, "words-refusal")
	})

	t.Run("publish over -max-message", func(t *testing.T) {
		eval[bool](t, ctx, `(lifeline._clear(), true)`)
		setField(t, ctx, `#connect-form [name=broker]`, "")
		eval[bool](t, ctx, `lifeline.connect({version: 4}).then(() => true)`)
		eval[bool](t, ctx, `lifeline.publish('big/one', new Uint8Array(1 << 20), {qos: 0}).then(() => true, () => true)`)
		waitFor(t, ctx, "the close on the page", `!document.getElementById('connect-error').hidden`, 15*time.Second)
		status := eval[string](t, ctx, `document.getElementById('connect-error').textContent + ' | ' + document.getElementById('conn-state').textContent`)
		label, badge := proxyClose(t, ctx)
		const cause = "MQTT packet larger than 1048576 bytes, the most this proxy takes (-max-message)"
		if !strings.Contains(status, "1009") || !strings.Contains(status, cause) {
			t.Errorf("status %q does not say 1009 and %q", status, cause)
		}
		if label != "Close 1009" || badge != "✕ "+cause && !strings.HasSuffix(badge, "…") {
			t.Errorf("the close arrow says %q / %q, want Close 1009 / ✕ %s", label, badge, cause)
		}
		page := eval[string](t, ctx, `document.body.innerText + JSON.stringify(lifeline.trace())`)
		for _, bad := range []string{"3.1.2.11.4", "malformed", "1006"} {
			if strings.Contains(page, bad) {
				t.Errorf("the page says %q for a publish over the proxy's bound", bad)
			}
		}
		if bad := clippedMidWord(t, ctx); len(bad) > 0 {
			t.Errorf("texts cut inside a word: %q", bad)
		}
		screenshot(t, ctx, "words-too-large")
	})
}
