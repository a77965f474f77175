// Package trace defines the trace entry: one arrow of Lifeline's sequence
// diagram. The same schema is produced by the proxy (DNS, TCP, TLS, WebSocket
// and the broker leg's MQTT packets), by the client state machine (the packets
// it sends and receives), by capture import, and is written by `lifeline trace
// -json` and the page's JSON export.
//
// The package holds data and constants only; it does not draw, store or send
// anything.
package trace

// Legs: which two parties an entry travels between.
const (
	LegBrowserProxy  = "browser-proxy"  // the page's WebSocket to lifeline serve
	LegProxyDNS      = "proxy-dns"      // lifeline serve's resolver to a DNS server
	LegProxyBroker   = "proxy-broker"   // lifeline serve's TCP/TLS connection to the broker
	LegBrowserBroker = "browser-broker" // the page's WebSocket straight to a broker
	LegClientBroker  = "client-broker"  // the CLI's TCP connection to a broker
	LegClientDNS     = "client-dns"     // a device's own DNS lookups, seen in a capture
)

// Observed says how an entry was learned.
const (
	ObservedWire   = "wire"   // the bytes were seen
	ObservedKernel = "kernel" // inferred from a socket call, e.g. the handshake behind connect()
	ObservedBroker = "broker" // reported by the embedded broker itself (a message it did not deliver)
	ObservedProxy  = "proxy"  // reported by the proxy about its trace channel (entries it dropped)
)

// Kinds that are not MQTT packets. MQTT packets use "mqtt." + the packet
// type's name in capitals (KindMQTT builds it).
const (
	KindDNSQuery    = "dns.query"
	KindDNSResponse = "dns.response"
	KindTCPSyn      = "tcp.syn"
	KindTCPSynAck   = "tcp.synack"
	KindTCPAck      = "tcp.ack"
	KindTCPFin      = "tcp.fin"
	KindTCPRst      = "tcp.rst"
	KindTCPState    = "tcp.state" // the kernel's state of a socket (TCP_INFO), at the party's own lane
	KindTLS         = "tls.handshake"
	KindWSUpgrade   = "ws.upgrade"
	KindWSAccept    = "ws.accept"
	KindWSClose     = "ws.close"
	// KindWSFrame is a WebSocket frame that carries no MQTT packet (text,
	// ping, pong, or one that could not be read).
	KindWSFrame = "ws.frame"
	// KindTLSCertificate is the server's certificate: subject, issuer,
	// validity and whether it verified.
	KindTLSCertificate = "tls.certificate"

	// The lab bench (the proxy's hold, step, release, drop, delay and
	// silence controls): the control itself, from browser to proxy, and its
	// effect on a packet, from proxy toward the packet's destination,
	// Bytes holding the packet.
	KindLabHold    = "lab.hold"    // a hold or pause; a packet held at the proxy; a refusal to hold more (Error set)
	KindLabRelease = "lab.release" // step, release or resume; a held packet let go (its forwarding follows)
	KindLabDrop    = "lab.drop"    // a drop rule; a packet swallowed at the proxy, or held and never delivered
	KindLabDelay   = "lab.delay"   // a delay set for a direction
	KindLabSilence = "lab.silence" // silence begun or ended; a close not passed on while silenced

	// KindBrokerDrop is a message the embedded broker did not deliver, or
	// did not keep, and says so: an arrow that ends at the broker
	// (From and To are both "broker"), its Drop saying whose message, why,
	// and how full the broker was. A subscriber's session sees the messages
	// that were for it (queue full, expired, session ended or expired); a
	// publisher's session sees a message the broker would not keep
	// (retained store full) when its MQTT version has no reason code to
	// say so (a v5 publisher also gets PUBACK/PUBREC 0x97 Quota exceeded).
	KindBrokerDrop = "broker.drop"

	// KindTraceDropped marks where the proxy dropped trace entries the page
	// did not read in time (the /trace channel's "dropped" message, its
	// count in Summary): on the proxy's own lane (From and To "proxy"),
	// so that a gap in the diagram is never silent.
	KindTraceDropped = "trace.dropped"
)

