//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
	"github.com/lifeline-mqtt/lifeline/codec"
)

// Benchmarks of the page (make bench-page). They report numbers; the bars
// (in the README) are read from them, not asserted.

// BenchmarkPageInteractive measures the time from navigation to
// window.lifeline.ready (the WebAssembly client loaded, started and its API
// in place) on loopback, with a fresh browser profile (nothing cached) and
// again with the wasm in the browser's cache.
func BenchmarkPageInteractive(b *testing.B) {
	s := startServer(b, "-embedded-broker", "off")
	var cold, warm, transferred []float64
	for i := 0; i < b.N; i++ {
		ctx := newBrowser(b)
		for j, into := range []*[]float64{&cold, &warm} {
			if _, err := chromedp.Run(ctx, chromedp.Navigate(s.URL+"/")); err != nil {
				b.Fatal(err)
			}
			ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.lifeline.ready.then(() => lifeline.readyAt)`, chromedp.EvalAwaitPromise))
			if err != nil {
				b.Fatalf("load %d: %v", j, err)
			}
			*into = append(*into, ms)
			if j == 0 {
				// What the wasm cost on the wire the first time (brotli when
				// the browser accepts it).
				n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType('resource').filter(e => e.name.endsWith('/wasm/main.wasm')).reduce((n, e) => n + e.transferSize, 0)`))
				if err != nil {
					b.Fatal(err)
				}
				transferred = append(transferred, n)
			}
		}
	}
	b.ReportMetric(median(transferred)/1e6, "MB-wasm-transferred")
	b.ReportMetric(median(cold), "ms-ready-cold")
	b.ReportMetric(median(warm), "ms-ready-cached")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func percentile(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkPageIncoming subscribes the page through the proxy and publishes
// 10,000 messages a second (LIFELINE_BENCH_RATE) for 30 s
// (LIFELINE_BENCH_SECONDS) into the embedded broker; it reports the frame
// intervals the page kept (p50, p95, max), its memory every 10 s (the wasm
// memory and the JS heap, as the page and as CDP's Performance.getMetrics
// see it), the messages the list counted against the messages sent, and
// the arrows the diagram added (kept and paged out) against two a message
// (the page's leg and the broker's).
func BenchmarkPageIncoming(b *testing.B) {
	seconds := 30
	if v, err := strconv.Atoi(getenv("LIFELINE_BENCH_SECONDS", "30")); err == nil && v > 0 {
		seconds = v
	}
	rate := 10000
	if v, err := strconv.Atoi(getenv("LIFELINE_BENCH_RATE", "10000")); err == nil && v > 0 {
		rate = v
	}
	for i := 0; i < b.N; i++ {
		s := startServer(b, "-embedded-broker", "127.0.0.1:0")
		ctx := newBrowser(b)
		if _, err := chromedp.Run(ctx, chromedp.Navigate(s.URL+"/")); err != nil {
			b.Fatal(err)
		}
		withoutDevTools(b, ctx)
		run := func(expr string) {
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := chromedp.Run(tctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise)); err != nil {
				b.Fatalf("%s: %v", expr, err)
			}
		}
		run(`lifeline.ready.then(() => lifeline.connect({keepAlive: 30, clientId: 'bench-page'}))`)
		run(`lifeline.subscribe('bench/#', {qos: 0})`)
		broker := embeddedBroker(b, s)
		arrows := func() int {
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`lifeline._total() + lifeline._view(0,0).pagedOut.count`))
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
		arrows0 := arrows()
		run(`(() => { window.__frames = []; const f = (t) => { window.__frames.push(t); requestAnimationFrame(f); }; requestAnimationFrame(f); window.__mem = []; window.__memTimer = setInterval(() => window.__mem.push(lifeline._memory()), 10000); return true; })()`)
		// Where the long frames go: the browser's long tasks (over 50 ms),
		// and the page's calls into Go that took over 30 ms, by name.
		run(longTasksJS)
		if js := getenv("LIFELINE_BENCH_EVAL", ""); js != "" {
			run(js + "; 1")
		}

		before, err := cdpMetrics(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// CDP's view of the heap every 10 s while the flood runs.
		t0 := time.Now()
		heap := make(chan []string, 1)
		go func() {
			var out []string
			defer func() { heap <- out }()
			for t := 10; t <= seconds; t += 10 {
				time.Sleep(time.Until(t0.Add(time.Duration(t)*time.Second - 100*time.Millisecond)))
				m, err := cdpMetrics(ctx)
				if err != nil {
					out = append(out, err.Error())
					return
				}
				out = append(out, strconv.Itoa(t)+" s: JSHeapUsedSize "+strconv.FormatFloat(m["JSHeapUsedSize"]/1e6, 'f', 1, 64)+" MB, "+strconv.Itoa(int(m["Nodes"]))+" DOM nodes")
			}
		}()
		stopProf := func() {}
		if getenv("LIFELINE_BENCH_PROFILE", "") == "flood" {
			stopProf = profileStart(b, ctx, "the flood")
		}
		sent := publish(b, broker, rate, time.Duration(seconds)*time.Second)
		took := time.Since(t0)
		stopProf()
		after, err := cdpMetrics(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// The main thread's time during the flood, by what it did
		// (printed, not logged: go test shortens a benchmark's log).
		fmt.Printf("  main thread during the flood (CDP Performance, s of %d s):", seconds)
		for _, k := range []string{"TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"} {
			fmt.Printf(" %s %.2f", strings.TrimSuffix(k, "Duration"), after[k]-before[k])
		}
		fmt.Println()
		// The flood's frames only: the page may catch up afterwards.
		run(`(window.__floodEnd = window.__frames.length, true)`)
		// Caught up: every message counted, or (messages the broker
		// dropped, reported on the trace) no progress for 10 s.
		var got int
		for last, still := -1, time.Now(); time.Since(still) < 10*time.Second && time.Since(t0) < 5*time.Minute; time.Sleep(200 * time.Millisecond) {
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`lifeline._messages(1e12).total`))
			if got = v; got >= sent {
				break
			}
			if got != last {
				last, still = got, time.Now()
			}
		}
		caughtUp := time.Since(t0) - took
		time.Sleep(time.Second) // the broker leg's last arrows
		var res struct {
			Frames []float64
			Mem    []map[string]float64
			Listed string
			Arrows int
			Paged  int
			Drops  int
		}
		js, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(clearInterval(window.__memTimer), JSON.stringify({Frames: window.__frames.slice(0, window.__floodEnd), Mem: window.__mem, Listed: document.getElementById('msg-count').dataset.total, Arrows: lifeline._total(), Paged: lifeline._view(0,0).pagedOut.count, Drops: (lifeline._view(0,0).pagedOut.byKind['broker.drop'] || 0) + lifeline.trace().filter(e => e.kind === 'broker.drop').length}))`))
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal([]byte(js), &res); err != nil {
			b.Fatal(err)
		}
		var gaps []float64
		for j := 1; j < len(res.Frames); j++ {
			gaps = append(gaps, res.Frames[j]-res.Frames[j-1])
		}
		added := res.Arrows + res.Paged - arrows0
		b.ReportMetric(float64(sent), "msgs-sent")
		b.ReportMetric(float64(got), "msgs-counted")
		b.ReportMetric(float64(added), "arrows-added")
		b.ReportMetric(percentile(gaps, 0.5), "ms-frame-p50")
		b.ReportMetric(percentile(gaps, 0.95), "ms-frame-p95")
		b.ReportMetric(percentile(gaps, 1), "ms-frame-max")
		b.ReportMetric(float64(res.Arrows), "arrows-kept")
		b.ReportMetric(float64(res.Paged), "arrows-paged-out")
		var mem []string
		for j, m := range res.Mem {
			mem = append(mem, fmt.Sprintf("%2d s: wasm %.1f MB, JS heap %.1f MB, %v DOM nodes", (j+1)*10, m["wasm"]/1e6, m["js"]/1e6, m["nodes"]))
		}
		last := res.Mem[len(res.Mem)-1]
		b.ReportMetric(last["wasm"]/1e6, "MB-wasm-mem")
		b.ReportMetric(last["js"]/1e6, "MB-js-heap")
		var long []string
		for j, g := range gaps {
			if g > 50 {
				long = append(long, strconv.FormatFloat(res.Frames[j]-res.Frames[0], 'f', 0, 64)+"ms:"+strconv.FormatFloat(g, 'f', 0, 64))
			}
		}
		b.Logf("%d frames over 50 ms (at:gap): %v", len(long), long)
		// Printed, not logged: go test shortens a benchmark's log.
		b.ReportMetric(float64(res.Drops), "msgs-broker-dropped")
		fmt.Printf("BenchmarkPageIncoming: %d PUBLISH/s for %d s (sent in %.1f s): %d sent, %d counted by the page (listed %s), %d dropped by the broker as drawn (broker.drop); done %.1f s after the flood\n",
			rate, seconds, took.Seconds(), sent, got, res.Listed, res.Drops, caughtUp.Seconds())
		fmt.Printf("  frames during the flood: %d, interval p50 %.1f ms, p95 %.1f ms, max %.1f ms; %d over 50 ms\n", len(res.Frames), percentile(gaps, 0.5), percentile(gaps, 0.95), percentile(gaps, 1), len(long))
		// More than two a message: the flood's own PINGREQs and PINGRESPs,
		// both legs. Fewer: broker-leg entries the trace channel dropped.
		diff := fmt.Sprintf("%d fewer", 2*sent-added)
		if added > 2*sent {
			diff = fmt.Sprintf("%d more: keep-alive pings", added-2*sent)
		}
		fmt.Printf("  diagram: %d arrows added for %d messages (2 a message, the page's leg and the broker's, would be %d: %s); %d kept, %d paged out of %d in all\n",
			added, sent, 2*sent, diff, res.Arrows, res.Paged, res.Arrows+res.Paged)
		fmt.Printf("  page memory: %s\n  CDP: %s\n", strings.Join(mem, "; "), strings.Join(<-heap, "; "))
		fmt.Printf("  %s\n", longTasksReport(b, ctx))
	}
}

// cdpMetrics reads Chromium's Performance.getMetrics for the page.
func cdpMetrics(ctx context.Context) (map[string]float64, error) {
	return chromedp.Run(ctx, chromedp.Action[map[string]float64](func(ctx context.Context, t *chromedp.Target) (map[string]float64, error) {
		if _, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{}); err != nil {
			return nil, err
		}
		r, err := cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, m := range r.Metrics {
			out[m.Name] = m.Value
		}
		return out, nil
	}))
}

func getenv(k, def string) string {
	if v, ok := lookupEnv(k); ok {
		return v
	}
	return def
}

// embeddedBroker reads the embedded broker's address from /api/config.
func embeddedBroker(b *testing.B, s *server) string {
	req, _ := http.NewRequest("GET", s.URL+"/api/config", nil)
	req.Header.Set("Origin", s.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var c struct{ EmbeddedBroker string }
	if err := json.Unmarshal(body, &c); err != nil || c.EmbeddedBroker == "" {
		b.Fatalf("/api/config %s: %v", body, err)
	}
	return c.EmbeddedBroker
}

// publish sends QoS 0 PUBLISHes to the broker at rate a second for d, in
// 5 ms batches, and returns how many it sent.
func publish(b *testing.B, addr string, rate int, d time.Duration) int {
	conn := brokerConn(b, addr, "bench-publisher")
	defer conn.Close()
	start := time.Now()
	sent := 0
	var buf []byte
	for tick := time.NewTicker(5 * time.Millisecond); time.Since(start) < d; <-tick.C {
		want := int(time.Since(start).Seconds()*float64(rate)) + 1
		buf = buf[:0]
		for ; sent < want; sent++ {
			buf, _ = codec.AppendPacket(buf, &codec.Publish{Topic: "bench/t", Payload: []byte(`{"n":` + strconv.Itoa(sent) + `,"temperature":21.5}`)}, codec.V311)
		}
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	disc, _ := codec.AppendPacket(nil, &codec.Disconnect{}, codec.V311)
	conn.Write(disc)
	return sent
}

func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }

// clientsDriver is installed in the page by BenchmarkPageClients: the same
// measures, written once, for Lifeline's client (window.lifeline, the page
// as users run it, diagram drawing) and for mqtt.js (its browser bundle,
// evaluated in the same page); __b.ll and __b.mj have the same methods.
// Rates are messages a second, times milliseconds, from performance.now().
const clientsDriver = `window.__b = (() => {
  const payload = '{"n":12345,"temperature":21.5,"unit":"C","sensor":"hall-3/east"}';
  const now = () => performance.now();
  // The broker Lifeline's page dials by default (the embedded broker, by
  // the embedded DNS zone's name), so that both take the same way.
  let url;
  const config = fetch('api/config').then((r) => r.json()).then((c) => {
    url = 'ws' + location.origin.slice(4) + '/mqtt?broker=' + encodeURIComponent(c.defaultBroker);
  });
  let recv = null;
  const onMsg = (topic) => {
    if (recv && topic === recv.topic && ++recv.count === recv.n) { recv.tLast = now(); recv.resolve(); }
  };
  lifeline.on('message', (m) => onMsg(m.topic));
  const ll = {
    async connect(id) { const t0 = now(); await lifeline.connect({clientId: id, keepAlive: 60}); return now() - t0; },
    disconnect: () => lifeline.disconnect(),
    subscribe: (t, qos) => lifeline.subscribe(t, {qos}).then(() => 1),
    async publish(t, n, qos) {
      const t0 = now(), ps = [];
      for (let i = 0; i < n; i++) { const p = lifeline.publish(t, payload, {qos}); if (qos) ps.push(p); }
      // QoS 0: a QoS 1 message behind them, acknowledged once the broker has them all.
      if (qos) await Promise.all(ps); else await lifeline.publish(t, 'end', {qos: 1});
      return n / (now() - t0) * 1000;
    },
  };
  let c;
  const mj = {
    async connect(id) {
      await config;
      return new Promise((res, rej) => {
        const t0 = now();
        c = mqtt.connect(url, {protocolVersion: 4, clientId: id, keepalive: 60, reconnectPeriod: 0, clean: true});
        c.once('connect', () => res(now() - t0));
        c.once('error', rej);
        c.on('message', onMsg);
      });
    },
    disconnect: () => new Promise((res) => c.end(false, {}, () => res(1))),
    subscribe: (t, qos) => new Promise((res, rej) => c.subscribe(t, {qos}, (e) => e ? rej(e) : res(1))),
    publish(t, n, qos) {
      return new Promise((res, rej) => {
        const t0 = now();
        let left = qos ? n : 1;
        const done = (e) => { if (e) rej(e); else if (--left === 0) res(n / (now() - t0) * 1000); };
        for (let i = 0; i < n; i++) c.publish(t, payload, {qos}, qos ? done : undefined);
        if (!qos) c.publish(t, 'end', {qos: 1}, done);
      });
    },
  };
  // arm starts a receive measure: the clock runs from now (the Go
  // publisher starts when arm returns) to the n-th message on topic.
  const arm = (topic, n) => {
    const p = new Promise((r) => { recv = {topic, n, count: 0, t0: now(), resolve: r}; });
    window.__recvDone = p.then(() => { const r = recv; recv = null; return n / (r.tLast - r.t0) * 1000; });
    return 1;
  };
  // settle waits until the page has drawn everything (its version still
  // for half a second, 60 s at most): the trace channel's entries lag
  // behind a flood, and the next measure must not pay for the last.
  const settle = () => new Promise((res) => {
    let v = lifeline._version(), since = now();
    const end = now() + 60000;
    const tick = () => {
      const w = lifeline._version();
      if (w !== v) { v = w; since = now(); }
      if (now() - since > 500 || now() > end) res(1); else setTimeout(tick, 50);
    };
    tick();
  });
  return {ll, mj, arm, settle, count: () => recv ? recv.count : -1};
})(), 1`

// BenchmarkPageClients runs Lifeline's browser client against mqtt.js in
// the same headless Chromium, on the same page, through the same lifeline
// serve and embedded broker, in one run: connect() to CONNACK, publish
// throughput at QoS 0 and 1 (messages the client has sent and had
// acknowledged: at QoS 0 a QoS 1 message behind them), and receive
// throughput at QoS 0 and 1 (a native publisher sends them all at once;
// messages delivered to lifeline.on('message') and mqtt.js's 'message').
// Lifeline's client is the page's, as users run it: traced, every packet
// an arrow in the diagram, which draws each frame. mqtt.js goes through
// /mqtt untraced, as a plain MQTT-over-WebSocket client does. Rounds
// (LIFELINE_BENCH_ROUNDS, default 7, after LIFELINE_BENCH_WARMUP, default
// 1, not counted) alternate which client goes first;
// the medians and the ratios (≥ 1: Lifeline at least as fast) are
// reported and printed as a table. Each measure starts when the page has
// drawn all of the last (see settle). Both speak MQTT 3.1.1; 5,000 messages
// published at each QoS, 10,000 received at QoS 0 and 3,000 at QoS 1
// (LIFELINE_BENCH_DEBUG: a tenth).
func BenchmarkPageClients(b *testing.B) {
	bundle, err := os.ReadFile("mqttjs/node_modules/mqtt/dist/mqtt.min.js")
	if err != nil {
		b.Fatalf("mqtt.js's browser bundle: %v (run `make deps` to install e2e/mqttjs)", err)
	}
	// 7 rounds: with 3, one run's ratio for receiving at QoS 0 ranged
	// 0.63-0.86x for the same code; a run takes about a minute.
	rounds := 7
	if v, err := strconv.Atoi(getenv("LIFELINE_BENCH_ROUNDS", "7")); err == nil && v > 0 {
		rounds = v
	}
	warmup := 1
	if v, err := strconv.Atoi(getenv("LIFELINE_BENCH_WARMUP", "1")); err == nil && v >= 0 {
		warmup = v
	}
	nPub, nRecv := 5000, 10000
	if getenv("LIFELINE_BENCH_DEBUG", "") != "" {
		nPub, nRecv = 500, 1000
	}
	type measure struct{ name, unit string }
	measures := []measure{{"connect", "ms"}, {"publish-qos0", "msg/s"}, {"publish-qos1", "msg/s"}, {"receive-qos0", "msg/s"}, {"receive-qos1", "msg/s"}}
	for i := 0; i < b.N; i++ {
		// A queue deep enough that the broker holds a whole flood for the
		// slower client rather than dropping it.
		s := startServer(b, "-embedded-broker", "127.0.0.1:0", "-broker-max-queued", "100000", "-broker-max-queued-bytes", "1000000000", "-broker-queue-budget", "4000000000")
		broker := embeddedBroker(b, s)
		ctx := newBrowser(b)
		openPage(b, ctx, s)
		withoutDevTools(b, ctx)
		run := func(expr string) float64 {
			tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			v, err := chromedp.Run(tctx, chromedp.Evaluate[float64](expr, chromedp.EvalAwaitPromise))
			if err != nil {
				b.Fatalf("%.200s: %v", expr, err)
			}
			return v
		}
		// mqtt.js's bundle, read from the pinned npm package, evaluated in
		// the page (never fetched from the network).
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(bundle)+"\n;typeof mqtt.connect === 'function'")); err != nil {
			b.Fatalf("loading mqtt.js into the page: %v", err)
		}
		run(clientsDriver)
		if js := getenv("LIFELINE_BENCH_EVAL", ""); js != "" {
			run(js + "; 1")
		}
		// settle starts each measure from the same state whichever client
		// ran before: the page has drawn everything (__b.settle), and
		// JavaScript's heap is collected, so that neither client pays for
		// the other's garbage (a measure that followed two of mqtt.js's
		// ran a quarter slower than one that followed Lifeline's).
		settle := func() {
			run("__b.settle()")
			if _, err := chromedp.Run(ctx, chromedp.Action[bool](func(ctx context.Context, t *chromedp.Target) (bool, error) {
				_, err := cdp.Call(ctx, t, heapprofiler.CollectGarbage, cdp.Empty{})
				return err == nil, err
			})); err != nil {
				b.Fatalf("collecting the page's garbage: %v", err)
			}
		}
		got := map[string]map[string][]float64{"ll": {}, "mj": {}}
		// Warm-up rounds first, not counted: the first round of each
		// client runs cold (JavaScript compiled lazily, the page's heap
		// growing) and measured a third to half slower for both.
		for r := -warmup; r < rounds; r++ {
			order := []string{"ll", "mj"}
			if r%2 == 1 {
				order = []string{"mj", "ll"}
			}
			for _, who := range order {
				m := got[who]
				if r < 0 {
					m = map[string][]float64{}
				}
				c := "__b." + who
				id := "bench-" + who + "-" + strconv.Itoa(r)
				// LIFELINE_BENCH_PROFILE=who:measure (connect,
				// publish-qos0 …): a profile of it in every counted round.
				prof := func(measure string) func() {
					if r >= 0 && getenv("LIFELINE_BENCH_PROFILE", "") == who+":"+measure {
						return profileStart(b, ctx, who+" "+measure)
					}
					// LIFELINE_BENCH_CPU=1: the CPU time (ms) each
					// process used during each measure, by kind (the
					// lifeline server, Chromium's browser, renderer and
					// network processes, this test): where a measure's
					// work went on a machine whose cores all take part.
					if r >= 0 && getenv("LIFELINE_BENCH_CPU", "") != "" {
						before := cpuByProcess()
						return func() {
							after := cpuByProcess()
							var names []string
							for k := range after {
								if after[k]-before[k] >= 0.005 {
									names = append(names, k)
								}
							}
							sort.Strings(names)
							fmt.Printf("  cpu %s %s:", who, measure)
							for _, k := range names {
								fmt.Printf(" %s=%.0f", k, 1000*(after[k]-before[k]))
							}
							fmt.Println()
						}
					}
					if r >= 0 && getenv("LIFELINE_BENCH_METRICS", "") != "" {
						// The main thread's time, by what it did (CDP
						// Performance), in each counted round.
						before, err := cdpMetrics(ctx)
						if err != nil {
							b.Fatal(err)
						}
						return func() {
							after, err := cdpMetrics(ctx)
							if err != nil {
								b.Fatal(err)
							}
							fmt.Printf("  %s %s, main thread (ms):", who, measure)
							for _, k := range []string{"TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"} {
								fmt.Printf(" %s %.1f", strings.TrimSuffix(k, "Duration"), 1000*(after[k]-before[k]))
							}
							fmt.Println()
						}
					}
					return func() {}
				}
				settle()
				stopConnect := prof("connect")
				m["connect"] = append(m["connect"], run(c+".connect('"+id+"')"))
				stopConnect()
				for _, q := range []string{"0", "1"} {
					settle()
					stop := prof("publish-qos" + q)
					m["publish-qos"+q] = append(m["publish-qos"+q], run(c+".publish('bench/out/"+who+"', "+strconv.Itoa(nPub)+", "+q+")"))
					stop()
				}
				for _, q := range []int{0, 1} {
					topic := "bench/in/" + who + "/" + strconv.Itoa(q)
					run(c + ".subscribe('" + topic + "', " + strconv.Itoa(q) + ")")
					settle()
					n := nRecv
					if q == 1 {
						n = nRecv * 3 / 10 // 3,000: at QoS 1 the broker keeps 20 in flight, each batch waits for PUBACKs
					}
					run("__b.arm('" + topic + "', " + strconv.Itoa(n) + ")")
					stopProf := prof("receive-qos" + strconv.Itoa(q))
					stop := flood(b, broker, topic, n, q)
					tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
					rate, err := chromedp.Run(tctx, chromedp.Evaluate[float64](`__recvDone`, chromedp.EvalAwaitPromise))
					cancel()
					stop()
					stopProf()
					if err != nil {
						got, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`__b.count()`))
						st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([lifeline._client(), lifeline._status(), lifeline.trace().slice(-12).map(e => [e.leg, e.kind, e.summary])])`))
						b.Fatalf("%s receive at QoS %d: %v; %v of %d delivered; page %s", who, q, err, got, n, st)
					}
					m["receive-qos"+strconv.Itoa(q)] = append(m["receive-qos"+strconv.Itoa(q)], rate)
				}
				run(c + ".disconnect().then(() => 1)")
			}
		}
		// LIFELINE_BENCH_DUMP: a JavaScript expression evaluated in the
		// page after the rounds, its string printed (what a script given
		// in LIFELINE_BENCH_EVAL gathered, lifeline.trace() …).
		if js := getenv("LIFELINE_BENCH_DUMP", ""); js != "" {
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](js))
			fmt.Println(v)
		}
		// Printed, not logged: go test shortens a benchmark's log.
		fmt.Printf("BenchmarkPageClients: Lifeline (the page, diagram on, traced) vs mqtt.js 5.16.0 in the same page, %d rounds after %d not counted, medians; ratio ≥ 1: Lifeline at least as fast\n", rounds, warmup)
		fmt.Printf("%-14s %16s %16s %8s   %s\n", "measure", "lifeline", "mqtt.js", "ratio", "rounds: lifeline | mqtt.js")
		for _, ms := range measures {
			ll, mj := median(got["ll"][ms.name]), median(got["mj"][ms.name])
			ratio := ll / mj // a rate: more is faster
			if ms.unit == "ms" {
				ratio = mj / ll // a time: less is faster
			}
			unit := strings.ReplaceAll(ms.unit, "msg/s", "msgs/s")
			b.ReportMetric(ll, "lifeline-"+ms.name+"-"+unit)
			b.ReportMetric(mj, "mqttjs-"+ms.name+"-"+unit)
			b.ReportMetric(ratio, "ratio-"+ms.name)
			fmt.Printf("%-14s %10.1f %-5s %10.1f %-5s %7.2f×   %v | %v\n", ms.name, ll, ms.unit, mj, ms.unit, ratio, rounded(got["ll"][ms.name]), rounded(got["mj"][ms.name]))
		}
	}
}

