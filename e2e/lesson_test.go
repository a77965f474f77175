//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// openLesson opens the picker from the header and starts (or resumes) a
// lesson.
func openLesson(t *testing.T, ctx context.Context, id string, resume bool) {
	t.Helper()
	click(t, ctx, `#lessons-open`)
	waitFor(t, ctx, "the lesson picker", `document.getElementById('lesson-picker').open && document.querySelector('.lesson-card[data-lesson="`+id+`"]')`, 10*time.Second)
	which := ".lesson-start"
	if resume {
		which = ".lesson-resume"
	}
	click(t, ctx, `.lesson-card[data-lesson="`+id+`"] `+which)
	waitFor(t, ctx, "the lesson panel", `!document.getElementById('lesson').hidden && document.getElementById('lesson').dataset.lesson === '`+id+`'`, 10*time.Second)
}

// lessonState is what the lesson panel and the packet panel show.
type lessonState struct {
	Step    int
	State   string
	Kind    string   // the packet opened
	Pointed []string // the fields pointed out
	Bytes   int      // bytes pointed out
}

func readLesson(t *testing.T, ctx context.Context) lessonState {
	t.Helper()
	var s lessonState
	s.Step = eval[int](t, ctx, `+document.getElementById('lesson').dataset.step`)
	s.State = eval[string](t, ctx, `document.getElementById('lesson').dataset.state`)
	s.Kind = eval[string](t, ctx, `document.getElementById('detail-panel').dataset.kind || ''`)
	s.Pointed = eval[[]string](t, ctx, `[...document.querySelectorAll('#tree .field-row.pointed')].map(r => r.dataset.field)`)
	s.Bytes = eval[int](t, ctx, `document.querySelectorAll('#hex .byte.pointed').length`)
	return s
}

// waitStep waits until the lesson shows step i, performed.
func waitStep(t *testing.T, ctx context.Context, i int, within time.Duration) lessonState {
	t.Helper()
	waitFor(t, ctx, "lesson step "+itoa(i+1), `(() => { const l = document.getElementById('lesson'); if (l.dataset.state === 'error') throw new Error(document.getElementById('lesson-note').textContent); return l.dataset.step === '`+itoa(i)+`' && l.dataset.state === 'shown'; })()`, within)
	return readLesson(t, ctx)
}

// fieldLabel is the label of a field row of the open packet.
func fieldLabel(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	return eval[string](t, ctx, `(document.querySelector('#tree .field-row[data-field="`+name+`"] .label') || {}).textContent || ''`)
}

