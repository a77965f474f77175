package codec

import (
	"bytes"
	"testing"
)

// Wire bytes shared by the allocation tests and the benchmarks.
var (
	benchTopic   = "sensors/room1/t1" // 16 bytes
	benchPayload = bytes.Repeat([]byte{'p'}, 64)
	benchPublish = &Publish{QoS: 1, Topic: benchTopic, PacketID: 3, Payload: benchPayload}
	benchConnect = &Connect{CleanStart: true, KeepAlive: 60, ClientID: "lifeline-client-1",
		UsernameFlag: true, Username: "device01", PasswordFlag: true, Password: []byte("s3cret-pass")}
	benchSubscribe = &Subscribe{PacketID: 7, Subscriptions: []Subscription{
		{Filter: "sensors/+/t1", QoS: 1}, {Filter: "cmd/device01/#", QoS: 2}, {Filter: "status", QoS: 0}}}
	benchPuback = &Puback{PacketID: 3}
)

func mustAppend(t testing.TB, p Packet, v Version) []byte {
	t.Helper()
	b, err := AppendPacket(nil, p, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestZeroAllocs proves the 0 allocs/op claims: decoding PUBLISH, CONNECT
// and the acks into a reused struct, and encoding into a reused buffer.
func TestZeroAllocs(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		pub, con, sub, ack := mustAppend(t, benchPublish, v), mustAppend(t, benchConnect, v), mustAppend(t, benchSubscribe, v), mustAppend(t, benchPuback, v)
		var (
			p  Publish
			c  Connect
			s  Subscribe
			a  Puback
			sa Suback
			d  Disconnect
		)
		// A PUBLISH whose properties came in non-identifier order (in
		// 3.1.1 the same packet without them).
		var p5 Publish
		pp := &Publish{QoS: 1, Topic: benchTopic, PacketID: 3, Payload: benchPayload}
		pp.Properties.User = []UserProperty{{"k", "v"}}
		pp.Properties.ContentType = "text/plain"
		pp.Properties.Set(PropContentType)
		pubProps := mustAppend(t, pp, v)
		if v == V5 {
			if err := p5.Decode(pubProps, v); err != nil {
				t.Fatal(err)
			}
		}
		suback := mustAppend(t, &Suback{PacketID: 7, ReasonCodes: []ReasonCode{0, 1, 2}}, v)
		disc := mustAppend(t, &Disconnect{}, v)
		// The long forms, a Property Length 0 spelled out (3.1.1 has none).
		var (
			la Puback
			ld Disconnect
		)
		longAck, longDisc := ack, disc
		if v == V5 {
			longAck, longDisc = []byte{0x40, 4, 0, 3, 0, 0}, []byte{0xe0, 2, 0, 0}
		}
		buf := make([]byte, 0, 512)
		cases := []struct {
			name string
			f    func() error
		}{
			{"decode PUBLISH", func() error { return p.Decode(pub, v) }},
			{"decode PUBLISH with properties reused", func() error { return p5.Decode(pubProps, v) }},
			{"encode PUBLISH with properties in decoded order", func() (err error) { _, err = p5.Append(buf[:0], v); return }},
			{"decode CONNECT", func() error { return c.Decode(con, v) }},
			{"decode SUBSCRIBE reused", func() error { return s.Decode(sub, v) }},
			{"decode PUBACK", func() error { return a.Decode(ack, v) }},
			{"decode SUBACK reused", func() error { return sa.Decode(suback, v) }},
			{"decode DISCONNECT", func() error { return d.Decode(disc, v) }},
			{"encode PUBLISH", func() (err error) { _, err = benchPublish.Append(buf[:0], v); return }},
			{"encode CONNECT", func() (err error) { _, err = benchConnect.Append(buf[:0], v); return }},
			{"encode SUBSCRIBE", func() (err error) { _, err = benchSubscribe.Append(buf[:0], v); return }},
			{"encode PUBACK", func() (err error) { _, err = benchPuback.Append(buf[:0], v); return }},
			{"decode PUBACK long form", func() error { return la.Decode(longAck, v) }},
			{"encode PUBACK long form as decoded", func() (err error) { _, err = la.Append(buf[:0], v); return }},
			{"decode DISCONNECT long form", func() error { return ld.Decode(longDisc, v) }},
			{"encode DISCONNECT long form as decoded", func() (err error) { _, err = ld.Append(buf[:0], v); return }},
			{"PacketLen", func() (err error) { _, err = PacketLen(pub, 0); return }},
		}
		for _, tc := range cases {
			t.Run(v.String()+" "+tc.name, func(t *testing.T) {
				if err := tc.f(); err != nil { // warm up reused slices
					t.Fatal(err)
				}
				if n := testing.AllocsPerRun(100, func() { _ = tc.f() }); n != 0 {
					t.Fatalf("%v allocs/op, want 0", n)
				}
			})
		}
	}
}

func TestSplitterAllocs(t *testing.T) {
	pub := mustAppend(t, benchPublish, V311)
	s := NewSplitter(0)
	s.Write(pub)
	s.Next()
	n := testing.AllocsPerRun(100, func() {
		s.Write(pub[:10])
		s.Write(pub[10:])
		if _, ok, _ := s.Next(); !ok {
			t.Fatal("no packet")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs/op, want 0", n)
	}
}

// TestPublishAppendGrows checks the two promises of Publish.Append's
// sizing: one allocation for a packet appended to nil, and amortized
// growth for many appended to one buffer (sized exactly each time, 10,000
// packets would copy the buffer 10,000 times: a benchmark's flood took
// seconds to build).
func TestPublishAppendGrows(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		if n := testing.AllocsPerRun(100, func() { _, _ = benchPublish.Append(nil, v) }); n != 1 {
			t.Errorf("v%d: %v allocations for one PUBLISH appended to nil, want 1", v, n)
		}
		n := testing.AllocsPerRun(5, func() {
			var buf []byte
			for i := 0; i < 10000; i++ {
				buf, _ = benchPublish.Append(buf, v)
			}
		})
		if n > 60 {
			t.Errorf("v%d: %v allocations for 10,000 PUBLISHes appended to one buffer, want amortized growth (at most 60)", v, n)
		}
	}
}

// A Decoder decodes a flood's PUBLISHes and PUBACKs into its own structs,
// the same one each time and without allocating, and any other packet
// into a new one.
func TestDecoderReuses(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		pub, ack, sub := mustAppend(t, benchPublish, v), mustAppend(t, benchPuback, v), mustAppend(t, benchSubscribe, v)
		var d Decoder
		for _, tt := range []struct {
			b     []byte
			reuse bool
		}{{pub, true}, {ack, true}, {sub, false}} {
			p1, err1 := d.Decode(tt.b, v)
			p2, err2 := d.Decode(tt.b, v)
			if err1 != nil || err2 != nil {
				t.Fatalf("%v %x: %v, %v", v, tt.b, err1, err2)
			}
			if same := p1 == p2; same != tt.reuse {
				t.Errorf("%v %s: the same struct twice %v, want %v", v, p1.Type(), same, tt.reuse)
			}
			if tt.reuse {
				if n := testing.AllocsPerRun(100, func() { d.Decode(tt.b, v) }); n != 0 {
					t.Errorf("%v %s: %v allocations a Decode, want 0", v, p1.Type(), n)
				}
			}
		}
	}
}
