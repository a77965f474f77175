//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLessonSlowSubscriber plays "When the subscriber is slow" against the
// embedded broker: with the Dashboard's PUBACKs held, the broker sends it
// three readings (its Receive Maximum), queues three (its
// lifeline-max-queued), acknowledges the next two to the Sensor and drops
// them with a broker.drop "queue full" entry that gives the counts; once
// the acknowledgements are released the queued three arrive, and
// delivered + dropped = published.
func TestLessonSlowSubscriber(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	count := func(kind, leg, dir, client string) int {
		return eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === `+jsString(kind)+` && e.leg === `+jsString(leg)+` && e[`+jsString(dir)+`] === `+jsString(client)+`).length`)
	}
	readings := func(from, to int) string {
		var r []string
		for i := from; i <= to; i++ {
			r = append(r, fmt.Sprintf("sensor/temp reading %d", i))
		}
		return strings.Join(r, "|")
	}
	const bp, pb = "browser-proxy", "proxy-broker"
	runLesson(t, ctx, "slowsub", func(i int) {
		switch i {
		case 0:
			if got := eval[string](t, ctx, `(document.querySelector('#tree .field-row.pointed[data-field="mqtt.property_id"] .label') || {}).textContent || ''`); !strings.Contains(got, "Receive Maximum") {
				t.Errorf("the CONNECT's pointed property is %q", got)
			}
		case 1:
			if st := eval[string](t, ctx, `lifeline.lab.state({client: 'dashboard'}).then(s => (s.held.toBroker || 0) + ' held')`); st != "3 held" {
				t.Errorf("the proxy holds %s of the dashboard's, want its 3 PUBACKs", st)
			}
			if n := count("mqtt.PUBACK", pb, "from", "proxy"); n != 0 {
				t.Errorf("%d PUBACKs reached the broker while they were held", n)
			}
			if got := strings.Join(received(t, ctx, "dashboard"), "|"); got != readings(1, 3) {
				t.Errorf("the dashboard received %q, want readings 1 to 3", got)
			}
		case 2:
			time.Sleep(500 * time.Millisecond) // what must not come has had time to
			if n := count("mqtt.PUBLISH", bp, "to", "dashboard"); n != 3 {
				t.Errorf("with its window full the dashboard got %d PUBLISHes, want 3 (Receive Maximum)", n)
			}
			if n := count("mqtt.PUBACK", bp, "to", "sensor"); n != 6 {
				t.Errorf("the sensor has %d PUBACKs, want 6: the broker owns the queued messages", n)
			}
		case 3:
			drops := eval[[]string](t, ctx, `lifeline.trace().filter(e => e.kind === 'broker.drop').map(e => [e.leg, e.from, e.to, e.observed, e.drop.reason, e.drop.client, e.drop.topic, e.drop.qos, e.drop.queued, e.drop.inflight, e.drop.limit, e.summary].join(' ~ '))`)
			run := eval[string](t, ctx, `lifeline._ui.lessons.run`)
			want := strings.Join([]string{pb, "broker", "broker", "broker", "queue full", "dashboard-" + run, "lifeline/" + run + "/sensor/temp", "1", "3", "3",
				"3 messages queued (the client's lifeline-max-queued)"}, " ~ ")
			if len(drops) != 2 {
				t.Fatalf("broker.drop entries: %q, want 2 (readings 7 and 8)", drops)
			}
			for _, d := range drops {
				if !strings.HasPrefix(d, want+" ~ queue full: PUBLISH q1 ") {
					t.Errorf("broker.drop %q, want %q and a summary that starts with the reason", d, want)
				}
			}
			waitFor(t, ctx, "the red broker.drop arrow", `document.querySelectorAll('#diagram .arrow.dropped[data-kind="broker.drop"][data-to="broker"]').length === 2`, 5*time.Second)
			if got := eval[string](t, ctx, `document.querySelector('#detail-head .facts').textContent`); !strings.Contains(got, "by the embedded broker") {
				t.Errorf("the open broker.drop says it was observed %q", got)
			}
			if n := count("mqtt.PUBACK", bp, "to", "sensor"); n != 8 {
				t.Errorf("the sensor has %d PUBACKs, want 8: the dropped readings were acknowledged too", n)
			}
			if n := count("mqtt.PUBLISH", bp, "to", "dashboard"); n != 3 {
				t.Errorf("the dashboard got %d PUBLISHes, want still 3", n)
			}
			screenshot(t, ctx, "lesson-slowsub-drop")
		case 4:
			time.Sleep(500 * time.Millisecond) // readings 7 and 8 would have come by now
			if got := strings.Join(received(t, ctx, "dashboard"), "|"); got != readings(1, 6) {
				t.Errorf("after the release the dashboard received %q, want readings 1 to 6 in order", got)
			}
			if n := count("mqtt.PUBACK", pb, "from", "proxy"); n != 6 {
				t.Errorf("%d of the dashboard's PUBACKs reached the broker, want 6", n)
			}
			if st := eval[string](t, ctx, `lifeline.lab.state({client: 'dashboard'}).then(s => (s.held.toBroker || 0) + ' held')`); st != "0 held" {
				t.Errorf("after resume the proxy holds %s", st)
			}
			published := count("mqtt.PUBLISH", bp, "from", "sensor")
			delivered := count("mqtt.PUBLISH", bp, "to", "dashboard")
			dropped := eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'broker.drop').length`)
			if published != 8 || delivered+dropped != published {
				t.Errorf("published %d, delivered %d, dropped %d: want 8 = delivered + dropped", published, delivered, dropped)
			}
			t.Logf("published %d = delivered %d + dropped %d", published, delivered, dropped)
			screenshot(t, ctx, "lesson-slowsub-drained")
		}
	})
}