// TestLessonLifecycle runs the nine-step lesson in a real page against
// lifeline serve: every step is performed when Next is pressed (by button
// and by the keyboard), its key packet opens with the fields the lesson
// points out (rows and bytes), PUBACK echoes the PUBLISH's packet id; the
// lesson is left by reloading the page and resumed at the step it was on;
// Back and Next revisit a step without performing it again; at the end the
// diagram holds the arrows of every step, in order, on the right legs.
// Replay starts again with a fresh diagram.
func TestLessonLifecycle(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	openLesson(t, ctx, "lifecycle", false)
	if st := readLesson(t, ctx); st.Step != -1 || st.State != "ready" {
		t.Fatalf("a new lesson opens at its title page: %+v", st)
	}
	if n := eval[int](t, ctx, `lifeline._total()`); n != 0 {
		t.Fatalf("a new lesson starts with an empty diagram, not %d arrows", n)
	}
	screenshot(t, ctx, "lesson-title")

	type want struct {
		kind   string
		fields []string
	}
	steps := []want{
		{"dns.response", nil},
		{"tcp.syn", nil},
		{"ws.accept", []string{"http.response.code", "http.sec_websocket_protocol"}},
		{"mqtt.CONNECT", []string{"mqtt.ver", "mqtt.kalive", "mqtt.clientid", "mqtt.username", "mqtt.passwd"}},
		{"mqtt.SUBSCRIBE", []string{"mqtt.msgid", "mqtt.topic", "mqtt.sub.qos"}},
		{"mqtt.PUBLISH", []string{"mqtt.qos", "mqtt.topic", "mqtt.msgid", "mqtt.msg"}},
		{"mqtt.PINGREQ", []string{"mqtt.msgtype", "mqtt.len"}},
		{"mqtt.DISCONNECT", []string{"mqtt.msgtype"}},
		{"tcp.fin", nil},
	}
	check := func(i int, st lessonState) {
		t.Helper()
		w := steps[i]
		if st.Kind != w.kind {
			t.Errorf("step %d opened %s, want %s", i+1, st.Kind, w.kind)
		}
		if !reflect.DeepEqual(st.Pointed, w.fields) && !(len(st.Pointed) == 0 && len(w.fields) == 0) {
			t.Errorf("step %d points out %v, want %v", i+1, st.Pointed, w.fields)
		}
		if len(w.fields) > 0 && st.Bytes == 0 {
			t.Errorf("step %d: the pointed-out fields' bytes are not marked", i+1)
		}
	}
	next := func(i int, byKey bool) lessonState {
		t.Helper()
		if byKey {
			// The presenter's clicker sends PageDown; focus is on the page.
			if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`#lesson-back`)), chromedp.KeyEvent(kb.PageDown)); err != nil {
				t.Fatal(err)
			}
		} else {
			click(t, ctx, `#lesson-next`)
		}
		st := waitStep(t, ctx, i, 25*time.Second)
		check(i, st)
		return st
	}

	// drawn is what the diagram draws now, once everything up to CONNACK
	// has happened: a lesson shows one step per Next, though its one
	// connect made the next steps' arrows too.
	drawn := func() string {
		t.Helper()
		waitFor(t, ctx, "the CONNACK in the trace", `lifeline.trace().some(e => e.kind === 'mqtt.CONNACK' && e.leg === 'browser-proxy')`, 10*time.Second)
		time.Sleep(300 * time.Millisecond) // a few frames
		return eval[string](t, ctx, `[...document.querySelectorAll('#diagram g[data-kind]')].map(g => g.dataset.kind).join(' ')`)
	}
	paced := []struct{ shows, hides string }{
		{"dns.response", "tcp.syn"},
		{"tcp.ack", "ws.accept"},
		{"ws.accept", "mqtt.CONNECT"},
	}
	for i := 0; i < 5; i++ {
		next(i, i == 1)
		if i < len(paced) {
			got := drawn()
			if !strings.Contains(got, paced[i].shows) || strings.Contains(got, paced[i].hides) {
				t.Errorf("after step %d the diagram draws %q: want %s and not yet %s", i+1, got, paced[i].shows, paced[i].hides)
			}
		}
		if i == 3 {
			if got := fieldLabel(t, ctx, "mqtt.kalive"); got != "Keep Alive: 5" {
				t.Errorf("keepalive %q", got)
			}
			screenshot(t, ctx, "lesson-connect")
			// The second key packet: CONNACK, return code 0.
			click(t, ctx, `.lesson-packets button[data-index="1"]`)
			if st := readLesson(t, ctx); st.Kind != "mqtt.CONNACK" || !reflect.DeepEqual(st.Pointed, []string{"mqtt.conack.val"}) || st.Bytes != 1 {
				t.Errorf("CONNACK shown as %+v", st)
			}
			if got := fieldLabel(t, ctx, "mqtt.conack.val"); !strings.HasSuffix(got, "(0)") {
				t.Errorf("return code %q, want 0", got)
			}
		}
	}

	// Leave by reloading the page; the lesson resumes at step 5, performing
	// steps 1 to 5 again so that the device is connected and subscribed.
	openPage(t, ctx, s)
	if !eval[bool](t, ctx, `document.getElementById('lessons-open').dataset.resume === 'true'`) {
		t.Fatal("after a reload the Lessons button does not offer to resume")
	}
	openLesson(t, ctx, "lifecycle", true)
	check(4, waitStep(t, ctx, 4, 40*time.Second))
	if n := eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.SUBACK').length`); n != 2 {
		t.Fatalf("after resuming, %d SUBACKs in the diagram, want 2 (one per leg)", n)
	}

	var publishID string
	for i := 5; i < len(steps); i++ {
		next(i, false)
		switch steps[i].kind {
		case "mqtt.PUBLISH":
			publishID = fieldLabel(t, ctx, "mqtt.msgid")
			// The reading is text: the pointed-out payload reads as text.
			if got := fieldLabel(t, ctx, "mqtt.msg"); got != `Message: {"celsius": 21.5} (17 bytes)` {
				t.Errorf("the payload reads %q, want the reading as text", got)
			}
			click(t, ctx, `.lesson-packets button[data-index="1"]`)
			st := readLesson(t, ctx)
			if st.Kind != "mqtt.PUBACK" || !reflect.DeepEqual(st.Pointed, []string{"mqtt.msgid"}) {
				t.Errorf("PUBACK shown as %+v", st)
			}
			if got := fieldLabel(t, ctx, "mqtt.msgid"); got != publishID || got == "" {
				t.Errorf("PUBACK's %q does not echo the PUBLISH's %q", got, publishID)
			}
			screenshot(t, ctx, "lesson-puback")
		case "mqtt.PINGREQ":
			screenshot(t, ctx, "lesson-ping")
		}
	}
	screenshot(t, ctx, "lesson-end")

	// Back shows step 8 again, Next step 9, and nothing is performed again.
	total := eval[int](t, ctx, `lifeline._total()`)
	click(t, ctx, `#lesson-back`)
	if st := readLesson(t, ctx); st.Step != 7 || st.Kind != "mqtt.DISCONNECT" {
		t.Fatalf("after Back: %+v", st)
	}
	click(t, ctx, `#lesson-next`)
	if st := readLesson(t, ctx); st.Step != 8 || st.Kind != "tcp.fin" {
		t.Fatalf("Back then Next: %+v", st)
	}
	if n := eval[int](t, ctx, `lifeline._total()`); n != total {
		t.Fatalf("Back and Next performed something: %d arrows, were %d", n, total)
	}

	const bp, pd, pb = "browser-proxy", "proxy-dns", "proxy-broker"
	inOrder(t, drawnArrows(t, ctx), []step{
		{"ws.upgrade", bp, "device"},
		{"dns.query", pd, "proxy"},
		{"dns.response", pd, "dns"},
		{"tcp.syn", pb, "proxy"},
		{"tcp.synack", pb, "broker"},
		{"tcp.ack", pb, "proxy"},
		{"mqtt.CONNECT", bp, "device"},
		{"mqtt.CONNECT", pb, "proxy"},
		{"mqtt.CONNACK", pb, "broker"},
		{"mqtt.CONNACK", bp, "proxy"},
		{"mqtt.SUBSCRIBE", bp, "device"},
		{"mqtt.SUBSCRIBE", pb, "proxy"},
		{"mqtt.SUBACK", pb, "broker"},
		{"mqtt.SUBACK", bp, "proxy"},
		{"mqtt.PUBLISH", bp, "device"},
		{"mqtt.PUBLISH", pb, "proxy"},
		{"mqtt.PUBACK", pb, "broker"},
		{"mqtt.PUBACK", bp, "proxy"},
		{"mqtt.PINGREQ", bp, "device"},
		{"mqtt.PINGREQ", pb, "proxy"},
		{"mqtt.PINGRESP", pb, "broker"},
		{"mqtt.PINGRESP", bp, "proxy"},
		{"mqtt.DISCONNECT", bp, "device"},
		{"mqtt.DISCONNECT", pb, "proxy"},
		{"tcp.fin", pb, ""},
	})

	// Finish leaves the lesson and forgets the progress.
	click(t, ctx, `#lesson-next`)
	waitFor(t, ctx, "the lesson closed", `document.getElementById('lesson').hidden && !document.body.classList.contains('lesson-mode')`, 5*time.Second)
	if eval[bool](t, ctx, `document.getElementById('lessons-open').dataset.resume === 'true'`) {
		t.Error("a finished lesson still offers to resume")
	}

	// Replay: the lesson again from its title page, on a fresh diagram.
	openLesson(t, ctx, "lifecycle", false)
	next(0, false)
	click(t, ctx, `#lesson-replay`)
	waitFor(t, ctx, "the title page again", `document.getElementById('lesson').dataset.step === '-1' && lifeline._total() === 0`, 10*time.Second)
}

