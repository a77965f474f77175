//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// layoutSizes are the screens the page must be readable on (#12 items
// 1–4): a phone, a tablet either way up, the laptops and monitors people
// have, a projector.
var layoutSizes = []struct{ w, h int }{
	{390, 844}, {768, 1024}, {1024, 768}, {1280, 720}, {1366, 768}, {1440, 900}, {1600, 900}, {1700, 1000}, {1920, 1080},
}

// layoutProblems is a JavaScript expression listing what is wrong with the
// page's layout as it stands: text that overflows its box or breaks inside
// a word, a document wider than the viewport, a header button off screen,
// the opened packet's field tree or hex dump cut off where no scroll
// container can bring it into view. With strict, the pointed-out field and
// bytes of a lesson's packet must be on screen now, without scrolling.
const layoutProblems = `((strict) => {
  const out = [];
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const name = (el) => el.id ? '#' + el.id : el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') + (el.parentElement && el.parentElement.id ? ' in #' + el.parentElement.id : '');
  const shown = (el) => el.checkVisibility({ visibilityProperty: true }) && el.getClientRects().length > 0;
  const scrolls = (v) => v === 'auto' || v === 'scroll';

  const de = document.documentElement;
  if (de.scrollWidth > vw + 1) out.push('the document is ' + de.scrollWidth + ' px wide in a ' + vw + ' px viewport');

  for (const b of document.querySelectorAll('header.top button, header.top summary')) {
    if (!shown(b)) continue;
    const r = b.getBoundingClientRect();
    if (r.left < -0.5 || r.right > vw + 0.5 || r.top + scrollY < -0.5 || r.bottom + scrollY > Math.max(vh, de.scrollHeight) + 0.5) out.push('header button ' + name(b) + ' "' + b.textContent.trim() + '" is off screen at ' + Math.round(r.left) + '..' + Math.round(r.right));
  }

  // Text overflowing its box: a box whose content is wider than it, unless
  // it is meant to scroll sideways or to end in an ellipsis.
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || !shown(el)) continue;
    if (/^(INPUT|SELECT|TEXTAREA|OPTION|BR|WBR|SCRIPT|STYLE)$/.test(el.tagName)) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'inline' || cs.display === 'contents') continue;
    if (scrolls(cs.overflowX) || cs.textOverflow === 'ellipsis') continue;
    if (el.scrollWidth > el.clientWidth + 1) out.push(name(el) + ': content ' + el.scrollWidth + ' px in a box of ' + el.clientWidth + ' px ("' + el.textContent.trim().slice(0, 40) + '")');
  }

  // Words broken across lines: the line boxes of each word of letters and
  // digits. Bytes (the hex dump), payloads and code may break anywhere.
  const range = document.createRange();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let broken = 0;
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('svg, #hex, textarea, pre, .msg-topic, script, style') || !shown(el)) continue;
    for (const m of n.data.matchAll(/[\p{L}\p{N}]{2,}/gu)) {
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      const tops = [...range.getClientRects()].filter((r) => r.width > 0).map((r) => r.top).sort((a, b) => a - b);
      if (tops.length > 1 && tops[tops.length - 1] - tops[0] > 3) {
        if (broken++ < 12) out.push('"' + m[0] + '" breaks across lines in ' + name(el));
      }
    }
  }
  if (broken > 12) out.push((broken - 12) + ' more words break across lines');

  // The diagram draws arrows, not a sliver.
  const shafts = [...document.querySelectorAll('#diagram .arrow .shaft')].map((l) => Math.abs(l.x2.baseVal.value - l.x1.baseVal.value));
  if (shafts.length && Math.max(...shafts) < 24) out.push('the diagram\'s longest arrow is ' + Math.round(Math.max(...shafts)) + ' px');
  const sc = document.getElementById('diagram-scroll');
  if (sc.clientWidth < Math.min(vw - 40, 360)) out.push('the diagram is ' + sc.clientWidth + ' px wide in a ' + vw + ' px viewport');

  // The opened packet: each part wholly visible, or inside a scroll
  // container that can scroll to it; strict: the part on screen now.
  const reach = (what, el, now) => {
    if (!el || !shown(el)) { out.push(what + ' is not shown'); return; }
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) { out.push(what + ' has no size'); return; }
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
      const ar = a.getBoundingClientRect();
      const left = ar.left + a.clientLeft, top = ar.top + a.clientTop, right = left + a.clientWidth, bottom = top + a.clientHeight;
      const outX = r.left < left - 1 || r.right > right + 1, outY = r.top < top - 1 || r.bottom > bottom + 1;
      if (now && (outX || outY)) out.push(what + ' is not wholly in sight in ' + name(a) + ' (' + Math.round(r.top) + '..' + Math.round(r.bottom) + ' in ' + Math.round(top) + '..' + Math.round(bottom) + ')');
      if (outX && !scrolls(cs.overflowX)) out.push(what + ' is cut off sideways by ' + name(a) + ' (' + Math.round(r.left) + '..' + Math.round(r.right) + ' in ' + Math.round(left) + '..' + Math.round(right) + ')');
      if (outY && !scrolls(cs.overflowY)) out.push(what + ' is cut off below by ' + name(a));
    }
    if (r.left < -1 || r.right > vw + 1) out.push(what + ' reaches outside the viewport (' + Math.round(r.left) + '..' + Math.round(r.right) + ')');
    if (now && (r.top > vh - 8 || r.bottom < 0)) out.push(what + ' is below the fold (top at ' + Math.round(r.top) + ' of ' + vh + ')');
  };
  reach('the field tree', document.querySelector('#tree > ul'), false);
  reach('the hex dump', document.querySelector('#hex'), false);
  for (const line of document.querySelectorAll('#hex .hex-line')) {
    if (line.scrollWidth > line.clientWidth + 1) { out.push('a hex line is cut off'); break; }
  }
  if (strict) {
    reach('the pointed-out field', document.querySelector('#tree .field-row.pointed'), true);
    reach('the hex dump', document.querySelector('#hex'), true);
    reach('the pointed-out bytes', document.querySelector('#hex .byte.pointed'), true);
  }
  return out;
})`

