package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// labBroker is a broker stand-in for the lab's tests: it records every byte
// it reads, with the time, and sends what a test gives it.
type labBroker struct {
	*fakeBroker
	mu       sync.Mutex
	got      []byte
	at       []time.Time // when each byte of got was read
	consumed int         // bytes a test has checked
	readErr  error
	more     chan struct{}
	conn     chan *net.TCPConn
}

func newLabBroker(t *testing.T) *labBroker {
	t.Helper()
	lb := &labBroker{more: make(chan struct{}, 1), conn: make(chan *net.TCPConn, 1)}
	var c *net.TCPConn
	var cmu sync.Mutex
	lb.fakeBroker = newFakeBroker(t, func(tc *net.TCPConn) error {
		cmu.Lock()
		c = tc
		cmu.Unlock()
		lb.conn <- tc
		buf := make([]byte, 4096)
		for {
			n, err := tc.Read(buf)
			now := time.Now()
			lb.mu.Lock()
			lb.got = append(lb.got, buf[:n]...)
			for range n {
				lb.at = append(lb.at, now)
			}
			if err != nil {
				lb.readErr = err
			}
			lb.mu.Unlock()
			select {
			case lb.more <- struct{}{}:
			default:
			}
			if err != nil {
				return nil
			}
		}
	})
	t.Cleanup(func() { // before the fake broker's cleanup waits for serve
		cmu.Lock()
		if c != nil {
			c.Close()
		}
		cmu.Unlock()
	})
	return lb
}

// accepted waits for the proxy's connection.
func (lb *labBroker) accepted(t *testing.T) *net.TCPConn {
	t.Helper()
	select {
	case c := <-lb.conn:
		lb.conn <- c
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not connect to the broker within 5 s")
		return nil
	}
}

// expect waits for the next len(want) bytes and checks they are want; it
// returns when the last of them was read.
func (lb *labBroker) expect(t *testing.T, want []byte) time.Time {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		lb.mu.Lock()
		if len(lb.got) >= lb.consumed+len(want) {
			got := lb.got[lb.consumed : lb.consumed+len(want)]
			at := lb.at[lb.consumed+len(want)-1]
			lb.consumed += len(want)
			lb.mu.Unlock()
			if !bytes.Equal(got, want) {
				t.Fatalf("the broker received % x, want % x", got, want)
			}
			return at
		}
		have := append([]byte(nil), lb.got[lb.consumed:]...)
		lb.mu.Unlock()
		select {
		case <-lb.more:
		case <-deadline:
			t.Fatalf("the broker did not receive % x within 5 s; it has % x", want, have)
		}
	}
}

// nothingMore checks the broker received nothing unchecked for a while (a
// bound on waiting for what must not come, not a timing assertion).
func (lb *labBroker) nothingMore(t *testing.T) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if len(lb.got) > lb.consumed {
		t.Fatalf("the broker received % x, want nothing", lb.got[lb.consumed:])
	}
	if lb.readErr != nil {
		t.Fatalf("the broker's connection ended: %v", lb.readErr)
	}
}

// publish0 is a QoS 0 PUBLISH of payload to topic.
func publish0(topic, payload string) []byte {
	b := []byte{0x30, byte(2 + len(topic) + len(payload)), 0, byte(len(topic))}
	return append(append(b, topic...), payload...)
}

var (
	pingreq  = []byte{0xc0, 0x00}
	pingresp = []byte{0xd0, 0x00}
)

func puback(id byte) []byte { return []byte{0x40, 0x02, 0x00, id} }

// labEnv is a page session through the proxy to a labBroker, with its
// trace channel.
type labEnv struct {
	e  *env
	lb *labBroker
	tc *traceConn
	ws *wstest.Client
	id int
}

func newLabEnv(t *testing.T, change func(*proxy.Config)) *labEnv {
	t.Helper()
	e := privateEnv(t, change)
	lb := newLabBroker(t)
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("broker="+lb.addr()+"&trace="+tc.token))
	lb.accepted(t)
	return &labEnv{e: e, lb: lb, tc: tc, ws: ws}
}

