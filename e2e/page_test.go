//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPageLoadsWasm opens the page and checks that the WebAssembly client
// started and said so on the page.
func TestPageLoadsWasm(t *testing.T) {
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	screenshot(t, ctx, "page-loaded")

	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('status').dataset.state`))
	if err != nil {
		t.Fatal(err)
	}
	if state != "ready" {
		t.Fatalf("status state = %q, want ready", state)
	}
	goVersion, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.lifeline.info.goVersion`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(goVersion, "go1.") {
		t.Fatalf("lifeline.info.goVersion = %q, want the Go version the wasm was built with", goVersion)
	}
}
