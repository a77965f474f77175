//go:build e2e

package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
)

// TestDirectWebSocketQoS2 connects the page straight to a real broker's own
// WebSocket listener (mosquitto's, ws://127.0.0.1:PORT), in MQTT 3.1.1 and
// 5.0, with no Lifeline proxy in between, and runs a QoS 2 exchange each
// way: the diagram has two lanes and only the browser-broker leg, the four
// QoS 2 steps of each direction in order and linked as one exchange, and
// the WebSocket steps the page inferred itself marked as kernel-observed.
func TestDirectWebSocketQoS2(t *testing.T) {
	port := wstest.Mosquitto(t, nil, nil) // its own WebSocket listener, as an operator configures it
	url := "ws://127.0.0.1:" + strconv.Itoa(port)
	s := startServer(t, "-embedded-broker", "off")
	for _, version := range []string{"4", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			ctx := newBrowser(t)
			openPage(t, ctx, s)
			id := "direct-v" + version
			eval[bool](t, ctx, `lifeline.connect({url: `+jsString(url)+`, version: `+version+`, clientId: '`+id+`', keepAlive: 20}).then(() => true)`)
			eval[bool](t, ctx, `lifeline.subscribe('direct/`+id+`/#', {qos: 2}).then(() => true)`)
			props := ""
			if version == "5" {
				props = `, properties: {contentType: 'text/plain', userProperties: [['k', 'v']]}`
			}
			eval[bool](t, ctx, `lifeline.publish('direct/`+id+`/q2', 'exactly once', {qos: 2`+props+`}).then(() => true)`)
			waitFor(t, ctx, "the message back", `lifeline._messages(0).total === 1`, 5*time.Second)
			waitFor(t, ctx, "our PUBCOMP of the broker's copy", `lifeline.trace().filter(e => e.kind === 'mqtt.PUBCOMP').length === 2`, 5*time.Second)
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
				{"ws.close", bb, ""},
			})
			inOrder(t, as, []step{ // mosquitto delivers it back at QoS 2
				{"mqtt.PUBLISH", bb, "broker"},
				{"mqtt.PUBREC", bb, "browser"},
				{"mqtt.PUBREL", bb, "broker"},
				{"mqtt.PUBCOMP", bb, "browser"},
			})
			for _, a := range as {
				if a.Leg != bb {
					t.Fatalf("arrow %s on leg %s in direct mode", a.Kind, a.Leg)
				}
				if (a.From != "browser" || a.To != "broker") && (a.From != "broker" || a.To != "browser") {
					t.Fatalf("arrow %s from %s to %s in direct mode", a.Kind, a.From, a.To)
				}
			}
			// The arrows go the right way on screen: the browser's lane is
			// left of the broker's.
			dirs := eval[string](t, ctx, `[...document.querySelectorAll('#diagram [data-kind^="mqtt.PUB"]')].map(g => { const l = g.querySelector('.shaft'); return g.dataset.from + (+l.getAttribute('x2') > +l.getAttribute('x1') ? '>' : '<'); }).join(' ')`)
			for _, d := range strings.Fields(dirs) {
				if d != "browser>" && d != "broker<" {
					t.Fatalf("arrows drawn %s", dirs)
				}
			}
			if got := eval[string](t, ctx, `document.querySelector('#diagram [data-kind="ws.upgrade"]').classList.contains('kernel') + ''`); got != "true" {
				t.Fatal("the page's own WebSocket steps are not marked as observed by the kernel")
			}
			// Each QoS 2 publish is one exchange of four arrows.
			for _, from := range []string{"browser", "broker"} {
				x := eval[string](t, ctx, `(() => { const p = lifeline.trace().find(e => e.kind === 'mqtt.PUBLISH' && e.from === '`+from+`'); const d = lifeline._detail(p.seq); return d.exchange.arrows.map(a => a.kind + '/' + a.from).join(',') + ':' + d.exchange.done; })()`)
				other := map[string]string{"browser": "broker", "broker": "browser"}[from]
				want := "mqtt.PUBLISH/" + from + ",mqtt.PUBREC/" + other + ",mqtt.PUBREL/" + from + ",mqtt.PUBCOMP/" + other + ":true"
				if x != want {
					t.Fatalf("exchange of the %s's PUBLISH %q, want %q", from, x, want)
				}
			}
			if version == "5" {
				click(t, ctx, `#diagram [data-kind="mqtt.PUBLISH"][data-from="browser"] .shaft`)
				waitFor(t, ctx, "the PUBLISH tree", `document.querySelector('#tree [data-field="mqtt.property.content_type"]')`, 5*time.Second)
				screenshot(t, ctx, "direct-qos2")
			}
		})
	}
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
	for _, want := range []string{"The Lifeline proxy refused to connect to 127.0.0.1:1: 127.0.0.1", "not in the allowlist (-allow ", "1008"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	// A refusal is no lost connection, and says its reason once.
	for _, bad := range []string{"connection lost", "policy: policy", "CONNACK"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("error %q says %q", msg, bad)
		}
	}
	// The proxy's reason can reach the page (on /trace) a moment before
	// the socket's close event ends the connecting state.
	waitFor(t, ctx, "the error state", `document.getElementById('conn-state').dataset.state === 'error'`, 5*time.Second)
	waitFor(t, ctx, "the refusal in the diagram", `lifeline.trace().some(e => e.error)`, 5*time.Second)
	screenshot(t, ctx, "refused")

	// A name the DNS does not know: the proxy could not reach the broker.
	setField(t, ctx, `#connect-form [name=broker]`, "nosuch.lifeline.test:1883")
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "the DNS error", `/nosuch/.test(document.getElementById('connect-error').textContent)`, 10*time.Second)
	msg = eval[string](t, ctx, `document.getElementById('connect-error').textContent`)
	for _, want := range []string{"The Lifeline proxy could not reach the broker nosuch.lifeline.test:1883", "no such host", "Is the name right", "1014"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "connection lost") {
		t.Fatalf("error %q calls an unreachable broker a lost connection", msg)
	}
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

