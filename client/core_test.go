package client

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// harness drives a Client on simulated time and plays the broker by hand.
type harness struct {
	t    *testing.T
	c    *Client
	v    codec.Version
	now  time.Time
	log  []string // transcript of events since the last take
	wire [][]byte // bytes the driver was told to write, since the last take
	open bool     // the driver's transport is open
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Version == 0 {
		cfg.Version = codec.V5
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "c1"
	}
	return &harness{t: t, c: New(cfg), v: cfg.Version, now: t0}
}

// drain plays the driver: it records events, and keeps wire and open.
func (h *harness) drain() {
	h.t.Helper()
	for {
		ev, ok := h.c.Next()
		if !ok {
			return
		}
		if !ev.Time.Equal(h.now) {
			h.t.Errorf("event %v at %v, want now %v", ev.Type, ev.Time, h.now)
		}
		h.log = append(h.log, line(ev))
		switch ev.Type {
		case EventSend:
			if !h.open {
				h.t.Errorf("send %s on a closed transport", codec.Summary(ev.Packet))
			}
			// Bytes and Packet must agree.
			p, err := codec.Decode(ev.Bytes, h.v)
			if err != nil || codec.Summary(p) != codec.Summary(ev.Packet) {
				h.t.Errorf("sent bytes %x decode to %v (%v), event says %s", ev.Bytes, codec.Summary(p), err, codec.Summary(ev.Packet))
			}
			h.wire = append(h.wire, ev.Bytes)
		case EventClose:
			h.open = false
		case EventReceive:
			if ev.Packet != nil {
				if b, err := codec.AppendPacket(nil, ev.Packet, h.v); err != nil || !bytes.Equal(b, ev.Bytes) {
					h.t.Errorf("received %x re-encodes as %x, %v", ev.Bytes, b, err)
				}
			}
		}
	}
}

func line(ev Event) string {
	switch ev.Type {
	case EventSend:
		return "> " + codec.Summary(ev.Packet)
	case EventReceive:
		if ev.Packet == nil {
			return "< invalid " + hex.EncodeToString(ev.Bytes)
		}
		return "< " + codec.Summary(ev.Packet)
	case EventState:
		s := "state " + ev.State.String()
		if ev.Delay > 0 {
			s += " " + ev.Delay.String()
		}
		return s
	case EventError:
		return "error " + ev.Err.Error()
	case EventMessage:
		m := ev.Message
		s := "message " + m.Topic + " " + string(m.Payload) + " qos=" + itoa(int(m.QoS))
		if m.Dup {
			s += " dup"
		}
		return s
	case EventPublished:
		s := "published id=" + itoa(int(ev.ID))
		if ev.Reason != 0 {
			s += " 0x" + hex2(byte(ev.Reason))
		}
		if ev.Err != nil {
			s += " error " + ev.Err.Error()
		}
		return s
	case EventSubscribed, EventUnsubscribed:
		s := ev.Type.String() + " id=" + itoa(int(ev.ID))
		for _, r := range ev.Reasons {
			s += " 0x" + hex2(byte(r))
		}
		return s
	case EventPong:
		return "pong " + ev.RTT.String()
	}
	return ev.Type.String()
}

// take returns and clears the transcript.
func (h *harness) take() []string {
	h.t.Helper()
	h.drain()
	l := h.log
	h.log, h.wire = nil, nil
	return l
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	got := h.take()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Fatalf("transcript:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// in delivers broker packets (encoded with the codec) in one chunk.
func (h *harness) in(ps ...codec.Packet) {
	h.t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = codec.AppendPacket(b, p, h.v); err != nil {
			h.t.Fatalf("encode %s: %v", codec.Summary(p), err)
		}
	}
	h.c.Receive(h.now, b)
	h.drain()
}

func (h *harness) raw(hx string) {
	h.t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(hx, " ", ""))
	if err != nil {
		h.t.Fatal(err)
	}
	h.c.Receive(h.now, b)
	h.drain()
}

func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.c.Tick(h.now)
	h.drain()
}

