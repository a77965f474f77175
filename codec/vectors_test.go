package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// vector is one named wire example. Good vectors (err == nil) must decode
// to pkt and pkt must encode to exactly the same bytes, or to enc when set
// (a legal form we read but do not write), which decodes to pkt too; bad
// vectors must fail with err, at offset off, citing clause.
type vector struct {
	name   string
	v      Version
	hex    string
	enc    string
	pkt    Packet
	err    error
	off    int
	clause string
}

func props(f func(p *Properties)) Properties {
	var p Properties
	f(&p)
	return p
}

var vectors = []vector{
	// MQTT 3.1.1, every packet type.
	{name: "v311 CONNECT minimal", v: V311, hex: "100c00044d51545404020" + "03c0000",
		pkt: &Connect{Version: V311, CleanStart: true, KeepAlive: 60}},
	{name: "v311 CONNECT will user password", v: V311, hex: "101a00044d51545404ee000a0002633100017700017800017500017" + "0",
		pkt: &Connect{Version: V311, CleanStart: true, KeepAlive: 10, ClientID: "c1", WillFlag: true, WillQoS: 1, WillRetain: true,
			WillTopic: "w", WillPayload: []byte("x"), UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}},
	{name: "v311 CONNACK session present", v: V311, hex: "20020100", pkt: &Connack{SessionPresent: true}},
	{name: "v311 CONNACK not authorized", v: V311, hex: "20020005", pkt: &Connack{ReasonCode: 5}},
	{name: "v311 PUBLISH qos0", v: V311, hex: "300700036" + "12f626869", pkt: &Publish{Topic: "a/b", Payload: []byte("hi")}},
	{name: "v311 PUBLISH qos2 dup retain empty payload", v: V311, hex: "3d050001741234",
		pkt: &Publish{Dup: true, QoS: 2, Retain: true, Topic: "t", PacketID: 0x1234}},
	{name: "v311 PUBLISH MQTT-1.5.4-3 BOM kept", v: V311, hex: "30060003efbbbf78", pkt: &Publish{Topic: "\ufeff", Payload: []byte("x")}},
	{name: "v311 PUBLISH two byte remaining length", v: V311, hex: "308101000161" + strings.Repeat("78", 126),
		pkt: &Publish{Topic: "a", Payload: bytes.Repeat([]byte("x"), 126)}},
	{name: "v311 PUBACK", v: V311, hex: "40020007", pkt: &Puback{PacketID: 7}},
	{name: "v311 PUBREC", v: V311, hex: "50020007", pkt: &Pubrec{PacketID: 7}},
	{name: "v311 PUBREL", v: V311, hex: "62020007", pkt: &Pubrel{PacketID: 7}},
	{name: "v311 PUBCOMP", v: V311, hex: "70020007", pkt: &Pubcomp{PacketID: 7}},
	{name: "v311 SUBSCRIBE three filters", v: V311, hex: "8212000a0003612f2b000003622f2301000163" + "02",
		pkt: &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/+"}, {Filter: "b/#", QoS: 1}, {Filter: "c", QoS: 2}}}},
	{name: "v311 SUBACK", v: V311, hex: "9005000a000180", pkt: &Suback{PacketID: 10, ReasonCodes: []ReasonCode{0, 1, 0x80}}},
	{name: "v311 UNSUBSCRIBE", v: V311, hex: "a20a000b0003612f2b000163", pkt: &Unsubscribe{PacketID: 11, Filters: []string{"a/+", "c"}}},
	{name: "v311 UNSUBACK", v: V311, hex: "b002000b", pkt: &Unsuback{PacketID: 11}},
	{name: "v311 PINGREQ", v: V311, hex: "c000", pkt: &Pingreq{}},
	{name: "v311 PINGRESP", v: V311, hex: "d000", pkt: &Pingresp{}},
	{name: "v311 DISCONNECT", v: V311, hex: "e000", pkt: &Disconnect{}},

	// MQTT 5.0, every packet type.
	{name: "v5 CONNECT properties", v: V5, hex: "101d00044d51545405020" + "03c0f1100000e102100142600016b000176000163",
		pkt: &Connect{Version: V5, CleanStart: true, KeepAlive: 60, ClientID: "c",
			Properties: props(func(p *Properties) {
				p.SessionExpiry, p.ReceiveMaximum = 3600, 20
				p.Set(PropSessionExpiry).Set(PropReceiveMaximum)
				p.User = []UserProperty{{"k", "v"}}
			})}},
	{name: "v5 CONNECT will properties", v: V5, hex: "101f00044d5154540506003c0000000b010103000174180000000a000177000178",
		pkt: &Connect{Version: V5, CleanStart: true, KeepAlive: 60, WillFlag: true, WillTopic: "w", WillPayload: []byte("x"),
			WillProperties: props(func(p *Properties) {
				p.PayloadFormat, p.ContentType, p.WillDelay = 1, "t", 10
				p.Set(PropPayloadFormat).Set(PropContentType).Set(PropWillDelay)
			})}},
	{name: "v5 CONNACK properties", v: V5, hex: "200d00000a120002616222000a2401",
		pkt: &Connack{Properties: props(func(p *Properties) {
			p.AssignedClientID, p.TopicAliasMaximum, p.MaximumQoS = "ab", 10, 1
			p.Set(PropAssignedClientID).Set(PropTopicAliasMaximum).Set(PropMaximumQoS)
		})}},
	{name: "v5 CONNACK not authorized", v: V5, hex: "2003008700", pkt: &Connack{ReasonCode: ReasonNotAuthorized}},
	{name: "v5 PUBLISH properties in reverse order", v: V5, hex: "3219000161000112" + "260001780001790b8001230005020000003c" + "7a",
		enc: "32190001610001120200" + "00003c2300050b8001260001780001797a",
		pkt: &Publish{QoS: 1, Topic: "a", PacketID: 1, Payload: []byte("z"), Properties: props(func(p *Properties) {
			p.MessageExpiry, p.TopicAlias = 60, 5
			p.Set(PropMessageExpiry).Set(PropTopicAlias)
			p.SubscriptionIdentifiers = []int{128}
			p.User = []UserProperty{{"x", "y"}}
		})}},
	{name: "v5 CONNACK properties interleaved with user properties", v: V5, hex: "2017" + "0000" + "14" + "260001610001622200" + "0a" + "2600016300016421" + "0010",
		enc: "2017" + "0000" + "14" + "2100102200" + "0a" + "26000161000162" + "26000163000164",
		pkt: &Connack{Properties: props(func(p *Properties) {
			p.TopicAliasMaximum, p.ReceiveMaximum = 10, 16
			p.Set(PropTopicAliasMaximum).Set(PropReceiveMaximum)
			p.User = []UserProperty{{"a", "b"}, {"c", "d"}}
		})}},
	{name: "v5 PUBLISH qos1 properties", v: V5, hex: "32190001610001120200" + "00003c2300050b8001260001780001797a",
		pkt: &Publish{QoS: 1, Topic: "a", PacketID: 1, Payload: []byte("z"), Properties: props(func(p *Properties) {
			p.MessageExpiry, p.TopicAlias = 60, 5
			p.Set(PropMessageExpiry).Set(PropTopicAlias)
			p.SubscriptionIdentifiers = []int{128}
			p.User = []UserProperty{{"x", "y"}}
		})}},
	{name: "v5 PUBLISH MQTT-3.3.2-1 empty topic with alias", v: V5, hex: "30070000032300037" + "0",
		pkt: &Publish{Payload: []byte("p"), Properties: props(func(p *Properties) { p.TopicAlias = 3; p.Set(PropTopicAlias) })}},
	{name: "v5 PUBACK short form", v: V5, hex: "40020001", pkt: &Puback{PacketID: 1}},
	{name: "v5 PUBACK reason code", v: V5, hex: "4003000110", pkt: &Puback{PacketID: 1, ReasonCode: ReasonNoMatchingSubscribers}},
	{name: "v5 PUBREC reason string", v: V5, hex: "500900028" + "0051f00026f6b",
		pkt: &Pubrec{PacketID: 2, ReasonCode: ReasonUnspecifiedError, Properties: props(func(p *Properties) { p.ReasonString = "ok"; p.Set(PropReasonString) })}},
	{name: "v5 PUBREL not found", v: V5, hex: "6203000392", pkt: &Pubrel{PacketID: 3, ReasonCode: ReasonPacketIdentifierNotFound}},
	{name: "v5 PUBCOMP", v: V5, hex: "70020004", pkt: &Pubcomp{PacketID: 4}},
	{name: "v5 SUBSCRIBE options", v: V5, hex: "820b0001020b050003612f231e",
		pkt: &Subscribe{PacketID: 1, Properties: props(func(p *Properties) { p.SubscriptionIdentifiers = []int{5} }),
			Subscriptions: []Subscription{{Filter: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1}}}},
	{name: "v5 SUBACK", v: V5, hex: "9006000100028fa2", pkt: &Suback{PacketID: 1, ReasonCodes: []ReasonCode{2, 0x8f, 0xa2}}},
	{name: "v5 UNSUBSCRIBE", v: V5, hex: "a20600020000016" + "1", pkt: &Unsubscribe{PacketID: 2, Filters: []string{"a"}}},
	{name: "v5 UNSUBACK", v: V5, hex: "b00500020000" + "11", pkt: &Unsuback{PacketID: 2, ReasonCodes: []ReasonCode{0, 0x11}}},
	{name: "v5 PINGREQ", v: V5, hex: "c000", pkt: &Pingreq{}},
	{name: "v5 PINGRESP", v: V5, hex: "d000", pkt: &Pingresp{}},
	{name: "v5 DISCONNECT short form", v: V5, hex: "e000", pkt: &Disconnect{}},
	{name: "v5 DISCONNECT with will", v: V5, hex: "e0020400", pkt: &Disconnect{ReasonCode: ReasonDisconnectWithWill}},
	{name: "v5 DISCONNECT 3.14.2.2.1 reason code without property length", v: V5, hex: "e00104", enc: "e0020400",
		pkt: &Disconnect{ReasonCode: ReasonDisconnectWithWill}},
	{name: "v5 DISCONNECT server shutting down", v: V5, hex: "e0028b00", pkt: &Disconnect{ReasonCode: ReasonServerShuttingDown}},
	{name: "v5 DISCONNECT session expiry", v: V5, hex: "e007000511" + "00000000",
		pkt: &Disconnect{Properties: props(func(p *Properties) { p.Set(PropSessionExpiry) })}},
	{name: "v5 AUTH short form", v: V5, hex: "f000", pkt: &Auth{}},
	// The long forms of the acks, DISCONNECT and AUTH: a Reason Code 0, or
	// a Property Length 0, spelled out where it may be left out
	// [3.4.2.1] [3.14.2.1] [3.15.2.1]. Decoded, each re-encodes to its own
	// bytes; built by hand (pkt), to the short form (enc).
	{name: "v5 PUBACK reason code 0 spelled out", v: V5, hex: "4003000100", enc: "40020001", pkt: &Puback{PacketID: 1}},
	{name: "v5 PUBACK property length 0 spelled out", v: V5, hex: "400400010000", enc: "40020001", pkt: &Puback{PacketID: 1}},
	{name: "v5 PUBACK reason code with property length 0", v: V5, hex: "400400011000", enc: "4003000110",
		pkt: &Puback{PacketID: 1, ReasonCode: ReasonNoMatchingSubscribers}},
	{name: "v5 PUBREC reason code 0 spelled out", v: V5, hex: "5003000200", enc: "50020002", pkt: &Pubrec{PacketID: 2}},
	{name: "v5 PUBREC property length 0 spelled out", v: V5, hex: "500400020000", enc: "50020002", pkt: &Pubrec{PacketID: 2}},
	{name: "v5 PUBREL reason code 0 spelled out", v: V5, hex: "6203000300", enc: "62020003", pkt: &Pubrel{PacketID: 3}},
	{name: "v5 PUBREL property length 0 spelled out", v: V5, hex: "620400030000", enc: "62020003", pkt: &Pubrel{PacketID: 3}},
	{name: "v5 PUBREL not found with property length 0", v: V5, hex: "620400039200", enc: "6203000392",
		pkt: &Pubrel{PacketID: 3, ReasonCode: ReasonPacketIdentifierNotFound}},
	{name: "v5 PUBCOMP reason code 0 spelled out", v: V5, hex: "7003000400", enc: "70020004", pkt: &Pubcomp{PacketID: 4}},
	{name: "v5 PUBCOMP property length 0 spelled out", v: V5, hex: "700400040000", enc: "70020004", pkt: &Pubcomp{PacketID: 4}},
	{name: "v5 DISCONNECT reason code 0 spelled out", v: V5, hex: "e00100", enc: "e000", pkt: &Disconnect{}},
	{name: "v5 DISCONNECT property length 0 spelled out", v: V5, hex: "e0020000", enc: "e000", pkt: &Disconnect{}},
	{name: "v5 AUTH reason code 0 spelled out", v: V5, hex: "f00100", enc: "f000", pkt: &Auth{}},
	{name: "v5 AUTH property length 0 spelled out", v: V5, hex: "f0020000", enc: "f000", pkt: &Auth{}},
	{name: "v5 AUTH re-authenticate without property length", v: V5, hex: "f00119", enc: "f0021900",
		pkt: &Auth{ReasonCode: ReasonReauthenticate}},
	{name: "v5 AUTH continue", v: V5, hex: "f00e180c1500045343524d1600020102",
		pkt: &Auth{ReasonCode: ReasonContinueAuthentication, Properties: props(func(p *Properties) {
			p.AuthMethod, p.AuthData = "SCRM", []byte{1, 2}
			p.Set(PropAuthMethod).Set(PropAuthData)
		})}},

	// Bad inputs, each named after the clause it breaks.
	{name: "MQTT-1.5.5-1 five byte remaining length", v: V311, hex: "30ffffffff01", err: ErrVarint, off: 1, clause: "MQTT-1.5.5-1"},
	{name: "MQTT-1.5.5-1 non-minimal remaining length", v: V311, hex: "c08000", err: ErrVarint, off: 1, clause: "MQTT-1.5.5-1"},
	{name: "MQTT-1.5.5-1 non-minimal property length", v: V5, hex: "3006000161800000", err: ErrVarint, off: 5, clause: "MQTT-1.5.5-1"},
	{name: "MQTT-2.2.2-1 PUBACK flags", v: V311, hex: "41020001", err: ErrReservedFlags, off: 0, clause: "MQTT-2.2.2-1"},
	{name: "MQTT-2.2.2-1 SUBSCRIBE flags", v: V311, hex: "80060001000161" + "00", err: ErrReservedFlags, off: 0, clause: "MQTT-2.2.2-1"},
	{name: "MQTT-2.1.3-1 PUBREL flags v5", v: V5, hex: "60020001", err: ErrReservedFlags, off: 0, clause: "MQTT-2.1.3-1"},
	{name: "MQTT-3.3.1-4 QoS 3", v: V311, hex: "360500017400" + "01", err: ErrInvalidQoS, off: 0, clause: "MQTT-3.3.1-4"},
	{name: "MQTT-3.3.1-2 DUP on QoS 0", v: V311, hex: "3803000174", err: ErrProtocol, off: 0, clause: "MQTT-3.3.1-2"},
	{name: "MQTT-2.3.1-1 PUBLISH packet id 0", v: V311, hex: "32050001740000", err: ErrZeroPacketID, off: 5, clause: "MQTT-2.3.1-1"},
	{name: "MQTT-2.3.1-1 SUBSCRIBE packet id 0", v: V311, hex: "82060000000161" + "00", err: ErrZeroPacketID, off: 2, clause: "MQTT-2.3.1-1"},
	{name: "MQTT-2.2.1-3 PUBACK packet id 0 v5", v: V5, hex: "40020000", err: ErrZeroPacketID, off: 2, clause: "MQTT-2.2.1-3"},
	{name: "MQTT-3.3.2-2 plus in topic name", v: V311, hex: "30050003612f2b", err: ErrTopicName, off: 4, clause: "MQTT-3.3.2-2"},
	{name: "MQTT-3.3.2-2 hash in topic name", v: V5, hex: "3004000123" + "00", err: ErrTopicName, off: 4, clause: "MQTT-3.3.2-2"},
	{name: "MQTT-4.7.3-1 empty topic name", v: V311, hex: "3002000" + "0", err: ErrTopicName, off: 2, clause: "MQTT-4.7.3-1"},
	{name: "MQTT-3.3.2-1 empty topic without alias v5", v: V5, hex: "300300000" + "0", err: ErrTopicName, off: 2, clause: "MQTT-3.3.2-1"},
	{name: "MQTT-4.7.1-2 hash not last", v: V311, hex: "82080001000323" + "2f6100", err: ErrTopicFilter, off: 6, clause: "MQTT-4.7.1-2"},
	{name: "MQTT-4.7.1-2 hash inside level", v: V311, hex: "820700010002612300", err: ErrTopicFilter, off: 6, clause: "MQTT-4.7.1-2"},
	{name: "MQTT-4.7.1-3 plus inside level", v: V311, hex: "82080001000361" + "2b2f00", err: ErrTopicFilter, off: 6, clause: "MQTT-4.7.1-3"},
	{name: "MQTT-4.7.3-1 empty topic filter", v: V311, hex: "a2040001000" + "0", err: ErrTopicFilter, off: 6, clause: "MQTT-4.7.3-1"},
	{name: "MQTT-4.8.2-2 wildcard in share name", v: V5, hex: "82100001" + "00000a" + "247368617265" + "2f2b2f6100", err: ErrTopicFilter, off: 7, clause: "MQTT-4.8.2-2"},
	{name: "MQTT-1.5.4-1 surrogate in topic", v: V311, hex: "30050003eda080", err: ErrInvalidUTF8, off: 4, clause: "MQTT-1.5.4-1"},
	{name: "MQTT-1.5.4-1 overlong in client id", v: V311, hex: "100e00044d5154540402003c0002c080", err: ErrInvalidUTF8, off: 14, clause: "MQTT-1.5.4-1"},
	{name: "MQTT-1.5.4-2 U+0000 in topic", v: V311, hex: "30050003610062", err: ErrInvalidUTF8, off: 4, clause: "MQTT-1.5.4-2"},
	{name: "MQTT-1.5.4-2 U+0000 after non-ASCII", v: V311, hex: "30060004c3a90062", err: ErrInvalidUTF8, off: 4, clause: "MQTT-1.5.4-2"},
	{name: "2.2.2.2 duplicate topic alias", v: V5, hex: "300a0001610623000123000" + "2", err: ErrDuplicateProp, off: 9, clause: "2.2.2.2"},
	{name: "2.2.2.2 session expiry in PUBLISH", v: V5, hex: "3009000161051100000001", err: ErrBadProperty, off: 6, clause: "2.2.2.2"},
	{name: "2.2.2.2 will delay in CONNECT properties", v: V5, hex: "101200044d5154540502003c05180000000a000" + "0", err: ErrBadProperty, off: 13, clause: "2.2.2.2"},
	{name: "2.2.2.2 unknown property", v: V5, hex: "3006000161020500", err: ErrBadProperty, off: 6, clause: "2.2.2.2"},
	{name: "2.2.2.2 two subscription ids in SUBSCRIBE", v: V5, hex: "820b0001040b010b02000161" + "00", err: ErrDuplicateProp, off: 7, clause: "2.2.2.2"},
	{name: "3.1.2.11.7 request problem information 2", v: V5, hex: "100f00044d5154540502003c0217020000", err: ErrProtocol, off: 14, clause: "3.1.2.11.7"},
	{name: "MQTT-3.3.2-8 topic alias 0", v: V5, hex: "300700016103230000", err: ErrProtocol, off: 7, clause: "MQTT-3.3.2-8"},
	{name: "2.1.4 trailing bytes after PUBACK fields", v: V311, hex: "4003000100", err: ErrTrailing, off: 4, clause: "MQTT-2.1.4"},
	{name: "2.1.4 trailing bytes after PINGREQ", v: V311, hex: "c00100", err: ErrTrailing, off: 2, clause: "MQTT-2.1.4"},
	{name: "2.1.4 bytes after the packet", v: V311, hex: "40020001ff", err: ErrTrailing, off: 4, clause: "2.1.4"},
	{name: "2.1.4 packet shorter than remaining length", v: V311, hex: "400200", err: ErrShort, off: 1, clause: "2.1.4"},
	{name: "3.9.3 SUBACK without codes", v: V311, hex: "90020001", err: ErrReasonCount, off: 4, clause: "MQTT-3.8.4-5"},
	{name: "3.9.3 UNSUBACK v5 without codes", v: V5, hex: "b003000100", err: ErrReasonCount, off: 5, clause: "3.9.3"},
	{name: "MQTT-3.9.3-2 SUBACK return code 3", v: V311, hex: "9003000103", err: ErrReasonCode, off: 4, clause: "MQTT-3.9.3-2"},
	{name: "2.4 PUBACK reason code not for PUBACK", v: V5, hex: "4003000102", err: ErrReasonCode, off: 4, clause: "2.4"},
	{name: "MQTT-3.1.2-3 CONNECT reserved flag", v: V311, hex: "100c00044d51545404030" + "03c0000", err: ErrReservedFlags, off: 9, clause: "MQTT-3.1.2-3"},
	{name: "MQTT-3.1.2-1 protocol name", v: V311, hex: "100c00044d51545804020" + "03c0000", err: ErrProtocolName, off: 4, clause: "MQTT-3.1.2-1"},
	{name: "MQTT-3.1.2-2 protocol level 6", v: V311, hex: "100c00044d51545406020" + "03c0000", err: ErrUnsupportedVer, off: 8, clause: "MQTT-3.1.2-2"},
	{name: "MQTT-3.1.2-13 will QoS without will flag", v: V311, hex: "100c00044d515454040a0" + "03c0000", err: ErrReservedFlags, off: 9, clause: "MQTT-3.1.2-13"},
	{name: "MQTT-3.1.2-14 will QoS 3", v: V311, hex: "100c00044d515454041e0" + "03c0000", err: ErrInvalidQoS, off: 9, clause: "MQTT-3.1.2-14"},
	{name: "MQTT-3.1.2-22 password without user name", v: V311, hex: "100c00044d51545404420" + "03c0000", err: ErrProtocol, off: 9, clause: "MQTT-3.1.2-22"},
	{name: "MQTT-3.2.2-1 CONNACK reserved flags", v: V311, hex: "20020200", err: ErrReservedFlags, off: 2, clause: "MQTT-3.2.2-1"},
	{name: "MQTT-3.8.3-3 SUBSCRIBE without filters", v: V311, hex: "82020001", err: ErrEmptyPayload, off: 4, clause: "MQTT-3.8.3-3"},
	{name: "MQTT-3-8.3-4 requested QoS reserved bits", v: V311, hex: "8206000100016" + "104", err: ErrReservedFlags, off: 7, clause: "MQTT-3-8.3-4"},
	{name: "MQTT-3.8.3-5 subscription options reserved bits", v: V5, hex: "820700010000016" + "140", err: ErrReservedFlags, off: 8, clause: "MQTT-3.8.3-5"},
	{name: "MQTT-3.10.3-2 UNSUBSCRIBE without filters", v: V311, hex: "a2020001", err: ErrEmptyPayload, off: 4, clause: "MQTT-3.10.3-2"},
	{name: "2.2.1 AUTH in 3.1.1", v: V311, hex: "f000", err: ErrInvalidType, off: 0, clause: "2.2.1"},
	{name: "2.1.2 reserved type 0", v: V5, hex: "0000", err: ErrInvalidType, off: 0, clause: "2.1.2"},
	{name: "MQTT-1.5.4 string longer than packet", v: V311, hex: "300400056162", err: ErrShort, off: 2, clause: "MQTT-1.5.4"},
}

func vectorBytes(t testing.TB, vec vector) []byte {
	t.Helper()
	b, err := hex.DecodeString(vec.hex)
	if err != nil {
		t.Fatalf("%s: bad hex: %v", vec.name, err)
	}
	return b
}

func TestVectors(t *testing.T) {
	for _, vec := range vectors {
		t.Run(vec.name, func(t *testing.T) {
			b := vectorBytes(t, vec)
			got, err := Decode(b, vec.v)
			if vec.err != nil {
				var de *DecodeError
				if !errors.Is(err, vec.err) || !errors.As(err, &de) {
					t.Fatalf("Decode error = %v, want %v", err, vec.err)
				}
				if de.Offset != vec.off || de.Clause != vec.clause {
					t.Fatalf("Decode error at offset %d clause %q, want offset %d clause %q (%v)", de.Offset, de.Clause, vec.off, vec.clause, err)
				}
				tree := Dissect(b, vec.v)
				found := false
				for _, e := range tree.Expert {
					found = found || e.Clause == vec.clause
				}
				if !found {
					t.Fatalf("Dissect expert notes %+v, want clause %q", tree.Expert, vec.clause)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(vec.pkt)) {
				t.Fatalf("Decode =\n %+v\nwant\n %+v", got, vec.pkt)
			}
			// The decoded packet re-encodes to the very bytes it came from:
			// properties keep the order they arrived in, an ack's optional
			// fields are written as they came; in MQTT 5.0 always.
			if back, err := AppendPacket(nil, got, vec.v); err != nil || ((vec.v == V5 || len(back) == len(b)) && !bytes.Equal(back, b)) {
				t.Fatalf("decoded packet re-encodes to\n %x (%v)\nwant\n %x", back, err, b)
			}
			out, err := AppendPacket([]byte{0xAA}, vec.pkt, vec.v)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			want := b
			if vec.enc != "" {
				if want, err = hex.DecodeString(vec.enc); err != nil {
					t.Fatalf("bad enc hex: %v", err)
				}
				again, err := Decode(want, vec.v)
				if err != nil || !reflect.DeepEqual(normalize(again), normalize(vec.pkt)) {
					t.Fatalf("Decode(enc) = %+v, %v; want %+v", again, err, vec.pkt)
				}
			}
			if !bytes.Equal(out[1:], want) || out[0] != 0xAA {
				t.Fatalf("Append =\n %x\nwant\n %x", out[1:], want)
			}
			tree := Dissect(b, vec.v)
			if len(tree.Expert) != 0 || tree.Summary == "" {
				t.Fatalf("Dissect: %+v", tree)
			}
			checkSpans(t, tree.Fields, len(b))
		})
	}
}

// checkSpans checks that every field lies within the packet.
func checkSpans(t *testing.T, fs []Field, n int) {
	t.Helper()
	for _, f := range fs {
		if f.Offset < 0 || f.Length < 0 || f.Offset+f.Length > n || f.Name == "" || f.Label == "" {
			t.Fatalf("bad field %+v in a %d-byte packet", f, n)
		}
		checkSpans(t, f.Children, n)
	}
}

// normalize makes nil and empty slices compare equal.
func normalize(p Packet) Packet {
	v := reflect.New(reflect.TypeOf(p).Elem())
	v.Elem().Set(reflect.ValueOf(p).Elem())
	normValue(v.Elem())
	return v.Interface().(Packet)
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if p, ok := v.Addr().Interface().(*Properties); ok {
			p.order, p.tail = nil, 0 // how it was written, compared by the round trip
		}
		for i := 0; i < v.NumField(); i++ {
			if !v.Field(i).CanSet() {
				continue
			}
			normValue(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			normValue(v.Index(i))
		}
	}
}

func TestAckCounts(t *testing.T) {
	sub := &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}, {Filter: "b"}}}
	if err := (&Suback{PacketID: 1, ReasonCodes: []ReasonCode{0}}).Check(sub, V311); !errors.Is(err, ErrReasonCount) {
		t.Fatalf("MQTT-3.8.4-5: %v", err)
	}
	if err := (&Suback{PacketID: 1, ReasonCodes: []ReasonCode{0, 1}}).Check(sub, V311); err != nil {
		t.Fatal(err)
	}
	uns := &Unsubscribe{PacketID: 2, Filters: []string{"a"}}
	if err := (&Unsuback{PacketID: 2}).Check(uns, V5); !errors.Is(err, ErrReasonCount) {
		t.Fatalf("MQTT-3.10.4-5: %v", err)
	}
}

