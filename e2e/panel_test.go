//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestPacketPanelTellsTheTruth (#12 item 9 and 10): the DNS messages and
// the HTTP upgrade have field trees; the panel never says "these are the
// bytes" and then "no bytes"; a finished TCP or WebSocket close does not
// wait for an answer; an error seen on the wire is drawn red but solid
// (dashed means "observed by the kernel").
func TestPacketPanelTellsTheTruth(t *testing.T) {
	s := startServer(t, "-embedded-broker", "off")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	query := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 'n', 'o', 'n', 'e', 0, 0, 1, 0, 1}
	nx := []byte{0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 4, 'n', 'o', 'n', 'e', 0, 0, 1, 0, 1}
	req := "GET /mqtt?broker=none:1883 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8080\r\nSec-Websocket-Protocol: mqtt\r\n\r\n"
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
	bp, pd, pb := trace.LegBrowserProxy, trace.LegProxyDNS, trace.LegProxyBroker
	w, k := trace.ObservedWire, trace.ObservedKernel
	es := []trace.Entry{
		{Leg: bp, From: "browser", To: "proxy", Kind: trace.KindWSUpgrade, Summary: "GET /mqtt", Bytes: []byte(req), Observed: w},
		{Leg: pd, From: "proxy", To: "dns", Kind: trace.KindDNSQuery, Summary: "A none", Bytes: query, Observed: w},
		{Leg: pd, From: "dns", To: "proxy", Kind: trace.KindDNSResponse, Summary: "NXDOMAIN", Bytes: nx, Observed: w, Error: "NXDOMAIN"},
		{Leg: bp, From: "proxy", To: "browser", Kind: trace.KindWSAccept, Summary: "101 Switching Protocols", Bytes: []byte(resp), Observed: w},
		{Leg: pb, From: "proxy", To: "broker", Kind: trace.KindTCPSyn, Summary: "SYN", Observed: k},
		{Leg: pb, From: "broker", To: "proxy", Kind: trace.KindTCPSynAck, Summary: "SYN-ACK", Observed: k},
		{Leg: pb, From: "proxy", To: "broker", Kind: trace.KindTCPAck, Summary: "ACK", Observed: k},
		{Leg: pb, From: "proxy", To: "broker", Kind: trace.KindTCPFin, Summary: "FIN", Observed: k},
		{Leg: pb, From: "broker", To: "proxy", Kind: trace.KindTCPFin, Summary: "FIN", Observed: k},
		{Leg: bp, From: "browser", To: "proxy", Kind: trace.KindWSClose, Summary: "connection closed without a close frame (1006)", Observed: k},
		{Leg: bp, From: "proxy", To: "browser", Kind: trace.KindWSClose, Summary: "Close 1000 bye", Observed: w},
	}
	for i := range es {
		es[i].Seq, es[i].T, es[i].Conn = i+1, float64(i+1), "c1"
	}
	js, err := json.Marshal(map[string]any{"entries": es})
	if err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, ctx, `lifeline.importCapture(new TextEncoder().encode(`+jsString(string(js))+`)).then(r => r.entries)`); n != len(es) {
		t.Fatalf("opened %d entries, want %d", n, len(es))
	}
	waitFor(t, ctx, "arrows drawn", `document.querySelectorAll('#diagram [data-kind]').length >= 11`, 5*time.Second)

	open := func(seq int) string {
		t.Helper()
		eval[bool](t, ctx, `(document.querySelector('#diagram [data-seq="`+itoa(seq)+`"]').dispatchEvent(new MouseEvent('click', {bubbles: true})), true)`)
		waitFor(t, ctx, "the panel of arrow "+itoa(seq), `document.getElementById('detail-panel').dataset.seq === "`+itoa(seq)+`"`, 5*time.Second)
		return eval[string](t, ctx, `document.getElementById('detail-panel').innerText`)
	}
	field := func(name string) string {
		return eval[string](t, ctx, `(document.querySelector('#tree [data-field="`+name+`"] .label') || {}).textContent || ''`)
	}

	// DNS: Wireshark's fields from the message's bytes.
	open(3)
	for name, want := range map[string]string{"dns.id": "0x1234", "dns.qry.name": "none", "dns.flags.rcode": "NXDOMAIN", "dns.qry.type": "Type: A (1)"} {
		if got := field(name); !strings.Contains(got, want) {
			t.Errorf("%s row %q, want %q in it", name, got, want)
		}
	}
	screenshot(t, ctx, "panel-dns-nxdomain")
	// The NXDOMAIN arrow is red and, read on the wire, solid.
	dash := eval[string](t, ctx, `getComputedStyle(document.querySelector('#diagram [data-seq="3"] .shaft')).strokeDasharray`)
	if dash != "none" {
		t.Errorf("the NXDOMAIN arrow's line is dashed (%q): the legend says dashed is the kernel's", dash)
	}
	if kdash := eval[string](t, ctx, `getComputedStyle(document.querySelector('#diagram [data-seq="5"] .shaft')).strokeDasharray`); kdash == "none" {
		t.Errorf("the kernel's SYN is drawn solid")
	}

	// The upgrade: its HTTP fields, and no "no bytes" under "these are the bytes".
	text := open(1)
	if strings.Contains(text, "No bytes") {
		t.Errorf("the upgrade's panel says both that it has bytes and none:\n%s", text)
	}
	for name, want := range map[string]string{"http.request.method": "GET", "http.host": "127.0.0.1:8080", "http.sec_websocket_protocol": "mqtt"} {
		if got := field(name); !strings.Contains(got, want) {
			t.Errorf("%s row %q, want %q", name, got, want)
		}
	}
	open(4)
	if got := field("http.response.code"); !strings.Contains(got, "101") {
		t.Errorf("ws.accept status row %q", got)
	}
	screenshot(t, ctx, "panel-ws-accept")
	// A close with no bytes kept says so without contradicting itself.
	if text := open(11); strings.Contains(text, "these are the bytes") {
		t.Errorf("a close without bytes says 'these are the bytes':\n%s", text)
	}

	// Finished closes wait for nothing.
	for _, seq := range []int{9, 10} {
		if text := open(seq); strings.Contains(text, "waiting for the answer") {
			t.Errorf("arrow %d (%s), a finished close, says it is waiting:\n%s", seq, es[seq-1].Kind, text)
		}
	}
}