// do sends a lab control for c1 on the trace channel and returns the answer.
func (le *labEnv) do(t *testing.T, from *traceConn, ctl map[string]any) map[string]any {
	t.Helper()
	le.id++
	id := float64(le.id)
	ctl["type"] = "lab"
	ctl["id"] = id
	if _, ok := ctl["conn"]; !ok {
		ctl["conn"] = "c1"
	}
	if err := from.ws.SendJSON(ctl); err != nil {
		t.Fatal(err)
	}
	return from.waitMsg(t, "lab answer", func(m map[string]any) bool { return m["type"] == "lab" && m["id"] == id })
}

// ok sends a control that must succeed and returns the state after it.
func (le *labEnv) ok(t *testing.T, ctl map[string]any) map[string]any {
	t.Helper()
	m := le.do(t, le.tc, ctl)
	if m["ok"] != true {
		t.Fatalf("lab %v: answer %v, want ok", ctl, m)
	}
	return m["state"].(map[string]any)
}

func (le *labEnv) send(t *testing.T, pkts ...[]byte) {
	t.Helper()
	for _, p := range pkts {
		if err := le.ws.Send(websocket.MessageBinary, p); err != nil {
			t.Fatal(err)
		}
	}
}

// closeFrame sends the page's close frame (1000) and nothing more: coder's
// Close would also wait for the proxy's, so it is written on the TCP
// connection under the WebSocket.
func (le *labEnv) closeFrame(t *testing.T) {
	t.Helper()
	if _, err := le.ws.TCP.Write(wstest.ClientFrame(wstest.OpClose, closePayload(1000))); err != nil {
		t.Fatal(err)
	}
}

// readPage reads the next message the page gets.
func (le *labEnv) readPage(t *testing.T) []byte {
	t.Helper()
	_, b, err := le.ws.Receive()
	if err != nil {
		t.Fatalf("the page read: %v", err)
	}
	return b
}

// pageGetsNothing checks the page receives no message for a while; the
// read is left pending until the test ends (coder would close the
// connection at an earlier deadline), so the page's messages are read
// only through the channel it returns: call it last, or use next.
func (le *labEnv) pageGetsNothing(t *testing.T) chan []byte {
	t.Helper()
	got := make(chan []byte, 8)
	go func() {
		defer close(got)
		for {
			_, b, err := le.ws.Read(t.Context())
			if err != nil {
				return
			}
			got <- b
		}
	}()
	select {
	case b := <-got:
		t.Fatalf("the page received % x, want nothing yet", b)
	case <-time.After(300 * time.Millisecond):
	}
	return got
}

func next(t *testing.T, got chan []byte) []byte {
	t.Helper()
	select {
	case b, ok := <-got:
		if !ok {
			t.Fatal("the page's connection ended")
		}
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("the page received nothing within 5 s")
		return nil
	}
}

func count(es []trace.Entry, ok func(trace.Entry) bool) int {
	n := 0
	for _, e := range es {
		if ok(e) {
			n++
		}
	}
	return n
}

func kind(k string) func(trace.Entry) bool {
	return func(e trace.Entry) bool { return e.Kind == k }
}

