//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// BenchmarkIncoming is the client's share of the page's work per incoming
// PUBLISH, as in e2e's BenchmarkPageIncoming (2,000 a second) but without
// the network, the browser's drawing or the machine's other load: the
// arrows of both legs into the model, the message into the list, and every
// 33 messages (a frame at 60 fps) the diagram's window and the new messages
// as JSON that JavaScript parses. It measures what compiler flags
// (inlining) cost the page: run it in Chromium with and without them.
func BenchmarkIncoming(b *testing.B) {
	api := js.Global().Get("Object").New()
	a := newApp(api)
	a.install()
	defer a.funcs.release()
	pkt, err := codec.AppendPacket(nil, &codec.Publish{Topic: "bench/sensor/7", Payload: []byte(`{"celsius": 21.5, "n": 123456}`)}, codec.V311)
	if err != nil {
		b.Fatal(err)
	}
	last := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := float64(i) / 2
		a.add(trace.Entry{T: t, Leg: trace.LegProxyBroker, From: "broker", To: "proxy", Kind: "mqtt.PUBLISH", Bytes: pkt, Observed: "wire", Conn: "c1", Version: 4}, diagram.Remote)
		a.add(trace.Entry{T: t + 0.1, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: "mqtt.PUBLISH", Bytes: pkt, Observed: "wire", Conn: "c1", Version: 4}, diagram.Local)
		a.msgs.add(message{client: "browser", t: t, topic: "bench/sensor/" + strconv.Itoa(i%10), payload: pkt[len(pkt)-30:]})
		if i%33 == 32 {
			total := api.Call("_total").Int()
			api.Call("_view", max(0, total-60), 60)
			last = api.Call("_messages", last).Get("total").Int()
		}
	}
}