// lessonShows reads a lesson's file: for each step, the kind and fields of
// its first key packet.
func lessonShows(t *testing.T, id string) []lessonShow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "static", "lessons", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Steps []struct {
			Show []struct {
				Kind   string            `json:"kind"`
				Fields []json.RawMessage `json:"fields"`
			} `json:"show"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	out := make([]lessonShow, len(l.Steps))
	for i, st := range l.Steps {
		if len(st.Show) == 0 {
			continue
		}
		out[i].kind = st.Show[0].Kind
		for _, f := range st.Show[0].Fields {
			var name string
			if json.Unmarshal(f, &name) != nil {
				var o struct{ Field string }
				if err := json.Unmarshal(f, &o); err != nil {
					t.Fatal(err)
				}
				name = o.Field
			}
			out[i].fields = append(out[i].fields, name)
		}
	}
	return out
}

type lessonShow struct {
	kind   string
	fields []string
}

// runLesson plays a lesson from its title page to its last step, checking
// that each step is performed and opens its key packet with its fields
// pointed out; after step after(i) is called.
func runLesson(t *testing.T, ctx context.Context, id string, after func(i int)) {
	t.Helper()
	openLesson(t, ctx, id, false)
	for i, w := range lessonShows(t, id) {
		click(t, ctx, `#lesson-next`)
		st := waitStep(t, ctx, i, 25*time.Second)
		if w.kind != "" {
			// The tree lists the pointed rows in its order, the lesson in
			// its own; a name pointed out twice (two properties) counts twice.
			want, got := slices.Clone(w.fields), slices.Clone(st.Pointed)
			slices.Sort(want)
			slices.Sort(got)
			if st.Kind != w.kind || !slices.Equal(got, want) || len(want) > 0 && st.Bytes == 0 {
				t.Errorf("%s step %d: opened %s pointing out %v (%d bytes), want %s with %v", id, i+1, st.Kind, st.Pointed, st.Bytes, w.kind, w.fields)
			}
		}
		if after != nil {
			after(i)
		}
	}
}

