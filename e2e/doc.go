// Package e2e holds Lifeline's end-to-end tests: they build the real
// lifeline binary, start it on a free loopback port, and drive the page in
// the system's headless Chromium with chromedp.
//
// The tests carry the build tag e2e and run with `make test` (or
// `go test -tags e2e ./e2e/` after `make wasm`). A missing Chromium or a
// missing built wasm fails them with a message saying what to install or run;
// they never skip. Screenshots go to ../artifacts/ (or $LIFELINE_ARTIFACTS).
package e2e