func rounded(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x + 0.5)
	}
	return out
}

// brokerConn is an MQTT 3.1.1 connection over TCP to the broker at addr,
// its CONNACK read; what the broker sends after is read and discarded.
func brokerConn(b *testing.B, addr, clientID string) net.Conn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	pkt, _ := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60, ClientID: clientID}, codec.V311)
	if _, err := conn.Write(pkt); err != nil {
		b.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		b.Fatalf("CONNACK %x %v", ack, err)
	}
	go io.Copy(io.Discard, conn)
	return conn
}

// flood sends n PUBLISHes of QoS qos on topic to the broker at once, over
// TCP; stop closes the connection.
func flood(b *testing.B, addr, topic string, n, qos int) (stop func()) {
	conn := brokerConn(b, addr, "bench-flood")
	var buf []byte
	for i := 0; i < n; i++ {
		p := &codec.Publish{Topic: topic, QoS: codec.QoS(qos), Payload: []byte(`{"n":` + strconv.Itoa(i) + `,"temperature":21.5,"unit":"C","sensor":"hall-3/east"}`)}
		if qos > 0 {
			p.PacketID = uint16(i%65535 + 1)
		}
		buf, _ = codec.AppendPacket(buf, p, codec.V311)
	}
	if _, err := conn.Write(buf); err != nil {
		b.Fatal(err)
	}
	return func() {
		disc, _ := codec.AppendPacket(nil, &codec.Disconnect{}, codec.V311)
		conn.Write(disc)
		conn.Close()
	}
}

