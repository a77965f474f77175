package client

import (
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// FuzzReceive feeds arbitrary broker bytes, in arbitrary chunks, to a
// connected client in both versions, given (Receive) or handed over
// (ReceiveOwned): it must never panic, must stop reading once it closed
// the connection, and must deliver every QoS 2 message once.
func FuzzReceive(f *testing.F) {
	seeds := []codec.Packet{
		&codec.Connack{}, &codec.Publish{Topic: "a", QoS: 2, PacketID: 1, Payload: []byte("x")},
		&codec.Pubrel{PacketID: 1}, &codec.Puback{PacketID: 1}, &codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1}},
		&codec.Pingresp{}, &codec.Disconnect{ReasonCode: 0x8b},
	}
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		var all []byte
		for _, p := range seeds {
			b, err := codec.AppendPacket(nil, p, v)
			if err != nil {
				continue
			}
			f.Add(byte(v), uint8(3), b)
			all = append(all, b...)
		}
		f.Add(byte(v), uint8(1), all)
	}
	f.Add(byte(5), uint8(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(byte(4), uint8(15), []byte{0x30, 4, 0, 1, 'a', 'b', 0x30, 0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, ver byte, chunk uint8, data []byte) {
		v := codec.V311
		if ver&1 == 1 {
			v = codec.V5
		}
		var cfg Config
		cfg.Version = v
		cfg.KeepAlive = 5
		cfg.Reconnect = ver&2 != 0
		cfg.Properties.TopicAliasMaximum = 3
		cfg.Properties.Set(codec.PropTopicAliasMaximum)
		c := New(cfg)
		now := t0
		c.Connect(now)
		c.Dialed(now)
		c.Subscribe(now, []codec.Subscription{{Filter: "#"}}, codec.Properties{})
		c.Publish(now, Message{Topic: "t", QoS: 2})
		feed := c.Receive
		if ver&4 != 0 {
			feed = c.ReceiveOwned
		}
		delivered := map[uint16]int{}
		n := int(chunk%16) + 1
		for len(data) > 0 {
			k := min(n, len(data))
			feed(now, data[:k])
			data = data[k:]
			now = now.Add(time.Second)
			c.Tick(now)
			for {
				ev, ok := c.Next()
				if !ok {
					break
				}
				if pc, ok := ev.Packet.(*codec.Pubcomp); ok && ev.Type == EventSend {
					delete(delivered, pc.PacketID) // released: the id may carry a new message
				}
				if ev.Type == EventMessage && ev.Message.QoS == 2 {
					if delivered[ev.Message.PacketID]++; delivered[ev.Message.PacketID] > 1 {
						t.Fatalf("QoS 2 id %d delivered twice without PUBREL", ev.Message.PacketID)
					}
				}
			}
		}
		c.Closed(now, nil)
		c.Disconnect(now, 0, codec.Properties{})
	})
}
