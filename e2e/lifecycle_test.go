//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// arrow is a drawn arrow as the test reads it from the page.
type arrow struct {
	Kind, Leg, From, To string
	Seq                 int
	Y                   float64
}

// drawnArrows returns every arrow of the diagram top to bottom, scrolling
// through it (the page draws only the rows near the visible ones).
func drawnArrows(t *testing.T, ctx context.Context) []arrow {
	t.Helper()
	total := eval[int](t, ctx, `lifeline._total()`)
	seen := map[int]arrow{}
	for top := 0; ; {
		eval[bool](t, ctx, `(() => { const d = lifeline._ui.diagram; d.setFollowing(false); d.programmaticScroll = true; document.getElementById('diagram-scroll').scrollTop = `+itoa(top)+`; return true; })()`)
		time.Sleep(100 * time.Millisecond) // a few frames
		js := eval[string](t, ctx, `JSON.stringify([...document.querySelectorAll('#diagram [data-kind]')].map(g => ({Kind: g.dataset.kind, Leg: g.dataset.leg, From: g.dataset.from, To: g.dataset.to, Seq: +g.dataset.seq, Y: g.transform.baseVal[0].matrix.f})))`)
		var as []arrow
		if err := json.Unmarshal([]byte(js), &as); err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			seen[a.Seq] = a
		}
		if len(seen) >= total {
			break
		}
		h := eval[int](t, ctx, `document.getElementById('diagram-scroll').clientHeight`)
		if top > total*60 {
			t.Fatalf("drew %d of %d arrows", len(seen), total)
		}
		top += h
	}
	out := make([]arrow, 0, len(seen))
	for _, a := range seen {
		out = append(out, a)
	}
	for i := 1; i < len(out); i++ { // insertion sort by Y: a few dozen arrows
		for j := i; j > 0 && out[j].Y < out[j-1].Y; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// step is an arrow the lifecycle must show: kind on a leg from a party.
type step struct{ kind, leg, from string }

// inOrder checks that the steps appear among the arrows in this order (a
// step with no from matches either side).
func inOrder(t *testing.T, as []arrow, steps []step) {
	t.Helper()
	i := 0
	for _, a := range as {
		if i < len(steps) && a.Kind == steps[i].kind && a.Leg == steps[i].leg && (steps[i].from == "" || a.From == steps[i].from) {
			i++
		}
	}
	if i < len(steps) {
		var got []string
		for _, a := range as {
			got = append(got, a.Leg+" "+a.From+">"+a.To+" "+a.Kind)
		}
		t.Fatalf("step %d %v not found in order; arrows:\n%s", i, steps[i], strings.Join(got, "\n"))
	}
}

func setField(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	eval[bool](t, ctx, `(() => { const el = document.querySelector(`+jsString(sel)+`); el.value = `+jsString(value)+`; el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// TestLifecycleThroughTheProxy is the page's whole story against `lifeline
// serve` and its embedded broker: connect from the form (keepalive 2 s),
// subscribe, publish QoS 1, wait past the keepalive, publish a hostile topic
// and payload, disconnect. The diagram shows every step in order on the
// right legs, DNS and the TCP handshake from the proxy's side channel among
// them; the CONNECT's field tree shows the keepalive that was set; nothing
// from the wire ran as script.
func TestLifecycleThroughTheProxy(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `(window.__alerts = 0, window.alert = () => { window.__alerts++; }, true)`)
	waitFor(t, ctx, "the broker from /api/config", `document.querySelector('#connect-form [name=broker]').value.startsWith('broker.lifeline.test:') && document.querySelector('#connect-form [name=broker]').value !== 'broker.lifeline.test:1883'`, 5*time.Second)

	setField(t, ctx, `#connect-form [name=keepAlive]`, "2")
	setField(t, ctx, `#connect-form [name=clientId]`, "e2e-device")
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "connected", `document.getElementById('conn-state').dataset.state === 'connected'`, 10*time.Second)

	setField(t, ctx, `#subscribe-form [name=filter]`, "#")
	click(t, ctx, `#subscribe`)
	waitFor(t, ctx, "the subscription", `[...document.querySelectorAll('#subscriptions .filter')].some(e => e.textContent === '#')`, 5*time.Second)

	setField(t, ctx, `#publish-form [name=topic]`, "lifeline/hello")
	setField(t, ctx, `#publish-form [name=qos]`, "1")
	setField(t, ctx, `#publish-form [name=payload]`, `{"temperature": 21.5}`)
	setField(t, ctx, `#publish-form [name=format]`, "json")
	click(t, ctx, `#publish`)
	waitFor(t, ctx, "our message back", `document.getElementById('msg-count').dataset.total === '1'`, 5*time.Second)
	screenshot(t, ctx, "lifecycle-connected")

	// Past the keepalive: the client pings.
	waitFor(t, ctx, "PINGRESP on the browser leg", `document.querySelector('#diagram [data-kind="mqtt.PINGRESP"][data-leg="browser-proxy"]')`, 6*time.Second)

	hostile := `<img src=x onerror=alert(1)>`
	eval[bool](t, ctx, `lifeline.publish(`+jsString(hostile)+`, `+jsString(hostile)+`, {qos: 1}).then(() => true)`)
	waitFor(t, ctx, "the hostile message", `document.getElementById('msg-count').dataset.total === '2'`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#messages .message .msg-topic').textContent`); got != hostile {
		t.Fatalf("hostile topic shown as %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#messages .message .msg-payload').textContent`); got != hostile {
		t.Fatalf("hostile payload shown as %q", got)
	}
	eval[bool](t, ctx, `([...document.querySelectorAll('#diagram [data-kind="mqtt.PUBLISH"][data-leg="browser-proxy"][data-from="proxy"]')].pop().dispatchEvent(new MouseEvent('click', {bubbles: true})), true)`)
	screenshot(t, ctx, "lifecycle-hostile")

	click(t, ctx, `#disconnect`)
	waitFor(t, ctx, "disconnected", `document.getElementById('conn-state').dataset.state === 'idle'`, 5*time.Second)
	waitFor(t, ctx, "the proxy's close of the broker leg", `lifeline.trace().some(e => e.leg === 'proxy-broker' && (e.kind === 'tcp.fin' || e.kind === 'ws.close'))`, 5*time.Second)

	if n := eval[int](t, ctx, `window.__alerts + document.querySelectorAll('img').length`); n != 0 {
		t.Fatalf("wire data ran as script or made elements: %d alerts/img elements", n)
	}

	as := drawnArrows(t, ctx)
	const bp, pd, pb = "browser-proxy", "proxy-dns", "proxy-broker"
	inOrder(t, as, []step{
		{"ws.upgrade", bp, "browser"},
		{"dns.query", pd, "proxy"},
		{"dns.response", pd, "dns"},
		{"tcp.syn", pb, "proxy"},
		{"tcp.synack", pb, "broker"},
		{"tcp.ack", pb, "proxy"},
		{"mqtt.CONNECT", bp, "browser"},
		{"mqtt.CONNECT", pb, "proxy"},
		{"mqtt.CONNACK", pb, "broker"},
		{"mqtt.CONNACK", bp, "proxy"},
		{"mqtt.SUBSCRIBE", bp, "browser"},
		{"mqtt.SUBSCRIBE", pb, "proxy"},
		{"mqtt.SUBACK", pb, "broker"},
		{"mqtt.SUBACK", bp, "proxy"},
		{"mqtt.PUBLISH", bp, "browser"},
		{"mqtt.PUBLISH", pb, "proxy"},
		{"mqtt.PUBACK", pb, "broker"},
		{"mqtt.PUBACK", bp, "proxy"},
		{"mqtt.PINGREQ", bp, "browser"},
		{"mqtt.PINGREQ", pb, "proxy"},
		{"mqtt.PINGRESP", pb, "broker"},
		{"mqtt.PINGRESP", bp, "proxy"},
		{"mqtt.DISCONNECT", bp, "browser"},
		{"mqtt.DISCONNECT", pb, "proxy"},
	})
	// The broker's copy of our message comes back to us, and we acknowledge it.
	inOrder(t, as, []step{
		{"mqtt.PUBLISH", pb, "broker"},
		{"mqtt.PUBLISH", bp, "proxy"},
		{"mqtt.PUBACK", bp, "browser"},
		{"mqtt.PUBACK", pb, "proxy"},
	})
	for _, a := range as {
		if a.Kind == "tcp.syn" && a.Leg != pb || a.Kind == "dns.query" && a.Leg != pd {
			t.Fatalf("%s on leg %s", a.Kind, a.Leg)
		}
	}

	// The CONNECT's field tree shows the keepalive that was set.
	// The message list shows a payload in each form.
	eval[bool](t, ctx, `([...document.querySelectorAll('#messages .message')].pop().querySelector('.fmt[data-format="hex"]').click(), true)`)
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#messages .message')].pop().querySelector('.msg-payload').textContent`); got != "7b 22 74 65 6d 70 65 72 61 74 75 72 65 22 3a 32 31 2e 35 7d" {
		t.Fatalf("payload as hex %q", got)
	}
	eval[bool](t, ctx, `([...document.querySelectorAll('#messages .message')].pop().querySelector('.fmt[data-format="base64"]').click(), true)`)
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#messages .message')].pop().querySelector('.msg-payload').textContent`); got != "eyJ0ZW1wZXJhdHVyZSI6MjEuNX0=" {
		t.Fatalf("payload as base64 %q", got)
	}

	click(t, ctx, `#diagram [data-kind="mqtt.CONNECT"][data-leg="browser-proxy"] .shaft`)
	waitFor(t, ctx, "the CONNECT's field tree", `document.querySelector('#tree [data-field="mqtt.kalive"]')`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#tree [data-field="mqtt.kalive"] .label').textContent`); got != "Keep Alive: 2" {
		t.Fatalf("keepalive field %q", got)
	}
	if !eval[bool](t, ctx, `lifeline._ui.detail.selectFieldByName('mqtt.kalive')`) || eval[string](t, ctx, `[...document.querySelectorAll('#hex .byte.on')].map(b => b.textContent).join(' ')`) != "00 02" {
		t.Fatal("pointing out mqtt.kalive did not highlight its two bytes 00 02")
	}
	if got := eval[string](t, ctx, `document.querySelector('#tree [data-field="mqtt.clientid"] .label').textContent`); got != "Client ID: e2e-device" {
		t.Fatalf("client id field %q", got)
	}
	screenshot(t, ctx, "lifecycle-connect-fields")

	// The session as pcapng (made by the server from the trace), opened
	// again: the same MQTT packets, in order, on the broker leg.
	magic := eval[string](t, ctx, `lifeline.exportPcapng().then(b => Array.from(b.slice(0, 4), x => x.toString(16).padStart(2, '0')).join(''))`)
	if magic != "0a0d0d0a" {
		t.Fatalf("exportPcapng starts with %s, want the pcapng magic 0a0d0d0a", magic)
	}
	want := eval[string](t, ctx, `lifeline.trace().filter(e => e.leg === 'proxy-broker' && e.kind.startsWith('mqtt.')).map(e => e.kind).join(' ')`)
	eval[int](t, ctx, `lifeline.exportPcapng().then(b => lifeline.importCapture(b)).then(r => r.entries)`)
	got := eval[string](t, ctx, `lifeline.trace().filter(e => e.kind.startsWith('mqtt.') && (e.to === 'broker' || e.from === 'broker')).map(e => e.kind).join(' ')`)
	if got != want {
		t.Fatalf("pcapng round trip, broker leg MQTT:\n got %s\nwant %s", got, want)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#diagram .deadline').length`); n == 0 {
		t.Error("no keepalive deadline drawn")
	}
}
