// Package codecbench runs the same MQTT wire bytes through Lifeline's codec
// and through the packet codecs of mochi-mqtt, paho.golang and
// paho.mqtt.golang, side by side. It lives in its own module so the peers
// stay out of the main go.mod. See RESULTS.md for how to run it.
package codecbench

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/lifeline-mqtt/lifeline/codec"
	mochi "github.com/mochi-mqtt/server/v2/packets"
)

// The three packets of the comparison.
var (
	topic   = "sensors/room1/t1" // 16 bytes
	payload = bytes.Repeat([]byte{'p'}, 64)

	ourPublish   = &codec.Publish{QoS: 1, Topic: topic, PacketID: 3, Payload: payload}
	ourConnect   = &codec.Connect{CleanStart: true, KeepAlive: 60, ClientID: "lifeline-client-1", UsernameFlag: true, Username: "device01", PasswordFlag: true, Password: []byte("s3cret-pass")}
	ourSubscribe = &codec.Subscribe{PacketID: 7, Subscriptions: []codec.Subscription{
		{Filter: "sensors/+/t1", QoS: 1}, {Filter: "cmd/device01/#", QoS: 2}, {Filter: "status", QoS: 0}}}
)

func wire(tb testing.TB, p codec.Packet, v codec.Version) []byte {
	b, err := codec.AppendPacket(nil, p, v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// split returns the fixed header's first byte, the remaining length and
// the body, as a reader loop would have them.
func split(b []byte) (byte, int, []byte) {
	i := 1
	for b[i]&0x80 != 0 {
		i++
	}
	return b[0], len(b) - i - 1, b[i+1:]
}

// Owned decodes: Lifeline's decode gives views into the input; a program
// that keeps a packet after its buffer is reused copies what it keeps, as
// the peers' decoders do for every packet. These copy every string and byte
// slice of the packet (strings.Clone, bytes.Clone) into a new value, which
// escapes to the sinks.
var (
	sinkPublish   *codec.Publish
	sinkConnect   *codec.Connect
	sinkSubscribe *codec.Subscribe
)

func ownProps(p codec.Properties) codec.Properties {
	p.ContentType = strings.Clone(p.ContentType)
	p.ResponseTopic = strings.Clone(p.ResponseTopic)
	p.CorrelationData = bytes.Clone(p.CorrelationData)
	p.SubscriptionIdentifiers = slices.Clone(p.SubscriptionIdentifiers)
	p.AssignedClientID = strings.Clone(p.AssignedClientID)
	p.AuthMethod = strings.Clone(p.AuthMethod)
	p.AuthData = bytes.Clone(p.AuthData)
	p.ResponseInfo = strings.Clone(p.ResponseInfo)
	p.ServerReference = strings.Clone(p.ServerReference)
	p.ReasonString = strings.Clone(p.ReasonString)
	if p.User != nil {
		u := make([]codec.UserProperty, len(p.User))
		for i, kv := range p.User {
			u[i] = codec.UserProperty{Key: strings.Clone(kv.Key), Value: strings.Clone(kv.Value)}
		}
		p.User = u
	}
	return p
}

func ownPublish(p *codec.Publish) *codec.Publish {
	o := *p
	o.Topic = strings.Clone(p.Topic)
	o.Payload = bytes.Clone(p.Payload)
	o.Properties = ownProps(p.Properties)
	return &o
}

func ownConnect(p *codec.Connect) *codec.Connect {
	o := *p
	o.ClientID = strings.Clone(p.ClientID)
	o.Username = strings.Clone(p.Username)
	o.Password = bytes.Clone(p.Password)
	o.WillTopic = strings.Clone(p.WillTopic)
	o.WillPayload = bytes.Clone(p.WillPayload)
	o.Properties = ownProps(p.Properties)
	o.WillProperties = ownProps(p.WillProperties)
	return &o
}

func ownSubscribe(p *codec.Subscribe) *codec.Subscribe {
	o := *p
	o.Subscriptions = make([]codec.Subscription, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		s.Filter = strings.Clone(s.Filter)
		o.Subscriptions[i] = s
	}
	o.Properties = ownProps(p.Properties)
	return &o
}

type impl struct {
	name string
	f    func(b *testing.B)
}

func run(b *testing.B, impls []impl) {
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			im.f(b)
		})
	}
}