// connect runs Connect → dial → CONNECT → CONNACK with props.
func (h *harness) connect(props codec.Properties, sp bool) {
	h.t.Helper()
	if err := h.c.Connect(h.now); err != nil {
		h.t.Fatal(err)
	}
	h.drain()
	h.open = true
	h.c.Dialed(h.now)
	h.in(&codec.Connack{SessionPresent: sp, Properties: props})
	if h.c.State() != StateConnected {
		h.t.Fatalf("state %v after CONNACK: %v", h.c.State(), h.log)
	}
	h.take()
}

func (h *harness) redial() {
	h.t.Helper()
	h.open = true
	h.c.Dialed(h.now)
}

func props(f func(p *codec.Properties)) codec.Properties {
	var p codec.Properties
	f(&p)
	return p
}

func TestConnectPublishSubscribe(t *testing.T) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		t.Run(v.String(), func(t *testing.T) {
			h := newHarness(t, Config{Version: v, KeepAlive: 30, CleanStart: true, Username: "u", Password: []byte("p")})
			h.c.Connect(h.now)
			h.drain()
			h.expect("state dialing", "dial")
			h.open = true
			h.c.Dialed(h.now)
			h.in(&codec.Connack{})
			h.expect("state connecting", `> CONNECT v`+v.String()+` id="c1" keepalive=30 clean user="u"`,
				"< CONNACK "+codec.ReasonCode(0).Name(codec.TypeConnack, codec.V5), "state connected")

			id, err := h.c.Subscribe(h.now, []codec.Subscription{{Filter: "a/#", QoS: 2}, {Filter: "b", QoS: 1}}, codec.Properties{})
			if err != nil || id != 1 {
				t.Fatalf("Subscribe = %d, %v", id, err)
			}
			h.in(&codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{2, 1}})
			h.expect("> SUBSCRIBE id=1 a/#:2 b:1", "< SUBACK id=1 [0x02,0x01]", "subscribed id=1 0x02 0x01")

			for q := codec.QoS(0); q <= 2; q++ {
				id, err := h.c.Publish(h.now, Message{Topic: "a/x", Payload: []byte("hi"), QoS: q})
				if err != nil {
					t.Fatal(err)
				}
				switch q {
				case 0:
					h.expect("> PUBLISH qos=0 a/x (2 B)")
				case 1:
					h.in(&codec.Puback{PacketID: id})
					h.expect("> PUBLISH id=2 qos=1 a/x (2 B)", "< PUBACK id=2", "published id=2")
				case 2:
					h.in(&codec.Pubrec{PacketID: id})
					h.in(&codec.Pubcomp{PacketID: id})
					h.expect("> PUBLISH id=3 qos=2 a/x (2 B)", "< PUBREC id=3", "> PUBREL id=3", "< PUBCOMP id=3", "published id=3")
				}
			}
			// Incoming QoS 0, 1, 2; the QoS 2 duplicate before PUBREL is not delivered again.
			h.in(&codec.Publish{Topic: "a/0", Payload: []byte("z")})
			h.in(&codec.Publish{Topic: "a/1", Payload: []byte("o"), QoS: 1, PacketID: 7})
			h.in(&codec.Publish{Topic: "a/2", Payload: []byte("t"), QoS: 2, PacketID: 8})
			h.in(&codec.Publish{Topic: "a/2", Payload: []byte("t"), QoS: 2, PacketID: 8, Dup: true})
			h.in(&codec.Pubrel{PacketID: 8})
			h.expect("< PUBLISH qos=0 a/0 (1 B)", "message a/0 z qos=0",
				"< PUBLISH id=7 qos=1 a/1 (1 B)", "message a/1 o qos=1", "> PUBACK id=7",
				"< PUBLISH id=8 qos=2 a/2 (1 B)", "message a/2 t qos=2", "> PUBREC id=8",
				"< PUBLISH id=8 qos=2 dup a/2 (1 B)", "> PUBREC id=8",
				"< PUBREL id=8", "> PUBCOMP id=8")

			id, _ = h.c.Unsubscribe(h.now, []string{"a/#"}, codec.Properties{})
			un := &codec.Unsuback{PacketID: id}
			want := "unsubscribed id=4"
			if v == codec.V5 {
				un.ReasonCodes = []codec.ReasonCode{0}
				want += " 0x00"
			}
			h.in(un)
			h.expect("> UNSUBSCRIBE id=4 a/#", "< "+codec.Summary(un), want)

			h.c.Disconnect(h.now, 0, codec.Properties{})
			h.expect("> DISCONNECT", "close", "state disconnected")
			h.c.Closed(h.now, nil) // late: ignored
			h.expect()
		})
	}
}

