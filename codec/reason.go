package codec

import "strconv"

// ReasonCode is an MQTT 5.0 reason code (section 2.4), or in MQTT 3.1.1 a
// CONNACK return code or a SUBACK return code.
type ReasonCode byte

// Reason codes of MQTT 5.0 [2.4].
const (
	ReasonSuccess                     ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	ReasonGrantedQoS1                 ReasonCode = 0x01
	ReasonGrantedQoS2                 ReasonCode = 0x02
	ReasonDisconnectWithWill          ReasonCode = 0x04
	ReasonNoMatchingSubscribers       ReasonCode = 0x10
	ReasonNoSubscriptionExisted       ReasonCode = 0x11
	ReasonContinueAuthentication      ReasonCode = 0x18
	ReasonReauthenticate              ReasonCode = 0x19
	ReasonUnspecifiedError            ReasonCode = 0x80
	ReasonMalformedPacket             ReasonCode = 0x81
	ReasonProtocolError               ReasonCode = 0x82
	ReasonImplementationSpecificError ReasonCode = 0x83
	ReasonUnsupportedProtocolVersion  ReasonCode = 0x84
	ReasonClientIdentifierNotValid    ReasonCode = 0x85
	ReasonBadUserNameOrPassword       ReasonCode = 0x86
	ReasonNotAuthorized               ReasonCode = 0x87
	ReasonServerUnavailable           ReasonCode = 0x88
	ReasonServerBusy                  ReasonCode = 0x89
	ReasonBanned                      ReasonCode = 0x8A
	ReasonServerShuttingDown          ReasonCode = 0x8B
	ReasonBadAuthenticationMethod     ReasonCode = 0x8C
	ReasonKeepAliveTimeout            ReasonCode = 0x8D
	ReasonSessionTakenOver            ReasonCode = 0x8E
	ReasonTopicFilterInvalid          ReasonCode = 0x8F
	ReasonTopicNameInvalid            ReasonCode = 0x90
	ReasonPacketIdentifierInUse       ReasonCode = 0x91
	ReasonPacketIdentifierNotFound    ReasonCode = 0x92
	ReasonReceiveMaximumExceeded      ReasonCode = 0x93
	ReasonTopicAliasInvalid           ReasonCode = 0x94
	ReasonPacketTooLarge              ReasonCode = 0x95
	ReasonMessageRateTooHigh          ReasonCode = 0x96
	ReasonQuotaExceeded               ReasonCode = 0x97
	ReasonAdministrativeAction        ReasonCode = 0x98
	ReasonPayloadFormatInvalid        ReasonCode = 0x99
	ReasonRetainNotSupported          ReasonCode = 0x9A
	ReasonQoSNotSupported             ReasonCode = 0x9B
	ReasonUseAnotherServer            ReasonCode = 0x9C
	ReasonServerMoved                 ReasonCode = 0x9D
	ReasonSharedSubsNotSupported      ReasonCode = 0x9E
	ReasonConnectionRateExceeded      ReasonCode = 0x9F
	ReasonMaximumConnectTime          ReasonCode = 0xA0
	ReasonSubIDsNotSupported          ReasonCode = 0xA1
	ReasonWildcardSubsNotSupported    ReasonCode = 0xA2
)

// reasonInfo is one row of the reason code table: the generic name and, as
// bits indexed by PacketType, the MQTT 5.0 packets it may appear in.
type reasonInfo struct {
	name    string
	packets uint16
}

const (
	inConnack    = 1 << TypeConnack
	inPuback     = 1 << TypePuback
	inPubrec     = 1 << TypePubrec
	inPubrel     = 1 << TypePubrel
	inPubcomp    = 1 << TypePubcomp
	inSuback     = 1 << TypeSuback
	inUnsuback   = 1 << TypeUnsuback
	inDisconnect = 1 << TypeDisconnect
	inAuth       = 1 << TypeAuth
	inPubAcks    = inPuback | inPubrec
	inMost       = inConnack | inPubAcks | inSuback | inUnsuback | inDisconnect
)

