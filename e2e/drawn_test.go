//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// drawnRow is an arrow as the page drew it, top to bottom, with what the
// diagram model says of it.
type drawnRow struct {
	Kind, Leg, From, To, Conn, Error string
	NotRelayed                       bool
	T                                float64
}

// modelRows reads the whole diagram model (every row, in drawn order).
func modelRows(t *testing.T, ctx context.Context) []drawnRow {
	t.Helper()
	js := eval[string](t, ctx, `JSON.stringify(lifeline._view(0, lifeline._total()).arrows.map(a => ({Kind: a.kind, Leg: a.leg, From: a.from, To: a.to, Conn: a.conn || '', Error: a.error || '', NotRelayed: !!a.notRelayed, T: a.t})))`)
	var rows []drawnRow
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func rowsText(rows []drawnRow) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strconv.FormatFloat(r.T, 'f', 3, 64) + " " + r.Leg + " " + r.From + ">" + r.To + " " + r.Kind)
		if r.NotRelayed {
			b.WriteString(" (not relayed)")
		}
		if r.Error != "" {
			b.WriteString(" ✕ " + r.Error)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestFailedConnectDrawsWhatHappened connects through the proxy to a name
// the embedded zone does not have, to a port the -allow list refuses and to
// a closed loopback port. The proxy answers the upgrade and closes at once;
// the diagram must draw the 101 before anything the page sent, nothing of
// the page's after the proxy's close, a CONNECT the page sent only if the
// browser put it on the wire (marked as never relayed to a broker), and
// error labels that do not overlap.
func TestFailedConnectDrawsWhatHappened(t *testing.T) {
	closed := testenv.FreePort(t) // nothing listens there
	s := startServer(t, "-embedded-broker", "127.0.0.1:0", "-allow-private", "-allow", "*:1883,*:8883,127.0.0.1:"+strconv.Itoa(closed))
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	cases := []struct{ name, broker, wantErr string }{
		{"unresolvable", "nosuch.lifeline.test:1883", "NXDOMAIN"},
		{"refused-port", "broker.lifeline.test:1884", ""},
		{"closed-port", "127.0.0.1:" + strconv.Itoa(closed), "refused"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eval[bool](t, ctx, `(lifeline._clear(), true)`)
			client := "fail" + strconv.Itoa(i)
			msg := eval[string](t, ctx, `lifeline.connect({client: '`+client+`', clientId: '`+client+`', broker: `+jsString(c.broker)+`}).then(() => 'connected', e => String(e && e.message || e))`)
			if msg == "connected" {
				t.Fatalf("connecting to %s succeeded", c.broker)
			}
			waitFor(t, ctx, "the proxy's close", `lifeline._view(0, lifeline._total()).arrows.some(a => a.kind === 'ws.close' && a.from === 'proxy')`, 10*time.Second)
			time.Sleep(300 * time.Millisecond) // the page's own entries and the trace channel's settle
			rows := modelRows(t, ctx)
			conn := ""
			for _, r := range rows {
				if r.Kind == "ws.close" && r.From == "proxy" {
					conn = r.Conn
				}
			}
			var mine []drawnRow
			for _, r := range rows {
				if r.Conn == conn {
					mine = append(mine, r)
				}
			}
			t.Logf("%s (%s), conn %s:\n%s", c.name, msg, conn, rowsText(mine))
			accept, closeAt := -1, -1
			for k, r := range mine {
				switch {
				case r.Kind == "ws.accept":
					accept = k
				case r.Kind == "ws.close" && r.From == "proxy":
					closeAt = k
				}
			}
			if accept < 0 || closeAt < 0 {
				t.Fatalf("want a 101 and the proxy's close:\n%s", rowsText(mine))
			}
			for k, r := range mine {
				if r.Leg == "browser-proxy" && r.From == client && r.Kind != "ws.upgrade" {
					if k < accept {
						t.Errorf("%s from the browser drawn before the 101:\n%s", r.Kind, rowsText(mine))
					}
					if k > closeAt {
						t.Errorf("%s from the browser drawn after the proxy's close:\n%s", r.Kind, rowsText(mine))
					}
					if strings.HasPrefix(r.Kind, "mqtt.") && !r.NotRelayed {
						t.Errorf("%s from the browser not marked as never relayed: no broker was reached:\n%s", r.Kind, rowsText(mine))
					}
				}
				if r.Leg == "proxy-broker" && strings.HasPrefix(r.Kind, "mqtt.") {
					t.Errorf("an MQTT packet on the broker leg of a failed connect:\n%s", rowsText(mine))
				}
			}
			if c.wantErr != "" && !strings.Contains(rowsText(mine), c.wantErr) {
				t.Errorf("no error saying %q:\n%s", c.wantErr, rowsText(mine))
			}
			// No red label overlaps another label.
			eval[bool](t, ctx, `(() => { const d = lifeline._ui.diagram; d.setFollowing(true); return true; })()`)
			time.Sleep(200 * time.Millisecond)
			overlaps := eval[[]string](t, ctx, `(() => {
				const labels = [...document.querySelectorAll('#diagram .arrow .badge.err, #diagram .arrow .label, #diagram .arrow .badge')];
				const out = [];
				for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
					const a = labels[i], b = labels[j];
					if (!a.classList.contains('err') && !b.classList.contains('err')) continue;
					if (!a.textContent || !b.textContent) continue;
					const r = a.getBoundingClientRect(), q = b.getBoundingClientRect();
					if (r.width && q.width && r.left < q.right - 1 && q.left < r.right - 1 && r.top < q.bottom - 1 && q.top < r.bottom - 1)
						out.push(a.textContent + ' | ' + b.textContent);
				}
				return out;
			})()`)
			screenshot(t, ctx, "failed-connect-"+c.name)
			for _, r := range mine {
				if r.Kind == "mqtt.CONNECT" && !eval[bool](t, ctx, `!!document.querySelector('#diagram [data-kind="mqtt.CONNECT"] .not-relayed')`) {
					t.Errorf("the page's CONNECT is drawn without its 'not relayed' mark")
				}
			}
			if len(overlaps) > 0 {
				t.Errorf("red labels overlap: %q", overlaps)
			}
		})
	}
}

