//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
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
// 2,000 messages a second for 30 s (LIFELINE_BENCH_SECONDS) into the
// embedded broker; it reports the frame intervals the page kept (p50, p95,
// max), its memory at the end, and the messages the list counted against
// the messages sent.
func BenchmarkPageIncoming(b *testing.B) {
	seconds := 30
	if v, err := strconv.Atoi(getenv("LIFELINE_BENCH_SECONDS", "30")); err == nil && v > 0 {
		seconds = v
	}
	const rate = 2000
	for i := 0; i < b.N; i++ {
		s := startServer(b, "-embedded-broker", "127.0.0.1:0")
		ctx := newBrowser(b)
		if _, err := chromedp.Run(ctx, chromedp.Navigate(s.URL+"/")); err != nil {
			b.Fatal(err)
		}
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
		run(`(() => { window.__frames = []; const f = (t) => { window.__frames.push(t); requestAnimationFrame(f); }; requestAnimationFrame(f); window.__mem = []; window.__memTimer = setInterval(() => window.__mem.push(lifeline._memory()), 5000); return true; })()`)

		metrics := func() map[string]float64 {
			m, err := chromedp.Run(ctx, chromedp.Action[map[string]float64](func(ctx context.Context, t *chromedp.Target) (map[string]float64, error) {
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
			if err != nil {
				b.Fatal(err)
			}
			return m
		}
		before := metrics()
		sent := publish(b, broker, rate, time.Duration(seconds)*time.Second)
		after := metrics()
		for _, k := range []string{"TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"} {
			b.Logf("%s: %.2f s of %d s", k, after[k]-before[k], seconds)
		}
		deadline := time.Now().Add(20 * time.Second)
		var got int
		for time.Now().Before(deadline) {
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`lifeline._messages(1e12).total`))
			if got = v; got >= sent {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		var res struct {
			Frames []float64
			Mem    []map[string]float64
			Listed string
			Arrows int
			Paged  int
		}
		js, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(clearInterval(window.__memTimer), JSON.stringify({Frames: window.__frames, Mem: window.__mem.concat([lifeline._memory()]), Listed: document.getElementById('msg-count').dataset.total, Arrows: lifeline._total(), Paged: lifeline._view(0,0).pagedOut.count}))`))
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
		b.ReportMetric(float64(sent), "msgs-sent")
		b.ReportMetric(float64(got), "msgs-counted")
		b.ReportMetric(percentile(gaps, 0.5), "ms-frame-p50")
		b.ReportMetric(percentile(gaps, 0.95), "ms-frame-p95")
		b.ReportMetric(percentile(gaps, 1), "ms-frame-max")
		b.ReportMetric(float64(res.Arrows), "arrows-kept")
		b.ReportMetric(float64(res.Paged), "arrows-paged-out")
		for j, m := range res.Mem {
			b.Logf("memory at %2d s: wasm %.1f MB, JS heap %.1f MB, %v DOM nodes", (j+1)*5, m["wasm"]/1e6, m["js"]/1e6, m["nodes"])
		}
		last := res.Mem[len(res.Mem)-1]
		b.ReportMetric(last["wasm"]/1e6, "MB-wasm-mem")
		b.ReportMetric(last["js"]/1e6, "MB-js-heap")
		b.Logf("listed %s of %d sent; %d frames", res.Listed, sent, len(res.Frames))
		var long []string
		for j, g := range gaps {
			if g > 50 {
				long = append(long, strconv.FormatFloat(res.Frames[j]-res.Frames[0], 'f', 0, 64)+"ms:"+strconv.FormatFloat(g, 'f', 0, 64))
			}
		}
		b.Logf("%d frames over 50 ms (at:gap): %v", len(long), long)
	}
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
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pkt, _ := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60, ClientID: "bench-publisher"}, codec.V311)
	if _, err := conn.Write(pkt); err != nil {
		b.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		b.Fatalf("CONNACK %x %v", ack, err)
	}
	go io.Copy(io.Discard, conn)
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