// reasons is the single table of MQTT 5.0 reason codes [2.4] with the
// packets each may appear in (the tables of 3.2.2.2, 3.4.2.1, 3.5.2.1,
// 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1 and 3.15.2.1).
var reasons = map[ReasonCode]reasonInfo{
	0x00: {"Success", inConnack | inPubAcks | inPubrel | inPubcomp | inSuback | inUnsuback | inDisconnect | inAuth},
	0x01: {"Granted QoS 1", inSuback},
	0x02: {"Granted QoS 2", inSuback},
	0x04: {"Disconnect with Will Message", inDisconnect},
	0x10: {"No matching subscribers", inPubAcks},
	0x11: {"No subscription existed", inUnsuback},
	0x18: {"Continue authentication", inAuth},
	0x19: {"Re-authenticate", inAuth},
	0x80: {"Unspecified error", inMost},
	0x81: {"Malformed Packet", inConnack | inDisconnect},
	0x82: {"Protocol Error", inConnack | inDisconnect},
	0x83: {"Implementation specific error", inMost},
	0x84: {"Unsupported Protocol Version", inConnack},
	0x85: {"Client Identifier not valid", inConnack},
	0x86: {"Bad User Name or Password", inConnack},
	0x87: {"Not authorized", inMost},
	0x88: {"Server unavailable", inConnack},
	0x89: {"Server busy", inConnack | inDisconnect},
	0x8A: {"Banned", inConnack},
	0x8B: {"Server shutting down", inDisconnect},
	0x8C: {"Bad authentication method", inConnack | inDisconnect},
	0x8D: {"Keep Alive timeout", inDisconnect},
	0x8E: {"Session taken over", inDisconnect},
	0x8F: {"Topic Filter invalid", inSuback | inUnsuback | inDisconnect},
	0x90: {"Topic Name invalid", inConnack | inPubAcks | inDisconnect},
	0x91: {"Packet Identifier in use", inPubAcks | inSuback | inUnsuback},
	0x92: {"Packet Identifier not found", inPubrel | inPubcomp},
	0x93: {"Receive Maximum exceeded", inDisconnect},
	0x94: {"Topic Alias invalid", inDisconnect},
	0x95: {"Packet too large", inConnack | inDisconnect},
	0x96: {"Message rate too high", inDisconnect},
	0x97: {"Quota exceeded", inConnack | inPubAcks | inSuback | inDisconnect},
	0x98: {"Administrative action", inDisconnect},
	0x99: {"Payload format invalid", inConnack | inPubAcks | inDisconnect},
	0x9A: {"Retain not supported", inConnack | inDisconnect},
	0x9B: {"QoS not supported", inConnack | inDisconnect},
	0x9C: {"Use another server", inConnack | inDisconnect},
	0x9D: {"Server moved", inConnack | inDisconnect},
	0x9E: {"Shared Subscriptions not supported", inSuback | inDisconnect},
	0x9F: {"Connection rate exceeded", inConnack | inDisconnect},
	0xA0: {"Maximum connect time", inDisconnect},
	0xA1: {"Subscription Identifiers not supported", inSuback | inDisconnect},
	0xA2: {"Wildcard Subscriptions not supported", inSuback | inDisconnect},
}

// v311ConnackNames are the MQTT 3.1.1 CONNACK return codes [3.2.2.3].
var v311ConnackNames = [6]string{
	"Connection Accepted",
	"Connection Refused: unacceptable protocol version",
	"Connection Refused: identifier rejected",
	"Connection Refused: server unavailable",
	"Connection Refused: bad user name or password",
	"Connection Refused: not authorized",
}

// String returns the generic MQTT 5.0 name of the code, e.g. "Packet too
// large"; see Name for the name a given packet uses.
func (r ReasonCode) String() string {
	if ri, ok := reasons[r]; ok {
		return ri.name
	}
	return "Unknown reason code 0x" + hex2(byte(r))
}

// Name returns the code's name as used in packet type t and version v: e.g.
// 0x00 is "Normal disconnection" in DISCONNECT, "Granted QoS 0" in SUBACK and
// 0x80 is "Failure" in a 3.1.1 SUBACK.
func (r ReasonCode) Name(t PacketType, v Version) string {
	if v != V5 {
		switch t {
		case TypeConnack:
			if int(r) < len(v311ConnackNames) {
				return v311ConnackNames[r]
			}
			return "Reserved return code 0x" + hex2(byte(r))
		case TypeSuback:
			if r <= 2 {
				return "Success - Maximum QoS " + strconv.Itoa(int(r))
			}
			if r == 0x80 {
				return "Failure"
			}
		}
	}
	if r == 0 {
		switch t {
		case TypeDisconnect:
			return "Normal disconnection"
		case TypeSuback:
			return "Granted QoS 0"
		}
	}
	return r.String()
}

// ValidIn reports whether reason code r may appear in an MQTT 5.0 packet of
// type t.
func (r ReasonCode) ValidIn(t PacketType) bool {
	ri, ok := reasons[r]
	return ok && ri.packets&(1<<t) != 0
}

const hexDigits = "0123456789abcdef"

func hex2(b byte) string { return string([]byte{hexDigits[b>>4], hexDigits[b&15]}) }
