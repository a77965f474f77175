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

// stepOf classifies an entry. The key names the leg, the connection, the
// two parties and, for MQTT and DNS identifiers, the side that made the
// request (identifiers are chosen per side [MQTT-2.2.1]).
func stepOf(e *trace.Entry) step {
	switch e.Kind {
	case "mqtt.PUBLISH":
		if q, ok := codec.PeekQoS(e.Bytes); !ok || q == 0 {
			return step{} // QoS 0 stands alone: the common case, decided without allocating
		}
	case "mqtt.DISCONNECT", trace.KindTCPRst, trace.KindTLS:
		return step{}
	}
	a, b := e.From, e.To
	if b < a {
		a, b = b, a
	}
	base := e.Leg + "|" + e.Conn + "|" + a + "|" + b + "|"
	byRequester := func(requester, id string) string { return base + requester + "|" + id }

	switch e.Kind {
	case trace.KindDNSQuery, trace.KindDNSResponse:
		id, ok := dnsID(e.Bytes)
		if !ok {
			return step{}
		}
		name := "DNS query, id 0x" + hex4(id)
		if e.Kind == trace.KindDNSQuery {
			return step{byRequester(e.From, "dns"+strconv.Itoa(id)), roleOpen, name}
		}
		return step{byRequester(e.To, "dns"+strconv.Itoa(id)), roleLast, name}
	case trace.KindTCPSyn:
		return step{base + "tcp-open", roleOpen, "TCP three-way handshake"}
	case trace.KindTCPSynAck:
		return step{base + "tcp-open", roleMid, "TCP three-way handshake"}
	case trace.KindTCPAck:
		return step{base + "tcp-open", roleLast, "TCP three-way handshake"} // or the close's last ACK: see Model.link
	case trace.KindTCPFin:
		return step{base + "tcp-close", roleMid, "TCP close"}
	case trace.KindWSUpgrade:
		return step{base + "ws-open", roleOpen, "WebSocket upgrade"}
	case trace.KindWSAccept:
		return step{base + "ws-open", roleLast, "WebSocket upgrade"}
	case trace.KindWSClose:
		return step{base + "ws-close", roleCheck, "WebSocket close"}
	case "mqtt.CONNECT":
		return step{base + "connect", roleOpen, "connect"}
	case "mqtt.AUTH":
		return step{base + "connect", roleMid, "connect"}
	case "mqtt.CONNACK":
		return step{base + "connect", roleLast, "connect"}
	case "mqtt.PINGREQ":
		return step{base + "ping", roleOpen, "keepalive ping"}
	case "mqtt.PINGRESP":
		return step{base + "ping", roleLast, "keepalive ping"}
	}

	pkid, ok := codec.PeekPacketID(e.Bytes)
	if !ok {
		return step{}
	}
	id := int(pkid)
	pid := "pid" + strconv.Itoa(id)
	ids := ", packet id " + strconv.Itoa(id)
	switch e.Kind {
	case "mqtt.PUBLISH":
		q, _ := codec.PeekQoS(e.Bytes)
		return step{byRequester(e.From, pid), roleOpen, "QoS " + strconv.Itoa(int(q)) + " publish" + ids}
	case "mqtt.PUBACK":
		return step{byRequester(e.To, pid), roleLast, "QoS 1 publish" + ids}
	case "mqtt.PUBREC":
		// A reason code of 0x80 or more ends a QoS 2 exchange at the
		// PUBREC [MQTT-4.3.3].
		if rc, ok := codec.PeekReasonCode(e.Bytes); ok && rc >= 0x80 {
			return step{byRequester(e.To, pid), roleLast, "QoS 2 publish" + ids}
		}
		return step{byRequester(e.To, pid), roleMid, "QoS 2 publish" + ids}
	case "mqtt.PUBREL":
		return step{byRequester(e.From, pid), roleMid, "QoS 2 publish" + ids}
	case "mqtt.PUBCOMP":
		return step{byRequester(e.To, pid), roleLast, "QoS 2 publish" + ids}
	case "mqtt.SUBSCRIBE":
		return step{byRequester(e.From, pid), roleOpen, "subscribe" + ids}
	case "mqtt.SUBACK":
		return step{byRequester(e.To, pid), roleLast, "subscribe" + ids}
	case "mqtt.UNSUBSCRIBE":
		return step{byRequester(e.From, pid), roleOpen, "unsubscribe" + ids}
	case "mqtt.UNSUBACK":
		return step{byRequester(e.To, pid), roleLast, "unsubscribe" + ids}
	}
	return step{}
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