// TestSlowSubscriberMosquitto plays the same lesson's first three steps
// against Debian's mosquitto with a queue of 3 (max_queued_messages, which
// counts, as the embedded broker does, the messages beyond those in
// flight), then sends readings 7 and 8 and releases the acknowledgements
// through the API (the lesson's step 4 waits for a broker.drop arrow that
// mosquitto never sends). What mosquitto shows: all 8 acknowledged to the
// sensor, readings 1 to 6 delivered, 7 and 8 gone, and nothing on the
// wire or in the trace says so (mosquitto notes it once in its own log).
func TestSlowSubscriberMosquitto(t *testing.T) {
	port, _ := startMosquitto(t, "allow_anonymous true\nmax_queued_messages 3\n")
	s := startServer(t, "-embedded-broker", "off", "-default-broker", "127.0.0.1:"+strconv.Itoa(port), "-allow-private", "-allow", "127.0.0.1:*")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	openLesson(t, ctx, "slowsub", false)
	for i := range 3 {
		click(t, ctx, `#lesson-next`)
		waitStep(t, ctx, i, 25*time.Second)
	}
	count := func(kind, dir, client string) int {
		return eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === `+jsString(kind)+` && e.leg === 'browser-proxy' && e[`+jsString(dir)+`] === `+jsString(client)+`).length`)
	}
	time.Sleep(500 * time.Millisecond)
	if n := count("mqtt.PUBLISH", "to", "dashboard"); n != 3 {
		t.Errorf("mosquitto sent the dashboard %d PUBLISHes with its Receive Maximum 3 reached, want 3", n)
	}
	eval[bool](t, ctx, `(async () => { const topic = 'lifeline/' + lifeline._ui.lessons.run + '/sensor/temp';
		for (const p of ['reading 7', 'reading 8']) await lifeline.publish(topic, p, {client: 'sensor', qos: 1});
		await lifeline.lab.resume({client: 'dashboard'}); return true; })()`)
	waitFor(t, ctx, "readings 4 to 6", `lifeline.trace().filter(e => e.kind === 'mqtt.PUBLISH' && e.leg === 'browser-proxy' && e.to === 'dashboard').length >= 6`, 10*time.Second)
	time.Sleep(time.Second) // readings 7 and 8 would have come by now
	want := []string{}
	for i := 1; i <= 6; i++ {
		want = append(want, fmt.Sprintf("sensor/temp reading %d", i))
	}
	if got := received(t, ctx, "dashboard"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the dashboard received %q, want readings 1 to 6", got)
	}
	if n := count("mqtt.PUBACK", "to", "sensor"); n != 8 {
		t.Errorf("mosquitto acknowledged %d of the sensor's 8 readings", n)
	}
	if n := eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'broker.drop').length`); n != 0 {
		t.Errorf("%d broker.drop entries from mosquitto: only the embedded broker reports its drops", n)
	}
	t.Logf("mosquitto: published 8, acknowledged 8, delivered %d; the other %d dropped with nothing to either client (mosquitto logs \"Outgoing messages are being dropped\" once)", count("mqtt.PUBLISH", "to", "dashboard"), 8-count("mqtt.PUBLISH", "to", "dashboard"))
}
