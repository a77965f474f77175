package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads base/metrics with Prometheus' own text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metricValue is the value of the counter, gauge or histogram count name
// whose labels include the given name=value pairs; ok is false if there is
// none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// scrapeUntil scrapes until every want holds (the proxy counts a write's
// bytes just after the write returns, so the peer may read them first), at
// most 5 s, and returns the last scrape.
func scrapeUntil(t *testing.T, base string, wants ...want) map[string]*dto.MetricFamily {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		fams := scrape(t, base)
		ok := true
		for _, w := range wants {
			if v, found := metricValue(fams, w.name, w.labels...); !found || v != w.value {
				ok = false
			}
		}
		if ok || time.Now().After(deadline) {
			return fams
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// want is a metric's expected value.
type want struct {
	value  float64
	name   string
	labels []string
}

func wantMetrics(t *testing.T, fams map[string]*dto.MetricFamily, wants ...want) {
	t.Helper()
	for _, w := range wants {
		wantMetric(t, fams, w.value, w.name, w.labels...)
	}
}

func wantMetric(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if v, ok := metricValue(fams, name, labels...); !ok || v != want {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, want)
	}
}

// /metrics, scraped and parsed as Prometheus does, counts a real session:
// its CONNECT (14 bytes) and CONNACK (4 bytes), its dial and DNS lookup,
// and a refusal by its reason.
func TestServeMetrics(t *testing.T) {
	s := startServeCtx(t, context.Background(), "-embedded-broker", "127.0.0.1:0")
	base := strings.TrimSuffix(s.lines["lifeline: serving "], "/")
	fams := scrape(t, base)
	wantMetric(t, fams, 0, "lifeline_sessions")
	wantMetric(t, fams, 0, "lifeline_bytes_total", "direction", "up")
	wantMetric(t, fams, 0, "lifeline_refusals_total", "reason", "trace_token")
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("no Go or process metrics")
	}

	tr, ws := openSession(t, base)
	open := []want{
		{1, "lifeline_sessions", nil}, {1, "lifeline_traces", nil},
		{1, "lifeline_sessions_total", nil}, {1, "lifeline_traces_total", nil},
		{14, "lifeline_bytes_total", []string{"direction", "up"}}, {4, "lifeline_bytes_total", []string{"direction", "down"}},
		{1, "lifeline_packets_total", []string{"direction", "up"}}, {1, "lifeline_packets_total", []string{"direction", "down"}},
		{1, "lifeline_dial_seconds", nil}, {1, "lifeline_dns_seconds", nil},
	}
	wantMetrics(t, scrapeUntil(t, base, open...), open...)

	// A DISCONNECT ends the session; its counts stay.
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	ws.Write(rctx, websocket.MessageBinary, []byte{0xe0, 0})
	for {
		if _, _, err := ws.Read(rctx); err != nil {
			break
		}
	}
	tr.CloseNow()
	ended := []want{
		{0, "lifeline_sessions", nil}, {16, "lifeline_bytes_total", []string{"direction", "up"}},
		{2, "lifeline_packets_total", []string{"direction", "up"}}, {4, "lifeline_bytes_total", []string{"direction", "down"}},
	}
	wantMetrics(t, scrapeUntil(t, base, ended...), ended...)

	// A refusal, counted by its reason.
	host := strings.TrimPrefix(base, "http://")
	opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPHeader: http.Header{"Origin": {base}}}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	bad, _, err := websocket.Dial(dctx, "ws://"+host+"/mqtt?trace="+strings.Repeat("0", 32), opts)
	if err != nil {
		t.Fatal(err)
	}
	bad.Read(dctx)
	bad.CloseNow()
	// A session this instance does not hold (its /trace went elsewhere).
	other, _, err := websocket.Dial(dctx, "ws://"+host+"/mqtt?trace="+strings.Repeat("0", 32)+"&session="+strings.Repeat("ab", 16), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Read(dctx); websocket.CloseStatus(err) != 4001 {
		t.Errorf("/mqtt of a session held elsewhere ended with %v, want close 4001", err)
	}
	other.CloseNow()
	fams = scrape(t, base)
	wantMetric(t, fams, 1, "lifeline_refusals_total", "reason", "trace_token")
	wantMetric(t, fams, 1, "lifeline_refusals_total", "reason", "session_elsewhere")
	wantMetric(t, fams, 0, "lifeline_refusals_total", "reason", "policy")
}

