package capture

import (
	"strconv"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// This file is the seam between stream reassembly and the MQTT codec: how a
// byte stream is cut into packets, how a packet is named and labelled, and
// what a CONNECT says about the connection.

// mqttPacketLen returns the length of the whole packet at the start of b, 0
// if b does not yet hold its fixed header.
func mqttPacketLen(b []byte, max int) (int, error) { return codec.PacketLen(b, max) }

// mqttKinds holds the trace kind of each packet type.
var mqttKinds = func() (k [16]string) {
	for i := range k {
		k[i] = trace.KindMQTT(codec.PacketType(i).String())
	}
	return k
}()

// mqttTypeName returns the packet's type name in capitals.
func mqttTypeName(b []byte) string { return codec.PacketType(b[0] >> 4).String() }

// plausibleHeader reports whether c could start an MQTT packet: a known
// type whose fixed flags are the ones the spec requires [MQTT-2.1.3-1]. It
// is what lets a stream that lost bytes find a packet boundary again.
func plausibleHeader(c byte) bool {
	t, f := codec.PacketType(c>>4), c&0x0f
	switch t {
	case 0:
		return false
	case codec.TypePublish: // any flags but QoS 3
		return f&0x06 != 0x06
	case codec.TypePubrel, codec.TypeSubscribe, codec.TypeUnsubscribe:
		return f == 2
	}
	return f == 0
}

// decodeMQTT decodes a packet of a connection whose version is v (0 when
// no CONNECT was seen: then 3.1.1, or 5.0 if only that reads). It returns
// the packet, the version it was read as, and the decoding error.
func decodeMQTT(pkt []byte, v int) (codec.Packet, int, error) {
	if codec.PacketType(pkt[0]>>4) == codec.TypeConnect {
		if lv, err := codec.PeekVersion(pkt); err == nil {
			v = int(lv)
		}
	}
	if v != 0 {
		p, err := codec.Decode(pkt, codec.Version(v))
		return p, v, err
	}
	p, err := codec.Decode(pkt, codec.V311)
	if err != nil {
		if p5, err5 := codec.Decode(pkt, codec.V5); err5 == nil {
			return p5, 5, nil
		}
	}
	return p, 0, err
}

// looksLikeConnect reports whether b starts like a CONNECT packet (fixed
// header and protocol name), needing at most 12 bytes to decide. more is
// true when b is too short to tell.
func looksLikeConnect(b []byte) (yes, more bool) {
	if len(b) == 0 {
		return false, true
	}
	if b[0] != 0x10 {
		return false, false
	}
	i := 1
	for ; i < len(b) && i <= 4 && b[i]&0x80 != 0; i++ {
	}
	i++
	for _, name := range []string{"\x00\x04MQTT", "\x00\x06MQIsdp"} {
		if len(b) < i+len(name) {
			if string(b[min(i, len(b)):]) == name[:len(b)-min(i, len(b))] {
				return false, true
			}
			continue
		}
		if string(b[i:i+len(name)]) == name {
			return true, false
		}
	}
	return false, false
}

type errBadHeader byte

func (e errBadHeader) Error() string {
	return "invalid fixed header byte 0x" + strconv.FormatUint(uint64(e), 16)
}
