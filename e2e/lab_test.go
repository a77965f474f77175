//go:build e2e

package e2e

import (
	"context"
	"strconv"
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
	// The PUBACK's arrival at the proxy is drawn as held.
	waitFor(t, ctx, "the held PUBACK arrow", `document.querySelector('#diagram .arrow.held[data-kind="mqtt.PUBACK"][data-from="broker"] .held-badge')`, 5*time.Second)
	if got := eval[string](t, ctx, `lifeline.trace().filter(e => e.kind === 'lab.hold' && e.from === 'proxy').map(e => e.summary).join('|')`); !strings.HasPrefix(got, "PUBACK held at the proxy") {
		t.Errorf("lab.hold entries %q", got)
	}
	// The held mark opens as the packet it holds: its field tree and bytes.
	eval[bool](t, ctx, `(lifeline._ui.diagram.select(lifeline.trace().find(e => e.kind === 'lab.hold' && e.from === 'proxy').seq, false), true)`)
	if got := fieldLabel(t, ctx, "mqtt.msgid"); got != "Message Identifier: 1" {
		t.Errorf("the held mark's field tree shows %q, want the PUBACK's packet id", got)
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

// labBroker is a broker the lab lessons are played against: the embedded
// mochi, or Debian's mosquitto as the page's default broker.
type labBroker struct {
	name string
	args func(t *testing.T) []string // lifeline serve's arguments
}

var labBrokers = []labBroker{
	{"embedded", func(*testing.T) []string { return []string{"-embedded-broker", "127.0.0.1:0"} }},
	{"mosquitto", func(t *testing.T) []string {
		port, _ := startMosquitto(t, "allow_anonymous true\n")
		return []string{"-embedded-broker", "off", "-default-broker", "127.0.0.1:" + strconv.Itoa(port), "-allow-private", "-allow", "127.0.0.1:*"}
	}},
}

// publishes lists the PUBLISH arrows of the run on a leg, to or from a
// client, as "DUP id payload".
func publishes(t *testing.T, ctx context.Context, leg, dir, client string) []string {
	t.Helper()
	return eval[[]string](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.PUBLISH' && e.leg === `+jsString(leg)+` && e[`+jsString(dir)+`] === `+jsString(client)+`).map(e => {
		const b = Uint8Array.from(atob(e.bytes), c => c.charCodeAt(0));
		let i = 1; while (b[i] & 0x80) i++; i++;
		const tl = (b[i] << 8) | b[i + 1]; i += 2 + tl;
		const qos = (b[0] >> 1) & 3;
		const id = qos ? ((b[i] << 8) | b[i + 1]) : 0;
		return ((b[0] & 8) ? 'DUP ' : '') + id + ' ' + new TextDecoder().decode(b.slice(i + (qos ? 2 : 0)));
	})`)
}

// TestLessonQoS2 plays "Why QoS 2 exists": a lost PUBACK and a broken
// connection make the broker resend with DUP=1 and the app gets the QoS 1
// message twice; a lost PUBREC makes the meter resend with DUP=1 and the app
// gets the QoS 2 message once.
func TestLessonQoS2(t *testing.T) {
	for _, b := range labBrokers {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, b.args(t)...)
			ctx := newBrowser(t)
			openPage(t, ctx, s)
			runLesson(t, ctx, "qos2", func(i int) {
				switch i {
				case 1:
					if got := received(t, ctx, "app"); strings.Join(got, "|") != "meter/energy 1042 kWh" {
						t.Errorf("after the lost PUBACK the app received %q", got)
					}
				case 2:
					if got := received(t, ctx, "app"); strings.Join(got, "|") != "meter/energy 1042 kWh|meter/energy 1042 kWh" {
						t.Errorf("QoS 1 after the app's return: received %q, want the message twice", got)
					}
					p := publishes(t, ctx, "browser-proxy", "to", "app")
					if len(p) != 2 || strings.HasPrefix(p[0], "DUP") || p[1] != "DUP "+strings.TrimPrefix(p[0], "") {
						t.Errorf("the PUBLISHes to the app: %q, want the second the first again with DUP", p)
					}
					screenshot(t, ctx, "lesson-qos2-"+b.name+"-dup")
				case 4:
					if got := received(t, ctx, "app"); strings.Join(got, "|") != "meter/energy 1042 kWh|meter/energy 1042 kWh|meter/energy 1043 kWh" {
						t.Errorf("QoS 2 after the meter's resend: the app received %q, want 1043 once", got)
					}
					t.Logf("meter: %s", eval[string](t, ctx, `lifeline.trace().filter(e => e.from === 'meter' || e.to === 'meter').map(e => e.kind + ' ' + e.from + '>' + e.to + ' ' + (e.summary || '') + (e.error ? ' ERR ' + e.error : '')).join('\n')`))
					p := publishes(t, ctx, "browser-proxy", "from", "meter")
					if len(p) != 3 || p[2] != "DUP "+p[1] {
						t.Errorf("the meter's PUBLISHes: %q, want the QoS 2 one resent with DUP and the same id", p)
					}
				}
			})
		})
	}
}

// TestLessonDeadLink plays "How a dead connection is noticed": silenced,
// the device's PINGREQ is held and it gives up; the broker closes the
// connection no sooner than one and a half keepalives after the device's
// last packet and publishes the will to the app.
func TestLessonDeadLink(t *testing.T) {
	for _, b := range labBrokers {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, b.args(t)...)
			ctx := newBrowser(t)
			openPage(t, ctx, s)
			runLesson(t, ctx, "deadlink", func(i int) {
				switch i {
				case 3:
					if got := received(t, ctx, "app"); len(got) != 0 {
						t.Errorf("the app received %q before the broker gave up", got)
					}
				case 4:
					run := eval[string](t, ctx, `lifeline._ui.lessons.run`)
					if got := received(t, ctx, "app"); strings.Join(got, "|") != "sensor/status sensor-"+run+" went silent" {
						t.Errorf("the app received %q, want the will", got)
					}
					// The broker's FIN comes no sooner than 1.5 keepalives
					// (6 s) after the last packet it had from the device,
					// its CONNECT (both stamped by the proxy).
					gap := eval[float64](t, ctx, `(() => { const tr = lifeline.trace(); const dev = tr.find(e => e.kind === 'mqtt.CONNECT' && e.leg === 'proxy-broker' && e.summary.includes('sensor-')); const fin = tr.find(e => e.kind === 'tcp.fin' && e.from === 'broker' && e.conn === dev.conn); return fin.t - dev.t; })()`)
					if gap < 6000 {
						t.Errorf("the broker gave up %.0f ms after the device's CONNECT, before 1.5 × 4 s", gap)
					}
					t.Logf("%s gave up %.0f ms after the device's last packet (keepalive 4 s)", b.name, gap)
					if n := eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.PINGRESP' && e.to === 'device').length`); n != 0 {
						t.Errorf("%d PINGRESP reached the silenced device", n)
					}
					screenshot(t, ctx, "lesson-deadlink-"+b.name)
				}
			})
		})
	}
}

