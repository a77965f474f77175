//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDirectWebSocketQoS2 connects the page straight to an MQTT WebSocket
// endpoint by URL, in MQTT 5.0: lifeline serve's /mqtt used without a trace
// token, as any third-party client uses it (this machine's mosquitto
// cannot open its own WebSocket listener, and websockify refuses the "mqtt"
// subprotocol). It runs a QoS 2 exchange both ways: and runs a QoS 2 exchange
// both ways: the diagram has two lanes, the browser-broker leg, the four
// QoS 2 steps linked as one exchange, and the WebSocket steps the page
// inferred itself marked as kernel-observed.
func TestDirectWebSocketQoS2(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/mqtt"
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({url: `+jsString(url)+`, version: 5, clientId: 'direct-1', keepAlive: 20}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.subscribe('direct/#', {qos: 2}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('direct/q2', 'exactly once', {qos: 2, properties: {contentType: 'text/plain', userProperties: [['k', 'v']]}}).then(() => true)`)
	waitFor(t, ctx, "the message back", `lifeline._messages(0).total === 1`, 5*time.Second)
	eval[bool](t, ctx, `lifeline.disconnect({}).then(() => true)`)
	waitFor(t, ctx, "the close", `lifeline.trace().some(e => e.kind === 'ws.close')`, 5*time.Second)

	lanes := eval[[]string](t, ctx, `lifeline._view(0, 0).lanes.map(l => l.party)`)
	if strings.Join(lanes, ",") != "browser,broker" {
		t.Fatalf("lanes %v", lanes)
	}
	as := drawnArrows(t, ctx)
	const bb = "browser-broker"
	inOrder(t, as, []step{
		{"ws.upgrade", bb, "browser"},
		{"ws.accept", bb, "broker"},
		{"mqtt.CONNECT", bb, "browser"},
		{"mqtt.CONNACK", bb, "broker"},
		{"mqtt.SUBSCRIBE", bb, "browser"},
		{"mqtt.SUBACK", bb, "broker"},
		{"mqtt.PUBLISH", bb, "browser"},
		{"mqtt.PUBREC", bb, "broker"},
		{"mqtt.PUBREL", bb, "browser"},
		{"mqtt.PUBCOMP", bb, "broker"},
		{"mqtt.DISCONNECT", bb, "browser"},
		{"ws.close", bb, "broker"},
	})
	inOrder(t, as, []step{ // the broker delivers it back at QoS 2
		{"mqtt.PUBLISH", bb, "broker"},
		{"mqtt.PUBREC", bb, "browser"},
		{"mqtt.PUBREL", bb, "broker"},
		{"mqtt.PUBCOMP", bb, "browser"},
	})
	for _, a := range as {
		if a.Leg != bb {
			t.Fatalf("arrow on leg %s in direct mode", a.Leg)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector('#diagram [data-kind="ws.upgrade"]').classList.contains('kernel') + ''`); got != "true" {
		t.Fatal("the page's own WebSocket steps are not marked as observed by the kernel")
	}
	// Our QoS 2 publish is one exchange of four arrows.
	x := eval[string](t, ctx, `(() => { const p = lifeline.trace().find(e => e.kind === 'mqtt.PUBLISH' && e.from === 'browser'); const d = lifeline._detail(p.seq); return d.exchange.name + ':' + d.exchange.arrows.map(a => a.kind).join(',') + ':' + d.exchange.done; })()`)
	if x != "QoS 2 publish, packet id 2:mqtt.PUBLISH,mqtt.PUBREC,mqtt.PUBREL,mqtt.PUBCOMP:true" {
		t.Fatalf("exchange %q", x)
	}
	// The v5 properties went out.
	click(t, ctx, `#diagram [data-kind="mqtt.PUBLISH"][data-from="browser"] .shaft`)
	waitFor(t, ctx, "the PUBLISH tree", `document.querySelector('#tree [data-field="mqtt.property.content_type"]')`, 5*time.Second)
	screenshot(t, ctx, "direct-qos2")
}

// TestRefusedTargetInWords asks the proxy for a broker its policy refuses
// (a loopback port that is not the embedded broker): the page says so in
// words, with the close code, and the diagram shows the refusal.
func TestRefusedTargetInWords(t *testing.T) {
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	setField(t, ctx, `#connect-form [name=broker]`, "127.0.0.1:1")
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "the error", `!document.getElementById('connect-error').hidden`, 10*time.Second)
	msg := eval[string](t, ctx, `document.getElementById('connect-error').textContent`)
	for _, want := range []string{"refused", "1008", "127.0.0.1:1"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	if st := eval[string](t, ctx, `document.getElementById('conn-state').dataset.state`); st != "error" {
		t.Fatalf("state %q", st)
	}
	waitFor(t, ctx, "the refusal in the diagram", `lifeline.trace().some(e => e.error)`, 5*time.Second)
	screenshot(t, ctx, "refused")
}

// TestTwoClientsFanOut runs two named clients in one page through the
// proxy, a "device" that publishes and an "app" subscribed to it: each has
// its own lifeline, and the broker's fan-out to the app is visible.
func TestTwoClientsFanOut(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({client: 'device', clientId: 'dev-1'}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.connect({client: 'app', clientId: 'app-1'}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.subscribe('plant/#', {client: 'app', qos: 1}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('plant/t1', '21.5', {client: 'device', qos: 1}).then(() => true)`)
	waitFor(t, ctx, "the app's message", `lifeline._messages(0).messages.some(m => m.client === 'app' && m.topic === 'plant/t1')`, 5*time.Second)
	waitFor(t, ctx, "the broker's copy on the proxy leg", `lifeline.trace().filter(e => e.kind === 'mqtt.PUBLISH' && e.leg === 'proxy-broker').length >= 2`, 5*time.Second)
	lanes := eval[string](t, ctx, `lifeline._view(0, 0).lanes.map(l => l.party).join(',')`)
	if lanes != "device,app,proxy,dns,broker" {
		t.Fatalf("lanes %s", lanes)
	}
	inOrder(t, drawnArrows(t, ctx), []step{
		{"mqtt.PUBLISH", "browser-proxy", "device"},
		{"mqtt.PUBLISH", "proxy-broker", "proxy"},
		{"mqtt.PUBLISH", "proxy-broker", "broker"},
		{"mqtt.PUBLISH", "browser-proxy", "proxy"},
		{"mqtt.PUBACK", "browser-proxy", "app"},
	})
	if to := eval[string](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.PUBLISH' && e.leg === 'browser-proxy' && e.from === 'proxy').map(e => e.to).join(',')`); to != "app" {
		t.Fatalf("PUBLISH delivered to %q, want app", to)
	}
	screenshot(t, ctx, "two-clients")
}
