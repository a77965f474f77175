//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestMQTTJSFlood is issue 19's measure with mqtt.js, a client Lifeline did
// not write: through lifeline serve's /mqtt, a publisher sends 5,000 QoS 1
// messages as fast as mqtt.js does to a subscriber on the same broker, at
// each version. Every message is delivered, or every one that is not is in
// the subscriber's trace as broker.drop — delivered + reported =
// published, exactly. The same test runs against Debian's mosquitto
// behind the same proxy, where nothing is reported.
//
// "paced": the publisher keeps at most 20 messages unacknowledged, the
// Receive Maximum both brokers announce (mqtt.js does not keep it itself)
// and libmosquitto's default in 3.1.1, and at most 500 ahead of the
// subscriber (below the brokers' 1,000 queued, so that a stalled
// subscriber on a loaded machine cannot make mosquitto drop messages it
// cannot report): both brokers deliver all. "unpaced": every message at once, as mqtt.js does
// by default; the subscriber's queue (20 in flight, 1,000 queued on both
// brokers) overflows: the embedded broker reports each message it drops,
// mosquitto drops them without a word (measured: 1,020 of 5,000
// delivered, at both versions), so it runs on the embedded broker only.
func TestMQTTJSFlood(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("e2e: node is missing: install Debian's nodejs (`make deps` does it as root)")
	}
	const n = 5000
	mosq, _ := startMosquitto(t, "allow_anonymous true\n")
	s := startServer(t, "-embedded-broker", "127.0.0.1:0", "-allow-private", "-allow", "127.0.0.1:"+strconv.Itoa(mosq)+",*:1883")
	base := "ws" + strings.TrimPrefix(s.URL, "http")
	for _, tt := range []struct{ broker, pace, window, lead string }{
		{"embedded", "paced", "20", "500"}, {"mosquitto", "paced", "20", "500"}, {"embedded", "unpaced", "0", "0"},
	} {
		broker := tt.broker
		for _, version := range []string{"4", "5"} {
			t.Run(broker+"/"+tt.pace+"/v"+version, func(t *testing.T) {
				query := ""
				if broker == "mosquitto" {
					query = "broker=127.0.0.1:" + strconv.Itoa(mosq) + "&"
				}
				tr := openTrace(t, s)
				ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
				defer cancel()
				start := time.Now()
				out, err := exec.CommandContext(ctx, node, "mqttjs/flood.mjs",
					base+"/mqtt?"+query+"trace="+tr.token, base+"/mqtt?"+strings.TrimSuffix(query, "&"), version, strconv.Itoa(n), tt.window, tt.lead).Output()
				var res struct {
					OK                           bool
					Error                        string
					Delivered, Acked, Duplicates int
				}
				if jerr := json.Unmarshal(out, &res); jerr != nil {
					if ee, ok := err.(*exec.ExitError); ok {
						t.Fatalf("mqtt.js: %v: %s%s", err, out, ee.Stderr)
					}
					t.Fatalf("mqtt.js printed %q: %v (run `make deps` to install e2e/mqttjs)", out, jerr)
				}
				if !res.OK || err != nil {
					t.Fatalf("mqtt.js failed: %s (%v)", res.Error, err)
				}
				reported, reasons := tr.drops(t, "flood-sub-v"+version, n-res.Delivered)
				t.Logf("%s %s v%s: %d published (%d acknowledged), %d delivered, %d reported dropped %v, in %v",
					broker, tt.pace, version, n, res.Acked, res.Delivered, reported, reasons, time.Since(start).Round(time.Millisecond))
				if res.Acked != n {
					t.Errorf("%d of %d publishes acknowledged", res.Acked, n)
				}
				if res.Delivered+reported != n {
					t.Errorf("delivered %d + reported %d = %d, want %d published", res.Delivered, reported, res.Delivered+reported, n)
				}
				if tt.pace == "unpaced" && reasons[trace.DropQueueFull] != reported {
					t.Errorf("reasons %v, want all %q", reasons, trace.DropQueueFull)
				}
			})
		}
	}
}

// floodTrace is an open /trace channel counting broker.drop entries.
type floodTrace struct {
	token    string
	mu       sync.Mutex
	byClient map[string]map[string]int // client → reason → count
	lost     int                       // entries the channel itself dropped
}