func TestChunking(t *testing.T) {
	// Two packets split at every byte boundary arrive the same way, given
	// with Receive or handed over with ReceiveOwned (whose whole packets
	// are decoded where they lie, the events' bytes a view of the input).
	pub, _ := codec.AppendPacket(nil, &codec.Publish{Topic: "t", Payload: []byte("abc"), QoS: 1, PacketID: 5}, codec.V5)
	pub, _ = codec.AppendPacket(pub, &codec.Publish{Topic: "u", Payload: []byte("d")}, codec.V5)
	for _, owned := range []bool{false, true} {
		for cut := 0; cut <= len(pub); cut++ {
			h := newHarness(t, Config{})
			h.connect(codec.Properties{}, false)
			in := append([]byte(nil), pub...)
			feed := h.c.Receive
			if owned {
				feed = h.c.ReceiveOwned
			}
			feed(h.now, in[:cut])
			feed(h.now, nil)
			feed(h.now, in[cut:])
			h.expect("< PUBLISH id=5 qos=1 t (3 B)", "message t abc qos=1", "> PUBACK id=5", "< PUBLISH qos=0 u (1 B)", "message u d qos=0")
		}
	}
}

// TestReceiveOwnedAliases checks that ReceiveOwned decodes whole packets
// where they lie and copies only a packet's start that waits for its
// rest, and that bad framing ends the connection as Receive's does.
func TestReceiveOwnedAliases(t *testing.T) {
	pub, _ := codec.AppendPacket(nil, &codec.Publish{Topic: "t", Payload: []byte("abc")}, codec.V5)
	two := append(append([]byte(nil), pub...), pub...)
	h := newHarness(t, Config{})
	h.connect(codec.Properties{}, false)
	var got [][]byte
	h.c.ReceiveOwned(h.now, two[:len(two)-1]) // the second packet one byte short
	for ev, ok := h.c.Next(); ok; ev, ok = h.c.Next() {
		if ev.Type == EventReceive {
			got = append(got, ev.Bytes)
		}
	}
	if len(got) != 1 || &got[0][0] != &two[0] {
		t.Fatalf("the whole packet's event bytes: %d events, want 1 aliasing the input", len(got))
	}
	two[len(pub)] = 0xff // the waiting start was copied: changing the input now changes nothing
	h.c.ReceiveOwned(h.now, two[len(two)-1:])
	for ev, ok := h.c.Next(); ok; ev, ok = h.c.Next() {
		if ev.Type == EventReceive {
			got = append(got, ev.Bytes)
		}
	}
	if len(got) != 2 || !bytes.Equal(got[1], pub) {
		t.Fatalf("the packet in pieces: %d events, last % x, want % x", len(got), got[len(got)-1], pub)
	}

	h = newHarness(t, Config{})
	h.connect(codec.Properties{}, false)
	h.c.ReceiveOwned(h.now, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}) // a remaining length of five bytes
	if h.c.State() == StateConnected {
		t.Fatal("bad framing left the client connected")
	}
}

func TestKeepalive(t *testing.T) {
	h := newHarness(t, Config{KeepAlive: 10})
	h.connect(codec.Properties{}, false)
	if d := h.c.Deadline(); !d.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("deadline %v", d)
	}
	h.advance(9 * time.Second)
	h.expect()
	h.advance(time.Second)
	h.in(&codec.Pingresp{})
	h.expect("> PINGREQ", "< PINGRESP", "pong 0s")
	// Idle again: next PINGREQ 10s after the last traffic.
	h.advance(10 * time.Second)
	h.advance(4 * time.Second) // default ping timeout: KeepAlive/2
	h.expect("> PINGREQ")
	h.advance(time.Second)
	h.expect("error no PINGRESP within 5s: connection is dead (reason 0x8d Keep Alive timeout) [4.4]", "close", "state disconnected")
}