// Hold PUBLISH toward the broker: held packets keep their order, a packet
// the filter does not select passes, step lets the oldest go and release
// the rest, byte for byte.
func TestLabHoldStepRelease(t *testing.T) {
	le := newLabEnv(t, nil)
	st := le.ok(t, map[string]any{"op": "hold", "dir": "toBroker", "types": []string{"PUBLISH"}})
	if h := st["holds"].(map[string]any)["toBroker"].([]any); len(h) != 1 || h[0] != "PUBLISH" {
		t.Errorf("state holds %v, want [PUBLISH] toward the broker", h)
	}
	p1, p2, p3 := publish0("a/b", "one"), publish0("a/b", "two"), publish0("x", "three")
	le.send(t, p1, p2, pingreq, p3)
	le.lb.expect(t, pingreq) // not selected: it passes the held ones
	le.tc.waitFor(t, "three held", func(e trace.Entry) bool { return e.Kind == trace.KindLabHold && bytes.Equal(e.Bytes, p3) })
	le.lb.nothingMore(t)
	if st := le.ok(t, map[string]any{"op": "state"}); st["held"].(map[string]any)["toBroker"] != 3.0 {
		t.Errorf("state %v: want 3 held toward the broker", st)
	}

	st = le.ok(t, map[string]any{"op": "step"})
	le.lb.expect(t, p1)
	le.lb.nothingMore(t)
	if n := st["held"].(map[string]any)["toBroker"]; n != 2.0 {
		t.Errorf("after step %v held, want 2", n)
	}
	le.ok(t, map[string]any{"op": "release", "dir": "toBroker"})
	le.lb.expect(t, append(append([]byte(nil), p2...), p3...))

	got := le.tc.waitFor(t, "PUBLISH three written", func(e trace.Entry) bool {
		return e.Kind == "mqtt.PUBLISH" && bytes.Equal(e.Bytes, p3)
	})
	if n := count(got, kind(trace.KindLabHold)); n != 4 { // the control and three packets
		t.Errorf("%d lab.hold entries, want 4:\n%s", n, dump(got))
	}
	if n := count(got, kind(trace.KindLabRelease)); n != 5 { // step and its packet, release and its two
		t.Errorf("%d lab.release entries, want 5:\n%s", n, dump(got))
	}
	// Each written PUBLISH follows its release and says it was held.
	for _, p := range [][]byte{p1, p2, p3} {
		rel, wrote := -1, -1
		for i, e := range got {
			switch {
			case e.Kind == trace.KindLabRelease && bytes.Equal(e.Bytes, p):
				rel = i
			case e.Kind == "mqtt.PUBLISH" && bytes.Equal(e.Bytes, p):
				wrote = i
				if !strings.Contains(e.Note, "held") {
					t.Errorf("the PUBLISH entry's note %q does not say it was held", e.Note)
				}
			}
		}
		if rel < 0 || wrote < rel {
			t.Errorf("% x: want lab.release, then mqtt.PUBLISH:\n%s", p, dump(got))
		}
	}
}

// Hold the broker's PUBACKs toward the page; PINGRESP passes; release
// sends each held packet as its own message, in order, byte for byte.
func TestLabHoldToPage(t *testing.T) {
	le := newLabEnv(t, nil)
	le.ok(t, map[string]any{"op": "hold", "dir": "toPage", "types": []string{"PUBACK", "PUBREC"}})
	c := le.lb.accepted(t)
	if _, err := c.Write(bytes.Join([][]byte{puback(1), puback(2), pingresp}, nil)); err != nil {
		t.Fatal(err)
	}
	if b := le.readPage(t); !bytes.Equal(b, pingresp) {
		t.Fatalf("the page got % x first, want the PINGRESP % x", b, pingresp)
	}
	got := le.pageGetsNothing(t)
	le.ok(t, map[string]any{"op": "release"})
	for _, want := range [][]byte{puback(1), puback(2)} {
		if b := next(t, got); !bytes.Equal(b, want) {
			t.Fatalf("the page got % x, want % x", b, want)
		}
	}
}