// TestLessonSlowLink plays "A slow link" with 300 ms each way: the
// device's QoS 1 publish waits two delays for its PUBACK, QoS 2 four for
// PUBCOMP (times on the page's own clock), and the proxy's arrows toward
// the broker say they were delayed.
func TestLessonSlowLink(t *testing.T) {
	for _, b := range labBrokers {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, b.args(t)...)
			ctx := newBrowser(t)
			openPage(t, ctx, s)
			took := func(first, last string) float64 {
				return eval[float64](t, ctx, `(() => { const tr = lifeline.trace().filter(e => e.leg === 'browser-proxy'); const p = tr.filter(e => e.kind === 'mqtt.PUBLISH' && e.from === 'device').at(-1); const a = tr.filter(e => e.kind === `+jsString(last)+` && e.to === 'device').at(-1); return a.t - p.t; })()`)
			}
			runLesson(t, ctx, "slowlink", func(i int) {
				switch i {
				case 3:
					if ms := took("mqtt.PUBLISH", "mqtt.PUBACK"); ms < 600 {
						t.Errorf("QoS 1 round: %.0f ms, want at least 2 × 300", ms)
					}
				case 4:
					ms := took("mqtt.PUBLISH", "mqtt.PUBCOMP")
					if ms < 1200 {
						t.Errorf("QoS 2 exchange: %.0f ms, want at least 4 × 300", ms)
					}
					t.Logf("%s: QoS 2 over 300 ms each way took %.0f ms", b.name, ms)
					notes := eval[[]string](t, ctx, `lifeline.trace().filter(e => e.kind.startsWith('mqtt.PUB') && e.leg === 'proxy-broker' && e.from === 'proxy').map(e => e.note || '')`)
					delayed := 0
					for _, n := range notes {
						if strings.Contains(n, "forwarded") {
							delayed++
						}
					}
					if delayed < 4 { // PUBLISH ×3, PUBREL
						t.Errorf("proxy-broker notes %q: want each delayed packet to say so", notes)
					}
					screenshot(t, ctx, "lesson-slowlink-"+b.name)
				}
			})
		})
	}
}

