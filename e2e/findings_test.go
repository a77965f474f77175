//go:build e2e

package e2e

import (
	"slices"
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

// TestTopicAliasOnThePage: publish({topicAlias: true}) through the proxy to
// mosquitto (Topic Alias Maximum 10; the embedded mochi announces none):
// the second PUBLISH carries alias 1 and no topic, its arrow says what the
// alias stands for on both legs, and the Findings panel notes the alias
// set by the first.
func TestTopicAliasOnThePage(t *testing.T) {
	port, _ := startMosquitto(t, "allow_anonymous true\n")
	s := startServer(t, "-embedded-broker", "off", "-allow-private", "-allow", "127.0.0.1:*")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({broker: '127.0.0.1:`+itoa(port)+`', version: 5, clientId: 'alias-1'}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('plant/t1', '21.5', {qos: 1, topicAlias: true}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('plant/t1', '21.6', {qos: 1, topicAlias: true}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('plant/t1', '21.7', {qos: 1}).then(() => true)`)
	waitFor(t, ctx, "the alias on both legs",
		`lifeline._view(0, lifeline._total()).arrows.filter(a => a.mqtt5 && a.mqtt5.alias === 1 && !a.mqtt5.aliasSet && a.mqtt5.aliasTopic === 'plant/t1').length === 2`, 10*time.Second)
	sets := eval[int](t, ctx, `lifeline._view(0, lifeline._total()).arrows.filter(a => a.mqtt5 && a.mqtt5.aliasSet).length`)
	if sets != 2 {
		t.Fatalf("%d arrows set the alias, want the first PUBLISH on each leg", sets)
	}
	// The third PUBLISH did not ask for an alias: it carries its topic.
	plain := eval[int](t, ctx, `lifeline._view(0, lifeline._total()).arrows.filter(a => a.kind === 'mqtt.PUBLISH' && !a.mqtt5).length`)
	if plain != 2 {
		t.Fatalf("%d PUBLISH arrows without an alias, want the third on each leg", plain)
	}
	waitFor(t, ctx, "the badge under the arrow", `[...document.querySelectorAll('.badge.v5')].some(b => b.textContent.includes('alias 1 = plant/t1'))`, 5*time.Second)
	waitFor(t, ctx, "the alias findings", `document.querySelectorAll('#findings li[data-code="alias.set"]').length === 2`, 5*time.Second)
	screenshot(t, ctx, "topic-alias")
}

// TestLessonTakeover plays the takeover lesson against the embedded broker
// (mochi): in 5.0 the first connection ends with DISCONNECT 0x8E Session
// taken over; in 3.1.1 mochi sends a DISCONNECT too, which 3.1.1 does not
// allow a broker, and the Findings panel says so.
func TestLessonTakeover(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	runLesson(t, ctx, "takeover", func(i int) {
		if i == 1 {
			if got := fieldLabel(t, ctx, "mqtt.disconnect.reason_code"); !strings.Contains(got, "Session taken over") {
				t.Errorf("the first connection's DISCONNECT says %q", got)
			}
			screenshot(t, ctx, "lesson-takeover")
		}
	})
	waitFor(t, ctx, "the 3.1.1 DISCONNECT flagged",
		`document.querySelectorAll('#findings li[data-code="disconnect.from-server"]').length === 2`, 10*time.Second)
	got := eval[[]string](t, ctx, `lifeline.findings().filter(f => f.code === 'reason.failure').map(f => f.leg + ' ' + f.text)`)
	if len(got) != 2 || !strings.Contains(got[0], "0x8e Session taken over") {
		t.Errorf("v5 takeover findings %q, want DISCONNECT 0x8e on both legs", got)
	}
}

// TestLessonShared plays the shared subscriptions lesson against the
// embedded broker: each of the five jobs reaches exactly one worker, and
// none reaches worker 1 after it left.
func TestLessonShared(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	var before []string
	runLesson(t, ctx, "shared", func(i int) {
		if i == 1 {
			before = received(t, ctx, "w1")
		}
	})
	var all []string
	for _, w := range []string{"w1", "w2", "w3"} {
		got := received(t, ctx, w)
		t.Logf("%s received %q", w, got)
		all = append(all, got...)
	}
	slices.Sort(all)
	if strings.Join(all, "|") != "jobs job 1|jobs job 2|jobs job 3|jobs job 4|jobs job 5" {
		t.Errorf("the group received %q, want each job once", all)
	}
	if after := received(t, ctx, "w1"); len(after) != len(before) {
		t.Errorf("worker 1 received %q after it left (before: %q)", after, before)
	}
	screenshot(t, ctx, "lesson-shared")
}

// TestLessonTimers plays the broker timers lesson against the embedded
// broker (mochi checks its timers once a second): the expired retained
// reading never reaches the app, the will comes about 2 s after the cut,
// and the phone's session is gone when it returns 4 s after leaving.
func TestLessonTimers(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	runLesson(t, ctx, "timers", func(i int) {
		switch i {
		case 1:
			if got := received(t, ctx, "app"); len(got) != 0 {
				t.Errorf("the app received %q, want nothing: the reading expired", got)
			}
		case 2:
			if got := received(t, ctx, "app"); strings.Join(got, "|") != "sensor/status offline" {
				t.Errorf("the app received %q, want the will", got)
			}
			delay := eval[float64](t, ctx, `(() => { const es = lifeline.trace(); const cut = es.filter(e => e.kind === 'tcp.rst' && e.leg === 'proxy-broker').at(-1); const will = es.filter(e => e.kind === 'mqtt.PUBLISH' && e.leg === 'proxy-broker' && e.from === 'broker').at(-1); return will.t - cut.t; })()`)
			if delay < 1500 {
				t.Errorf("the will came %.0f ms after the cut, want the 2 s delay", delay)
			}
		case 3:
			if sp := fieldLabelOf(t, ctx, "mqtt.CONNACK", "phone", "mqtt.conack.flags.sp", -1); sp != "Session Present: Not set" {
				t.Errorf("the returning phone's CONNACK says %q", sp)
			}
		}
	})
	// The three timers the broker kept, drawn as deadlines on its lane
	// with what became of them (the sensor's session, 60 s, still kept).
	got := eval[[]string](t, ctx, `(() => { const v = lifeline._view(0, lifeline._total()); return v.deadlines.filter(d => d.timer).map(d => v.lanes[d.lane].party + ': ' + d.label + (d.pending ? ' (pending)' : d.met ? ' (met)' : '')); })()`)
	want := []string{
		"broker: message expiry 2 s: message expired here [3.3.2.3.3]",
		"broker: session expiry 2 s: session gone here [3.1.2.11.2]",
		"broker: session expiry 60 s: session kept until here [3.1.2.11.2] (pending)",
		"broker: will delay 2 s: will published here [3.1.3.2.2]",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("broker timers drawn:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := eval[int](t, ctx, `[...document.querySelectorAll('#diagram .deadline')].filter(g => /expiry|will delay/.test(g.getAttribute('aria-label'))).length`); n == 0 {
		t.Error("no broker timer drawn on the page")
	}
	screenshot(t, ctx, "lesson-timers")
}

// TestRequestResponseOnThePage: through the proxy to the embedded broker,
// an app sends a request (Response Topic and Correlation Data) that a
// device, subscribed with Subscription Identifier 7, answers on the
// response topic. The diagram links the answer to the request with the
// time between, and the delivered request says which subscription it
// matched.
func TestRequestResponseOnThePage(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({client: 'device', clientId: 'rr-dev', version: 5}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.connect({client: 'app', clientId: 'rr-app', version: 5}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.subscribe('rr/dev/cmd', {client: 'device', qos: 1, properties: {subscriptionIdentifier: 7}}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.subscribe('rr/app/reply', {client: 'app', qos: 1}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.publish('rr/dev/cmd', 'reboot', {client: 'app', qos: 1, properties: {responseTopic: 'rr/app/reply', correlationData: 'req-1'}}).then(() => true)`)
	waitFor(t, ctx, "the request delivered", `lifeline._messages(0).messages.some(m => m.client === 'device' && m.topic === 'rr/dev/cmd')`, 5*time.Second)
	eval[bool](t, ctx, `lifeline.publish('rr/app/reply', 'ok', {client: 'device', qos: 1, properties: {correlationData: 'req-1'}}).then(() => true)`)
	waitFor(t, ctx, "the response delivered", `lifeline._messages(0).messages.some(m => m.client === 'app' && m.topic === 'rr/app/reply')`, 5*time.Second)

	arrows := `lifeline._view(0, lifeline._total()).arrows`
	// The broker leg's arrows come through the trace channel, which the
	// proxy writes a millisecond or so after it relays the packets.
	waitFor(t, ctx, "the response's arrows on both legs", arrows+`.filter(a => a.mqtt5 && a.mqtt5.request).length >= 4`, 5*time.Second)
	req := eval[int](t, ctx, arrows+`.find(a => a.kind === 'mqtt.PUBLISH' && a.from === 'app').seq`)
	answers := eval[[]string](t, ctx, arrows+`.filter(a => a.mqtt5 && a.mqtt5.request).map(a => a.from + '>' + a.to + ' ' + a.mqtt5.request + ' ' + (a.mqtt5.elapsed > 0))`)
	if len(answers) != 4 {
		t.Fatalf("responses linked: %q, want the response on its 4 arrows (both legs, both ways)", answers)
	}
	for _, a := range answers {
		if !strings.HasSuffix(a, " "+itoa(req)+" true") {
			t.Errorf("response %q not linked to request #%d", a, req)
		}
	}
	if r := eval[int](t, ctx, arrows+`.find(a => a.seq === `+itoa(req)+`).mqtt5.response`); r == 0 {
		t.Errorf("the request does not say which PUBLISH answered it")
	}
	subs := eval[[]string](t, ctx, arrows+`.filter(a => a.mqtt5 && a.mqtt5.subs).map(a => a.leg + ' ' + a.mqtt5.subs.map(s => s.id + '=' + s.filter).join(','))`)
	if strings.Join(subs, "|") != "proxy-broker 7=rr/dev/cmd|browser-proxy 7=rr/dev/cmd" {
		t.Errorf("subscription links %q, want the delivered request's on both legs", subs)
	}
	waitFor(t, ctx, "the badges", `[...document.querySelectorAll('.badge.v5')].some(b => b.textContent.startsWith('answers #`+itoa(req)+` after'))`, 5*time.Second)
	screenshot(t, ctx, "request-response")
}