// received returns what a client received in the lesson run (its topics
// carry the run's id), as "topic payload" lines.
func received(t *testing.T, ctx context.Context, client string) []string {
	t.Helper()
	return eval[[]string](t, ctx, `(() => { const run = 'lifeline/' + lifeline._ui.lessons.run + '/'; return lifeline._messages(0).messages.filter(m => m.client === `+jsString(client)+` && m.topic.startsWith(run)).map(m => m.topic.slice(run.length) + ' ' + new TextDecoder().decode(Uint8Array.from(atob(m.payload), c => c.charCodeAt(0))) + (m.retain ? ' (retained)' : '')); })()`)
}

// TestLessons plays the further lessons against lifeline serve's embedded
// broker and checks what each teaches happened on the wire: the QoS levels'
// packets, the queued command of a persistent session delivered on return
// (and nothing for a clean one), the retained message for a new subscriber
// (and none after clearing it), MQTT 5 reason codes and properties.
func TestLessons(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	count := func(kind, leg, from, to string) int {
		return eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === '`+kind+`' && e.leg === '`+leg+`' && (!'`+from+`' || e.from === '`+from+`') && (!'`+to+`' || e.to === '`+to+`')).length`)
	}
	const bp = "browser-proxy"

	t.Run("qos", func(t *testing.T) {
		runLesson(t, ctx, "qos", func(i int) {
			if i == 3 {
				screenshot(t, ctx, "lesson-qos2")
			}
		})
		for _, c := range []struct {
			kind     string
			from, to string
			want     int
		}{
			{"mqtt.PUBLISH", "device", "", 3}, {"mqtt.PUBACK", "", "device", 1}, {"mqtt.PUBREC", "", "device", 1},
			{"mqtt.PUBREL", "device", "", 1}, {"mqtt.PUBCOMP", "", "device", 1},
			{"mqtt.PUBLISH", "", "app", 3}, {"mqtt.PUBACK", "app", "", 1}, {"mqtt.PUBCOMP", "app", "", 1},
		} {
			if n := count(c.kind, bp, c.from, c.to); n != c.want {
				t.Errorf("%s %s→%s: %d arrows, want %d", c.kind, c.from, c.to, n, c.want)
			}
		}
		if got := received(t, ctx, "app"); strings.Join(got, "|") != "qos/0 21.5 at QoS 0|qos/1 21.5 at QoS 1|qos/2 21.5 at QoS 2" {
			t.Errorf("the app received %q", got)
		}
	})

	t.Run("session", func(t *testing.T) {
		runLesson(t, ctx, "session", func(i int) {
			switch i {
			case 2:
				if got := received(t, ctx, "device"); len(got) != 0 {
					t.Errorf("the device received %q while it was away", got)
				}
			case 3:
				if got := received(t, ctx, "device"); strings.Join(got, "|") != "sensor/cmd set interval 60" {
					t.Errorf("on return the device received %q, want the queued command", got)
				}
				if sp := fieldLabelOf(t, ctx, "mqtt.CONNACK", "device", "mqtt.conack.flags.sp", -1); sp != "Session Present: Set" {
					t.Errorf("the returning CONNACK says %q", sp)
				}
				screenshot(t, ctx, "lesson-session")
			}
		})
		if got := received(t, ctx, "device"); len(got) != 1 {
			t.Errorf("with a clean session the device received %q, want only the one queued command", got)
		}
	})

	t.Run("retained", func(t *testing.T) {
		runLesson(t, ctx, "retained", nil)
		if got := received(t, ctx, "app"); strings.Join(got, "|") != "greenhouse/temp 19.5 °C (retained)|greenhouse/temp 20.1 °C|greenhouse/temp " {
			t.Errorf("the app received %q", got)
		}
		if got := received(t, ctx, "late"); len(got) != 0 {
			t.Errorf("the late subscriber received %q after the retained message was cleared", got)
		}
		if lanes := eval[string](t, ctx, `lifeline._view(0, 0).lanes.map(l => l.party).join(',')`); lanes != "device,app,late,proxy,dns,broker" {
			t.Errorf("lanes %s: three clients, each its own", lanes)
		}
		screenshot(t, ctx, "lesson-retained")
	})

	t.Run("mqtt5", func(t *testing.T) {
		runLesson(t, ctx, "mqtt5", func(i int) {
			if i == 2 {
				if got := fieldLabel(t, ctx, "mqtt.unsuback.reason_code"); got != "Reason Code: No subscription existed (17)" {
					t.Errorf("UNSUBACK %q", got)
				}
				screenshot(t, ctx, "lesson-mqtt5")
			}
		})
		if got := received(t, ctx, "app"); strings.Join(got, "|") != `sensor/temp {"t": 21.5}|sensor/status offline` {
			t.Errorf("the app received %q, want the reading and the will sent by DISCONNECT 0x04", got)
		}
	})
}

// fieldLabelOf opens the n-th arrow of a kind to or from a client (-1: the
// last) and returns a field's label.
func fieldLabelOf(t *testing.T, ctx context.Context, kind, client, field string, n int) string {
	t.Helper()
	eval[bool](t, ctx, `(() => { const es = lifeline.trace().filter(e => e.kind === '`+kind+`' && e.leg === 'browser-proxy' && (e.from === '`+client+`' || e.to === '`+client+`')); const e = es.at(`+itoa(n)+`); lifeline._ui.diagram.select(e.seq, false); return true; })()`)
	return fieldLabel(t, ctx, field)
}

// TestLessonWill plays the will lesson: after the proxy cuts the device's
// connection (a TCP reset, no DISCONNECT) the broker delivers the will to
// the app; after a polite DISCONNECT it does not.
func TestLessonWill(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	var willAt int
	runLesson(t, ctx, "will", func(i int) {
		switch i {
		case 1:
			if got := received(t, ctx, "app"); len(got) != 0 {
				t.Errorf("the app received %q before the cut", got)
			}
		case 2:
			if got := received(t, ctx, "app"); strings.Join(got, "|") != "sensor/status sensor-"+eval[string](t, ctx, `lifeline._ui.lessons.run`)+" went offline unexpectedly" {
				t.Errorf("after the cut the app received %q, want the will", got)
			}
			// The cut, as the trace shows it: an RST to the broker, no
			// DISCONNECT from the device, the page's socket closed with 4000.
			seq := eval[[]string](t, ctx, `lifeline.trace().filter(e => e.conn === lifeline.trace().find(x => x.kind === 'tcp.rst').conn).map(e => e.kind + (e.kind === 'ws.close' ? ':' + e.summary : ''))`)
			joined := strings.Join(seq, " ")
			if strings.Contains(joined, "mqtt.DISCONNECT") || !strings.Contains(joined, "tcp.rst") || !strings.Contains(joined, "4000") {
				t.Errorf("the cut connection's arrows: %v", seq)
			}
			willAt = eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.PUBLISH' && e.to === 'app').at(-1).seq`)
			if rst := eval[int](t, ctx, `lifeline.trace().find(e => e.kind === 'tcp.rst').seq`); eval[int](t, ctx, `lifeline._rowOf(`+itoa(rst)+`)`) > eval[int](t, ctx, `lifeline._rowOf(`+itoa(willAt)+`)`) {
				t.Error("the will is drawn before the reset that caused it")
			}
			screenshot(t, ctx, "lesson-will")
		case 3:
			if got := received(t, ctx, "app"); len(got) != 1 {
				t.Errorf("after a polite DISCONNECT the app received %q, want only the earlier will", got)
			}
		}
	})
}