// Reasons of a broker.drop entry (Drop.Reason).
const (
	DropQueueFull      = "queue full"          // the client's queue holds its maximum of messages
	DropQueueBytes     = "queue bytes"         // the client's queued and in-flight messages hold its maximum of bytes
	DropBrokerBudget   = "broker budget"       // all clients' queues together hold the broker's budget
	DropExpired        = "message expired"     // the message expiry interval (or the broker's maximum) passed before delivery
	DropSessionEnded   = "session ended"       // the client left with a clean session, or reconnected with Clean Start
	DropSessionExpired = "session expired"     // the client stayed away longer than its session expiry interval
	DropTooLarge       = "too large"           // larger than the client's Maximum Packet Size
	DropConnClosed     = "connection closed"   // a QoS 0 message the connection closed under
	DropRetainedFull   = "retained store full" // not kept as retained: the retained store holds its budget
)

// KindMQTT returns the kind of an MQTT packet given its type name in
// capitals, e.g. KindMQTT("CONNECT") == "mqtt.CONNECT".
func KindMQTT(typeName string) string { return "mqtt." + typeName }

// Entry is one arrow of the diagram. The JSON names are a contract (see
// docs/trace.md); Bytes is encoded as base64 by encoding/json.
type Entry struct {
	Seq      int     `json:"seq"`
	T        float64 `json:"t"` // milliseconds since the session started
	Leg      string  `json:"leg"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	Kind     string  `json:"kind"`
	Summary  string  `json:"summary"`
	Bytes    []byte  `json:"bytes,omitempty"`
	Observed string  `json:"observed"`
	Note     string  `json:"note,omitempty"`

	// Optional fields beyond the minimum schema.

	// Conn names the connection an entry belongs to (e.g. "c1"), so
	// entries can be grouped.
	Conn string `json:"conn,omitempty"`
	// Src and Dst are the addresses the entry travelled from and to, each
	// "ip:port" as netip.AddrPort writes it ("192.0.2.7:1883",
	// "[2001:db8::1]:8883"), set by whoever knew them: netrec on DNS
	// messages and on the TCP and TLS steps of a connection, the proxy on
	// its WebSocket and broker-leg entries, capture import on every entry.
	// Either may be empty: the page's own entries, an endpoint not known
	// yet (the local port of a SYN that failed) and traces written before
	// the fields existed have none. Readers take addresses from here, never
	// from Summary or Note.
	Src string `json:"src,omitempty"`
	Dst string `json:"dst,omitempty"`
	// Version is the MQTT protocol level (4 or 5) needed to dissect Bytes
	// of an mqtt.* entry; 0 when not known or not MQTT.
	Version int `json:"version,omitempty"`
	// Error is set when the entry reports a failure (NXDOMAIN, refused
	// dial, malformed packet); it is plain text.
	Error string `json:"error,omitempty"`
	// Drop is set on a broker.drop entry: the message and why.
	Drop *Drop `json:"drop,omitempty"`
}

// Drop describes a message the broker dropped (kind broker.drop). The
// counts are the client's queue when it happened, so a lesson can show
// the limit being reached.
type Drop struct {
	Client   string `json:"client"`   // the client the message was for (or, for DropRetainedFull, from)
	Reason   string `json:"reason"`   // one of the Drop* constants
	Topic    string `json:"topic"`    // the message's topic
	QoS      int    `json:"qos"`      // the QoS it would have been delivered at
	Size     int    `json:"size"`     // payload bytes
	Queued   int    `json:"queued"`   // messages waiting for the client (not yet sent)
	Inflight int    `json:"inflight"` // messages sent to the client and not yet acknowledged
	Bytes    int64  `json:"bytes"`    // bytes the broker held for the client (queued and in flight)
	Limit    string `json:"limit"`    // the limit reached, in words with its flag, e.g. "1000 messages (-broker-max-queued)"
	// Refused is set when the publisher was told in MQTT (v5 PUBACK or
	// PUBREC 0x97 Quota exceeded) and the message went nowhere; a
	// DropRetainedFull without it was delivered but not kept.
	Refused bool `json:"refused,omitempty"`
}
