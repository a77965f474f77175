package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A PUBLISH larger than -max-message (the page's 1 MiB publish) is the
// proxy's own bound in any MQTT version: the page gets the close frame
// (1009, not a reset seen as 1006) with one reason, the trace's arrow says
// the same, and neither calls it malformed nor cites an MQTT 5 clause.
func TestPacketTooLargeSaysOneCause(t *testing.T) {
	e := newTestEnv(t, nil) // -max-message 1 MiB
	tc := e.openTrace(t)
	ws, _, err := wstest.Dial(e.mqttURL("trace="+tc.token), http.Header{"Origin": {"http://" + e.host}}, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	if err := ws.Send(websocket.MessageBinary, connect); err != nil {
		t.Fatal(err)
	}
	// PUBLISH QoS 0, topic "t", a 4 MiB payload: remaining length 4 MiB + 3.
	pkt := []byte{0x30}
	for rem := 4<<20 + 3; rem > 0; rem >>= 7 {
		b := byte(rem & 0x7f)
		if rem > 0x7f {
			b |= 0x80
		}
		pkt = append(pkt, b)
	}
	pkt = append(pkt, 0, 1, 't')
	pkt = append(pkt, make([]byte, 4<<20)...)
	werr := ws.Send(websocket.MessageBinary, pkt)
	code, reason := ws.Closed()
	if code != websocket.StatusMessageTooBig {
		t.Fatalf("close %d %q (write: %v), want the proxy's close frame 1009", code, reason, werr)
	}
	const want = "MQTT packet larger than 1048576 bytes, the most this proxy takes (-max-message)"
	if reason != want {
		t.Errorf("close reason %q, want %q", reason, want)
	}
	got := tc.waitFor(t, "ws.close from the proxy", func(en trace.Entry) bool { return en.Kind == trace.KindWSClose && en.From == "proxy" })
	for _, en := range got {
		if en.Kind != trace.KindWSClose || en.From != "proxy" {
			continue
		}
		if en.Summary != "Close 1009 "+want || en.Error != want {
			t.Errorf("ws.close entry says %q, error %q; want the page's reason, once", en.Summary, en.Error)
		}
		for _, bad := range []string{"malformed", "3.1.2.11.4"} {
			if strings.Contains(en.Summary+en.Error, bad) {
				t.Errorf("ws.close entry %q / %q says %q", en.Summary, en.Error, bad)
			}
		}
	}
}