// On SIGTERM with -drain-delay, /readyz answers 503 at once while the
// sessions go on and /metrics and /healthz still answer; then the sessions
// are closed with 1001.
func TestServeDrainsOnShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := startServeCtx(t, ctx, "-embedded-broker", "127.0.0.1:0", "-drain-delay", "2s")
	base := strings.TrimSuffix(s.lines["lifeline: serving "], "/")
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz serving: %d %q", code, body)
	}
	_, ws := openSession(t, base)
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, base+"/readyz")
		if code == 503 {
			if !strings.HasPrefix(body, "draining") {
				t.Fatalf("/readyz draining: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 5 s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fams := scrape(t, base) // during the drain
	wantMetric(t, fams, 1, "lifeline_sessions")
	if code, _ := getHealth(t, base); code != 200 {
		t.Errorf("/healthz during the drain: %d", code)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	for {
		_, _, err := ws.Read(rctx)
		if err == nil {
			continue
		}
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("session ended with %v, want close 1001", err)
		}
		break
	}
	<-s.done
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// -log-format json writes one JSON object a line.
func TestServeJSONLog(t *testing.T) {
	s := startServeCtx(t, context.Background(), "-embedded-broker", "off", "-log-format", "json")
	base := strings.TrimSuffix(s.lines["lifeline: serving "], "/")
	get(t, base+"/readyz")
	lines := strings.Split(strings.TrimSpace(s.stderr.String()), "\n")
	found := false
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == "serving" && m["level"] == "INFO" && m["addr"] != nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("no serving line in the JSON log:\n%s", s.stderr.String())
	}
}

// With -tls-cert and -tls-key the page, /healthz and the WebSockets are
// served over https and wss, under -base-path; the https origin is the
// page's, the http one is not.
func TestServeTLSUnderBasePath(t *testing.T) {
	cert, key, pool := testenv.SelfSigned(t)
	s := startServeCtx(t, context.Background(), "-embedded-broker", "127.0.0.1:0",
		"-tls-cert", cert, "-tls-key", key, "-base-path", "/lifeline")
	u := s.lines["lifeline: serving "]
	if !strings.HasPrefix(u, "https://127.0.0.1:") || !strings.HasSuffix(u, "/lifeline/") {
		t.Fatalf("serving line %q, want https://127.0.0.1:PORT/lifeline/", u)
	}
	origin := strings.TrimSuffix(u, "/lifeline/")
	tlsConf := &tls.Config{RootCAs: pool}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		path string
		code int
		has  string
	}{
		{"/lifeline/", 200, `<script type="module" src="app.js">`},
		{"/lifeline/healthz", 200, `"status":"ok"`},
		{"/lifeline/readyz", 200, "ready"},
		{"/lifeline/metrics", 200, "lifeline_sessions"},
		{"/lifeline/api/config", 200, "defaultBroker"},
		{"/lifeline", 301, ""},
		{"/", 404, "-base-path"},
		{"/healthz", 404, "-base-path"},
	} {
		resp, err := client.Get(origin + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.has) {
			t.Errorf("GET %s: %d %.80q, want %d with %q", tt.path, resp.StatusCode, b, tt.code, tt.has)
		}
		if tt.code == 301 && resp.Header.Get("Location") != "/lifeline/" {
			t.Errorf("GET %s redirects to %q", tt.path, resp.Header.Get("Location"))
		}
	}
	if resp, err := http.Get("http://" + strings.TrimPrefix(origin, "https://") + "/lifeline/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http on the TLS port: %s, want 400", resp.Status)
		}
	}

	wss := "wss://" + strings.TrimPrefix(origin, "https://") + "/lifeline/trace"
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	wssClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	tr, _, err := websocket.Dial(wctx, wss, &websocket.DialOptions{HTTPClient: wssClient, HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		t.Fatalf("wss /trace from the https origin: %v", err)
	}
	var hello struct{ Type, Token string }
	if err := wsjson.Read(wctx, tr, &hello); err != nil || hello.Type != "hello" {
		t.Fatalf("hello over wss: %+v %v", hello, err)
	}
	tr.CloseNow()
	httpOrigin := "http://" + strings.TrimPrefix(origin, "https://")
	if _, resp, err := websocket.Dial(wctx, wss, &websocket.DialOptions{HTTPClient: wssClient, HTTPHeader: http.Header{"Origin": {httpOrigin}}}); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("wss /trace from the http origin: %v %v, want 403", resp, err)
	}
}

// The README's HAProxy configuration is docs/deploy/haproxy.cfg, the file
// the load-balanced e2e test runs, byte for byte.
func TestReadmeShowsTheTestedHAProxyConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join("..", "docs", "deploy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```haproxy\n"+string(cfg)+"```\n") {
		t.Fatal("README.md does not show docs/deploy/haproxy.cfg as it is, in a ```haproxy block")
	}
}
