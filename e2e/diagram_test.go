//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// fixtureTrace is a whole session through the proxy as the page would have
// recorded it, with real MQTT bytes made by the codec.
func fixtureTrace(t *testing.T) []trace.Entry {
	t.Helper()
	pkt := func(p codec.Packet) ([]byte, string) {
		b, err := codec.AppendPacket(nil, p, codec.V311)
		if err != nil {
			t.Fatal(err)
		}
		return b, codec.Summary(p)
	}
	var es []trace.Entry
	at := 0.0
	add := func(dt float64, leg, from, to, kind string, p codec.Packet, raw []byte, obs string) {
		at += dt
		e := trace.Entry{Seq: len(es) + 1, T: at, Leg: leg, From: from, To: to, Kind: kind, Observed: obs, Conn: "c1", Summary: kind}
		if p != nil {
			e.Bytes, e.Summary = pkt(p)
			e.Version = 4
		} else if raw != nil {
			e.Bytes = raw
		}
		es = append(es, e)
	}
	mq := func(dt float64, from, to string, p codec.Packet) {
		leg := trace.LegBrowserProxy
		if from == "broker" || to == "broker" {
			leg = trace.LegProxyBroker
		}
		add(dt, leg, from, to, "mqtt."+p.Type().String(), p, nil, trace.ObservedWire)
	}
	dns := func(id byte, resp bool) []byte {
		b := make([]byte, 12)
		b[1] = id
		if resp {
			b[2] = 0x80
		}
		return b
	}
	add(0.4, trace.LegBrowserProxy, "browser", "proxy", trace.KindWSUpgrade, nil, nil, trace.ObservedWire)
	add(0.3, trace.LegProxyDNS, "proxy", "dns", trace.KindDNSQuery, nil, dns(7, false), trace.ObservedWire)
	add(0.4, trace.LegProxyDNS, "dns", "proxy", trace.KindDNSResponse, nil, dns(7, true), trace.ObservedWire)
	add(0.2, trace.LegProxyBroker, "proxy", "broker", trace.KindTCPSyn, nil, nil, trace.ObservedKernel)
	add(0.1, trace.LegProxyBroker, "broker", "proxy", trace.KindTCPSynAck, nil, nil, trace.ObservedKernel)
	add(0.1, trace.LegProxyBroker, "proxy", "broker", trace.KindTCPAck, nil, nil, trace.ObservedKernel)
	add(0.3, trace.LegBrowserProxy, "proxy", "browser", trace.KindWSAccept, nil, nil, trace.ObservedWire)
	connect := &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 2, ClientID: "fixture-1", UsernameFlag: true, Username: "dev", PasswordFlag: true, Password: []byte("pw")}
	mq(1.1, "browser", "proxy", connect)
	mq(0.3, "proxy", "broker", connect)
	mq(0.6, "broker", "proxy", &codec.Connack{})
	mq(0.3, "proxy", "browser", &codec.Connack{})
	sub := &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "lifeline/#", QoS: 1}}}
	mq(8, "browser", "proxy", sub)
	mq(0.3, "proxy", "broker", sub)
	mq(0.5, "broker", "proxy", &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1}})
	mq(0.3, "proxy", "browser", &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1}})
	pub := &codec.Publish{QoS: 1, PacketID: 2, Topic: "lifeline/hello", Payload: []byte(`{"t":21.5}`)}
	mq(12, "browser", "proxy", pub)
	mq(0.3, "proxy", "broker", pub)
	mq(0.4, "broker", "proxy", pub)
	mq(0.3, "proxy", "browser", pub)
	mq(0.2, "browser", "proxy", &codec.Puback{PacketID: 2})
	mq(0.3, "broker", "proxy", &codec.Puback{PacketID: 2})
	mq(0.1, "proxy", "broker", &codec.Puback{PacketID: 2})
	mq(0.3, "proxy", "browser", &codec.Puback{PacketID: 2})
	mq(1960, "browser", "proxy", &codec.Pingreq{})
	mq(0.3, "proxy", "broker", &codec.Pingreq{})
	mq(0.4, "broker", "proxy", &codec.Pingresp{})
	mq(0.3, "proxy", "browser", &codec.Pingresp{})
	mq(700, "browser", "proxy", &codec.Disconnect{})
	mq(0.3, "proxy", "broker", &codec.Disconnect{})
	add(0.2, trace.LegProxyBroker, "proxy", "broker", trace.KindTCPFin, nil, nil, trace.ObservedKernel)
	add(0.3, trace.LegBrowserProxy, "browser", "proxy", trace.KindWSClose, nil, nil, trace.ObservedWire)
	return es
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true.
func waitFor(t *testing.T, ctx context.Context, what, cond string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if eval[bool](t, ctx, `!!(`+cond+`)`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (%s)", within, what, cond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDiagramOfAnOpenedTrace opens a JSON trace in the page (as "Open
// trace" does) and checks the drawing: one arrow per entry in time order with
// data-kind, data-leg and data-seq; the lifelines; the CONNECT's field tree
// and its bytes, linked both ways; the JSON export giving the same trace.
func TestDiagramOfAnOpenedTrace(t *testing.T) {
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	es := fixtureTrace(t)
	js, err := json.Marshal(map[string]any{"entries": es})
	if err != nil {
		t.Fatal(err)
	}
	n := eval[int](t, ctx, `lifeline.importCapture(new TextEncoder().encode(`+jsString(string(js))+`)).then(r => r.entries)`)
	if n != len(es) {
		t.Fatalf("opened %d entries, want %d", n, len(es))
	}
	waitFor(t, ctx, "arrows drawn", `document.querySelectorAll('#diagram [data-kind]').length > 0`, 5*time.Second)

	var want, got []string
	for _, e := range es {
		want = append(want, e.Kind)
	}
	for _, a := range drawnArrows(t, ctx) {
		got = append(got, a.Kind)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("arrows top to bottom:\n got %v\nwant %v", got, want)
	}
	eval[bool](t, ctx, `(document.getElementById('diagram-scroll').scrollTop = 0, true)`)
	waitFor(t, ctx, "the top drawn again", `document.querySelector('#diagram [data-kind="mqtt.CONNECT"]')`, 5*time.Second)
	lanes := eval[[]string](t, ctx, `[...document.querySelectorAll('#lane-heads .lane-head')].map(e => e.dataset.party)`)
	if !reflect.DeepEqual(lanes, []string{"browser", "proxy", "dns", "broker"}) {
		t.Fatalf("lanes %v", lanes)
	}
	legs := eval[[]string](t, ctx, `[...document.querySelectorAll('#diagram [data-kind="mqtt.CONNECT"]')].map(g => g.dataset.leg + ':' + g.dataset.from + '>' + g.dataset.to + ':' + g.dataset.seq)`)
	if !reflect.DeepEqual(legs, []string{"browser-proxy:browser>proxy:8", "proxy-broker:proxy>broker:9"}) {
		t.Fatalf("CONNECT arrows %v", legs)
	}

	// Click the first CONNECT: the field tree shows the keepalive.
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`#diagram [data-kind="mqtt.CONNECT"] .shaft`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the CONNECT's field tree", `document.querySelector('#tree [data-field="mqtt.kalive"]')`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#tree [data-field="mqtt.kalive"] .label').textContent`); got != "Keep Alive: 2" {
		t.Fatalf("keepalive row %q", got)
	}
	// Selecting the field highlights its two bytes; selecting a byte of the
	// client id selects that field.
	eval[bool](t, ctx, `(document.querySelector('#tree [data-field="mqtt.kalive"]').click(), true)`)
	on := eval[[]string](t, ctx, `[...document.querySelectorAll('#hex .byte.on')].map(b => b.dataset.off + '=' + b.textContent)`)
	if !reflect.DeepEqual(on, []string{"10=00", "11=02"}) {
		t.Fatalf("highlighted bytes %v", on)
	}
	eval[bool](t, ctx, `(document.querySelector('#hex .byte[data-off="15"]').click(), true)`)
	if got := eval[string](t, ctx, `document.querySelector('#tree .field-row.selected').dataset.field`); got != "mqtt.clientid" {
		t.Fatalf("byte 15 selected field %q, want mqtt.clientid", got)
	}
	screenshot(t, ctx, "diagram-connect-detail")

	// The exchange: the PUBACK on the browser leg answers the browser's
	// PUBLISH; the detail lists both.
	eval[bool](t, ctx, `(document.querySelector('#diagram [data-kind="mqtt.PUBLISH"]').dispatchEvent(new MouseEvent('click', {bubbles: true})), true)`)
	steps := eval[string](t, ctx, `document.querySelector('#detail-head .exchange').textContent`)
	if !strings.Contains(steps, "QoS 1 publish, packet id 2") || !strings.Contains(steps, "PUBACK") {
		t.Fatalf("exchange %q", steps)
	}

	// The JSON export is the same trace.
	back := eval[string](t, ctx, `new TextDecoder().decode(lifeline.exportJSON())`)
	var doc struct{ Entries []trace.Entry }
	if err := json.Unmarshal([]byte(back), &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Entries, es) {
		t.Fatalf("export differs from what was opened:\n got %+v\nwant %+v", doc.Entries, es)
	}

	// By keyboard: the diagram takes focus, ↓ walks the arrows, the field
	// tree walks with ↓ too and follows in the hex.
	key := func(sel, k string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(k)); err != nil {
			t.Fatalf("key %q on %s: %v", k, sel, err)
		}
	}
	key(`#diagram-scroll`, kb.Home)
	key(`#diagram-scroll`, kb.ArrowDown)
	if got := eval[string](t, ctx, `document.getElementById('detail-panel').dataset.kind + ' ' + document.activeElement.dataset.kind`); got != "dns.query dns.query" {
		t.Fatalf("after Home, ↓: detail and focus on %q, want the second arrow (dns.query)", got)
	}
	key(`#diagram-scroll`, kb.End)
	if got := eval[string](t, ctx, `document.getElementById('detail-panel').dataset.kind`); got != "ws.close" {
		t.Fatalf("after End: %q", got)
	}
	eval[bool](t, ctx, `(lifeline._ui.diagram.select(8, true), true)`) // the CONNECT
	key(`#tree .field-row[data-field="mqtt.hdrflags"]`, kb.ArrowDown)
	if got := eval[string](t, ctx, `document.activeElement.dataset.field + ' ' + [...document.querySelectorAll('#hex .byte.on')].map(b => b.dataset.off).join(',')`); got != "mqtt.msgtype 0" {
		t.Fatalf("after ↓ in the tree: %q", got)
	}

	// A malformed packet's expert note, with its clause, points at its byte.
	eval[bool](t, ctx, `(lifeline._ui.detail.render(lifeline.dissect('30 05 00 09 61 62 63', 4), new Uint8Array([0x30, 5, 0, 9, 0x61, 0x62, 0x63])), true)`)
	note := eval[string](t, ctx, `document.querySelector('#expert li').textContent`)
	if !strings.Contains(note, "[MQTT-") || !strings.Contains(note, "offset") {
		t.Fatalf("expert note %q", note)
	}
	eval[bool](t, ctx, `(document.querySelector('#expert li button').click(), true)`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#hex .byte.on').length`); n == 0 {
		t.Fatal("the expert note's offset highlights no byte")
	}

	// Filter by kind: hiding TCP removes its four arrows, showing it again
	// brings them back.
	total := eval[int](t, ctx, `lifeline._total()`)
	eval[bool](t, ctx, `(document.querySelector('#filters .chip[data-class="tcp"]').click(), true)`)
	waitFor(t, ctx, "TCP hidden", `lifeline._total() === `+itoa(total-4)+` && !document.querySelector('#diagram [data-kind^="tcp."]')`, 5*time.Second)
	eval[bool](t, ctx, `(document.querySelector('#filters .chip[data-class="tcp"]').click(), true)`)
	waitFor(t, ctx, "TCP shown", `lifeline._total() === `+itoa(total), 5*time.Second)
	// Zoom: rows grow.
	h0 := eval[float64](t, ctx, `lifeline._ui.diagram.rowH()`)
	eval[bool](t, ctx, `(document.getElementById('zoom-in').click(), true)`)
	if h1 := eval[float64](t, ctx, `lifeline._ui.diagram.rowH()`); h1 <= h0 {
		t.Fatalf("zoom in: row height %v -> %v", h0, h1)
	}

	// Dark theme.
	eval[bool](t, ctx, `(document.getElementById('theme').click(), true)`)
	if eval[string](t, ctx, `document.documentElement.dataset.theme`) != "dark" {
		t.Fatal("theme toggle did not switch to dark")
	}
	screenshot(t, ctx, "diagram-dark")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