// TestLessonFlow plays "In flight and flow control" against brokers whose
// Receive Maximum is 3: with the broker's PUBACKs held, the client's
// window stops at three PUBLISHes; each Step lets exactly one more go.
func TestLessonFlow(t *testing.T) {
	brokers := []labBroker{
		{"embedded", func(*testing.T) []string {
			return []string{"-embedded-broker", "127.0.0.1:0", "-broker-max-inflight", "3"}
		}},
		{"mosquitto", func(t *testing.T) []string {
			port, _ := startMosquitto(t, "allow_anonymous true\nmax_inflight_messages 3\n")
			return []string{"-embedded-broker", "off", "-default-broker", "127.0.0.1:" + strconv.Itoa(port), "-allow-private", "-allow", "127.0.0.1:*"}
		}},
	}
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, b.args(t)...)
			ctx := newBrowser(t)
			openPage(t, ctx, s)
			sent := func() int {
				return eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.PUBLISH' && e.leg === 'browser-proxy' && e.from === 'device').length`)
			}
			runLesson(t, ctx, "flow", func(i int) {
				switch i {
				case 0:
					if got := eval[string](t, ctx, `(document.querySelector('#tree .field-row.pointed[data-field="mqtt.property_id"] .label') || {}).textContent || ''`); !strings.Contains(got, "Receive Maximum") {
						t.Errorf("the CONNACK's pointed property is %q", got)
					}
					if rm := eval[string](t, ctx, `[...document.querySelectorAll('#tree .field-row')].map(r => r.textContent).find(x => /Receive Maximum: \d/.test(x)) || ''`); !strings.Contains(rm, "Receive Maximum: 3") {
						t.Errorf("the broker's CONNACK says %q, want Receive Maximum 3", rm)
					}
				case 1:
					time.Sleep(500 * time.Millisecond) // what must not come has had time to
					if n := sent(); n != 3 {
						t.Errorf("with every PUBACK held the device sent %d PUBLISHes, want Receive Maximum = 3", n)
					}
					if st := eval[string](t, ctx, `lifeline.lab.state({client: 'device'}).then(s => s.held.toPage + ' held')`); st != "3 held" {
						t.Errorf("the proxy holds %s, want 3 held", st)
					}
					screenshot(t, ctx, "lesson-flow-"+b.name)
				case 2:
					time.Sleep(500 * time.Millisecond)
					if n := sent(); n != 4 {
						t.Errorf("after one Step the device had sent %d PUBLISHes, want 4", n)
					}
				case 3:
					if n := sent(); n != 5 {
						t.Errorf("after the release the device had sent %d PUBLISHes, want 5", n)
					}
				}
			})
		})
	}
}