// longTasksJS records the page's long tasks (PerformanceObserver
// 'longtask': start and duration) and times the calls into Go the page's
// frames make, keeping those over 30 ms, for longTasksReport.
const longTasksJS = `(() => {
  window.__long = []; window.__slow = {};
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({type: 'longtask'});
  for (const name of ['findings', '_view', '_total', '_messages', '_client', '_version', '_rowOf']) {
    const f = lifeline[name];
    lifeline[name] = function (...a) {
      const t = performance.now();
      try { return f.apply(this, a); } finally {
        const d = performance.now() - t;
        if (d > 30) (window.__slow[name] = window.__slow[name] || []).push(Math.round(d));
      }
    };
  }
  return true;
})()`

// longTasksReport says what longTasksJS recorded.
func longTasksReport(b *testing.B, ctx context.Context) string {
	js, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({long: window.__long, slow: window.__slow})`))
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Long []float64
		Slow map[string][]float64
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, d := range r.Long {
		total += d
	}
	out := "no long tasks (over 50 ms); calls into Go over 30 ms:"
	if len(r.Long) > 0 {
		out = fmt.Sprintf("%d long tasks (over 50 ms), %.0f ms in all, p50 %.0f ms, max %.0f ms; calls into Go over 30 ms:", len(r.Long), total, percentile(r.Long, 0.5), percentile(r.Long, 1))
	}
	names := make([]string, 0, len(r.Slow))
	for k := range r.Slow {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out += fmt.Sprintf(" %s %d (max %.0f ms)", k, len(r.Slow[k]), percentile(r.Slow[k], 1))
	}
	if len(names) == 0 {
		out += " none"
	}
	return out
}

// profileTop is how many functions a profile lists (LIFELINE_BENCH_PROFILE_TOP).
var profileTop = func() int {
	n, err := strconv.Atoi(getenv("LIFELINE_BENCH_PROFILE_TOP", "30"))
	if err != nil || n <= 0 {
		return 30
	}
	return n
}()

// profileStart starts Chromium's sampling profiler on the page; the
// function it returns stops it and logs the functions that took the most
// time, by self time and including their callees (wasm functions by name
// only in a wasm built without -s: the benchmark's LIFELINE_BENCH_PROFILE).
func profileStart(b testing.TB, ctx context.Context, what string) (stop func()) {
	call := func(f func(ctx context.Context, t *chromedp.Target) error) {
		if _, err := chromedp.Run(ctx, chromedp.Action[bool](func(ctx context.Context, t *chromedp.Target) (bool, error) { return true, f(ctx, t) })); err != nil {
			b.Fatalf("profiler: %v", err)
		}
	}
	call(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, profiler.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, profiler.Start, cdp.Empty{})
		return err
	})
	return func() {
		var p *profiler.Profile
		call(func(ctx context.Context, t *chromedp.Target) error {
			r, err := cdp.Call(ctx, t, profiler.Stop, cdp.Empty{})
			p = r.Profile
			return err
		})
		parent := map[int64]int64{}
		byID := map[int64]*profiler.ProfileNode{}
		for _, n := range p.Nodes {
			byID[n.ID] = n
			for _, c := range n.Children {
				parent[c] = n.ID
			}
		}
		name := func(n *profiler.ProfileNode) string {
			f := n.CallFrame
			u := f.URL[strings.LastIndexByte(f.URL, '/')+1:]
			if f.FunctionName == "" {
				return "(anonymous) " + u + ":" + strconv.Itoa(int(f.LineNumber)+1)
			}
			return f.FunctionName + " " + u
		}
		self, incl, callers := map[string]float64{}, map[string]float64{}, map[string]float64{}
		// LIFELINE_BENCH_PROFILE_CALLERS: the time in (and under) the
		// functions named so (a part of the name), by caller chain
		// (three deep above the one nearest the sample).
		callersOf := getenv("LIFELINE_BENCH_PROFILE_CALLERS", "")
		// LIFELINE_BENCH_PROFILE_CALLEES: the time under the function
		// named so (a part of the name), by the function it called.
		calleesOf := getenv("LIFELINE_BENCH_PROFILE_CALLEES", "")
		callees := map[string]float64{}
		var total float64
		for i, id := range p.Samples {
			dt := float64(p.TimeDeltas[min(i+1, len(p.TimeDeltas)-1)]) / 1000
			total += dt
			self[name(byID[id])] += dt
			if callersOf != "" {
				n, ok := byID[id], true
				for ok && !strings.Contains(name(n), callersOf) {
					n, ok = byID[parent[n.ID]]
				}
				if ok {
					var chain []string
					for q, up := byID[parent[n.ID]]; up && len(chain) < 3; q, up = byID[parent[q.ID]] {
						chain = append(chain, strings.TrimSuffix(name(q), " main.wasm"))
					}
					callers[strings.Join(chain, " < ")] += dt
				}
			}
			if calleesOf != "" {
				// Up from the sample (the root's parent, id 0, is no node).
				var callee *profiler.ProfileNode
				for n := byID[id]; n != nil; callee, n = n, byID[parent[n.ID]] {
					if strings.Contains(name(n), calleesOf) {
						k := "(self)"
						if callee != nil {
							k = strings.TrimSuffix(name(callee), " main.wasm")
						}
						callees[k] += dt
						break
					}
				}
			}
			seen := map[string]bool{}
			for n, ok := byID[id], true; ok; n, ok = byID[parent[n.ID]] {
				if k := name(n); !seen[k] {
					seen[k] = true
					incl[k] += dt
				}
				if _, has := parent[n.ID]; !has {
					break
				}
			}
		}
		top := func(m map[string]float64) string {
			type kv struct {
				k string
				v float64
			}
			var s []kv
			for k, v := range m {
				s = append(s, kv{k, v})
			}
			sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
			var out strings.Builder
			for _, e := range s[:min(len(s), profileTop)] {
				out.WriteString("\n  " + strconv.FormatFloat(e.v, 'f', 1, 64) + " ms  " + e.k)
			}
			return out.String()
		}
		// Printed, not logged: go test shortens a benchmark's log.
		fmt.Printf("profile of %s: %.0f ms sampled; self:%s\nincluding callees:%s\n", what, total, top(self), top(incl))
		if callersOf != "" {
			fmt.Printf("callers of %s:%s\n", callersOf, top(callers))
		}
		if calleesOf != "" {
			fmt.Printf("callees of %s:%s\n", calleesOf, top(callees))
		}
	}
}

// withoutDevTools turns off the DevTools domains chromedp enables on every
// page it attaches to and the page benchmarks do not use (Network, CSS,
// DOM), so that the page runs as its users run it, with no DevTools open.
// With Network on, the renderer copies every WebSocket frame's payload
// into an event for the test (base64 for a binary frame), through the
// browser process: a cost per frame and per byte that falls on the page's
// two sockets (the client's and the trace channel's, which carries the
// broker leg's packets) twice as much as on mqtt.js's one. Measured with
// it on, receiving 10,000 at QoS 0 used 30-60 ms of the browser process's
// CPU for Lifeline, 20-50 for mqtt.js (LIFELINE_BENCH_CPU).
// LIFELINE_BENCH_DEVTOOLS=1 leaves them on.
func withoutDevTools(tb testing.TB, ctx context.Context) {
	tb.Helper()
	if getenv("LIFELINE_BENCH_DEVTOOLS", "") != "" {
		return
	}
	if _, err := chromedp.Run(ctx, chromedp.Action[bool](func(ctx context.Context, t *chromedp.Target) (bool, error) {
		for _, c := range []cdp.Command[cdp.Empty, cdp.Empty]{network.Disable, css.Disable, dom.Disable} {
			if _, err := cdp.Call(ctx, t, c, cdp.Empty{}); err != nil {
				return false, fmt.Errorf("%s: %w", c.Method, err)
			}
		}
		return true, nil
	})); err != nil {
		tb.Fatal(err)
	}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on
// every Linux architecture Go builds for.
const clockTicks = 100

// cpuByProcess is the CPU time (user and system, seconds) every process
// of the machine has used, summed by kind: Chromium's by --type (the
// browser's own as "browser"), this test's as "test", the rest by name.
func cpuByProcess() map[string]float64 {
	out := map[string]float64{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		name := s[strings.IndexByte(s, '(')+1 : end]
		f := strings.Fields(s[end+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cmd, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		// Chromium rewrites its processes' command lines into one string.
		args := strings.Fields(strings.ReplaceAll(string(cmd), "\x00", " "))
		switch {
		case pid == os.Getpid():
			name = "test"
		case strings.Contains(name, "chrom"):
			name = "chromium browser"
			for _, a := range args {
				if t, ok := strings.CutPrefix(a, "--type="); ok {
					name = "chromium " + t
				}
				if u, ok := strings.CutPrefix(a, "--utility-sub-type="); ok {
					name += " " + u
				}
			}
		}
		out[name] += (ut + st) / clockTicks
	}
	return out
}