func openTrace(t *testing.T, s *server) *floodTrace {
	t.Helper()
	host := strings.TrimPrefix(s.URL, "http://")
	ws, _, err := wstest.Dial("ws://"+host+"/trace", http.Header{"Origin": {s.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var hello struct{ Token string }
	if err := ws.ReceiveJSON(&hello); err != nil {
		t.Fatal(err)
	}
	tr := &floodTrace{token: hello.Token, byClient: map[string]map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m struct {
				Type  string
				Count int
				Entry *trace.Entry
			}
			if wsjson.Read(context.Background(), ws.Conn, &m) != nil { // until the cleanup's CloseNow
				return
			}
			tr.mu.Lock()
			switch {
			case m.Type == "dropped":
				tr.lost += m.Count
			case m.Type == "entry" && m.Entry != nil && m.Entry.Kind == trace.KindBrokerDrop && m.Entry.Drop != nil:
				d := m.Entry.Drop
				if tr.byClient[d.Client] == nil {
					tr.byClient[d.Client] = map[string]int{}
				}
				tr.byClient[d.Client][d.Reason]++
			}
			tr.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ws.CloseNow(); <-done })
	return tr
}

// drops waits up to 5 s for want broker.drop entries about client and
// returns how many arrived, by reason.
func (tr *floodTrace) drops(t *testing.T, client string, want int) (int, map[string]int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tr.mu.Lock()
		n, reasons := 0, map[string]int{}
		for r, c := range tr.byClient[client] {
			n += c
			reasons[r] = c
		}
		lost := tr.lost
		tr.mu.Unlock()
		if lost > 0 {
			t.Errorf("the trace channel dropped %d entries", lost)
		}
		if n >= want || time.Now().After(deadline) {
			return n, reasons
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPageSubscriberDrops: the page's own client subscribes at QoS 1 while
// a publisher sends 3,000 QoS 1 messages at once over TCP to the embedded
// broker, run with a small queue (5 queued, 2 in flight) so that it
// overflows: every message reaches the page or is in its trace as a
// broker.drop — delivered + reported = published — and a drop is drawn as
// an arrow ending at the broker, marked dropped (artifacts/broker-drop.png).
func TestPageSubscriberDrops(t *testing.T) {
	const n = 3000
	s := startServer(t, "-embedded-broker", "127.0.0.1:0", "-broker-max-queued", "5", "-broker-max-inflight", "2")
	ctx := newBrowser(t)
	openPage(t, ctx, s)
	eval[bool](t, ctx, `lifeline.connect({clientId: 'page-sub', keepAlive: 30}).then(() => true)`)
	eval[bool](t, ctx, `lifeline.subscribe('flood/page', {qos: 1}).then(() => true)`)

	broker := embeddedBrokerAddr(t, s)
	c, err := net.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, _ := (&codec.Connect{Version: codec.V311, ClientID: "tcp-pub", CleanStart: true}).Append(nil, codec.V311)
	for i := range n {
		out, _ = (&codec.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: "flood/page", Payload: []byte("m" + strconv.Itoa(i))}).Append(out, codec.V311)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}

	count := `(() => { const d = lifeline.trace().filter(e => e.kind === 'broker.drop').length; return [lifeline._messages(1e12).total, d]; })()`
	var got []int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got = eval[[]int](t, ctx, count)
		if got[0]+got[1] >= n || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(time.Second) // nothing more
	got = eval[[]int](t, ctx, count)
	t.Logf("%d published, %d delivered to the page, %d reported dropped in its trace", n, got[0], got[1])
	if got[0]+got[1] != n {
		t.Fatalf("delivered %d + reported %d = %d, want %d", got[0], got[1], got[0]+got[1], n)
	}
	if got[1] == 0 {
		t.Fatal("no drop: the queue of 5 did not overflow")
	}
	seq := eval[int](t, ctx, `lifeline.trace().find(e => e.kind === 'broker.drop').seq`)
	eval[bool](t, ctx, `(() => { const sc = document.getElementById('diagram-scroll'); sc.scrollTop = Math.max(0, lifeline._rowOf(`+strconv.Itoa(seq)+`) * sc.scrollHeight / (lifeline._total() + 1) - 120); return true; })()`)
	waitFor(t, ctx, "a drop drawn", `document.querySelector('#diagram [data-kind="broker.drop"]')`, 5*time.Second)
	drawn := eval[[]string](t, ctx, `(() => { const g = document.querySelector('#diagram [data-kind="broker.drop"]'); return [g.getAttribute('class'), g.querySelector('.badge.drop').textContent, g.dataset.from + '>' + g.dataset.to, g.querySelector('.label').textContent]; })()`)
	t.Logf("drawn: %q", drawn)
	if !strings.Contains(drawn[0], "dropped") || drawn[1] != "✕ dropped" || drawn[2] != "broker>broker" || !strings.HasPrefix(drawn[3], trace.DropQueueFull+": PUBLISH") {
		t.Fatalf("drop arrow drawn as %q", drawn)
	}
	screenshot(t, ctx, "broker-drop")
}

// embeddedBrokerAddr asks /api/config where the embedded broker listens.
func embeddedBrokerAddr(t *testing.T, s *server) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/config", nil)
	req.Header.Set("Origin", s.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ EmbeddedBroker string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || c.EmbeddedBroker == "" {
		t.Fatalf("/api/config: %v", err)
	}
	return c.EmbeddedBroker
}