// startMosquitto runs Debian's mosquitto on a free loopback port with the
// extra configuration lines and returns its port and the process.
func startMosquitto(t *testing.T, conf string) (int, *exec.Cmd) {
	t.Helper()
	m := testenv.StartMosquitto(t, testenv.MosquittoOptions{Extra: conf})
	return m.Port, m.Cmd
}

// TestRefusedConnectAndLostConnection: a broker that refuses the CONNECT,
// and a broker that goes away, both explained on the page in words with the
// reason code.
func TestRefusedConnectAndLostConnection(t *testing.T) {
	strict, _ := startMosquitto(t, "allow_anonymous false\n")
	open, broker := startMosquitto(t, "allow_anonymous true\n")
	s := startServer(t, "-embedded-broker", "off", "-allow-private", "-allow", "127.0.0.1:*")
	ctx := newBrowser(t)
	openPage(t, ctx, s)

	msg := eval[string](t, ctx, `lifeline.connect({broker: '127.0.0.1:`+strconv.Itoa(strict)+`', clientId: 'nobody'}).then(() => 'connected', e => e.message)`)
	if !strings.Contains(strings.ToLower(msg), "not authorized") || !strings.Contains(msg, "return code 5") {
		t.Fatalf("refused CONNECT said %q: want the return code (5, not authorized)", msg)
	}
	waitFor(t, ctx, "the error state", `document.getElementById('conn-state').dataset.state === 'error'`, 5*time.Second)
	if got := eval[string](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.CONNACK').map(e => e.summary).join('|')`); !strings.Contains(strings.ToLower(got), "not authorized") {
		t.Fatalf("CONNACK arrows %q", got)
	}
	screenshot(t, ctx, "refused-connect")

	eval[bool](t, ctx, `lifeline.connect({broker: '127.0.0.1:`+strconv.Itoa(open)+`', clientId: 'survivor', keepAlive: 60}).then(() => true)`)
	waitFor(t, ctx, "connected", `document.getElementById('conn-state').dataset.state === 'connected'`, 5*time.Second)
	broker.Process.Kill()
	waitFor(t, ctx, "the lost connection", `document.getElementById('conn-state').dataset.state === 'error'`, 10*time.Second)
	text := eval[string](t, ctx, `document.getElementById('conn-state').textContent`)
	if !strings.Contains(text, "closed") && !strings.Contains(text, "lost") {
		t.Fatalf("lost connection shown as %q", text)
	}
}

// TestDirectOpenFailedInWords: a direct WebSocket that cannot open (the
// browser says only 1006) is explained with the likely causes in order and
// the lifeline doctor line for that URL.
func TestDirectOpenFailedInWords(t *testing.T) {
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	url := "ws://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/mqtt" // nothing listens
	msg := eval[string](t, ctx, `lifeline.connect({url: `+jsString(url)+`}).then(() => 'connected', e => String((e && e.message) || e))`)
	for _, want := range []string{"could not open the WebSocket to " + url, "code 1006", "1) nothing listens", "2) the path", "lifeline doctor " + url} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not say %q", msg, want)
		}
	}
}
