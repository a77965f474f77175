package diagram

import (
	"strconv"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// An Exchange is a request and the answers that belong to it: a PUBLISH at
// QoS 1 and its PUBACK, the four steps of QoS 2, SUBSCRIBE and SUBACK,
// UNSUBSCRIBE and UNSUBACK, PINGREQ and PINGRESP, CONNECT (AUTH …) and
// CONNACK, a DNS query and its response, the TCP three-way handshake, the
// WebSocket upgrade, the TCP or WebSocket close. Answers are matched to
// requests on the same leg and connection, between the same two parties, by
// packet identifier (MQTT) or message ID (DNS).
type Exchange struct {
	ID   int    `json:"id"`
	Name string `json:"name"` // e.g. "QoS 1 publish, packet id 7"
	Seqs []int  `json:"seqs"` // the arrows, in the order they happened
	Done bool   `json:"done"` // the final answer arrived

	// What the model keeps of an exchange (Name is made when asked, see
	// name): its key, while open; its arrows still kept.
	key     exKey
	hash    uint64
	open    bool   // unfinished: its key finds it (Model.open or Model.openMore)
	live    int    // its arrows still kept
	step    int8   // stepKinds index of the step that opened it
	qos     int8   // of a PUBLISH
	id      int    // packet or DNS ID
	finFrom string // of a TCP close: the party whose FIN came last
	seqs    [2]int // Seqs' first room: most exchanges are two arrows
}

type role int8

const (
	roleNone  role = iota // not part of an exchange
	roleOpen              // starts an exchange (and forgets an unfinished one with its key)
	roleMid               // continues one; starts one if none is open
	roleLast              // ends one; stands alone if none is open
	roleCheck             // ends one if one is open, else starts one (a close from either side)
)

// exKey names an open exchange: the leg, the connection, the two parties
// (a <= b), what the exchange is (its group) and, for MQTT and DNS
// identifiers, the side that made the request (identifiers are chosen per
// side [MQTT-2.2.1]) and the identifier. A struct of the entry's own
// strings, not one string made of them: nothing is allocated per packet.
// The model finds it by its hash (exKey.sum).
type exKey struct {
	leg, conn, a, b string
	group           uint8 // keyDNS …
	req             uint8 // the requester: 0 none, 1 a, 2 b
	id              uint16
}

// Exchange groups: steps with the same group and parties share a key.
const (
	keyDNS = 1 + iota
	keyTCPOpen
	keyTCPClose
	keyWSOpen
	keyWSClose
	keyConnect
	keyPing
	keyPID // every MQTT packet identifier: PUBLISH, SUBSCRIBE, UNSUBSCRIBE
)

// FNV-1a, 64 bits, for exKey.sum and relayKey.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvString adds s and its end to the hash h (no byte is 0x100).
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return (h ^ 0x100) * fnvPrime
}

// sum is the key's hash: FNV-1a of its strings, then its numbers in one
// step (keys differing in those alone never share a hash).
func (k *exKey) sum() uint64 {
	h := fnvString(fnvString(fnvString(fnvString(fnvOffset, k.leg), k.conn), k.a), k.b)
	return (h ^ (uint64(k.group) | uint64(k.req)<<8 | uint64(k.id)<<16)) * fnvPrime
}

// step is how one entry takes part in an exchange.
type step struct {
	key  exKey
	role role
	kind int8 // stepKinds index
	qos  int8
	id   int
}

// Who chose an exchange's identifier (stepKind.by).
const (
	byNone = iota // one exchange per connection and pair: its key says which
	byFrom        // the sender chose it (a request)
	byTo          // the receiver did (an answer)
)

// stepKinds are the kinds that take part in exchanges: the key's group,
// the role, the exchange's name and who chose the identifier. One table
// rather than a case per kind: it is compiled into the WebAssembly client.
// Searched in order: a flood's kinds first.
var stepKinds = [...]struct {
	kind, name string
	group      uint8
	role       role
	by         int8
}{
	{"mqtt.PUBLISH", " publish", keyPID, roleOpen, byFrom}, // "QoS n" before the name
	{"mqtt.PUBACK", "QoS 1 publish", keyPID, roleLast, byTo},
	{"mqtt.PUBREC", "QoS 2 publish", keyPID, roleMid, byTo},
	{"mqtt.PUBREL", "QoS 2 publish", keyPID, roleMid, byFrom},
	{"mqtt.PUBCOMP", "QoS 2 publish", keyPID, roleLast, byTo},
	{trace.KindDNSQuery, "DNS query, id 0x", keyDNS, roleOpen, byFrom},
	{trace.KindDNSResponse, "DNS query, id 0x", keyDNS, roleLast, byTo},
	{trace.KindTCPSyn, "TCP three-way handshake", keyTCPOpen, roleOpen, byNone},
	{trace.KindTCPSynAck, "TCP three-way handshake", keyTCPOpen, roleMid, byNone},
	{trace.KindTCPAck, "TCP three-way handshake", keyTCPOpen, roleLast, byNone}, // or the close's last ACK: see Model.link
	{trace.KindTCPFin, "TCP close", keyTCPClose, roleMid, byNone},
	{trace.KindWSUpgrade, "WebSocket upgrade", keyWSOpen, roleOpen, byNone},
	{trace.KindWSAccept, "WebSocket upgrade", keyWSOpen, roleLast, byNone},
	{trace.KindWSClose, "WebSocket close", keyWSClose, roleCheck, byNone},
	{"mqtt.CONNECT", "connect", keyConnect, roleOpen, byNone},
	{"mqtt.AUTH", "connect", keyConnect, roleMid, byNone},
	{"mqtt.CONNACK", "connect", keyConnect, roleLast, byNone},
	{"mqtt.PINGREQ", "keepalive ping", keyPing, roleOpen, byNone},
	{"mqtt.PINGRESP", "keepalive ping", keyPing, roleLast, byNone},
	{"mqtt.SUBSCRIBE", "subscribe", keyPID, roleOpen, byFrom},
	{"mqtt.SUBACK", "subscribe", keyPID, roleLast, byTo},
	{"mqtt.UNSUBSCRIBE", "unsubscribe", keyPID, roleOpen, byFrom},
	{"mqtt.UNSUBACK", "unsubscribe", keyPID, roleLast, byTo},
}