// Drop the next PUBLISH toward the broker: it is never written, the next
// one is, and the TCP connection stays as it was.
func TestLabDrop(t *testing.T) {
	le := newLabEnv(t, nil)
	le.ok(t, map[string]any{"op": "drop", "dir": "toBroker", "types": []string{"PUBLISH"}, "topic": "a/+"})
	dropped, other, kept := publish0("a/b", "lost"), publish0("b", "not selected"), publish0("a/c", "kept")
	le.send(t, other, dropped, kept, pingreq)
	le.lb.expect(t, bytes.Join([][]byte{other, kept, pingreq}, nil))
	le.lb.nothingMore(t)
	got := le.tc.waitFor(t, "lab.drop of the packet", func(e trace.Entry) bool {
		return e.Kind == trace.KindLabDrop && bytes.Equal(e.Bytes, dropped)
	})
	if n := count(got, func(e trace.Entry) bool { return e.Kind == "mqtt.PUBLISH" && bytes.Equal(e.Bytes, dropped) }); n != 0 {
		t.Errorf("the dropped PUBLISH has %d mqtt.PUBLISH entries, want none:\n%s", n, dump(got))
	}
	if st := le.ok(t, map[string]any{"op": "state"}); len(st["drops"].(map[string]any)["toBroker"].([]any)) != 0 {
		t.Errorf("the drop rule is still there after its one packet: %v", st)
	}

	// Toward the page: the next two PUBACKs.
	le.ok(t, map[string]any{"op": "drop", "dir": "toPage", "types": []string{"PUBACK"}, "count": 2})
	c := le.lb.accepted(t)
	if _, err := c.Write(bytes.Join([][]byte{puback(1), puback(2), puback(3)}, nil)); err != nil {
		t.Fatal(err)
	}
	if b := le.readPage(t); !bytes.Equal(b, puback(3)) {
		t.Fatalf("the page got % x, want the third PUBACK only", b)
	}
}

// A delay holds each packet at least as long as asked, in order.
func TestLabDelay(t *testing.T) {
	le := newLabEnv(t, nil)
	const delay = 250 * time.Millisecond
	st := le.ok(t, map[string]any{"op": "delay", "ms": float64(delay / time.Millisecond)})
	if d := st["delayMs"].(map[string]any); d["toBroker"] != 250.0 || d["toPage"] != 250.0 {
		t.Errorf("state delayMs %v, want 250 both ways", d)
	}
	p1, p2 := publish0("t", "1"), publish0("t", "2")
	sent := time.Now()
	le.send(t, p1, p2)
	at := le.lb.expect(t, append(append([]byte(nil), p1...), p2...))
	if took := at.Sub(sent); took < delay {
		t.Errorf("toward the broker the packets arrived %v after they were sent, before the %v delay", took, delay)
	}
	c := le.lb.accepted(t)
	sent = time.Now()
	if _, err := c.Write(pingresp); err != nil {
		t.Fatal(err)
	}
	if b := le.readPage(t); !bytes.Equal(b, pingresp) {
		t.Fatalf("the page got % x", b)
	}
	if took := time.Since(sent); took < delay {
		t.Errorf("toward the page the PINGRESP arrived %v after it was sent, before the %v delay", took, delay)
	}
}

// Silence forwards nothing either way, and both TCP connections stay open;
// resume delivers what was held, in order.
func TestLabSilence(t *testing.T) {
	le := newLabEnv(t, nil)
	le.ok(t, map[string]any{"op": "silence"})
	le.send(t, pingreq)
	c := le.lb.accepted(t)
	if _, err := c.Write(puback(9)); err != nil {
		t.Fatal(err)
	}
	le.tc.waitFor(t, "the PUBACK held", func(e trace.Entry) bool { return e.Kind == trace.KindLabHold && bytes.Equal(e.Bytes, puback(9)) })
	got := le.pageGetsNothing(t)
	le.lb.nothingMore(t) // the broker's connection is open: no EOF, no reset
	// The page's connection is open: a ping is answered (coder's Ping
	// waits for the pong, which pageGetsNothing's pending read takes in).
	ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
	defer cancel()
	if err := le.ws.Ping(ctx); err != nil {
		t.Fatalf("the page's WebSocket: %v", err)
	}
	st := le.ok(t, map[string]any{"op": "state"})
	if st["silenced"] != true || st["held"].(map[string]any)["toBroker"] != 1.0 || st["held"].(map[string]any)["toPage"] != 1.0 {
		t.Errorf("state %v: want silenced, one held each way", st)
	}
	le.ok(t, map[string]any{"op": "resume", "dir": "toBroker"}) // ending the silence lets both ways go
	le.lb.expect(t, pingreq)
	if b := next(t, got); !bytes.Equal(b, puback(9)) {
		t.Fatalf("the page got % x after resume, want the PUBACK", b)
	}
	all := le.tc.waitFor(t, "silence ended", kind(trace.KindLabSilence))
	if n := count(all, kind(trace.KindLabSilence)); n != 2 {
		t.Errorf("%d lab.silence entries, want 2 (begun, ended):\n%s", n, dump(all))
	}
}

