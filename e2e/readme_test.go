//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// viewportShot saves what a screen of w×h shows (not the whole page) as
// artifacts/NAME.png and checks it is a PNG of that size.
func viewportShot(t *testing.T, ctx context.Context, name string, w, h int) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("screenshot %s is %v, want %dx%d", name, got, w, h)
	}
	dir := os.Getenv("LIFELINE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

// TestReadmeScreenshots makes the README's pictures on a projector's
// 1280×720 screen: the lifecycle after pressing Connect, Subscribe and
// Publish with the page's defaults (the diagram from the DNS lookup down,
// the CONNECT opened), and the lifecycle lesson at its CONNECT step; and
// the same session on a 390×844 phone, its panels folded. It
// checks what they show: every step of the lifecycle drawn on its leg, the
// lane heads and the first arrows on screen, no error.
func TestReadmeScreenshots(t *testing.T) {
	const w, h = 1280, 720
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")

	t.Run("lifecycle", func(t *testing.T) {
		ctx := newBrowser(t)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
			t.Fatal(err)
		}
		openPage(t, ctx, s)
		connectSubscribePublish(t, ctx)
		if msg := eval[string](t, ctx, `document.getElementById('connect-error').hidden ? '' : document.getElementById('connect-error').textContent`); msg != "" {
			t.Fatalf("the defaults gave an error: %s", msg)
		}
		inOrder(t, drawnArrows(t, ctx), []step{
			{"ws.upgrade", "browser-proxy", "browser"},
			{"dns.query", "proxy-dns", "proxy"},
			{"dns.response", "proxy-dns", "dns"},
			{"tcp.syn", "proxy-broker", "proxy"},
			{"ws.accept", "browser-proxy", "proxy"}, // the proxy answers the upgrade once the broker's TCP is up
			{"mqtt.CONNECT", "browser-proxy", "browser"},
			{"mqtt.CONNECT", "proxy-broker", "proxy"},
			{"mqtt.CONNACK", "proxy-broker", "broker"},
			{"mqtt.CONNACK", "browser-proxy", "proxy"},
			{"mqtt.SUBSCRIBE", "browser-proxy", "browser"},
			{"mqtt.SUBACK", "browser-proxy", "proxy"},
			{"mqtt.PUBLISH", "browser-proxy", "browser"},
			{"mqtt.PUBACK", "browser-proxy", "proxy"},
		})
		// From the top, a little smaller, the CONNECT's fields open.
		click(t, ctx, `#zoom-out`)
		eval[bool](t, ctx, `(lifeline._ui.diagram.setFollowing(false), lifeline._ui.diagram.programmaticScroll = true, document.getElementById('diagram-scroll').scrollTop = 0, true)`)
		eval[bool](t, ctx, `(lifeline._ui.diagram.select(lifeline.trace().find(e => e.kind === 'mqtt.CONNECT' && e.from === 'browser').seq, true), true)`)
		waitFor(t, ctx, "the CONNECT's tree", `document.querySelector('#tree [data-field="mqtt.kalive"]')`, 5*time.Second)
		eval[bool](t, ctx, `(lifeline._ui.diagram.programmaticScroll = true, document.getElementById('diagram-scroll').scrollTop = 0, new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))))`)
		// On screen: the four lanes named, and the first arrows (up to the DNS
		// query) inside the visible part of the diagram.
		if got := eval[string](t, ctx, `[...document.querySelectorAll('#lane-heads .lane-head')].map(e => e.textContent).join(',')`); got != "Browser,Lifeline proxy,DNS server,Broker" {
			t.Fatalf("lane heads %q", got)
		}
		if !eval[bool](t, ctx, `(() => { const r = document.querySelector('#diagram [data-kind="dns.query"]').getBoundingClientRect(), v = document.getElementById('diagram-scroll').getBoundingClientRect(); return r.top >= v.top && r.bottom <= v.bottom && r.bottom <= innerHeight; })()`) {
			t.Fatal("the DNS query is not on screen")
		}
		viewportShot(t, ctx, "readme-lifecycle", w, h)
	})

	// On a phone: the client's panels folded behind one button, opened to
	// connect, subscribe and publish, folded again; the diagram the whole
	// width; a tapped arrow's packet below it.
	t.Run("phone", func(t *testing.T) {
		const pw, ph = 390, 844
		ctx := newBrowser(t)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(pw, ph)); err != nil {
			t.Fatal(err)
		}
		openPage(t, ctx, s)
		panelsShown := `document.getElementById('connect-panel').getClientRects().length > 0`
		if eval[bool](t, ctx, panelsShown) {
			t.Fatal("on a phone the client's panels are not folded away at first")
		}
		click(t, ctx, `#side-fold`)
		waitFor(t, ctx, "the panels unfolded", panelsShown, 5*time.Second)
		connectSubscribePublish(t, ctx)
		click(t, ctx, `#side-fold`)
		waitFor(t, ctx, "the panels folded", `!(`+panelsShown+`)`, 5*time.Second)
		// Tap the CONNECT: its packet opens below the diagram, scrolled to.
		tapConnect(t, ctx)
		waitFor(t, ctx, "the CONNECT's packet scrolled to", `document.querySelector('#tree [data-field="mqtt.kalive"]') && (r => r.top > -2 && (r.top < 2 || r.bottom <= innerHeight + 1))(document.getElementById('detail-panel').getBoundingClientRect())`, 5*time.Second)
		click(t, ctx, `#detail-back`)
		waitFor(t, ctx, "back at the diagram", `Math.abs(document.getElementById('diagram-panel').getBoundingClientRect().top) < 2`, 5*time.Second)
		if w := eval[int](t, ctx, `document.getElementById('diagram-scroll').clientWidth`); w < pw-20 {
			t.Fatalf("the diagram is %d px wide on a %d px phone", w, pw)
		}
		viewportShot(t, ctx, "readme-phone", pw, ph)
	})

	t.Run("lesson", func(t *testing.T) {
		ctx := newBrowser(t)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
			t.Fatal(err)
		}
		openPage(t, ctx, s)
		openLesson(t, ctx, "lifecycle", false)
		for i := 0; i < 4; i++ { // DNS, TCP, the upgrade, CONNECT
			click(t, ctx, `#lesson-next`)
			waitStep(t, ctx, i, 25*time.Second)
		}
		st := readLesson(t, ctx)
		if st.Kind != "mqtt.CONNECT" || len(st.Pointed) == 0 {
			t.Fatalf("the lesson's CONNECT step shows %+v", st)
		}
		if !eval[bool](t, ctx, `(() => { const r = document.getElementById('lesson-next').getBoundingClientRect(); return r.bottom <= innerHeight && r.right <= innerWidth; })()`) {
			t.Fatal("Next is off screen at 1280×720")
		}
		viewportShot(t, ctx, "readme-lesson", w, h)
	})
}