func TestDeadWhilePublishing(t *testing.T) {
	// QoS 0 publishing every second keeps the send side busy; the silence of
	// the broker still triggers a PINGREQ and the dead connection is found.
	h := newHarness(t, Config{KeepAlive: 5, PingTimeout: 2 * time.Second})
	h.connect(codec.Properties{}, false)
	var got []string
	for i := 0; i < 8; i++ {
		h.now = h.now.Add(time.Second)
		h.c.Tick(h.now)
		if h.c.State() == StateConnected {
			h.c.Publish(h.now, Message{Topic: "t", Payload: []byte("x")})
		}
		got = append(got, h.take()...)
	}
	want := []string{"> PUBLISH qos=0 t (1 B)", "> PUBLISH qos=0 t (1 B)", "> PUBLISH qos=0 t (1 B)", "> PUBLISH qos=0 t (1 B)",
		"> PINGREQ", "> PUBLISH qos=0 t (1 B)", "> PUBLISH qos=0 t (1 B)",
		"error no PINGRESP within 2s: connection is dead (reason 0x8d Keep Alive timeout) [4.4]", "close", "state disconnected"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestServerKeepAliveAndManualPing(t *testing.T) {
	h := newHarness(t, Config{KeepAlive: 60})
	h.connect(props(func(p *codec.Properties) { p.ServerKeepAlive = 3; p.Set(codec.PropServerKeepAlive) }), false)
	if d := h.c.Deadline().Sub(h.now); d != 3*time.Second {
		t.Fatalf("keepalive %v, want the broker's 3s", d)
	}
	h.advance(time.Second)
	if err := h.c.Ping(h.now); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Ping(h.now); err != ErrPingPending {
		t.Fatalf("second Ping: %v", err)
	}
	h.drain()
	h.now = h.now.Add(250 * time.Millisecond)
	h.in(&codec.Pingresp{})
	h.expect("> PINGREQ", "< PINGRESP", "pong 250ms")
}

func TestBackoffOnSimulatedTime(t *testing.T) {
	// A broker that refuses every CONNECT: the client waits longer each
	// time (no tight loop), within the jittered bounds.
	h := newHarness(t, Config{Reconnect: true, Backoff: Backoff{Min: time.Second, Max: 8 * time.Second}, Seed: 42})
	h.c.Connect(h.now)
	var delays []time.Duration
	for i := 0; i < 6; i++ {
		h.drain()
		h.redial()
		h.in(&codec.Connack{ReasonCode: codec.ReasonNotAuthorized})
		if h.c.State() != StateWaiting {
			t.Fatalf("state %v", h.c.State())
		}
		d := h.c.Deadline().Sub(h.now)
		delays = append(delays, d)
		h.advance(d - time.Millisecond)
		if h.c.State() != StateWaiting {
			t.Fatalf("dialed %v early", time.Millisecond)
		}
		h.advance(time.Millisecond)
		if h.c.State() != StateDialing {
			t.Fatalf("state %v after the delay", h.c.State())
		}
	}
	caps := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, d := range delays {
		hi := caps[i] * time.Second
		if d < hi/2 || d >= hi {
			t.Errorf("delay %d = %v, want in [%v, %v)", i+1, d, hi/2, hi)
		}
	}
	if delays[3] == delays[4] && delays[4] == delays[5] {
		t.Errorf("no jitter: %v", delays)
	}
	h.take()
	// A successful CONNACK resets the backoff.
	h.redial()
	h.in(&codec.Connack{})
	h.c.Closed(h.now, nil)
	h.drain()
	if d := h.c.Deadline().Sub(h.now); d >= time.Second {
		t.Fatalf("after a good connection the first delay is %v, want < 1s", d)
	}
}

func TestWindowAndResume(t *testing.T) {
	h := newHarness(t, Config{Reconnect: true, Properties: props(func(p *codec.Properties) { p.SessionExpiry = 300; p.Set(codec.PropSessionExpiry) })})
	h.connect(props(func(p *codec.Properties) { p.ReceiveMaximum = 2; p.Set(codec.PropReceiveMaximum) }), false)
	for i := 1; i <= 4; i++ {
		h.c.Publish(h.now, Message{Topic: "t", Payload: []byte{'0' + byte(i)}, QoS: codec.QoS(1 + i%2)})
	}
	h.expect("> PUBLISH id=1 qos=2 t (1 B)", "> PUBLISH id=2 qos=1 t (1 B)")
	h.in(&codec.Pubrec{PacketID: 1})
	h.expect("< PUBREC id=1", "> PUBREL id=1") // still in flight until PUBCOMP
	h.in(&codec.Puback{PacketID: 2})
	h.expect("< PUBACK id=2", "published id=2", "> PUBLISH id=3 qos=2 t (1 B)")
	// Connection drops with id 1 released and id 3 sent; id 4 queued.
	h.open = false
	h.c.Closed(h.now, nil)
	h.drain()
	h.advance(h.c.Deadline().Sub(h.now))
	h.redial()
	h.in(&codec.Connack{SessionPresent: true, Properties: props(func(p *codec.Properties) { p.ReceiveMaximum = 2; p.Set(codec.PropReceiveMaximum) })})
	got := h.take()
	want := []string{"> CONNECT v5.0 id=\"c1\" keepalive=0", "< CONNACK Success session-present", "state connected",
		"> PUBREL id=1", "> PUBLISH id=3 qos=2 dup t (1 B)"}
	if strings.Join(got[len(got)-len(want):], "\n") != strings.Join(want, "\n") {
		t.Fatalf("resume:\n  %s", strings.Join(got, "\n  "))
	}
	h.in(&codec.Pubcomp{PacketID: 1})
	h.expect("< PUBCOMP id=1", "published id=1", "> PUBLISH id=4 qos=1 t (1 B)")
}

func TestSessionNotPresentResendsAsNew(t *testing.T) {
	h := newHarness(t, Config{Reconnect: true, Version: codec.V311})
	h.connect(codec.Properties{}, false)
	h.c.Publish(h.now, Message{Topic: "t", Payload: []byte("a"), QoS: 2})
	h.c.Publish(h.now, Message{Topic: "t", Payload: []byte("b"), QoS: 1})
	h.in(&codec.Pubrec{PacketID: 1})
	h.take()
	h.open = false
	h.c.Closed(h.now, nil)
	h.drain()
	h.advance(h.c.Deadline().Sub(h.now))
	h.take()
	h.redial()
	h.in(&codec.Connack{})
	h.expect("state connecting", "> CONNECT v3.1.1 id=\"c1\" keepalive=0", "< CONNACK Success",
		"published id=1 error session not present: the broker had acknowledged this QoS 2 message with PUBREC, its PUBREL is dropped [4.4]",
		"state connected", "> PUBLISH id=2 qos=1 t (1 B)")
}

func TestTopicAliases(t *testing.T) {
	h := newHarness(t, Config{TopicAliases: true, Properties: props(func(p *codec.Properties) { p.TopicAliasMaximum = 2; p.Set(codec.PropTopicAliasMaximum) })})
	h.connect(props(func(p *codec.Properties) { p.TopicAliasMaximum = 1; p.Set(codec.PropTopicAliasMaximum) }), false)
	h.c.Publish(h.now, Message{Topic: "long/topic", Payload: []byte("1")})
	h.c.Publish(h.now, Message{Topic: "long/topic", Payload: []byte("2")})
	h.c.Publish(h.now, Message{Topic: "other", Payload: []byte("3")}) // no alias left
	h.expect("> PUBLISH qos=0 long/topic (1 B)", "> PUBLISH qos=0 alias:1 (1 B)", "> PUBLISH qos=0 other (1 B)")
	a := func(n uint16) codec.Properties {
		return props(func(p *codec.Properties) { p.TopicAlias = n; p.Set(codec.PropTopicAlias) })
	}
	h.in(&codec.Publish{Topic: "in/x", Payload: []byte("a"), Properties: a(2)})
	h.in(&codec.Publish{Payload: []byte("b"), Properties: a(2)})
	h.expect("< PUBLISH qos=0 in/x (1 B)", "message in/x a qos=0", "< PUBLISH qos=0 alias:2 (1 B)", "message in/x b qos=0")
}

// Protocol violations by the broker, straight on the core (the same cases
// run over TCP against the fake broker in driver tests).
func TestViolations(t *testing.T) {
	alias := func(n uint16) codec.Properties {
		return props(func(p *codec.Properties) { p.TopicAlias = n; p.Set(codec.PropTopicAlias) })
	}
	tests := []struct {
		name   string
		v      codec.Version
		before func(h *harness)
		send   func(h *harness)
		want   []string
	}{
		{"MQTT-3.2.0-1 PUBLISH before CONNACK", codec.V5, nil,
			func(h *harness) { h.in(&codec.Publish{Topic: "t", Payload: []byte("x")}) },
			[]string{"< PUBLISH qos=0 t (1 B)",
				"error PUBLISH before CONNACK: the first packet from the broker must be CONNACK (reason 0x82 Protocol Error) [MQTT-3.2.0-1]",
				"> DISCONNECT Protocol Error", "close", "state disconnected"}},
		{"reserved bits in CONNACK", codec.V5, nil,
			func(h *harness) { h.raw("20 03 02 00 00") },
			[]string{"< invalid 2003020000",
				"error broker sent an invalid packet: CONNACK mqtt.conack.flags at offset 2: reserved flag bits set (reason 0x81 Malformed Packet) [3.2.2.1]",
				"> DISCONNECT Malformed Packet", "close", "state disconnected"}},
		{"CONNACK refused 3.1.1", codec.V311, nil,
			func(h *harness) { h.raw("20 02 00 05") },
			[]string{"< CONNACK Connection Refused: not authorized",
				"error CONNECT refused: Connection Refused: not authorized [MQTT-3.2.2-5]",
				"close", "state disconnected"}},
		{"SUBACK wrong count MQTT-3.9.3-1", codec.V5, func(h *harness) {
			h.connect(codec.Properties{}, false)
			h.c.Subscribe(h.now, []codec.Subscription{{Filter: "a"}, {Filter: "b"}}, codec.Properties{})
			h.take()
		}, func(h *harness) { h.in(&codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{0}}) },
			[]string{"< SUBACK id=1 [0x00]",
				"error SUBACK carries 1 reason codes for 2 topic filters (reason 0x82 Protocol Error) [MQTT-3.9.3-1]",
				"> DISCONNECT Protocol Error", "close", "state disconnected"}},
		{"PUBACK for unknown id", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) { h.in(&codec.Puback{PacketID: 9}) },
			[]string{"< PUBACK id=9",
				"error PUBACK for packet id 9, but no QoS 1 PUBLISH waiting for PUBACK has that id (reason 0x82 Protocol Error) [4.3.2]",
				"> DISCONNECT Protocol Error", "close", "state disconnected"}},
		{"PUBREC for unknown id gets PUBREL 0x92", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) { h.in(&codec.Pubrec{PacketID: 9}) },
			[]string{"< PUBREC id=9", "> PUBREL id=9 Packet Identifier not found"}},
		{"PUBREL for unknown id gets PUBCOMP 0x92", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) { h.in(&codec.Pubrel{PacketID: 9}) },
			[]string{"< PUBREL id=9", "> PUBCOMP id=9 Packet Identifier not found"}},
		{"unknown topic alias", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) { h.in(&codec.Publish{Payload: []byte("x"), Properties: alias(1)}) },
			[]string{"< PUBLISH qos=0 alias:1 (1 B)",
				"error Topic Alias 1 outside 1..0 (our Topic Alias Maximum) (reason 0x94 Topic Alias invalid) [MQTT-3.3.2-9]",
				"> DISCONNECT Topic Alias invalid", "close", "state disconnected"}},
		{"Receive Maximum exceeded", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) {
				h.in(&codec.Publish{Topic: "t", Payload: []byte("1"), QoS: 2, PacketID: 1}, &codec.Publish{Topic: "t", Payload: []byte("2"), QoS: 2, PacketID: 2})
			},
			[]string{"< PUBLISH id=1 qos=2 t (1 B)", "message t 1 qos=2", "> PUBREC id=1", "< PUBLISH id=2 qos=2 t (1 B)",
				"error broker sent more than our Receive Maximum (1) of unacknowledged QoS 1 and 2 PUBLISHes (reason 0x93 Receive Maximum exceeded) [MQTT-3.3.4-9]",
				"> DISCONNECT Receive Maximum exceeded", "close", "state disconnected"}},
		{"stream ends mid-packet", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) {
				h.raw("30 0a 00 01")
				h.open = false
				h.c.Closed(h.now, nil)
				h.drain()
			},
			[]string{"error connection closed by the broker in the middle of a packet (4 bytes of it received) [4.1]", "state disconnected"}},
		{"garbage bytes", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) { h.raw("ff ff ff ff ff ff") },
			[]string{"error bad packet framing: AUTH mqtt.len at offset 1: invalid variable byte integer (reason 0x81 Malformed Packet) [MQTT-1.5.5-1]",
				"> DISCONNECT Malformed Packet", "close", "state disconnected"}},
		{"broker DISCONNECT", codec.V5, func(h *harness) { h.connect(codec.Properties{}, false) },
			func(h *harness) {
				h.in(&codec.Disconnect{ReasonCode: codec.ReasonServerShuttingDown, Properties: props(func(p *codec.Properties) {
					p.ReasonString = "bye"
					p.Set(codec.PropReasonString)
				})})
			},
			[]string{"< DISCONNECT Server shutting down",
				"error broker sent DISCONNECT: Server shutting down: bye (reason 0x8b Server shutting down) [3.14]", "close", "state disconnected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Version: tt.v}
			if tt.name == "Receive Maximum exceeded" {
				cfg.Properties = props(func(p *codec.Properties) { p.ReceiveMaximum = 1; p.Set(codec.PropReceiveMaximum) })
			}
			h := newHarness(t, cfg)
			if tt.before != nil {
				tt.before(h)
			} else {
				h.c.Connect(h.now)
				h.redial()
				h.take()
			}
			tt.send(h)
			h.drain()
			var disc []byte
			for _, b := range h.wire {
				if b[0] == 0xe0 {
					disc = b
				}
			}
			h.expect(tt.want...)
			if disc != nil {
				// The DISCONNECT we sent explains itself in a Reason String.
				p, err := codec.Decode(disc, codec.V5)
				d, _ := p.(*codec.Disconnect)
				if err != nil || d == nil || !d.Properties.Has(codec.PropReasonString) || d.Properties.ReasonString == "" {
					t.Fatalf("DISCONNECT %x: %v %+v", disc, err, d)
				}
			}
		})
	}
}

