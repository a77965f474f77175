package proxy_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// waitMsg waits for a message other than an entry that satisfies ok.
func (tc *traceConn) waitMsg(t *testing.T, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		tc.mu.Lock()
		other := append([]map[string]any(nil), tc.other...)
		tc.mu.Unlock()
		for _, m := range other {
			if ok(m) {
				return m
			}
		}
		select {
		case <-tc.more:
		case <-deadline:
			t.Fatalf("no %s on the trace channel within 5 s; got %v", what, other)
		}
	}
}

func cutReply(conn string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == "cut" && m["conn"] == conn }
}

// The will lesson: a device connects through the proxy with a will, its page
// asks for the cut, the broker sees an RST with no DISCONNECT and publishes
// the will to a subscriber.
func TestCutFiresWill(t *testing.T) {
	e := newTestEnv(t, nil)
	const willTopic, willPayload = "devices/d1/status", "d1 went away"

	watcher := newPaho(t, "tcp://"+e.brokerAddr(), "watcher")
	wills := make(chan string, 4)
	if tok := watcher.Subscribe("devices/+/status", 1, func(_ paho.Client, m paho.Message) {
		wills <- string(m.Payload())
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	tc := e.openTrace(t)
	other := e.openTrace(t) // another page's trace channel
	ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
	connect, err := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60,
		ClientID: "d1", WillFlag: true, WillQoS: 1, WillTopic: willTopic, WillPayload: []byte(willPayload)}, codec.V311)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(websocket.MessageBinary, connect); err != nil {
		t.Fatal(err)
	}
	if _, connack, err := ws.Receive(); err != nil || len(connack) != 4 || connack[0] != 0x20 || connack[3] != 0 {
		t.Fatalf("CONNACK: % x, %v", connack, err)
	}

	// Only the trace channel that owns c1 can cut it.
	for _, tt := range []struct {
		name string
		from *traceConn
		conn string
	}{
		{"another page's trace", other, "c1"},
		{"unknown conn", tc, "c9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.from.ws.SendJSON(map[string]string{"type": "cut", "conn": tt.conn}); err != nil {
				t.Fatal(err)
			}
			if m := tt.from.waitMsg(t, "cut reply", cutReply(tt.conn)); m["ok"] != false || m["error"] == "" {
				t.Fatalf("reply %v, want ok false and an error", m)
			}
		})
	}
	select {
	case w := <-wills:
		t.Fatalf("will %q published before the cut", w)
	default:
	}

	if err := tc.ws.SendJSON(map[string]string{"type": "cut", "conn": "c1"}); err != nil {
		t.Fatal(err)
	}
	if m := tc.waitMsg(t, "cut reply", cutReply("c1")); m["ok"] != true {
		t.Fatalf("reply %v, want ok true", m)
	}
	code, reason := ws.Closed()
	if code != proxy.CloseCut || reason != proxy.CutReason {
		t.Errorf("the page's WebSocket closed with %d %q, want %d %q", code, reason, proxy.CloseCut, proxy.CutReason)
	}
	select {
	case w := <-wills:
		if w != willPayload {
			t.Errorf("will payload %q, want %q", w, willPayload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the broker did not publish the will within 5 s of the cut")
	}

	got := tc.waitFor(t, "ws.close from the proxy", func(en trace.Entry) bool {
		return en.Kind == trace.KindWSClose && en.From == "proxy"
	})
	rst, closed := -1, -1
	for i, en := range got {
		switch {
		case en.Kind == trace.KindTCPRst && en.From == "proxy" && en.To == "broker":
			if en.Observed != trace.ObservedKernel || en.Leg != trace.LegProxyBroker {
				t.Errorf("tcp.rst entry %+v: want leg proxy-broker, observed kernel", en)
			}
			rst = i
		case en.Kind == trace.KindWSClose && en.From == "proxy":
			if !strings.Contains(en.Summary, "4000") || !strings.Contains(en.Summary, proxy.CutReason) {
				t.Errorf("ws.close summary %q lacks the code and reason", en.Summary)
			}
			closed = i
		case en.Kind == "mqtt.DISCONNECT", en.Kind == trace.KindTCPFin && en.From == "proxy":
			t.Errorf("%s from %s in a cut session", en.Kind, en.From)
		}
	}
	if rst < 0 || closed < rst {
		t.Errorf("want tcp.rst from the proxy, then ws.close; got:\n%s", dump(got))
	}
}

// The cut is an RST on the wire: the broker's read fails with ECONNRESET,
// and it received nothing after what the page sent.
func TestCutSendsRST(t *testing.T) {
	e := privateEnv(t, nil)
	f, got := newRecordingBroker(t, false)
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
	pingreq := []byte{0xc0, 0x00}
	if err := ws.Send(websocket.MessageBinary, pingreq); err != nil {
		t.Fatal(err)
	}
	tc.waitFor(t, "the PINGREQ written", func(en trace.Entry) bool { return en.Kind == "mqtt.PINGREQ" })
	if err := tc.ws.SendJSON(map[string]string{"type": "cut", "conn": "c1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !errors.Is(r.err, syscall.ECONNRESET) {
			t.Errorf("the broker's read ended with %v, want ECONNRESET", r.err)
		}
		if !bytes.Equal(r.bytes, pingreq) {
			t.Errorf("the broker received % x, want % x", r.bytes, pingreq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the broker's connection did not end within 5 s of the cut")
	}
	if code, _ := ws.Closed(); code != proxy.CloseCut {
		t.Errorf("close code %d, want %d", code, proxy.CloseCut)
	}
}

// The cause precedes its effects: the tcp.rst of a cut is stamped no later
// than the will PUBLISH the broker sends, in reaction, to another connection
// of the same trace channel (the page sorts arrows by t). Several rounds, as
// the order is decided by the scheduler.
func TestCutRSTStampedBeforeTheWill(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.openTrace(t)
	connectWS := func(t *testing.T, p *codec.Connect) *wstest.Client {
		t.Helper()
		ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
		b, err := codec.AppendPacket(nil, p, codec.V311)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Send(websocket.MessageBinary, b); err != nil {
			t.Fatal(err)
		}
		if _, connack, err := ws.Receive(); err != nil || len(connack) != 4 || connack[3] != 0 {
			t.Fatalf("CONNACK: % x, %v", connack, err)
		}
		return ws
	}
	conn := 0
	for round := range 5 {
		t.Run("round"+strconv.Itoa(round), func(t *testing.T) {
			topic := "devices/r" + strconv.Itoa(round) + "/status"
			app := connectWS(t, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60, ClientID: "app" + strconv.Itoa(round)})
			conn++
			appConn := "c" + strconv.Itoa(conn)
			sub, _ := codec.AppendPacket(nil, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: topic, QoS: 1}}}, codec.V311)
			if err := app.Send(websocket.MessageBinary, sub); err != nil {
				t.Fatal(err)
			}
			if _, suback, err := app.Receive(); err != nil || len(suback) == 0 || suback[0] != 0x90 {
				t.Fatalf("SUBACK: % x, %v", suback, err)
			}
			connectWS(t, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60, ClientID: "dev" + strconv.Itoa(round),
				WillFlag: true, WillQoS: 1, WillTopic: topic, WillPayload: []byte("gone")})
			conn++
			devConn := "c" + strconv.Itoa(conn)

			if err := tc.ws.SendJSON(map[string]string{"type": "cut", "conn": devConn}); err != nil {
				t.Fatal(err)
			}
			isWill := func(en trace.Entry) bool {
				return en.Conn == appConn && en.Kind == "mqtt.PUBLISH" && en.From == "broker"
			}
			got := tc.waitFor(t, "the will PUBLISH to "+appConn, isWill)
			var rst, will *trace.Entry
			for i, en := range got {
				switch {
				case en.Conn == devConn && en.Kind == trace.KindTCPRst:
					rst = &got[i]
				case isWill(en):
					will = &got[i]
				}
			}
			if rst == nil {
				got = tc.waitFor(t, "tcp.rst on "+devConn, func(en trace.Entry) bool { return en.Conn == devConn && en.Kind == trace.KindTCPRst })
				for i, en := range got {
					if en.Conn == devConn && en.Kind == trace.KindTCPRst {
						rst = &got[i]
					}
				}
			}
			if rst.T > will.T {
				t.Errorf("tcp.rst at t=%.3f ms, after the will it caused at t=%.3f ms:\n%s", rst.T, will.T, dump(got))
			}
		})
	}
}