// The bound: at it the proxy refuses to hold more and says so, stops
// reading the page, and loses nothing; released, everything arrives in
// order.
func TestLabBound(t *testing.T) {
	const limit = 64
	le := newLabEnv(t, func(c *proxy.Config) { c.LabBytes = limit })
	le.ok(t, map[string]any{"op": "pause", "dir": "toBroker"})
	var pkts [][]byte
	for i := range 10 {
		pkts = append(pkts, publish0("bound", strings.Repeat(string(rune('a'+i)), 10))) // 19 bytes each
	}
	le.send(t, pkts...)
	got := le.tc.waitFor(t, "the refusal to hold more", func(e trace.Entry) bool {
		return e.Kind == trace.KindLabHold && e.Error != ""
	})
	le.lb.nothingMore(t)
	st := le.ok(t, map[string]any{"op": "state"})
	if b := st["bytes"].(float64); b > limit || b == 0 {
		t.Errorf("%v bytes queued, want some and at most %d", b, limit)
	}
	if n := count(got, func(e trace.Entry) bool { return e.Kind == trace.KindLabHold && e.Error != "" }); n != 1 {
		t.Errorf("%d refusals, want 1 (said once per wait)", n)
	}
	le.ok(t, map[string]any{"op": "resume"})
	le.lb.expect(t, bytes.Join(pkts, nil))
	if n := count(le.tc.waitFor(t, "the last PUBLISH", func(e trace.Entry) bool {
		return e.Kind == "mqtt.PUBLISH" && bytes.Equal(e.Bytes, pkts[9])
	}), kind(trace.KindLabDrop)); n != 0 {
		t.Errorf("%d lab.drop entries, want none", n)
	}
}

// Bad controls get an error in words and change nothing.
func TestLabRefusals(t *testing.T) {
	le := newLabEnv(t, nil)
	other := le.e.openTrace(t)
	le.ok(t, map[string]any{"op": "hold", "dir": "toPage", "types": []string{"PUBACK"}})
	before := le.ok(t, map[string]any{"op": "state"})
	tests := []struct {
		name string
		from *traceConn
		ctl  map[string]any
		want string
	}{
		{"another page's trace", other, map[string]any{"op": "silence"}, "no open connection"},
		{"unknown conn", le.tc, map[string]any{"op": "silence", "conn": "c9"}, "no open connection"},
		{"unknown op", le.tc, map[string]any{"op": "freeze"}, "unknown lab operation"},
		{"unknown packet type", le.tc, map[string]any{"op": "hold", "dir": "toBroker", "types": []string{"PUBLISHED"}}, "unknown packet type"},
		{"no packet type", le.tc, map[string]any{"op": "drop", "dir": "toBroker"}, "no packet types"},
		{"hold without direction", le.tc, map[string]any{"op": "hold", "types": []string{"PUBACK"}}, "needs a direction"},
		{"unknown direction", le.tc, map[string]any{"op": "pause", "dir": "sideways"}, "unknown direction"},
		{"topic without PUBLISH", le.tc, map[string]any{"op": "hold", "dir": "toBroker", "types": []string{"PUBACK"}, "topic": "a"}, "PUBLISH packets only"},
		{"bad topic filter", le.tc, map[string]any{"op": "hold", "dir": "toBroker", "types": []string{"PUBLISH"}, "topic": "a/#/b"}, "topic filter"},
		{"delay below 0", le.tc, map[string]any{"op": "delay", "ms": -1}, "out of range"},
		{"delay above 5 s", le.tc, map[string]any{"op": "delay", "ms": 5001}, "out of range"},
		{"delay without ms", le.tc, map[string]any{"op": "delay"}, "needs ms"},
		{"drop count", le.tc, map[string]any{"op": "drop", "dir": "toBroker", "types": []string{"PUBLISH"}, "count": -2}, "out of range"},
		{"step with nothing held", le.tc, map[string]any{"op": "step"}, "nothing is held"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := le.do(t, tt.from, tt.ctl)
			if m["ok"] != false || !strings.Contains(m["error"].(string), tt.want) {
				t.Fatalf("answer %v, want ok false and an error with %q", m, tt.want)
			}
		})
	}
	if after := le.ok(t, map[string]any{"op": "state"}); !sameJSON(before, after) {
		t.Errorf("state changed by refused controls:\nbefore %v\nafter  %v", before, after)
	}

	// After the session has ended.
	le.closeFrame(t)
	le.ws.Closed()
	le.tc.waitFor(t, "ws.close from the proxy", func(e trace.Entry) bool { return e.Kind == trace.KindWSClose && e.From == "proxy" })
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := le.do(t, le.tc, map[string]any{"op": "silence"})
		if m["ok"] != false {
			t.Fatalf("a control after the session ended: %v, want ok false", m)
		}
		if e := m["error"].(string); strings.Contains(e, "ended") || strings.Contains(e, "no open connection") || time.Now().After(deadline) {
			break
		}
	}
}

func sameJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// Every way a session ends while packets are held reports each of them as
// never delivered, and delivers none late.
func TestLabEndWhileHeld(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, le *labEnv)
	}{
		{"the broker closes", func(t *testing.T, le *labEnv) { le.lb.accepted(t).Close() }},
		{"the page closes", func(t *testing.T, le *labEnv) { le.closeFrame(t) }},
		{"the page's connection is lost", func(t *testing.T, le *labEnv) { le.ws.CloseNow() }},
		{"cut", func(t *testing.T, le *labEnv) {
			if err := le.tc.ws.SendJSON(map[string]string{"type": "cut", "conn": "c1"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le := newLabEnv(t, func(c *proxy.Config) { c.CloseWait = 300 * time.Millisecond })
			le.ok(t, map[string]any{"op": "hold", "dir": "toBroker", "types": []string{"PUBLISH"}})
			le.ok(t, map[string]any{"op": "pause", "dir": "toPage"})
			held := [][]byte{publish0("t", "1"), publish0("t", "2")}
			le.send(t, held...)
			c := le.lb.accepted(t)
			if _, err := c.Write(puback(4)); err != nil {
				t.Fatal(err)
			}
			for _, p := range append(held, puback(4)) {
				le.tc.waitFor(t, "the packet held", func(e trace.Entry) bool { return e.Kind == trace.KindLabHold && bytes.Equal(e.Bytes, p) })
			}
			tt.end(t, le)
			got := le.tc.waitFor(t, "ws.close from the proxy", func(e trace.Entry) bool { return e.Kind == trace.KindWSClose && e.From == "proxy" })
			for _, p := range append(held, puback(4)) {
				n := count(got, func(e trace.Entry) bool {
					return e.Kind == trace.KindLabDrop && bytes.Equal(e.Bytes, p) && strings.Contains(e.Summary, "never delivered")
				})
				if n != 1 {
					t.Errorf("% x: %d never-delivered entries, want 1:\n%s", p, n, dump(got))
				}
			}
			if n := count(got, kind("mqtt.PUBLISH")); n != 0 {
				t.Errorf("%d PUBLISH written to the broker, want none:\n%s", n, dump(got))
			}
			le.lb.mu.Lock()
			if len(le.lb.got) != 0 {
				t.Errorf("the broker received % x, want nothing", le.lb.got)
			}
			le.lb.mu.Unlock()
		})
	}
}

// Silenced, a broker that gives up by its keepalive (the embedded mochi:
// one and a half keepalives in whole seconds after the last packet it
// read, [MQTT-3.1.2-24]) publishes the will, and the page's WebSocket is
// not told. A keepalive of 2 s: mochi's 1 + 1/2 is 1 s for a keepalive of
// 1, which the time since the silence began cannot tell from one
// keepalive (the CONNECT, its last packet, came before it).
func TestLabSilenceBrokerGivesUp(t *testing.T) {
	e := newTestEnv(t, nil)
	watcher := newPaho(t, "tcp://"+e.brokerAddr(), "watcher")
	wills := make(chan string, 4)
	if tok := watcher.Subscribe("devices/+/status", 1, func(_ paho.Client, m paho.Message) { wills <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
	connect, err := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 2,
		ClientID: "quiet", WillFlag: true, WillQoS: 1, WillTopic: "devices/quiet/status", WillPayload: []byte("gone quiet")}, codec.V311)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(websocket.MessageBinary, connect); err != nil {
		t.Fatal(err)
	}
	if _, connack, err := ws.Receive(); err != nil || len(connack) != 4 || connack[3] != 0 {
		t.Fatalf("CONNACK: % x, %v", connack, err)
	}
	le := &labEnv{e: e, tc: tc, ws: ws}
	silenced := time.Now()
	le.ok(t, map[string]any{"op": "silence"})
	select {
	case w := <-wills:
		if took := time.Since(silenced); took < 2*time.Second {
			t.Errorf("the will came %v after the silence began, before one keepalive (2 s)", took)
		}
		if w != "gone quiet" {
			t.Errorf("will %q", w)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no will within 10 s of silence with a 2 s keepalive")
	}
	tc.waitFor(t, "the broker's close kept from the page", func(en trace.Entry) bool {
		return en.Kind == trace.KindLabSilence && strings.Contains(en.Summary, "broker closed")
	})
	// A ping written on the TCP connection (coder's Ping would wait for
	// the pong, which only a pending read takes in); the read below takes
	// the pong and must find nothing else.
	if _, err := ws.TCP.Write(wstest.ClientFrame(wstest.OpPing, nil)); err != nil {
		t.Errorf("the page's WebSocket was closed while silenced: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, b, err := ws.Read(ctx); err == nil {
		t.Errorf("the page received % x while silenced", b)
	} else if ce := (websocket.CloseError{}); errors.As(err, &ce) {
		t.Errorf("the page's WebSocket was closed while silenced: %v", err)
	}
}

// A session kept at the bound with nothing released ends after the idle
// timeout, every held packet reported, instead of being pinned.
func TestLabBoundIdle(t *testing.T) {
	le := newLabEnv(t, func(c *proxy.Config) { c.LabBytes = 32; c.IdleTimeout = 500 * time.Millisecond })
	le.ok(t, map[string]any{"op": "pause", "dir": "toBroker"})
	pkts := [][]byte{publish0("idle", strings.Repeat("a", 20)), publish0("idle", strings.Repeat("b", 20)), publish0("idle", strings.Repeat("c", 20))}
	le.send(t, pkts...)
	got := le.tc.waitFor(t, "ws.close from the proxy", func(e trace.Entry) bool { return e.Kind == trace.KindWSClose && e.From == "proxy" })
	closed := got[len(got)-1]
	for _, e := range got {
		if e.Kind == trace.KindWSClose && e.From == "proxy" {
			closed = e
		}
	}
	if !strings.Contains(closed.Summary, "held this session at its bound") {
		t.Errorf("the session ended with %q", closed.Summary)
	}
	if n := count(got, func(e trace.Entry) bool {
		return e.Kind == trace.KindLabDrop && strings.Contains(e.Summary, "never delivered")
	}); n < 1 {
		t.Errorf("no held packet reported never delivered:\n%s", dump(got))
	}
	le.lb.mu.Lock()
	defer le.lb.mu.Unlock()
	if len(le.lb.got) != 0 {
		t.Errorf("the broker received % x", le.lb.got)
	}
}
