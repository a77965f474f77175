//go:build e2e

package e2e

import (
	"context"
	"reflect"
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

// TestLessonLifecycle runs the eight-step lesson in a real page against
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

	for i := 0; i < 4; i++ {
		next(i, i == 1)
		if i == 2 {
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

	// Leave by reloading the page; the lesson resumes at step 4, performing
	// steps 1 to 4 again so that the device is connected and subscribed.
	openPage(t, ctx, s)
	if !eval[bool](t, ctx, `document.getElementById('lessons-open').dataset.resume === 'true'`) {
		t.Fatal("after a reload the Lessons button does not offer to resume")
	}
	openLesson(t, ctx, "lifecycle", true)
	check(3, waitStep(t, ctx, 3, 40*time.Second))
	if n := eval[int](t, ctx, `lifeline.trace().filter(e => e.kind === 'mqtt.SUBACK').length`); n != 2 {
		t.Fatalf("after resuming, %d SUBACKs in the diagram, want 2 (one per leg)", n)
	}

	var publishID string
	for i := 4; i < len(steps); i++ {
		next(i, false)
		switch steps[i].kind {
		case "mqtt.PUBLISH":
			publishID = fieldLabel(t, ctx, "mqtt.msgid")
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

	// Back shows step 7 again, Next step 8, and nothing is performed again.
	total := eval[int](t, ctx, `lifeline._total()`)
	click(t, ctx, `#lesson-back`)
	if st := readLesson(t, ctx); st.Step != 6 || st.Kind != "mqtt.DISCONNECT" {
		t.Fatalf("after Back: %+v", st)
	}
	click(t, ctx, `#lesson-next`)
	if st := readLesson(t, ctx); st.Step != 7 || st.Kind != "tcp.fin" {
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
