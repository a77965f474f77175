//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lifeline-mqtt/lifeline/embedded"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// haproxyConfig is the deployment the README shows; the test runs it as it
// is, its variables filled from the environment.
const haproxyConfig = "../docs/deploy/haproxy.cfg"

// instance is one `lifeline serve` of the cluster.
type instance struct {
	name string
	addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan error // receives Wait's result
}

// startInstance runs `lifeline serve` with args on a free loopback port; it
// is stopped, if still running, when the test ends.
func startInstance(t *testing.T, name string, args ...string) *instance {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "LIFELINE_LISTEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := testenv.NewProcessLog(t)
	cmd.Stderr = &prefixWriter{name + ": ", logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "lifeline: serving http://"); ok {
				addr <- strings.TrimSuffix(u, "/")
			}
		}
		in.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-in.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		logs.Stop()
	})
	select {
	case in.addr = <-addr:
		return in
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not print its address within 20 s", name)
		return nil
	}
}

type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.w.Write([]byte(p.prefix + string(b)))
	return len(b), nil
}

// health is an instance's /healthz (the fields the test reads); the Host is
// the balancer's, as every request through it carries.
func (in *instance) health(t *testing.T, host string) (sessions, traces int) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+in.addr+"/healthz", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s /healthz: %v", in.name, err)
	}
	defer resp.Body.Close()
	var h struct{ Sessions, Traces int }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("%s /healthz: %v", in.name, err)
	}
	return h.Sessions, h.Traces
}

// startHAProxy runs Debian's HAProxy with the README's configuration in
// front of the instances, listening on bind.
func startHAProxy(t *testing.T, bind string, ins []*instance) {
	t.Helper()
	env := []string{"LIFELINE_LB_BIND=" + bind, "LIFELINE_LB_HOST=" + bind}
	for i, in := range ins {
		env = append(env, "LIFELINE_S"+strconv.Itoa(i+1)+"="+in.addr)
	}
	startHAProxyFile(t, haproxyConfig, bind, env)
}

// startHAProxyFile runs Debian's HAProxy with a configuration file and
// environment, and waits for it to listen on bind.
func startHAProxyFile(t *testing.T, file, bind string, env []string) {
	t.Helper()
	bin := testenv.Tool(t, "haproxy")
	cmd := exec.Command(bin, "-db", "-f", file)
	cmd.Env = append(os.Environ(), env...)
	logs := testenv.NewProcessLog(t)
	cmd.Stdout, cmd.Stderr = &prefixWriter{"haproxy: ", logs}, &prefixWriter{"haproxy: ", logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logs.Stop() })
	port, _ := strconv.Atoi(bind[strings.LastIndexByte(bind, ':')+1:])
	testenv.WaitListening(t, port, "HAProxy")
}