// TestSeveralClientsToldApart plays the QoS lesson (a device and a cloud
// app, one page): both clients' connections share the proxy's and the
// broker's lifelines, so every arrow of the broker leg must say whose
// connection it is (the client's name and colour), the two clients
// differently, and no request/answer bracket may join two connections.
func TestSeveralClientsToldApart(t *testing.T) {
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	check := func(step string) {
		t.Helper()
		// The whole diagram as the page draws it (its SVG export uses the
		// same drawing of each arrow), with the model's connection of each.
		js := eval[string](t, ctx, `(() => {
			const v = lifeline._view(0, lifeline._total());
			const conn = new Map(v.arrows.map(a => [a.seq, a.conn || '']));
			const doc = new DOMParser().parseFromString(lifeline._ui.diagram.standalone(''), 'image/svg+xml');
			const arrows = [...doc.querySelectorAll('[data-leg="proxy-broker"][data-kind^="mqtt."]')].map(g => ({
				Seq: +g.dataset.seq, Conn: conn.get(+g.dataset.seq), Client: g.dataset.client || '',
				Color: [...g.classList].find(c => /^ct-/.test(c)) || '', Tag: (g.querySelector('.conn-tag') || {}).textContent || '',
				Label: g.querySelector('.label').textContent}));
			const owner = {};
			for (const a of v.arrows) if (a.leg === 'browser-proxy' && a.conn) owner[a.conn] = a.from === 'proxy' ? a.to : a.from;
			const spans = v.spans.map(sp => sp.rows.map(r => v.arrows[r].conn || ''));
			// The brackets of the broker leg in their client's colour.
			const brackets = [...doc.querySelectorAll('.span[data-exchange]')].map(g => {
				const a = v.arrows.find(a => a.exchange === +g.dataset.exchange);
				return {Leg: a.leg, Conn: a.conn || '', Color: [...g.classList].find(c => /^ct-/.test(c)) || ''};
			});
			return JSON.stringify({arrows, owner, spans, brackets});
		})()`)
		var got struct {
			Arrows []struct {
				Seq                             int
				Conn, Client, Color, Tag, Label string
			}
			Owner    map[string]string
			Spans    [][]string
			Brackets []struct{ Leg, Conn, Color string }
		}
		if err := json.Unmarshal([]byte(js), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Arrows) == 0 {
			t.Fatalf("%s: no broker-leg arrows drawn", step)
		}
		colors, tags := map[string]string{}, map[string]string{}
		for _, a := range got.Arrows {
			want := got.Owner[a.Conn]
			if a.Client != want || a.Color == "" || a.Tag == "" {
				t.Errorf("%s: broker-leg arrow %d %q (conn %s, of %q) is tagged client %q, colour %q, tag %q", step, a.Seq, a.Label, a.Conn, want, a.Client, a.Color, a.Tag)
				continue
			}
			if c, ok := colors[want]; ok && c != a.Color || tags[want] != "" && tags[want] != a.Tag {
				t.Errorf("%s: client %s drawn in two colours or names: %s %s, %s %s", step, want, c, a.Color, tags[want], a.Tag)
			}
			colors[want], tags[want] = a.Color, a.Tag
		}
		if len(colors) != 2 || colors["device"] == colors["app"] || tags["device"] == tags["app"] {
			t.Errorf("%s: the two clients' connections are not told apart: colours %v, tags %v", step, colors, tags)
		}
		onBroker := 0
		for _, b := range got.Brackets {
			if b.Leg == "proxy-broker" {
				onBroker++
			}
			if b.Leg == "proxy-broker" && b.Color != colors[got.Owner[b.Conn]] {
				t.Errorf("%s: a bracket of %s's connection %s is coloured %q, its arrows %q", step, got.Owner[b.Conn], b.Conn, b.Color, colors[got.Owner[b.Conn]])
			}
		}
		if onBroker < 2 {
			t.Errorf("%s: %d brackets drawn on the broker leg, want the QoS 2 exchanges of both clients", step, onBroker)
		}
		for i, sp := range got.Spans {
			for _, c := range sp {
				if c != sp[0] {
					t.Errorf("%s: bracket %d joins connections %v", step, i, sp)
					break
				}
			}
		}
	}
	runLesson(t, ctx, "qos", func(i int) {
		if i == 3 { // QoS 2: both clients' four-step exchanges on the broker leg
			waitFor(t, ctx, "the app's PUBCOMP on the broker leg", `lifeline.trace().some(e => e.kind === 'mqtt.PUBCOMP' && e.leg === 'proxy-broker' && e.from === 'proxy')`, 10*time.Second)
			check("QoS 2 step")
			screenshot(t, ctx, "several-clients-qos2")
		}
	})
}
