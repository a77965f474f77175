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

	finFrom string // of a TCP close: the party whose FIN came last
}

type role int

const (
	roleNone  role = iota // not part of an exchange
	roleOpen              // starts an exchange (and forgets an unfinished one with its key)
	roleMid               // continues one; starts one if none is open
	roleLast              // ends one; stands alone if none is open
	roleCheck             // ends one if one is open, else starts one (a close from either side)
)

// step is how one entry takes part in an exchange.
type step struct {
	key  string
	role role
	name string
}

// Who chose an exchange's identifier (stepKind.by).
const (
	byNone = iota // one exchange per connection and pair: its key says which
	byFrom        // the sender chose it (a request)
	byTo          // the receiver did (an answer)
)

// stepKinds are the kinds that take part in exchanges: the key's last part
// (or, with an identifier, its prefix), the role, the exchange's name and
// who chose the identifier. One table rather than a case per kind: it is
// compiled into the WebAssembly client.
var stepKinds = [...]struct {
	kind, key, name string
	role            role
	by              int8
}{
	{trace.KindDNSQuery, "dns", "DNS query, id 0x", roleOpen, byFrom},
	{trace.KindDNSResponse, "dns", "DNS query, id 0x", roleLast, byTo},
	{trace.KindTCPSyn, "tcp-open", "TCP three-way handshake", roleOpen, byNone},
	{trace.KindTCPSynAck, "tcp-open", "TCP three-way handshake", roleMid, byNone},
	{trace.KindTCPAck, "tcp-open", "TCP three-way handshake", roleLast, byNone}, // or the close's last ACK: see Model.link
	{trace.KindTCPFin, "tcp-close", "TCP close", roleMid, byNone},
	{trace.KindWSUpgrade, "ws-open", "WebSocket upgrade", roleOpen, byNone},
	{trace.KindWSAccept, "ws-open", "WebSocket upgrade", roleLast, byNone},
	{trace.KindWSClose, "ws-close", "WebSocket close", roleCheck, byNone},
	{"mqtt.CONNECT", "connect", "connect", roleOpen, byNone},
	{"mqtt.AUTH", "connect", "connect", roleMid, byNone},
	{"mqtt.CONNACK", "connect", "connect", roleLast, byNone},
	{"mqtt.PINGREQ", "ping", "keepalive ping", roleOpen, byNone},
	{"mqtt.PINGRESP", "ping", "keepalive ping", roleLast, byNone},
	{"mqtt.PUBLISH", "pid", " publish", roleOpen, byFrom}, // "QoS n" before the name
	{"mqtt.PUBACK", "pid", "QoS 1 publish", roleLast, byTo},
	{"mqtt.PUBREC", "pid", "QoS 2 publish", roleMid, byTo},
	{"mqtt.PUBREL", "pid", "QoS 2 publish", roleMid, byFrom},
	{"mqtt.PUBCOMP", "pid", "QoS 2 publish", roleLast, byTo},
	{"mqtt.SUBSCRIBE", "pid", "subscribe", roleOpen, byFrom},
	{"mqtt.SUBACK", "pid", "subscribe", roleLast, byTo},
	{"mqtt.UNSUBSCRIBE", "pid", "unsubscribe", roleOpen, byFrom},
	{"mqtt.UNSUBACK", "pid", "unsubscribe", roleLast, byTo},
}

// stepOf classifies an entry. The key names the leg, the connection, the
// two parties and, for MQTT and DNS identifiers, the side that made the
// request (identifiers are chosen per side [MQTT-2.2.1]).
func stepOf(e *trace.Entry) step {
	if e.Kind == "mqtt.PUBLISH" {
		if q, ok := codec.PeekQoS(e.Bytes); !ok || q == 0 {
			return step{} // QoS 0 stands alone: the common case, decided without allocating
		}
	}
	i := 0
	for i < len(stepKinds) && stepKinds[i].kind != e.Kind {
		i++
	}
	if i == len(stepKinds) {
		return step{}
	}
	k := &stepKinds[i]
	a, b := e.From, e.To
	if b < a {
		a, b = b, a
	}
	base := e.Leg + "|" + e.Conn + "|" + a + "|" + b + "|"
	if k.by == byNone {
		return step{base + k.key, k.role, k.name}
	}
	var id int
	ok := false
	if k.key == "dns" {
		id, ok = dnsID(e.Bytes)
	} else {
		var pkid uint16
		pkid, ok = codec.PeekPacketID(e.Bytes)
		id = int(pkid)
	}
	if !ok {
		return step{}
	}
	n := strconv.Itoa(id)
	name, r := k.name+", packet id "+n, k.role
	switch {
	case k.key == "dns":
		name = k.name + hex4(id)
	case k.kind == "mqtt.PUBLISH":
		q, _ := codec.PeekQoS(e.Bytes)
		name = "QoS " + strconv.Itoa(int(q)) + name
	case k.kind == "mqtt.PUBREC":
		// A reason code of 0x80 or more ends a QoS 2 exchange at the
		// PUBREC [MQTT-4.3.3].
		if rc, ok := codec.PeekReasonCode(e.Bytes); ok && rc >= 0x80 {
			r = roleLast
		}
	}
	requester := e.From
	if k.by == byTo {
		requester = e.To
	}
	return step{base + requester + "|" + k.key + n, r, name}
}

func hex4(v int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>12&15], digits[v>>8&15], digits[v>>4&15], digits[v&15]})
}

// Class is the colour group of a kind, used by the page to colour arrows and
// to filter them: dns, tcp, tls, ws, connect, publish, subscribe, ping,
// disconnect, or other.
func Class(kind string) string {
	switch kind {
	case trace.KindDNSQuery, trace.KindDNSResponse:
		return "dns"
	case trace.KindTCPSyn, trace.KindTCPSynAck, trace.KindTCPAck, trace.KindTCPFin, trace.KindTCPRst, trace.KindTCPState:
		return "tcp"
	case trace.KindTLS:
		return "tls"
	case trace.KindWSUpgrade, trace.KindWSAccept, trace.KindWSClose:
		return "ws"
	case "mqtt.CONNECT", "mqtt.CONNACK", "mqtt.AUTH":
		return "connect"
	case "mqtt.PUBLISH", "mqtt.PUBACK", "mqtt.PUBREC", "mqtt.PUBREL", "mqtt.PUBCOMP", trace.KindBrokerDrop:
		return "publish" // a broker.drop is a PUBLISH that went no further than the broker
	case "mqtt.SUBSCRIBE", "mqtt.SUBACK", "mqtt.UNSUBSCRIBE", "mqtt.UNSUBACK":
		return "subscribe"
	case "mqtt.PINGREQ", "mqtt.PINGRESP":
		return "ping"
	case "mqtt.DISCONNECT":
		return "disconnect"
	case trace.KindLabHold, trace.KindLabRelease, trace.KindLabDrop, trace.KindLabDelay, trace.KindLabSilence:
		return "lab"
	}
	return "other"
}

// ClassName is a class and its name for people.
type ClassName struct {
	Class string `json:"class"`
	Name  string `json:"name"`
}

// Classes lists the classes (see Class) in the order the page shows them,
// with the names its filter gives them. It is the page's only list.
var Classes = []ClassName{
	{"dns", "DNS"}, {"tcp", "TCP"}, {"tls", "TLS"}, {"ws", "WebSocket"}, {"connect", "Connect"},
	{"subscribe", "Subscribe"}, {"publish", "Publish"}, {"ping", "Keepalive"}, {"disconnect", "Disconnect"}, {"lab", "Lab bench"}, {"other", "Other"},
}
