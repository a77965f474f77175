package client

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// drainAll takes every pending event, as a driver does.
func drainAll(c *Client) (sent int) {
	for {
		ev, ok := c.Next()
		if !ok {
			return sent
		}
		if ev.Type == EventSend {
			sent++
		}
	}
}

// burstClient is a connected 3.1.1 client on no transport.
func burstClient(tb testing.TB) *Client {
	c := New(Config{Version: codec.V311, ClientID: "burst"})
	if err := c.Connect(t0); err != nil {
		tb.Fatal(err)
	}
	drainAll(c)
	c.Dialed(t0)
	drainAll(c)
	connack, _ := codec.AppendPacket(nil, &codec.Connack{}, codec.V311)
	c.Receive(t0, connack)
	drainAll(c)
	if c.State() != StateConnected {
		tb.Fatalf("state %v", c.State())
	}
	return c
}

// pubacks is n PUBACKs for ids 1…n, in order, in one chunk.
func pubacks(n int) []byte {
	var b []byte
	for id := 1; id <= n; id++ {
		b, _ = codec.AppendPacket(b, &codec.Puback{PacketID: uint16(id)}, codec.V311)
	}
	return b
}

// TestPublishBurst publishes a burst at QoS 1 and takes its PUBACKs in
// one chunk: every message sent at once (the window is 65,535 in 3.1.1),
// every one acknowledged, in order, and nothing left in flight.
func TestPublishBurst(t *testing.T) {
	const n = 5000
	c := burstClient(t)
	for range n {
		if _, err := c.Publish(t0, Message{Topic: "bench/out", Payload: []byte("x"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if sent := drainAll(c); sent != n {
		t.Fatalf("%d PUBLISH sent, want %d", sent, n)
	}
	c.Receive(t0, pubacks(n))
	next := uint16(1)
	for {
		ev, ok := c.Next()
		if !ok {
			break
		}
		if ev.Type == EventPublished {
			if ev.ID != next || ev.Err != nil {
				t.Fatalf("published id=%d err=%v, want id=%d", ev.ID, ev.Err, next)
			}
			next++
		}
	}
	if int(next-1) != n || len(c.out) != 0 || c.inflight != 0 {
		t.Fatalf("%d acknowledged, %d left in out, %d in flight", next-1, len(c.out), c.inflight)
	}
}

// BenchmarkPublishBurst is the page benchmark's QoS 1 publish in the
// client alone: 5,000 published at once, then their PUBACKs in one chunk.
// ns/op is per message, both ways.
func BenchmarkPublishBurst(b *testing.B) {
	const n = 5000
	acks := pubacks(n)
	b.ReportAllocs()
	for b.Loop() {
		c := burstClient(b)
		for range n {
			c.Publish(t0, Message{Topic: "bench/out", Payload: []byte("x"), QoS: 1})
		}
		drainAll(c)
		c.Receive(t0, acks)
		drainAll(c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
}

// TestPumpFromRandom runs random publishes (QoS 0, 1, 2) under a small
// window, with acknowledgements in random order and reconnections, and
// checks after every step that pump's hint holds (nothing queued before
// pumpFrom) and that messages first go out in the order they were
// published.
func TestPumpFromRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		v := codec.V5
		h := newHarness(t, Config{Version: v, Reconnect: true, Properties: props(func(p *codec.Properties) { p.SessionExpiry = 300; p.Set(codec.PropSessionExpiry) })})
		window := props(func(p *codec.Properties) { p.ReceiveMaximum = uint16(1 + rng.IntN(4)); p.Set(codec.PropReceiveMaximum) })
		h.connect(window, false)
		published, firstSent := []string{}, []string{}
		seen := map[string]bool{}
		check := func(step string) {
			for i := 0; i < h.c.pumpFrom && i < len(h.c.out); i++ {
				if h.c.out[i].state == outQueued {
					t.Fatalf("run %d, %s: out[%d] queued before pumpFrom %d", run, step, i, h.c.pumpFrom)
				}
			}
			for _, b := range h.wire {
				p, err := codec.Decode(b, v)
				if pub, ok := p.(*codec.Publish); err == nil && ok && !seen[string(pub.Payload)] {
					seen[string(pub.Payload)] = true
					firstSent = append(firstSent, string(pub.Payload))
				}
			}
			h.wire = nil
			for i, s := range firstSent {
				if published[i] != s {
					t.Fatalf("run %d, %s: sent %v, published %v", run, step, firstSent, published)
				}
			}
		}
		for step := range 60 {
			switch r := rng.IntN(10); {
			case r < 5:
				payload := string(rune('a'+step%26)) + strconv.Itoa(step)
				published = append(published, payload)
				if _, err := h.c.Publish(h.now, Message{Topic: "t", Payload: []byte(payload), QoS: codec.QoS(rng.IntN(3))}); err != nil {
					t.Fatal(err)
				}
				h.drain()
			case r < 9:
				var flight []*outMsg
				for _, m := range h.c.out {
					if m.state != outQueued {
						flight = append(flight, m)
					}
				}
				if len(flight) == 0 {
					continue
				}
				m := flight[rng.IntN(len(flight))]
				switch {
				case m.pub.QoS == 1:
					h.in(&codec.Puback{PacketID: m.pub.PacketID})
				case m.state == outSent:
					h.in(&codec.Pubrec{PacketID: m.pub.PacketID})
				default:
					h.in(&codec.Pubcomp{PacketID: m.pub.PacketID})
				}
			default:
				h.open = false
				h.c.Closed(h.now, nil)
				h.drain()
				h.advance(h.c.Deadline().Sub(h.now))
				h.redial()
				h.in(&codec.Connack{SessionPresent: rng.IntN(2) == 0, Properties: window})
			}
			h.take()
			check("step " + strconv.Itoa(step))
		}
	}
}

// TestBytesOnlyMessages: with Config.BytesOnly a batch's messages are the
// client's, each its own until Next reports no more events, and taking a
// batch of QoS 0 messages allocates nothing once the client has held one
// as large.
func TestBytesOnlyMessages(t *testing.T) {
	c := burstClient(t)
	c.cfg.BytesOnly = true
	var batch []byte
	const n = 200 // more than the first array append makes: the messages move while queued
	for i := range n {
		batch, _ = codec.AppendPacket(batch, &codec.Publish{Topic: "t/" + strconv.Itoa(i), Payload: []byte(strconv.Itoa(i))}, codec.V311)
	}
	take := func() (msgs int) {
		for ev, ok := c.Next(); ok; ev, ok = c.Next() {
			if ev.Type == EventMessage {
				msgs++
			}
		}
		return msgs
	}
	c.ReceiveOwned(t0, append([]byte(nil), batch...))
	// Each message still the one received while later ones are taken
	// (the array they are in grows as the batch is decoded), until Next
	// reports no more.
	var got []*Message
	for ev, ok := c.Next(); ok; ev, ok = c.Next() {
		if ev.Type == EventMessage {
			got = append(got, ev.Message)
		}
		for i, m := range got {
			if m.Topic != "t/"+strconv.Itoa(i) || string(m.Payload) != strconv.Itoa(i) {
				t.Fatalf("message %d is %s=%s after %d taken", i, m.Topic, m.Payload, len(got))
			}
		}
	}
	if len(got) != n {
		t.Fatalf("%d messages, want %d", len(got), n)
	}
	own := append([]byte(nil), batch...)
	allocs := testing.AllocsPerRun(20, func() {
		c.ReceiveOwned(t0, own)
		if k := take(); k != n {
			t.Fatalf("%d messages, want %d", k, n)
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations a batch of %d QoS 0 messages, want none", allocs, n)
	}
}
