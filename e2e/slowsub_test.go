//go:build e2e

package e2e

import (
	"fmt"
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