// checkLayout resizes the page to each size, lets it lay out, lists its
// problems and keeps a screenshot of what the screen shows.
func checkLayout(t *testing.T, ctx context.Context, mode string, strict bool) {
	for _, sz := range layoutSizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(sz.w), int64(sz.h))); err != nil {
				t.Fatal(err)
			}
			// Two frames: the resize, then the diagram's redraw for its new width.
			eval[bool](t, ctx, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))))`)
			if mode == "lesson" {
				// A lesson opens its packet at the step; reopening at this size
				// scrolls the pointed-out rows into view as the step would.
				eval[bool](t, ctx, `(lifeline._ui.lessons.showPackets(lifeline._ui.lessons.at, 0), true)`)
				eval[bool](t, ctx, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
			}
			problems := eval[[]string](t, ctx, layoutProblems+`(`+fmt.Sprint(strict && sz.w >= 1000)+`)`)
			viewportShot(t, ctx, fmt.Sprintf("layout-%s-%dx%d", mode, sz.w, sz.h), sz.w, sz.h)
			if len(problems) > 0 {
				t.Errorf("%s at %d×%d:\n  %s", mode, sz.w, sz.h, strings.Join(problems, "\n  "))
			}
		})
	}
}

// TestPageLayoutAtEverySize (#12 items 1–4): live, with a session of a
// few packets and the CONNECT opened, and in a lesson at its CONNECT step,
// at a phone's 390×844, a tablet's and every desktop size up to a
// projector's 1920×1080, no text overflows its box or breaks inside a word,
// the page is no wider than the screen, the header's buttons are on it, and
// the opened packet's field tree and hex dump can be seen (in a lesson 1000
// px wide or more: the pointed-out field and the whole hex dump are on
// screen at once, at every step of the lesson at 1280×720).
// Screenshots: artifacts/layout-{live,lesson}-WxH.png.
func TestPageLayoutAtEverySize(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")

	t.Run("live", func(t *testing.T) {
		ctx := newBrowser(t)
		openPage(t, ctx, s)
		connectSubscribePublish(t, ctx)
		tapConnect(t, ctx)
		waitFor(t, ctx, "the CONNECT's tree and bytes", `document.querySelector('#tree [data-field="mqtt.kalive"]') && document.querySelector('#hex .byte')`, 5*time.Second)
		checkLayout(t, ctx, "live", false)
	})

	t.Run("lesson", func(t *testing.T) {
		ctx := newBrowser(t)
		openPage(t, ctx, s)
		// The lesson picker on a phone: its cards fit the dialog.
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
			t.Fatal(err)
		}
		click(t, ctx, `#lessons-open`)
		waitFor(t, ctx, "the lesson picker", `document.getElementById('lesson-picker').open`, 10*time.Second)
		viewportShot(t, ctx, "layout-picker-390x844", 390, 844)
		if over := eval[string](t, ctx, `[...document.querySelectorAll('#lesson-picker, #lesson-picker *')].filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline').map(e => (e.id || e.className) + ' ' + e.scrollWidth + '>' + e.clientWidth).join(', ')`); over != "" {
			t.Errorf("the lesson picker overflows on a phone: %s", over)
		}
		click(t, ctx, `#picker-close`)
		openLesson(t, ctx, "lifecycle", false)
		// Every step of the lesson on the classroom's smallest screen
		// (item 3): the pointed-out field and the whole hex dump on screen.
		const steps, sizes = 9, 3 // the sizes at step 4, the CONNECT
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < steps; i++ {
			click(t, ctx, `#lesson-next`)
			st := waitStep(t, ctx, i, 25*time.Second)
			if len(st.Pointed) > 0 {
				if problems := eval[[]string](t, ctx, layoutProblems+`(true)`); len(problems) > 0 {
					viewportShot(t, ctx, fmt.Sprintf("layout-lesson-step%d-1280x720", i+1), 1280, 720)
					t.Errorf("lesson step %d (%s) at 1280×720:\n  %s", i+1, st.Kind, strings.Join(problems, "\n  "))
				}
			}
			if i != sizes {
				continue
			}
			if st.Kind != "mqtt.CONNECT" || len(st.Pointed) == 0 || st.Bytes == 0 {
				t.Fatalf("the lesson's CONNECT step shows %+v", st)
			}
			checkLayout(t, ctx, "lesson", true)
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// connectSubscribePublish presses Connect, Subscribe and Publish with the
// page's defaults and waits for the message to come back, acknowledged on
// both legs.
func connectSubscribePublish(t *testing.T, ctx context.Context) {
	t.Helper()
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "connected", `document.getElementById('conn-state').dataset.state === 'connected'`, 10*time.Second)
	click(t, ctx, `#subscribe`)
	waitFor(t, ctx, "the SUBACK", `lifeline.trace().some(e => e.kind === 'mqtt.SUBACK' && e.to === 'browser')`, 5*time.Second)
	// The subscription listed under its form, as a user sees it before
	// tapping Publish: the list's new line moves the Publish button down,
	// and a click aimed before that frame lands above it.
	waitFor(t, ctx, "the subscription listed", `document.querySelector('#subscriptions li.sub')`, 5*time.Second)
	click(t, ctx, `#publish`)
	waitFor(t, ctx, "the message back", `lifeline._messages(0).total === 1`, 5*time.Second)
	waitFor(t, ctx, "the PUBACKs", `lifeline.trace().filter(e => e.kind === 'mqtt.PUBACK').length >= 4`, 5*time.Second)
}

// tapConnect brings the browser's CONNECT into view and clicks its arrow,
// as a user does.
func tapConnect(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[bool](t, ctx, `(() => { const d = lifeline._ui.diagram, seq = lifeline.trace().find(e => e.kind === 'mqtt.CONNECT' && e.from === 'browser').seq; d.setFollowing(false); d.reveal(seq); d.frame(); document.querySelector('#diagram [data-seq="' + seq + '"]').dispatchEvent(new MouseEvent('click', {bubbles: true})); return true; })()`)
}