// evalIn evaluates expr in a tab, awaiting a promise, within 60 s (thirty
// tabs on two shared cores can be slow).
func evalIn[T any](ctx context.Context, expr string) (T, error) {
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// pollIn waits up to within for cond to be true in a tab.
func pollIn(ctx context.Context, what, cond string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := evalIn[bool](ctx, `!!(`+cond+`)`)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %v for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// everyPage runs f on every tab, at most 8 at once (thirty pages compiling
// their wasm at the same moment starve two cores), and fails the test with
// each page's error.
func everyPage(t *testing.T, tabs []context.Context, what string, f func(i int, ctx context.Context) error) {
	t.Helper()
	errs := make([]error, len(tabs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, ctx := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = f(i, ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%s:\n%v", what, err)
	}
}

// proxySteps and pageSteps are a whole session through the proxy, both
// legs, DNS to the TCP close, as the page's trace must hold it: what the
// proxy recorded (on its clock) in its order, and what the page recorded of
// its own leg (on the page's clock) in its order. The two are aligned by
// clock samples, so across them the order may differ by the alignment's
// error on a loaded machine.
var (
	proxySteps = []step{
		{"ws.upgrade", "browser-proxy", "browser"},
		{"dns.query", "proxy-dns", "proxy"},
		{"dns.response", "proxy-dns", "dns"},
		{"tcp.syn", "proxy-broker", "proxy"},
		{"tcp.synack", "proxy-broker", "broker"},
		{"tcp.ack", "proxy-broker", "proxy"},
		{"ws.accept", "browser-proxy", "proxy"},
		{"mqtt.CONNECT", "proxy-broker", "proxy"},
		{"mqtt.CONNACK", "proxy-broker", "broker"},
		{"mqtt.SUBSCRIBE", "proxy-broker", "proxy"},
		{"mqtt.SUBACK", "proxy-broker", "broker"},
		{"mqtt.PUBLISH", "proxy-broker", "proxy"},
		{"mqtt.PUBACK", "proxy-broker", "broker"},
	}
	pageSteps = []step{
		{"mqtt.CONNECT", "browser-proxy", "browser"},
		{"mqtt.CONNACK", "browser-proxy", "proxy"},
		{"mqtt.SUBSCRIBE", "browser-proxy", "browser"},
		{"mqtt.SUBACK", "browser-proxy", "proxy"},
		{"mqtt.PUBLISH", "browser-proxy", "browser"},
		{"mqtt.PUBACK", "browser-proxy", "proxy"},
	}
)

// traceEntry is an entry of lifeline.trace() as the test reads it.
type traceEntry struct {
	Kind, Leg, From, To, Summary, Conn string
}

// tabTrace reads a page's trace.
func tabTrace(ctx context.Context) ([]traceEntry, error) {
	js, err := evalIn[string](ctx, `JSON.stringify(lifeline.trace())`)
	if err != nil {
		return nil, err
	}
	var es []traceEntry
	return es, json.Unmarshal([]byte(js), &es)
}

// checkOwnSession checks that a page's trace holds connection conn whole,
// the proxy's steps and the page's each in order, each followed by its
// ending steps, and nothing of another page: one TCP handshake and one
// CONNECT on the broker leg, with the page's own client id.
func checkOwnSession(es []traceEntry, conn, clientID string, proxyEnd, pageEnd []step) error {
	chains := [2][]step{append(append([]step(nil), proxySteps...), proxyEnd...), append(append([]step(nil), pageSteps...), pageEnd...)}
	var at [2]int
	syns, connects := 0, 0
	for _, e := range es {
		if e.Conn != conn {
			continue
		}
		if e.Kind == "tcp.syn" {
			syns++
		}
		if e.Kind == "mqtt.CONNECT" && e.Leg == "proxy-broker" {
			connects++
			if !strings.Contains(e.Summary, `"`+clientID+`"`) {
				return fmt.Errorf("%s: the broker leg's CONNECT is %q, not %s's", conn, e.Summary, clientID)
			}
		}
		c := 0 // the proxy's
		if e.Leg == "browser-proxy" && strings.HasPrefix(e.Kind, "mqtt.") {
			c = 1 // the page's own
		}
		if s := chains[c]; at[c] < len(s) && e.Kind == s[at[c]].kind && e.Leg == s[at[c]].leg && (s[at[c]].from == "" || e.From == s[at[c]].from) {
			at[c]++
		}
	}
	for c, whose := range []string{"the proxy's", "the page's"} {
		if at[c] < len(chains[c]) {
			var got []string
			for _, e := range es {
				got = append(got, e.Conn+" "+e.Leg+" "+e.From+">"+e.To+" "+e.Kind)
			}
			return fmt.Errorf("%s: %s step %d %v missing; trace:\n%s", conn, whose, at[c], chains[c][at[c]], strings.Join(got, "\n"))
		}
	}
	if syns != 1 || connects != 1 {
		return fmt.Errorf("%s: %d TCP handshakes and %d CONNECTs on the broker leg, want 1 each", conn, syns, connects)
	}
	return nil
}

// TestLoadBalancedInstances runs the README's deployment: Debian's HAProxy
// (docs/deploy/haproxy.cfg, balance url_param session) in front of three
// `lifeline serve` sharing Debian's mosquitto, named by a DNS server the
// instances ask. Thirty pages at once, tabs of one Chromium, each get their
// own whole diagram (DNS to the TCP close, both legs); the sessions spread
// over the instances; SIGTERM to one closes its sessions with 1001 and the
// page says so, the others go on, and the stopped instance's pages connect
// again through the balancer to the others.
func TestLoadBalancedInstances(t *testing.T) {
	pages := 30
	if n, err := strconv.Atoi(os.Getenv("LIFELINE_LB_PAGES")); err == nil {
		pages = n // for a quick look; the test's claim is about 30
	}
	zone, err := embedded.StartDNS("127.0.0.1:0", "lab.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zone.Close() })
	zone.Set("mqtt.lab.test", netip.MustParseAddr("127.0.0.1"))
	brokerPort, _ := startMosquitto(t, "allow_anonymous true\nmax_connections -1\n")
	broker := "mqtt.lab.test:" + strconv.Itoa(brokerPort)
	lb := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))

	ins := make([]*instance, 3)
	for i := range ins {
		ins[i] = startInstance(t, "s"+strconv.Itoa(i+1), "-embedded-broker", "off", "-log-level", "warn",
			"-nameserver", zone.Addr().String(), "-default-broker", broker,
			"-allow", "*:"+strconv.Itoa(brokerPort), "-allow-private",
			"-origins", "http://"+lb, "-max-conns-per-ip", "256")
	}
	startHAProxy(t, lb, ins)

	// Thirty pages compile the 3 MB wasm each; V8's optimizing tier would
	// compile it again in the background thirty times over, on two shared
	// cores: the baseline compiler alone runs the pages the same.
	browser := newBrowser(t, chromedp.Flag("js-flags", "--no-wasm-tier-up"))
	tabs := make([]context.Context, pages)
	for i := range tabs {
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		tabs[i] = ctx
	}
	start := time.Now()
	everyPage(t, tabs, "loading every page through HAProxy", func(i int, ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Navigate("http://"+lb+"/")); err != nil {
			return fmt.Errorf("page %d: navigate: %w", i, err)
		}
		if err := pollIn(ctx, "window.lifeline", `window.lifeline`, 60*time.Second); err != nil {
			return fmt.Errorf("page %d: %w", i, err)
		}
		if _, err := evalIn[bool](ctx, `window.lifeline.ready.then(() => true)`); err != nil {
			return fmt.Errorf("page %d: lifeline.ready: %w", i, err)
		}
		return nil
	})
	t.Logf("%d pages loaded through HAProxy in %v", pages, time.Since(start).Round(time.Millisecond))
	everyPage(t, tabs, "connecting every page through HAProxy", func(i int, ctx context.Context) error {
		n := strconv.Itoa(i)
		_, err := evalIn[bool](ctx, `Promise.resolve().then(() => lifeline.connect({broker: `+jsString(broker)+`, clientId: 'lb-`+n+`', keepAlive: 60}))
			.then(() => lifeline.subscribe('lb/`+n+`', {qos: 1}))
			.then(() => lifeline.publish('lb/`+n+`', 'page `+n+`', {qos: 1})).then(() => true)`)
		if err != nil {
			return fmt.Errorf("page %d: connect, subscribe, publish: %w", i, err)
		}
		if err := pollIn(ctx, "its own message back", `document.getElementById('msg-count').dataset.total === '1'`, 20*time.Second); err != nil {
			return fmt.Errorf("page %d: %w", i, err)
		}
		if traced, err := evalIn[bool](ctx, `lifeline.trace().some(e => e.conn === 'c1' && e.kind === 'ws.accept' && e.from === 'proxy')`); err != nil || !traced {
			return fmt.Errorf("page %d connected without its trace channel (no hello from the proxy in time) %v", i, err)
		}
		return nil
	})
	t.Logf("%d pages connected, subscribed and published through HAProxy in %v", pages, time.Since(start).Round(time.Millisecond))

	// The sessions spread over the instances, each with its trace.
	held := make([]int, len(ins))
	total := 0
	for i, in := range ins {
		sessions, traces := in.health(t, lb)
		if sessions != traces {
			t.Errorf("%s holds %d sessions and %d trace channels", in.name, sessions, traces)
		}
		held[i], total = sessions, total+sessions
	}
	t.Logf("sessions per instance: %v", held)
	if total != pages {
		t.Fatalf("the instances hold %d sessions, want %d", total, pages)
	}
	victim := -1
	for i, n := range held {
		if n == 0 {
			t.Fatalf("instance %s got no session: %v", ins[i].name, held)
		}
		if victim < 0 || n > held[victim] {
			victim = i
		}
	}

	// SIGTERM to one instance: its pages are told the proxy went away
	// (1001), the others stay connected.
	if err := ins[victim].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ins[victim].done:
		if err != nil {
			t.Fatalf("%s ended with %v after SIGTERM", ins[victim].name, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s still running 15 s after SIGTERM", ins[victim].name)
	}
	// The stopped instance's pages are told, the others stay connected.
	stopped := make([]bool, pages)
	for deadline := time.Now().Add(20 * time.Second); ; {
		n := 0
		for i, ctx := range tabs {
			state, err := evalIn[string](ctx, `document.getElementById('conn-state').dataset.state`)
			if err != nil {
				t.Fatal(err)
			}
			if stopped[i] = state != "connected"; stopped[i] {
				n++
			}
		}
		if n >= held[victim] || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // any other page, given time to fail if it was going to
	for i, ctx := range tabs {
		state, err := evalIn[string](ctx, `document.getElementById('conn-state').dataset.state + ' ' + document.getElementById('conn-state').textContent`)
		if err != nil {
			t.Fatal(err)
		}
		stopped[i] = !strings.HasPrefix(state, "connected ")
		if stopped[i] && (!strings.Contains(state, "went away") || !strings.Contains(state, "1001")) {
			t.Errorf("page %d: shown as %q, want the proxy gone away with 1001", i, state)
		}
	}
	n := 0
	for i, s := range stopped {
		if s {
			n++
			es, err := tabTrace(tabs[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := checkOwnSession(es, "c1", "lb-"+strconv.Itoa(i), []step{{"tcp.fin", "proxy-broker", "proxy"}, {"ws.close", "browser-proxy", "proxy"}}, nil); err != nil {
				t.Errorf("page %d (stopped): %v", i, err)
			}
		}
	}
	if n != held[victim] {
		t.Fatalf("%d pages lost their connection, want the %d of %s", n, held[victim], ins[victim].name)
	}

	// Every page finishes: the others go on and disconnect; the stopped
	// instance's pages connect again through the balancer (to another
	// instance: a new trace channel, a new session id) and disconnect.
	everyPage(t, tabs, "every page's second half", func(i int, ctx context.Context) error {
		nn := strconv.Itoa(i)
		if stopped[i] {
			// The first connection's diagram was checked above; the
			// second one's is checked alone (its conn is c1 again, on its
			// new trace channel).
			if _, err := evalIn[bool](ctx, `(lifeline._clear(), true)`); err != nil {
				return err
			}
			if _, err := evalIn[bool](ctx, `lifeline.connect({broker: `+jsString(broker)+`, clientId: 'lb-`+nn+`', keepAlive: 60})
				.then(() => lifeline.subscribe('lb/`+nn+`', {qos: 1})).then(() => true)`); err != nil {
				return fmt.Errorf("page %d: connecting again after its instance stopped: %w", i, err)
			}
		}
		_, err := evalIn[bool](ctx, `lifeline.publish('lb/`+nn+`', 'again `+nn+`', {qos: 1}).then(() => true)`)
		if err != nil {
			return fmt.Errorf("page %d: publishing: %w", i, err)
		}
		if err := pollIn(ctx, "its second message", `document.getElementById('msg-count').dataset.total === '2'`, 20*time.Second); err != nil {
			return fmt.Errorf("page %d: %w", i, err)
		}
		if _, err := evalIn[bool](ctx, `lifeline.disconnect({}).then(() => true)`); err != nil {
			return fmt.Errorf("page %d: disconnect: %w", i, err)
		}
		if err := pollIn(ctx, "the broker leg's close", `lifeline.trace().some(e => e.leg === 'proxy-broker' && e.kind === 'tcp.fin')`, 10*time.Second); err != nil {
			es, _ := tabTrace(ctx)
			var got []string
			for _, e := range es {
				got = append(got, e.Conn+" "+e.Leg+" "+e.From+">"+e.To+" "+e.Kind+" "+e.Summary)
			}
			return fmt.Errorf("page %d: %w; trace:\n%s", i, err, strings.Join(got, "\n"))
		}
		es, err := tabTrace(ctx)
		if err != nil {
			return err
		}
		return checkOwnSession(es, "c1", "lb-"+nn, []step{{"mqtt.DISCONNECT", "proxy-broker", "proxy"}, {"tcp.fin", "proxy-broker", ""}},
			[]step{{"mqtt.DISCONNECT", "browser-proxy", "browser"}})
	})
	screenshot(t, tabs[0], "load-balanced-page")
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// A balancer that splits a page's two connections (here HAProxy sending
// every /trace to one instance and every /mqtt to the other, as a
// misconfigured one might) never mixes sessions: the instance without the
// session closes the /mqtt with 4001 and says why, and the page shows it
// in words and draws that close on its own leg.
func TestSplittingBalancerIsRefusedInWords(t *testing.T) {
	brokerPort, _ := startMosquitto(t, "allow_anonymous true\n")
	broker := "127.0.0.1:" + strconv.Itoa(brokerPort)
	lb := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	var ins []*instance
	for _, name := range []string{"s1", "s2"} {
		ins = append(ins, startInstance(t, name, "-embedded-broker", "off", "-log-level", "warn",
			"-allow", broker, "-allow-private", "-origins", "http://"+lb))
	}
	cfg := filepath.Join(t.TempDir(), "split.cfg")
	body := "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n    timeout tunnel 1h\n" +
		"frontend pages\n    bind " + lb + "\n    default_backend lifeline\n" +
		"backend lifeline\n    use-server s2 if { path_beg /mqtt }\n    use-server s1 if { path_beg /trace }\n" +
		"    server s1 " + ins[0].addr + "\n    server s2 " + ins[1].addr + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	startHAProxyFile(t, cfg, lb, nil)

	ctx := newBrowser(t)
	openPage(t, ctx, &server{URL: "http://" + lb})
	msg := eval[string](t, ctx, `lifeline.connect({broker: `+jsString(broker)+`, clientId: 'split'}).then(() => 'connected', e => e.message)`)
	if !strings.Contains(msg, "does not hold this page's session") || !strings.Contains(msg, "4001") || !strings.Contains(msg, "session parameter") {
		t.Fatalf("connect through a splitting balancer said %q", msg)
	}
	closes := eval[string](t, ctx, `lifeline.trace().filter(e => e.kind === 'ws.close').map(e => e.from + '>' + e.to + ' ' + e.summary).join('\n')`)
	if !strings.Contains(closes, "proxy>browser close code 4001") || !strings.Contains(closes, "is not held by this instance") {
		t.Fatalf("the page's trace shows the close as %q", closes)
	}
	if s1, _ := ins[0].health(t, lb); s1 != 0 {
		t.Fatalf("s1 holds %d sessions", s1)
	}
	if s2, t2 := ins[1].health(t, lb); s2 != 0 || t2 != 0 {
		t.Fatalf("s2 holds %d sessions and %d trace channels", s2, t2)
	}
}