// TestErrorsClearWhenTheirCauseIsGone (#12 item 11): "Not connected:
// connect first" under Subscribe and Publish goes away once the client is
// connected; an error with another cause stays until the next try.
func TestErrorsClearWhenTheirCauseIsGone(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	shown := func(id string) string {
		return eval[string](t, ctx, `(e => e.hidden ? '' : e.textContent)(document.getElementById('`+id+`'))`)
	}
	click(t, ctx, `#subscribe`)
	click(t, ctx, `#publish`)
	waitFor(t, ctx, "both errors", `!document.getElementById('subscribe-error').hidden && !document.getElementById('publish-error').hidden`, 5*time.Second)
	for _, id := range []string{"subscribe-error", "publish-error"} {
		if got := shown(id); !strings.Contains(got, "onnect first") {
			t.Fatalf("%s says %q, want the not-connected error", id, got)
		}
	}
	click(t, ctx, `#connect`)
	waitFor(t, ctx, "connected", `document.getElementById('conn-state').dataset.state === 'connected'`, 10*time.Second)
	waitFor(t, ctx, "the not-connected errors cleared", `document.getElementById('subscribe-error').hidden && document.getElementById('publish-error').hidden`, 5*time.Second)
	screenshot(t, ctx, "errors-cleared-after-connect")

	// A bad filter is the user's to fix: it stays while connected.
	eval[bool](t, ctx, `(document.querySelector('#subscribe-form [name=filter]').value = 'a/#/b', true)`)
	click(t, ctx, `#subscribe`)
	waitFor(t, ctx, "the filter's error", `!document.getElementById('subscribe-error').hidden`, 5*time.Second)
	time.Sleep(500 * time.Millisecond) // a few frames
	if got := shown("subscribe-error"); got == "" {
		t.Fatal("the bad filter's error was cleared though its cause remains")
	}
}
