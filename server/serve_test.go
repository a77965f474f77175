package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/lifeline-mqtt/lifeline/static"
)

// lockedBuffer collects a command's output safely across goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `lifeline serve args…` in-process until the test ends and
// returns the lines it printed on stdout once the serving line appeared.
func startServe(t *testing.T, args ...string) map[string]string {
	t.Helper()
	return startServeCtx(t, context.Background(), args...).lines
}

// served is a `lifeline serve` running in-process.
type served struct {
	lines  map[string]string // the startup lines by prefix
	done   chan struct{}     // closed when run returned
	err    error             // what run returned, once done
	stderr *lockedBuffer     // the log
}

// startServeCtx runs `lifeline serve args…` with ctx; it is stopped (if it
// has not stopped by itself) when the test ends.
func startServeCtx(t *testing.T, ctx context.Context, args ...string) *served {
	t.Helper()
	t.Setenv("LIFELINE_LISTEN", "")
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	s := &served{lines: map[string]string{}, done: make(chan struct{}), stderr: &stderr}
	go func() {
		s.err = run(ctx, append([]string{"serve", "-listen", "127.0.0.1:0"}, args...), pw, &stderr)
		pw.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
		if s.err != nil {
			t.Errorf("serve returned %v", s.err)
		}
		t.Log(stderr.String())
	})
	sc := bufio.NewScanner(pr)
	got := make(chan struct{})
	go func() {
		for sc.Scan() {
			line := sc.Text()
			for _, p := range []string{"lifeline: serving ", "lifeline: embedded broker ", "lifeline: embedded DNS zone "} {
				if v, ok := strings.CutPrefix(line, p); ok {
					s.lines[p] = v
				}
			}
			if strings.HasPrefix(line, "lifeline: embedded DNS zone ") {
				close(got)
				io.Copy(io.Discard, pr)
				return
			}
		}
	}()
	select {
	case <-got:
	case <-s.done:
		t.Fatalf("serve ended early: %v\n%s", s.err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve printed no address")
	}
	return s
}

func TestServeEndToEnd(t *testing.T) {
	lines := startServe(t, "-embedded-broker", "127.0.0.1:0")
	base := strings.TrimSuffix(lines["lifeline: serving "], "/")
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasPrefix(lines["lifeline: embedded broker "], "mqtt://127.0.0.1:") {
		t.Fatalf("printed %v", lines)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	resp, err = http.Get(base + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	broker := strings.TrimPrefix(lines["lifeline: embedded broker "], "mqtt://")
	_, port, _ := net.SplitHostPort(broker)
	if cfg["defaultBroker"] != "broker.lifeline.test:"+port || cfg["embeddedBroker"] != broker {
		t.Fatalf("/api/config = %v", cfg)
	}

	// The page's path: /trace, then /mqtt to the default broker.
	host := strings.TrimPrefix(base, "http://")
	h := http.Header{"Origin": {base}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, _, err := websocket.Dial(ctx, "ws://"+host+"/trace", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseNow()
	var hello struct{ Token string }
	wsjson.Read(ctx, tr, &hello)
	mqttOpts := &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"mqtt"}}
	ws, resp, err := websocket.Dial(ctx, "ws://"+host+"/mqtt?trace="+hello.Token, mqttOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" || ws.Subprotocol() != "mqtt" {
		t.Errorf("subprotocol %q, want mqtt", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	ws.Write(ctx, websocket.MessageBinary, []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0})
	if _, msg, err := ws.Read(ctx); err != nil || msg[0] != 0x20 {
		t.Fatalf("CONNACK: % x %v", msg, err)
	}
	kinds := map[string]bool{}
	for !kinds["mqtt.CONNACK"] {
		var m struct {
			Entry struct{ Kind string }
		}
		if err := wsjson.Read(ctx, tr, &m); err != nil {
			t.Fatalf("trace: %v (so far %v)", err, kinds)
		}
		kinds[m.Entry.Kind] = true
	}
	if !kinds["dns.query"] || !kinds["dns.response"] || !kinds["tcp.syn"] {
		t.Errorf("the embedded zone was not asked: %v", kinds)
	}

	// Someone else's page may not use the proxy.
	evil := &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}, Subprotocols: []string{"mqtt"}}
	if _, resp, err := websocket.Dial(ctx, "ws://"+host+"/mqtt", evil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v", err)
	}
}

func TestServePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("LIFELINE_LISTEN", "")
	var out, errOut strings.Builder
	err = run(context.Background(), []string{"serve", "-listen", "127.0.0.1:0", "-embedded-broker", ln.Addr().String()}, &out, &errOut)
	if err == nil {
		t.Fatal("serve started with its broker port taken")
	}
	msg := err.Error()
	for _, want := range []string{ln.Addr().String(), "already in use", "-embedded-broker"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q is not one line", msg)
	}
}

func TestServeFlagsFromEnvironment(t *testing.T) {
	t.Setenv("LIFELINE_EMBEDDED_BROKER", "off")
	t.Setenv("LIFELINE_DEFAULT_BROKER", "broker.example.com:1883")
	lines := startServe(t)
	if _, ok := lines["lifeline: embedded broker "]; ok {
		t.Fatal("LIFELINE_EMBEDDED_BROKER=off did not turn the broker off")
	}
	resp, err := http.Get(lines["lifeline: serving "] + "api/config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if cfg["defaultBroker"] != "broker.example.com:1883" || cfg["embeddedBroker"] != nil {
		t.Fatalf("/api/config = %v", cfg)
	}
}

func TestServeCaptureEndpointsChecked(t *testing.T) {
	lines := startServe(t, "-embedded-broker", "off")
	base := strings.TrimSuffix(lines["lifeline: serving "], "/")
	tests := []struct {
		origin string
		want   int
	}{
		{base, http.StatusBadRequest}, // reaches the importer, which rejects the bytes
		{"", http.StatusBadRequest},
		{"http://evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+"/api/import", strings.NewReader("not a capture"))
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// Every path checks the Host, as the WebSockets do: a page on evil.example
// whose name now points at 127.0.0.1 (DNS rebinding) reads nothing.
func TestServeChecksHost(t *testing.T) {
	lines := startServe(t, "-embedded-broker", "off")
	base := strings.TrimSuffix(lines["lifeline: serving "], "/")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, path := range []string{"/", "/index.html", "/healthz", "/api/config", "/mqtt", "/trace", "/nonexistent"} {
		for _, host := range []string{"evil.example", "evil.example:" + port} {
			t.Run(path+" "+host, func(t *testing.T) {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Host = host
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Host") {
					t.Fatalf("status %d %q, want 403 naming the Host", resp.StatusCode, body)
				}
			})
		}
	}
	for _, path := range []string{"/", "/healthz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s with the served Host: status %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestServeFavicon: the page names its icon, so the browser does not ask
// for /favicon.ico (a 404 on every load), and the icon is served as SVG.
func TestServeFavicon(t *testing.T) {
	page, err := fs.ReadFile(static.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<link rel="icon" href="([^"]+)" type="image/svg\+xml">`).FindSubmatch(page)
	if m == nil {
		t.Fatal(`index.html has no <link rel="icon" … type="image/svg+xml">: browsers then ask for /favicon.ico and get 404`)
	}
	lines := startServe(t, "-embedded-broker", "off")
	base := lines["lifeline: serving "]
	resp, err := http.Get(base + string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(body, []byte("<svg")) {
		t.Fatalf("GET %s: status %d, Content-Type %q, body %.40q; want 200 image/svg+xml <svg…", m[1], resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
