package codec

import "strconv"

// Version is an MQTT protocol version, numbered as the protocol level byte
// of CONNECT: 4 for MQTT 3.1.1, 5 for MQTT 5.0.
type Version byte

// Protocol versions.
const (
	V311 Version = 4
	V5   Version = 5
)

// DefaultVersion is the version Lifeline speaks unless told otherwise: in
// the page, `lifeline trace` and `lifeline dissect -hex`. 3.1.1 is what
// devices mostly speak.
const DefaultVersion = V311

// String returns "3.1.1" or "5.0" ("3.1" for level 3, otherwise the level in
// decimal).
func (v Version) String() string {
	switch v {
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	case 3:
		return "3.1"
	}
	return "level " + strconv.Itoa(int(v))
}

// PacketType is the MQTT control packet type, the high nibble of the first
// byte of every packet.
type PacketType byte

// Control packet types [MQTT-2.1.2].
const (
	TypeConnect     PacketType = 1
	TypeConnack     PacketType = 2
	TypePublish     PacketType = 3
	TypePuback      PacketType = 4
	TypePubrec      PacketType = 5
	TypePubrel      PacketType = 6
	TypePubcomp     PacketType = 7
	TypeSubscribe   PacketType = 8
	TypeSuback      PacketType = 9
	TypeUnsubscribe PacketType = 10
	TypeUnsuback    PacketType = 11
	TypePingreq     PacketType = 12
	TypePingresp    PacketType = 13
	TypeDisconnect  PacketType = 14
	TypeAuth        PacketType = 15
)

var packetTypeNames = [16]string{
	"Reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the capitalised packet type name, e.g. "PUBACK".
func (t PacketType) String() string {
	if t < 16 {
		return packetTypeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// QoS is a quality of service level: 0, 1 or 2.
type QoS byte

// QoS levels.
const (
	QoS0 QoS = 0
	QoS1 QoS = 1
	QoS2 QoS = 2
)

var qosNames = [3]string{"At most once delivery", "At least once delivery", "Exactly once delivery"}

// String returns the spec's name of the level, e.g. "At least once delivery".
func (q QoS) String() string {
	if q < 3 {
		return qosNames[q]
	}
	return "Reserved QoS " + strconv.Itoa(int(q))
}

func itoa(i int) string { return strconv.Itoa(i) }
