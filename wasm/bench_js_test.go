//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// BenchmarkIncoming is the client's share of the page's work per incoming
// PUBLISH, as in e2e's BenchmarkPageIncoming (2,000 a second) but without
// the network, the browser's drawing or the machine's other load: the
// broker leg's arrow (from the trace channel), the bytes through a connected
// session's client (decoded, recorded as our leg's arrow, put in the message
// list), and every 33 messages (a frame at 60 fps) the diagram's window and
// the new messages as JSON that JavaScript parses. It measures what compiler
// flags (inlining) cost the page: run it in Chromium with and without them.
// Listened, a function is also registered with on("message"), as a page's
// own script would (e2e's BenchmarkPageClients counts messages so).
func BenchmarkIncoming(b *testing.B) {
	b.Run("page", func(b *testing.B) { benchIncoming(b, false) })
	b.Run("listened", func(b *testing.B) { benchIncoming(b, true) })
}

// connected makes a session of a named party, connected without a socket:
// the dial and the CONNECT are skipped. Stop its timer when done.
func connected(tb testing.TB, a *app, party string, v codec.Version) *session {
	tb.Helper()
	s := &session{a: a, party: party, cl: client.New(client.Config{Version: v, ClientID: "bench", KeepAlive: 30, CleanStart: true, BytesOnly: true}),
		mode: "proxy", peer: "proxy", leg: trace.LegBrowserProxy, conn: "c1", traced: true, pubs: map[uint16]*promise{}, subs: map[uint16]*subRequest{}}
	a.sessions[s.party], a.order = s, append(a.order, s.party)
	now := time.Now()
	skip := func() {
		for _, ok := s.cl.Next(); ok; _, ok = s.cl.Next() {
		}
	}
	if err := s.cl.Connect(now); err != nil {
		tb.Fatal(err)
	}
	skip()
	s.cl.Dialed(now)
	skip()
	s.cl.Receive(now, []byte{0x20, 2, 0, 0}) // CONNACK, accepted
	s.drain()
	if s.cl.State() != client.StateConnected {
		tb.Fatalf("state %v", s.cl.State())
	}
	return s
}

func benchIncoming(b *testing.B, listened bool) {
	api := js.Global().Get("Object").New()
	a := newApp(api)
	a.install()
	defer a.release()
	if listened {
		on := js.Global().Get("Function").New("m", "this.n = (this.n || 0) + m.payload.length")
		api.Call("on", "message", on)
	}
	s := connected(b, a, "browser", codec.V311)
	defer func() { s.timer.stop() }()
	pkt, err := codec.AppendPacket(nil, &codec.Publish{Topic: "bench/sensor/7", Payload: []byte(`{"celsius": 21.5, "n": 123456}`)}, codec.V311)
	if err != nil {
		b.Fatal(err)
	}
	last := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.add(trace.Entry{T: a.now(), Leg: trace.LegProxyBroker, From: "broker", To: "proxy", Kind: "mqtt.PUBLISH", Bytes: pkt, Observed: "wire", Conn: "c1", Version: 4}, diagram.Remote)
		s.at = a.now()
		s.cl.Receive(time.Now(), pkt)
		s.drain()
		if i%33 == 32 {
			total := api.Call("_total").Int()
			api.Call("_view", max(0, total-60), 60)
			last = api.Call("_messages", last).Get("total").Int()
		}
	}
	a.sync() // every arrow placed, as a read would
	b.StopTimer()
	if a.msgs.total != b.N {
		b.Fatalf("%d messages listed of %d", a.msgs.total, b.N)
	}
}

// BenchmarkIncomingBatch is the page's own leg as a flood reaches it:
// batches of 64 QoS 0 PUBLISHes handed to the session as its socket hands
// them (ReceiveOwned and the client's events per WebSocket message, the
// drain once a batch: on('message') called, the keep-alive checked), the
// arrows queued, not placed (a flood's are placed after it). Per message.
func BenchmarkIncomingBatch(b *testing.B) {
	api := js.Global().Get("Object").New()
	a := newApp(api)
	a.install()
	defer a.release()
	on := js.Global().Get("Function").New("m", "this.n = (this.n || 0) + m.payload.length")
	api.Call("on", "message", on)
	s := connected(b, a, "browser", codec.V311)
	defer func() { s.timer.stop() }()
	const perBatch = 64
	var batch []byte
	for i := range perBatch {
		var err error
		batch, err = codec.AppendPacket(batch, &codec.Publish{Topic: "bench/in/ll/0", Payload: []byte(`{"n":` + strconv.Itoa(i) + `,"temperature":21.5,"unit":"C","sensor":"hall-3/east"}`)}, codec.V311)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += perBatch {
		if a.lq.len() > laterMax/2 {
			b.StopTimer()
			a.sync()
			b.StartTimer()
		}
		s.at = a.now()
		s.cl.ReceiveOwned(time.Now(), append([]byte(nil), batch...)) // a buffer a batch, as the socket's
		s.obey()
		s.drain()
	}
	b.StopTimer()
	if want := (b.N + perBatch - 1) / perBatch * perBatch; a.msgs.total != want {
		b.Fatalf("%d messages listed of %d", a.msgs.total, want)
	}
}