// A resumed session where the broker resends its PUBREC and also answers
// the PUBLISH resent with DUP (mochi does): two PUBRELs go out, two
// PUBCOMPs come back, and the second is noted, not a protocol error.
func TestRepeatedPubrecThenTwoPubcomps(t *testing.T) {
	h := newHarness(t, Config{Reconnect: true, Version: codec.V311})
	h.connect(codec.Properties{}, false)
	h.c.Publish(h.now, Message{Topic: "t", Payload: []byte("a"), QoS: 2})
	h.expect("> PUBLISH id=1 qos=2 t (1 B)")
	h.in(&codec.Pubrec{PacketID: 1})
	h.expect("< PUBREC id=1", "> PUBREL id=1")
	h.in(&codec.Pubrec{PacketID: 1})
	h.expect("< PUBREC id=1", "> PUBREL id=1")
	h.in(&codec.Pubcomp{PacketID: 1})
	h.expect("< PUBCOMP id=1", "published id=1")
	h.in(&codec.Pubcomp{PacketID: 1})
	got := strings.Join(h.take(), "\n")
	if !strings.Contains(got, "already complete") || strings.Contains(got, "state disconnected") || strings.Contains(got, "> DISCONNECT") {
		t.Fatalf("the second PUBCOMP: %s", got)
	}
	// Without a repeated PUBREL, a stray PUBCOMP is still a protocol error.
	h.in(&codec.Pubcomp{PacketID: 7})
	if got := strings.Join(h.take(), "\n"); !strings.Contains(got, "no QoS 2 PUBLISH waiting") {
		t.Fatalf("a stray PUBCOMP: %s", got)
	}
}

