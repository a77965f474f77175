//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// Publishes made in one task go to Go as one batch and to the socket as
// one WebSocket message, in the order they were called: a call the batch
// cannot take (another client's, MQTT 5.0 properties) goes after the calls
// before it and before those after it. A QoS 0 promise resolves with
// {packetId: 0}, a QoS 1 promise with the PUBACK's; each arrow is drawn, in
// order; a bad call among them fails alone, in words.
func TestPublishBatched(t *testing.T) {
	a, api := newTestApp(t)
	s := connected(t, a, "browser", codec.V311)
	t.Cleanup(func() { s.timer.stop() })
	ws := jsValue(`{readyState: 1, sent: [], send(b) { this.sent.push(b.slice()); }}`)
	s.sock = &socket{ws: ws, open: true}
	ps := jsFunc("api", `return [
		api.publish('t/a', 'one'),
		api.publish('t/b', new Uint8Array([2, 2]), {qos: 1}),
		api.publish('t/c', 'three', {client: 'browser', qos: 0}),
		api.publish('t/é', '', {qos: 0, retain: true}),
		api.publish('t/+', 'bad topic'),
		api.publish('t/f', 'six', {qos: 1}),
	];`).Invoke(api)

	v, msg := settle(t, ps.Index(0))
	if msg != "" || v.Get("packetId").Int() != 0 {
		t.Fatalf("QoS 0: %v %q", toGo(t, v), msg)
	}
	if _, msg := settle(t, ps.Index(4)); !strings.Contains(msg, "wildcard") && !strings.Contains(msg, "topic") {
		t.Fatalf("a wildcard in a topic name: %q", msg)
	}
	for _, i := range []int{2, 3} {
		if _, msg := settle(t, ps.Index(i)); msg != "" {
			t.Fatalf("publish %d: %q", i, msg)
		}
	}
	// The socket's microtask has run by now: the packets, in call order.
	var topics []string
	var ids []uint16
	sent := ws.Get("sent")
	for i := 0; i < sent.Length(); i++ {
		b := make([]byte, sent.Index(i).Length())
		js.CopyBytesToGo(b, sent.Index(i))
		for len(b) > 0 {
			n, err := codec.PacketLen(b, 0)
			if err != nil || n > len(b) {
				t.Fatalf("message %d: % x: %v", i, b, err)
			}
			p, err := codec.Decode(b[:n], codec.V311)
			if err != nil {
				t.Fatal(err)
			}
			pub := p.(*codec.Publish)
			topics, ids = append(topics, pub.Topic), append(ids, pub.PacketID)
			b = b[n:]
		}
	}
	if got := strings.Join(topics, " "); got != "t/a t/b t/c t/é t/f" {
		t.Fatalf("sent %q", got)
	}
	if n := sent.Length(); n > 2 {
		t.Fatalf("%d WebSocket messages for one task's publishes (the call the batch cannot take may split it once)", n)
	}
	var drawn []string
	for _, e := range a.entries() {
		if e.Kind == "mqtt.PUBLISH" {
			drawn = append(drawn, e.Summary)
		}
	}
	if len(drawn) != 5 || !strings.Contains(drawn[0], "t/a") || !strings.Contains(drawn[4], "t/f") {
		t.Fatalf("arrows %q", drawn)
	}

	// The PUBACKs settle the QoS 1 promises with their packet ids.
	for _, id := range []uint16{ids[1], ids[4]} {
		s.cl.Receive(time.Now(), []byte{0x40, 2, byte(id >> 8), byte(id)})
	}
	s.drain()
	for k, i := range []int{1, 5} {
		v, msg := settle(t, ps.Index(i))
		if msg != "" || v.Get("packetId").Int() != int(ids[[]int{1, 4}[k]]) {
			t.Fatalf("QoS 1 publish %d: %v %q", i, toGo(t, v), msg)
		}
	}
}

// A batched publish's promise is kept by key only once its batch is back
// from Go (jsPromises.wait); one Go settled while the batch ran (a
// disconnect in it) is settled then, not lost.
func TestPublishSettledDuringBatch(t *testing.T) {
	got := jsFunc("P", `const out = [];
P.batch(true);
P.settle(7, 0, 'disconnected before the broker acknowledged the message');
P.settle(8, 2, 3, 0);
P.wait(7, (v) => out.push('resolved'), (e) => out.push('rejected: ' + e.message));
P.wait(8, (v) => out.push('resolved ' + v.packetId), (e) => out.push('rejected: ' + e.message));
P.batch(false);
P.batch(true); // a batch, and one inside it (a listener publishing)
P.batch(true);
P.batch(false);
P.settle(10, 2, 5, 0);
P.wait(10, (v) => out.push('resolved ' + v.packetId), (e) => out.push('rejected 10'));
P.batch(false);
P.settle(9, 0, 'after the batch');
P.wait(9, (v) => out.push('resolved 9'), (e) => out.push('rejected 9'));
P.settle(9, 2, 4, 0);
return out.join(' | ');`).Invoke(jsPromises).String()
	if want := "rejected: disconnected before the broker acknowledged the message | resolved 3 | resolved 5 | resolved 9"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