// TestClientsFromTheForm adds a second client with the page's client
// switcher, connects both from the form and shows the broker's fan-out
// from one to the other, each on its own lifeline.
func TestClientsFromTheForm(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	setField(t, ctx, `#client-new`, "app")
	click(t, ctx, `#client-add`)
	if got := eval[string](t, ctx, `document.getElementById('client-select').value + ' ' + document.querySelector('#connect-form [name=clientId]').value`); !strings.HasPrefix(got, "app app-") {
		t.Fatalf("after adding app: client and client id %q", got)
	}
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "app connected", `document.getElementById('conn-state').dataset.state === 'connected' && document.getElementById('conn-state').textContent.includes('lifeline app')`, 10*time.Second)
	setField(t, ctx, `#subscribe-form [name=filter]`, "plant/#")
	click(t, ctx, `#subscribe`)
	waitFor(t, ctx, "app's subscription", `[...document.querySelectorAll('#subscriptions .filter')].some(e => e.textContent === 'plant/#')`, 5*time.Second)

	// Back to the first client: not connected yet, no subscriptions shown.
	setField(t, ctx, `#client-select`, "browser")
	waitFor(t, ctx, "browser's state", `document.getElementById('conn-state').dataset.state === 'idle' && !document.querySelector('#subscriptions .filter')`, 5*time.Second)
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "browser connected", `document.getElementById('conn-state').dataset.state === 'connected'`, 10*time.Second)
	setField(t, ctx, `#publish-form [name=topic]`, "plant/t1")
	click(t, ctx, `#publish`)
	waitFor(t, ctx, "the app's message", `lifeline._messages(0).messages.some(m => m.client === 'app' && m.topic === 'plant/t1')`, 5*time.Second)
	if lanes := eval[string](t, ctx, `lifeline._view(0, 0).lanes.map(l => l.party).join(',')`); lanes != "app,browser,proxy,dns,broker" {
		t.Errorf("lanes %s", lanes)
	}
	if opts := eval[string](t, ctx, `[...document.getElementById('client-select').options].map(o => o.value).join(',')`); opts != "browser,app" {
		t.Errorf("client choices %s", opts)
	}
	screenshot(t, ctx, "clients-from-the-form")
}