// mochiHeader decodes mochi's fixed header the way its reader does.
func mochiHeader(b *testing.B, pk *mochi.Packet, raw []byte, v byte) []byte {
	h, rem, body := split(raw)
	if err := pk.FixedHeader.Decode(h); err != nil {
		b.Fatal(err)
	}
	pk.FixedHeader.Remaining = rem
	pk.ProtocolVersion = v
	return body
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		raw := wire(b, ourPublish, v)
		impls := []impl{
			{"lifeline", func(b *testing.B) {
				var p codec.Publish
				for i := 0; i < b.N; i++ {
					if err := p.Decode(raw, v); err != nil {
						b.Fatal(err)
					}
				}
			}},
			{"lifeline-owned", func(b *testing.B) {
				var p codec.Publish
				for i := 0; i < b.N; i++ {
					if err := p.Decode(raw, v); err != nil {
						b.Fatal(err)
					}
					sinkPublish = ownPublish(&p)
				}
			}},
			{"mochi", func(b *testing.B) {
				var pk mochi.Packet
				for i := 0; i < b.N; i++ {
					body := mochiHeader(b, &pk, raw, byte(v))
					if err := pk.PublishDecode(body); err != nil {
						b.Fatal(err)
					}
				}
			}},
		}
		if v == codec.V311 {
			impls = append(impls, impl{"paho.mqtt.golang", func(b *testing.B) {
				var r bytes.Reader
				for i := 0; i < b.N; i++ {
					r.Reset(raw)
					if _, err := paho3.ReadPacket(&r); err != nil {
						b.Fatal(err)
					}
				}
			}})
		} else {
			impls = append(impls, impl{"paho.golang", func(b *testing.B) {
				var buf bytes.Buffer
				_, _, body := split(raw)
				for i := 0; i < b.N; i++ {
					buf.Reset()
					buf.Write(body)
					p := paho5.Publish{QoS: 1, Properties: &paho5.Properties{}}
					if err := p.Unpack(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		}
		b.Run(v.String(), func(b *testing.B) { run(b, impls) })
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		impls := []impl{
			{"lifeline", func(b *testing.B) {
				buf := make([]byte, 0, 256)
				for i := 0; i < b.N; i++ {
					var err error
					if buf, err = ourPublish.Append(buf[:0], v); err != nil {
						b.Fatal(err)
					}
				}
			}},
			{"mochi", func(b *testing.B) {
				var buf bytes.Buffer
				pk := mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Publish, Qos: 1}, TopicName: topic, PacketID: 3, Payload: payload, ProtocolVersion: byte(v)}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := pk.PublishEncode(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}},
		}
		if v == codec.V311 {
			impls = append(impls, impl{"paho.mqtt.golang", func(b *testing.B) {
				var buf bytes.Buffer
				p := paho3.NewControlPacket(paho3.Publish).(*paho3.PublishPacket)
				p.Qos, p.TopicName, p.MessageID, p.Payload = 1, topic, 3, payload
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := p.Write(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		} else {
			impls = append(impls, impl{"paho.golang", func(b *testing.B) {
				var buf bytes.Buffer
				p := &paho5.Publish{QoS: 1, Topic: topic, PacketID: 3, Payload: payload, Properties: &paho5.Properties{}}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if _, err := p.WriteTo(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		}
		b.Run(v.String(), func(b *testing.B) { run(b, impls) })
	}
}

func BenchmarkDecodeConnect(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		raw := wire(b, ourConnect, v)
		impls := []impl{
			{"lifeline", func(b *testing.B) {
				var p codec.Connect
				for i := 0; i < b.N; i++ {
					if err := p.Decode(raw, v); err != nil {
						b.Fatal(err)
					}
				}
			}},
			{"lifeline-owned", func(b *testing.B) {
				var p codec.Connect
				for i := 0; i < b.N; i++ {
					if err := p.Decode(raw, v); err != nil {
						b.Fatal(err)
					}
					sinkConnect = ownConnect(&p)
				}
			}},
			{"mochi", func(b *testing.B) {
				var pk mochi.Packet
				for i := 0; i < b.N; i++ {
					body := mochiHeader(b, &pk, raw, byte(v))
					if err := pk.ConnectDecode(body); err != nil {
						b.Fatal(err)
					}
				}
			}},
		}
		if v == codec.V311 {
			impls = append(impls, impl{"paho.mqtt.golang", func(b *testing.B) {
				var r bytes.Reader
				for i := 0; i < b.N; i++ {
					r.Reset(raw)
					if _, err := paho3.ReadPacket(&r); err != nil {
						b.Fatal(err)
					}
				}
			}})
		} else {
			impls = append(impls, impl{"paho.golang", func(b *testing.B) {
				var buf bytes.Buffer
				_, _, body := split(raw)
				for i := 0; i < b.N; i++ {
					buf.Reset()
					buf.Write(body)
					p := paho5.Connect{Properties: &paho5.Properties{}}
					if err := p.Unpack(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		}
		b.Run(v.String(), func(b *testing.B) { run(b, impls) })
	}
}

func BenchmarkEncodeConnect(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		c := ourConnect
		impls := []impl{
			{"lifeline", func(b *testing.B) {
				buf := make([]byte, 0, 256)
				for i := 0; i < b.N; i++ {
					var err error
					if buf, err = c.Append(buf[:0], v); err != nil {
						b.Fatal(err)
					}
				}
			}},
			{"mochi", func(b *testing.B) {
				var buf bytes.Buffer
				pk := mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connect}, ProtocolVersion: byte(v),
					Connect: mochi.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: c.ClientID,
						UsernameFlag: true, Username: []byte(c.Username), PasswordFlag: true, Password: c.Password}}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := pk.ConnectEncode(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}},
		}
		if v == codec.V311 {
			impls = append(impls, impl{"paho.mqtt.golang", func(b *testing.B) {
				var buf bytes.Buffer
				p := paho3.NewControlPacket(paho3.Connect).(*paho3.ConnectPacket)
				p.ProtocolName, p.ProtocolVersion, p.CleanSession, p.Keepalive = "MQTT", 4, true, 60
				p.ClientIdentifier, p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = c.ClientID, true, c.Username, true, c.Password
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := p.Write(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		} else {
			impls = append(impls, impl{"paho.golang", func(b *testing.B) {
				var buf bytes.Buffer
				p := &paho5.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 60, ClientID: c.ClientID,
					UsernameFlag: true, Username: c.Username, PasswordFlag: true, Password: c.Password, Properties: &paho5.Properties{}}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if _, err := p.WriteTo(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		}
		b.Run(v.String(), func(b *testing.B) { run(b, impls) })
	}
}

func BenchmarkDecodeSubscribe(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		raw := wire(b, ourSubscribe, v)
		impls := []impl{
			{"lifeline", func(b *testing.B) {
				var p codec.Subscribe
				for i := 0; i < b.N; i++ {
					if err := p.Decode(raw, v); err != nil {
						b.Fatal(err)
					}
				}
			}},
			{"lifeline-owned", func(b *testing.B) {
				var p codec.Subscribe
				for i := 0; i < b.N; i++ {
					if err := p.Decode(raw, v); err != nil {
						b.Fatal(err)
					}
					sinkSubscribe = ownSubscribe(&p)
				}
			}},
			{"mochi", func(b *testing.B) {
				var pk mochi.Packet
				for i := 0; i < b.N; i++ {
					body := mochiHeader(b, &pk, raw, byte(v))
					pk.Filters = pk.Filters[:0]
					if err := pk.SubscribeDecode(body); err != nil {
						b.Fatal(err)
					}
				}
			}},
		}
		if v == codec.V311 {
			impls = append(impls, impl{"paho.mqtt.golang", func(b *testing.B) {
				var r bytes.Reader
				for i := 0; i < b.N; i++ {
					r.Reset(raw)
					if _, err := paho3.ReadPacket(&r); err != nil {
						b.Fatal(err)
					}
				}
			}})
		} else {
			impls = append(impls, impl{"paho.golang", func(b *testing.B) {
				var buf bytes.Buffer
				_, _, body := split(raw)
				for i := 0; i < b.N; i++ {
					buf.Reset()
					buf.Write(body)
					p := paho5.Subscribe{Properties: &paho5.Properties{}}
					if err := p.Unpack(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		}
		b.Run(v.String(), func(b *testing.B) { run(b, impls) })
	}
}

func BenchmarkEncodeSubscribe(b *testing.B) {
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		s := ourSubscribe
		impls := []impl{
			{"lifeline", func(b *testing.B) {
				buf := make([]byte, 0, 256)
				for i := 0; i < b.N; i++ {
					var err error
					if buf, err = s.Append(buf[:0], v); err != nil {
						b.Fatal(err)
					}
				}
			}},
			{"mochi", func(b *testing.B) {
				var buf bytes.Buffer
				pk := mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Subscribe, Qos: 1}, ProtocolVersion: byte(v), PacketID: 7}
				for _, sub := range s.Subscriptions {
					pk.Filters = append(pk.Filters, mochi.Subscription{Filter: sub.Filter, Qos: byte(sub.QoS)})
				}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := pk.SubscribeEncode(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}},
		}
		if v == codec.V311 {
			impls = append(impls, impl{"paho.mqtt.golang", func(b *testing.B) {
				var buf bytes.Buffer
				p := paho3.NewControlPacket(paho3.Subscribe).(*paho3.SubscribePacket)
				p.MessageID = 7
				for _, sub := range s.Subscriptions {
					p.Topics, p.Qoss = append(p.Topics, sub.Filter), append(p.Qoss, byte(sub.QoS))
				}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if err := p.Write(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		} else {
			impls = append(impls, impl{"paho.golang", func(b *testing.B) {
				var buf bytes.Buffer
				p := &paho5.Subscribe{PacketID: 7, Properties: &paho5.Properties{}}
				for _, sub := range s.Subscriptions {
					p.Subscriptions = append(p.Subscriptions, paho5.SubOptions{Topic: sub.Filter, QoS: byte(sub.QoS)})
				}
				for i := 0; i < b.N; i++ {
					buf.Reset()
					if _, err := p.WriteTo(&buf); err != nil {
						b.Fatal(err)
					}
				}
			}})
		}
		b.Run(v.String(), func(b *testing.B) { run(b, impls) })
	}
}
