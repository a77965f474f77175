package codec_test

import (
	"encoding/hex"
	"fmt"

	"github.com/lifeline-mqtt/lifeline/codec"
)

func ExampleDecode() {
	b, _ := hex.DecodeString("323b001a646576696365732f64657669636530312f74656c656d6574727900017b2274656d70223a32312e352c22646f6f72223a226c6f636b6564227d")
	p, err := codec.Decode(b, codec.V311)
	if err != nil {
		panic(err)
	}
	pub := p.(*codec.Publish)
	fmt.Println(pub.Topic, pub.PacketID, string(pub.Payload))
	fmt.Println(codec.Summary(p))
	// Output:
	// devices/device01/telemetry 1 {"temp":21.5,"door":"locked"}
	// PUBLISH id=1 qos=1 devices/device01/telemetry (29 B)
}

func ExamplePublish_Append() {
	p := &codec.Publish{QoS: 1, PacketID: 3, Topic: "sensors/t1", Payload: []byte("21.5")}
	buf := make([]byte, 0, 64) // reuse across calls: no allocation
	buf, err := p.Append(buf[:0], codec.V5)
	fmt.Printf("%x %v\n", buf, err)
	// Output:
	// 3213000a73656e736f72732f743100030032312e35 <nil>
}

func ExampleSplitter() {
	stream, _ := hex.DecodeString("20020000" + "9003000101" + "c000")
	s := codec.NewSplitter(1 << 20)
	for _, chunk := range [][]byte{stream[:3], stream[3:6], stream[6:]} { // any chunking
		s.Write(chunk)
		for {
			pkt, ok, err := s.Next()
			if err != nil || !ok {
				break
			}
			fmt.Println(codec.PacketType(pkt[0] >> 4))
		}
	}
	// Output:
	// CONNACK
	// SUBACK
	// PINGREQ
}

func ExampleDissect() {
	b, _ := hex.DecodeString("c000")
	fmt.Print(codec.Dissect(b, codec.V311).Text())
	b, _ = hex.DecodeString("30050003612f2b")
	fmt.Print(codec.Dissect(b, codec.V311).Text())
	// Output:
	// MQTT 3.1.1 PINGREQ
	//   Header Flags: 0xc0 (PINGREQ)  [mqtt.hdrflags @0+1]
	//     Message Type: Ping Request (12)  [mqtt.msgtype @0+1]
	//     Reserved: 0  [mqtt.hdr_reserved @0+1]
	//   Msg Len: 0  [mqtt.len @1+1]
	// MQTT 3.1.1 PUBLISH (malformed)
	//   Header Flags: 0x30 (PUBLISH)  [mqtt.hdrflags @0+1]
	//     Message Type: Publish Message (3)  [mqtt.msgtype @0+1]
	//     DUP Flag: Not set  [mqtt.dupflag @0+1]
	//     QoS Level: At most once delivery (0)  [mqtt.qos @0+1]
	//     Retain: Not set  [mqtt.retain @0+1]
	//   Msg Len: 5  [mqtt.len @1+1]
	//   Topic Length: 3  [mqtt.topic_len @2+2]
	//   Topic: a/+  [mqtt.topic @4+3]
	//   [Expert] offset 4: mqtt.topic: invalid topic name [MQTT-3.3.2-2]
}

func ExampleDissectAll() {
	b, _ := hex.DecodeString("101000044d5154540502003c00000364657" + "6" + "e000")
	for _, t := range codec.DissectAll(b, codec.V311) {
		fmt.Println(t.Version, t.Summary, len(t.Expert))
	}
	// Output:
	// 5.0 CONNECT v5.0 id="dev" keepalive=60 clean 0
	// 5.0 DISCONNECT 0
}