// TestTopicAliasOptIn: without Config.TopicAliases only the messages that
// ask for it (Message.TopicAlias) use an alias, and none when the broker
// announced no Topic Alias Maximum.
func TestTopicAliasOptIn(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  bool
		want []string
	}{
		{"broker allows", true, []string{"> PUBLISH qos=0 a (1 B)", "> PUBLISH qos=0 a (1 B)", "> PUBLISH qos=0 a (1 B)", "> PUBLISH qos=0 alias:1 (1 B)"}},
		{"broker does not", false, []string{"> PUBLISH qos=0 a (1 B)", "> PUBLISH qos=0 a (1 B)", "> PUBLISH qos=0 a (1 B)", "> PUBLISH qos=0 a (1 B)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			var ack codec.Properties
			if tc.max {
				ack = props(func(p *codec.Properties) { p.TopicAliasMaximum = 5; p.Set(codec.PropTopicAliasMaximum) })
			}
			h.connect(ack, false)
			h.c.Publish(h.now, Message{Topic: "a", Payload: []byte("1")})
			h.c.Publish(h.now, Message{Topic: "a", Payload: []byte("2")})
			h.c.Publish(h.now, Message{Topic: "a", Payload: []byte("3"), TopicAlias: true}) // sets alias 1 (the topic is sent)
			h.c.Publish(h.now, Message{Topic: "a", Payload: []byte("4"), TopicAlias: true})
			h.expect(tc.want...)
		})
	}
}