// stepOf classifies an entry; ok is false for one in no exchange. It
// allocates nothing: the exchange's name is made when asked (name).
func stepOf(e *trace.Entry) (s step, ok bool) {
	var q codec.QoS
	if e.Kind == "mqtt.PUBLISH" {
		if q, ok = codec.PeekQoS(e.Bytes); !ok || q == 0 {
			return step{}, false // QoS 0 stands alone: the common case
		}
	}
	i := 0
	for i < len(stepKinds) && stepKinds[i].kind != e.Kind {
		i++
	}
	if i == len(stepKinds) {
		return step{}, false
	}
	k := &stepKinds[i]
	a, b := e.From, e.To
	if b < a {
		a, b = b, a
	}
	s = step{key: exKey{leg: e.Leg, conn: e.Conn, a: a, b: b, group: k.group}, role: k.role, kind: int8(i), qos: int8(q)}
	if k.by == byNone {
		return s, true
	}
	if k.group == keyDNS {
		s.id, ok = dnsID(e.Bytes)
	} else {
		var pkid uint16
		pkid, ok = codec.PeekPacketID(e.Bytes)
		s.id = int(pkid)
	}
	if !ok {
		return step{}, false
	}
	if k.kind == "mqtt.PUBREC" {
		// A reason code of 0x80 or more ends a QoS 2 exchange at the
		// PUBREC [MQTT-4.3.3].
		if rc, ok := codec.PeekReasonCode(e.Bytes); ok && rc >= 0x80 {
			s.role = roleLast
		}
	}
	requester := e.From
	if k.by == byTo {
		requester = e.To
	}
	s.key.req, s.key.id = 2, uint16(s.id)
	if requester == a {
		s.key.req = 1
	}
	return s, true
}

// name is the exchange's name for people.
func (x *Exchange) name() string {
	k := &stepKinds[x.step]
	switch {
	case k.by == byNone:
		return k.name
	case k.group == keyDNS:
		return k.name + hex4(x.id)
	case k.kind == "mqtt.PUBLISH":
		return "QoS " + strconv.Itoa(int(x.qos)) + k.name + ", packet id " + strconv.Itoa(x.id)
	}
	return k.name + ", packet id " + strconv.Itoa(x.id)
}

func hex4(v int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>12&15], digits[v>>8&15], digits[v>>4&15], digits[v&15]})
}

// Class is the colour group of a kind, used by the page to colour arrows and
// to filter them: dns, tcp, tls, ws, connect, publish, subscribe, ping,
// disconnect, lab, or other.
func Class(kind string) string { return Classes[classOf(kind)].Class }

// The classes' indexes in Classes.
const (
	classDNS = iota
	classTCP
	classTLS
	classWS
	classConnect
	classSubscribe
	classPublish
	classPing
	classDisconnect
	classLab
	classOther
	numClasses
)

// classOf is the index in Classes of a kind's class (see Class).
func classOf(kind string) uint8 {
	switch kind {
	case trace.KindDNSQuery, trace.KindDNSResponse:
		return classDNS
	case trace.KindTCPSyn, trace.KindTCPSynAck, trace.KindTCPAck, trace.KindTCPFin, trace.KindTCPRst, trace.KindTCPState:
		return classTCP
	case trace.KindTLS:
		return classTLS
	case trace.KindWSUpgrade, trace.KindWSAccept, trace.KindWSClose:
		return classWS
	case "mqtt.CONNECT", "mqtt.CONNACK", "mqtt.AUTH":
		return classConnect
	case "mqtt.PUBLISH", "mqtt.PUBACK", "mqtt.PUBREC", "mqtt.PUBREL", "mqtt.PUBCOMP", trace.KindBrokerDrop:
		return classPublish // a broker.drop is a PUBLISH that went no further than the broker
	case "mqtt.SUBSCRIBE", "mqtt.SUBACK", "mqtt.UNSUBSCRIBE", "mqtt.UNSUBACK":
		return classSubscribe
	case "mqtt.PINGREQ", "mqtt.PINGRESP":
		return classPing
	case "mqtt.DISCONNECT":
		return classDisconnect
	case trace.KindLabHold, trace.KindLabRelease, trace.KindLabDrop, trace.KindLabDelay, trace.KindLabSilence:
		return classLab
	}
	return classOther
}

// ClassName is a class and its name for people.
type ClassName struct {
	Class string `json:"class"`
	Name  string `json:"name"`
}

// Classes lists the classes (see Class) in the order the page shows them,
// with the names its filter gives them. It is the page's only list; the
// model counts and filters arrows by their index in it (classDNS …).
var Classes = []ClassName{
	{"dns", "DNS"}, {"tcp", "TCP"}, {"tls", "TLS"}, {"ws", "WebSocket"}, {"connect", "Connect"},
	{"subscribe", "Subscribe"}, {"publish", "Publish"}, {"ping", "Keepalive"}, {"disconnect", "Disconnect"}, {"lab", "Lab bench"}, {"other", "Other"},
}
