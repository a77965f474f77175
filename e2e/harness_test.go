//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// binary is the lifeline binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "lifeline-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if _, err := os.Stat("../static/wasm/main.wasm"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: static/wasm/main.wasm is missing: run `make wasm` (or `make test`) first")
			return 1
		}
		binary = filepath.Join(dir, "lifeline")
		cmd := exec.Command("go", "build", "-o", binary, "../server")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building lifeline:", err)
			return 1
		}
		return m.Run()
	}())
}

// server is a running `lifeline serve`.
type server struct {
	URL string // http://127.0.0.1:PORT
}

// startServer runs `lifeline serve` on a free loopback port with the extra
// arguments and stops it when the test ends.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "LIFELINE_LISTEN=") // the flag wins; keep the environment from steering tests
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := testenv.NewProcessLog(t)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logs.Stop()
	})
	lines := bufio.NewScanner(stdout)
	urlc := make(chan string, 1)
	go func() {
		for lines.Scan() {
			line := lines.Text()
			t.Log("lifeline:", line)
			if u, ok := strings.CutPrefix(line, "lifeline: serving "); ok {
				urlc <- strings.TrimSuffix(u, "/")
			}
		}
	}()
	select {
	case u := <-urlc:
		return &server{URL: u}
	case <-time.After(20 * time.Second):
		t.Fatal("lifeline serve did not print its address within 20 s")
		return nil
	}
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// chromedp context for one tab. Console messages and uncaught exceptions of
// the page are written to the test log; extra options are added to the
// defaults.
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testenv.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // as root Chromium refuses to start with its sandbox
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1400, 900),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	logs := testenv.NewProcessLog(t)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			fmt.Fprintf(logs, "console.%s: %s", ev.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			fmt.Fprintf(logs, "page exception at %s:%d: %s", d.URL, d.LineNumber+1, desc)
		}
	}))
	t.Cleanup(func() { logs.Stop(); cancel(); cancelAlloc() })
	// Start the browser now, without a deadline (a deadline on the first
	// Run would bound the browser's whole life).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// openPage navigates to the server's page and waits for window.lifeline.ready.
func openPage(t testing.TB, ctx context.Context, s *server) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`window.lifeline.ready.then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("window.lifeline.ready: %v", err)
	}
}

// screenshot saves a full-page PNG into the artifact folder.
func screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("LIFELINE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
	return file
}