// With Config.BytesOnly a received PUBLISH and the PUBACK that answers it
// come with their bytes and no Packet; every event is otherwise the same
// as without it, and the messages of a batch, decoded one after the other
// into the client's one PUBLISH, are each their own when read at the end.
func TestBytesOnly(t *testing.T) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		var in []byte
		for i, qos := range []codec.QoS{1, 0, 1, 2} {
			p := &codec.Publish{Topic: "t/" + itoa(i), Payload: []byte{byte('a' + i)}, QoS: qos}
			if qos > 0 {
				p.PacketID = uint16(10 + i)
			}
			in, _ = codec.AppendPacket(in, p, v)
		}
		type seen struct {
			typ          EventType
			bytes, msg   string
			packet       bool
			publishOrAck bool
		}
		run := func(lean bool) []seen {
			h := newHarness(t, Config{Version: v, BytesOnly: lean})
			h.connect(codec.Properties{}, false)
			h.c.ReceiveOwned(h.now, append([]byte(nil), in...))
			var out []seen
			for ev, ok := h.c.Next(); ok; ev, ok = h.c.Next() {
				s := seen{typ: ev.Type, bytes: hex.EncodeToString(ev.Bytes), packet: ev.Packet != nil}
				if len(ev.Bytes) > 0 {
					typ := codec.PacketType(ev.Bytes[0] >> 4)
					s.publishOrAck = ev.Type == EventReceive && typ == codec.TypePublish || ev.Type == EventSend && typ == codec.TypePuback
				}
				if ev.Message != nil {
					s.msg = ev.Message.Topic + "=" + string(ev.Message.Payload)
				}
				out = append(out, s)
			}
			return out
		}
		full, lean := run(false), run(true)
		if len(full) != len(lean) || len(full) < 10 {
			t.Fatalf("%v: %d events with BytesOnly, %d without", v, len(lean), len(full))
		}
		for i := range full {
			f, l := full[i], lean[i]
			if f.typ != l.typ || f.bytes != l.bytes || f.msg != l.msg {
				t.Errorf("%v event %d: %+v with BytesOnly, %+v without", v, i, l, f)
			}
			if want := (f.typ == EventSend || f.typ == EventReceive) && !l.publishOrAck; l.packet != want {
				t.Errorf("%v event %d (%v %s): Packet set %v with BytesOnly, want %v", v, i, l.typ, l.bytes, l.packet, want)
			}
		}
	}
}
