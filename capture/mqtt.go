package capture

import (
	"errors"
	"strconv"
)

// This file is the seam between stream reassembly and the MQTT codec: how a
// byte stream is cut into packets, how a packet is named, and what a
// CONNECT says about the connection.

var errMQTTLength = errors.New("malformed remaining length")

var typeNames = [16]string{
	"Reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// mqttPacketLen returns the length of the whole packet at the start of b, 0
// if b does not yet hold its fixed header.
func mqttPacketLen(b []byte, max int) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	rem, mult := 0, 1
	for i := 1; i <= 4; i++ {
		if i >= len(b) {
			return 0, nil
		}
		c := b[i]
		rem += int(c&0x7f) * mult
		if c&0x80 == 0 {
			if c == 0 && i > 1 {
				return 0, errMQTTLength
			}
			n := 1 + i + rem
			if n > max {
				return 0, errors.New("packet of " + strconv.Itoa(n) + " bytes exceeds the limit of " + strconv.Itoa(max))
			}
			return n, nil
		}
		mult <<= 7
	}
	return 0, errMQTTLength
}

// mqttTypeName returns the packet's type name in capitals.
func mqttTypeName(b []byte) string { return typeNames[b[0]>>4] }

// plausibleHeader reports whether b[0] could start an MQTT packet: a known
// type whose fixed flags are the ones the spec requires [MQTT-2.1.3-1].
func plausibleHeader(c byte) bool {
	t, f := c>>4, c&0x0f
	switch t {
	case 0:
		return false
	case 3: // PUBLISH: any flags but QoS 3
		return f&0x06 != 0x06
	case 6, 8, 10: // PUBREL, SUBSCRIBE, UNSUBSCRIBE
		return f == 2
	}
	return f == 0
}

// connectInfo reads the protocol level and client id of a CONNECT packet. ok
// is false when pkt is not a well-formed CONNECT as far as those fields go.
func connectInfo(pkt []byte) (level int, clientID string, ok bool) {
	if len(pkt) < 2 || pkt[0] != 0x10 {
		return 0, "", false
	}
	i := 1
	for i < len(pkt) && pkt[i]&0x80 != 0 {
		i++
	}
	i++ // end of remaining length
	name, i, ok := readString(pkt, i)
	if !ok || (name != "MQTT" && name != "MQIsdp") || i+4 > len(pkt) {
		return 0, "", false
	}
	level = int(pkt[i])
	i += 4 // level, flags, keep alive
	if level == 5 {
		plen, w, ok := readVarint(pkt, i)
		if !ok {
			return level, "", false
		}
		i += w + plen
	}
	clientID, _, ok = readString(pkt, i)
	return level, clientID, ok
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

func readString(b []byte, i int) (string, int, bool) {
	if i+2 > len(b) {
		return "", i, false
	}
	n := int(b[i])<<8 | int(b[i+1])
	if i+2+n > len(b) {
		return "", i, false
	}
	return string(b[i+2 : i+2+n]), i + 2 + n, true
}

func readVarint(b []byte, i int) (v, width int, ok bool) {
	mult := 1
	for k := 0; k < 4 && i+k < len(b); k++ {
		v += int(b[i+k]&0x7f) * mult
		if b[i+k]&0x80 == 0 {
			return v, k + 1, true
		}
		mult <<= 7
	}
	return 0, 0, false
}

// mqttSummary is the one-line label of a packet's arrow.
func mqttSummary(pkt []byte, version int) string {
	return mqttTypeName(pkt)
}
