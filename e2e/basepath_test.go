//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestPageOverTLSUnderBasePath: served with -tls-cert/-tls-key under
// -base-path /lifeline/, the page loads from https://…/lifeline/, opens
// wss://…/lifeline/trace and wss://…/lifeline/mqtt (its URLs follow its
// location), and draws the proxy's side of a session.
func TestPageOverTLSUnderBasePath(t *testing.T) {
	cert, key, _ := testenv.SelfSigned(t)
	s := startServer(t, "-embedded-broker", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key, "-base-path", "/lifeline/")
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || !strings.HasSuffix(s.URL, "/lifeline") {
		t.Fatalf("serving %s, want https://127.0.0.1:PORT/lifeline/", s.URL)
	}
	ctx := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	openPage(t, ctx, s)
	waitFor(t, ctx, "the broker from /api/config", `document.querySelector('#connect-form [name=broker]').value.startsWith('broker.lifeline.test:') && document.querySelector('#connect-form [name=broker]').value !== 'broker.lifeline.test:1883'`, 10*time.Second)
	broker := eval[string](t, ctx, `document.querySelector('#connect-form [name=broker]').value`)
	eval[bool](t, ctx, `lifeline.connect({broker: `+jsString(broker)+`, clientId: 'tls-base'}).then(() => true)`)
	waitFor(t, ctx, "the proxy's CONNACK", `lifeline.trace().some(e => e.kind === 'mqtt.CONNACK' && e.leg === 'proxy-broker')`, 10*time.Second)
	for _, kind := range []string{"dns.query", "tcp.syn", "ws.accept"} {
		if !eval[bool](t, ctx, `lifeline.trace().some(e => e.kind === `+jsString(kind)+` && e.conn === 'c1')`) {
			t.Errorf("no %s from the proxy's trace channel", kind)
		}
	}
	urls := eval[string](t, ctx, `performance.getEntriesByType('resource').map(e => e.name).join(' ')`)
	for _, want := range []string{s.URL + "/app.js", s.URL + "/wasm/main.wasm", s.URL + "/api/config"} {
		if !strings.Contains(urls, want) {
			t.Errorf("the page did not load %s; it loaded %s", want, urls)
		}
	}
	eval[bool](t, ctx, `lifeline.disconnect({}).then(() => true)`)
}