// TestLessonPickerByKeyboard opens the picker and a lesson with the
// keyboard alone, in the dark theme.
func TestLessonPickerByKeyboard(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	click(t, ctx, `#theme`) // dark
	key := func(sel, k string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(k)); err != nil {
			t.Fatalf("key %q on %s: %v", k, sel, err)
		}
	}
	key(`#lessons-open`, kb.Enter)
	waitFor(t, ctx, "the picker, focus on the first lesson", `document.getElementById('lesson-picker').open && document.activeElement.closest('.lesson-card')?.dataset.lesson === 'lifecycle'`, 10*time.Second)
	screenshot(t, ctx, "lesson-picker-dark")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the picker closed, focus back on Lessons", `!document.getElementById('lesson-picker').open && document.activeElement.id === 'lessons-open'`, 5*time.Second)
	key(`#lessons-open`, kb.Enter)
	waitFor(t, ctx, "the picker again", `document.getElementById('lesson-picker').open && document.activeElement.classList.contains('lesson-start')`, 10*time.Second)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the lesson, focus on Next", `document.getElementById('lesson').dataset.lesson === 'lifecycle' && document.activeElement.id === 'lesson-next'`, 10*time.Second)
	for i := 0; i < 3; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowRight)); err != nil {
			t.Fatal(err)
		}
		waitStep(t, ctx, i, 20*time.Second)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#lane-heads .lane-head')].map(e => e.textContent).join(',')`); !strings.HasPrefix(got, "Device,") {
		t.Errorf("lane heads %s: the lesson names its client's lane", got)
	}
	screenshot(t, ctx, "lesson-connect-dark")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowLeft)); err != nil {
		t.Fatal(err)
	}
	if st := readLesson(t, ctx); st.Step != 1 || st.Kind != "tcp.syn" {
		t.Errorf("← went to %+v, want step 2", st)
	}
}