func TestAppendRejects(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		v    Version
		err  error
	}{
		{"MQTT-3.3.1-4 QoS 3", &Publish{QoS: 3, Topic: "a", PacketID: 1}, V311, ErrInvalidQoS},
		{"MQTT-2.3.1-1 PUBLISH id 0", &Publish{QoS: 1, Topic: "a"}, V311, ErrZeroPacketID},
		{"MQTT-3.3.2-2 wildcard topic", &Publish{Topic: "a/#"}, V5, ErrTopicName},
		{"MQTT-4.7.1-2 bad filter", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a#"}}}, V311, ErrTopicFilter},
		{"2.2.2.2 misplaced property", &Publish{Topic: "a", Properties: props(func(p *Properties) { p.Set(PropSessionExpiry) })}, V5, ErrBadProperty},
		{"2.4 reason code for another packet", &Puback{PacketID: 1, ReasonCode: ReasonGrantedQoS1}, V5, ErrReasonCode},
		{"AUTH in 3.1.1", &Auth{}, V311, ErrUnsupportedVer},
		{"version 3", &Pingreq{}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AppendPacket(nil, tt.p, tt.v)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestReasonForError(t *testing.T) {
	tests := []struct {
		hex  string
		v    Version
		want ReasonCode
	}{
		{"41020001", V5, ReasonMalformedPacket},
		{"3803000174", V5, ReasonProtocolError},
		{"100c00044d51545406020" + "03c0000", V5, ReasonUnsupportedProtocolVersion},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		_, err := Decode(b, tt.v)
		if got := ReasonForError(err); got != tt.want {
			t.Errorf("%s: ReasonForError(%v) = %v, want %v", tt.hex, err, got, tt.want)
		}
	}
	_, err := PacketLen([]byte{0x30, 0xff, 0x7f}, 100)
	if got := ReasonForError(err); got != ReasonPacketTooLarge {
		t.Errorf("too large: %v", got)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{&Publish{QoS: 1, PacketID: 3, Topic: "sensors/t1", Payload: make([]byte, 64)}, "PUBLISH id=3 qos=1 sensors/t1 (64 B)"},
		{&Connack{ReasonCode: 5}, "CONNACK Connection Refused: not authorized"},
		{&Connack{ReasonCode: ReasonBanned}, "CONNACK Banned"},
		{&Suback{PacketID: 2, ReasonCodes: []ReasonCode{1, 0x80}}, "SUBACK id=2 [0x01,0x80]"},
		{&Disconnect{ReasonCode: ReasonSessionTakenOver}, "DISCONNECT Session taken over"},
		{&Pingreq{}, "PINGREQ"},
	}
	for _, tt := range tests {
		if got := Summary(tt.p); got != tt.want {
			t.Errorf("Summary = %q, want %q", got, tt.want)
		}
	}
}

func TestStringers(t *testing.T) {
	if V311.String() != "3.1.1" || V5.String() != "5.0" || TypePuback.String() != "PUBACK" || TypeAuth.String() != "AUTH" ||
		PropTopicAlias.String() != "Topic Alias" || ReasonPacketTooLarge.String() != "Packet too large" ||
		ReasonSuccess.Name(TypeDisconnect, V5) != "Normal disconnection" || QoS1.String() != "At least once delivery" {
		t.Fatal("String methods")
	}
	n := 0
	for id := PropertyID(0); id <= maxPropertyID; id++ {
		if id.info() != nil {
			n++
		}
	}
	if n != 27 {
		t.Fatalf("%d properties in the table, want 27", n)
	}
}
