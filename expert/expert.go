package expert

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Severity ranks a finding, as Wireshark's expert info does.
type Severity int

// Severities, lowest first.
const (
	Chat    Severity = iota // the normal flow, worth a line (an alias set, a retransmission)
	Note                    // notable but allowed (QoS downgraded, a retained message cleared)
	Warning                 // something went wrong or may have (a refusal, a missing answer)
	Error                   // a packet breaks the protocol
)

var severityNames = [...]string{"chat", "note", "warning", "error"}

// String returns "chat", "note", "warning" or "error".
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "severity " + strconv.Itoa(int(s))
}

// MarshalText writes the severity's name, so JSON carries "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if string(b) == n {
			*s = Severity(i)
			return nil
		}
	}
	return errors.New("expert: unknown severity " + quote(string(b)))
}

// Codes name each kind of finding; tests and the page match on them.
const (
	CodeMalformed        = "malformed"              // the codec refuses the packet
	CodeWildcardTopic    = "publish.wildcard"       // a wildcard in a PUBLISH topic name
	CodeDupQoS0          = "publish.dup-qos0"       // DUP=1 on a QoS 0 PUBLISH
	CodeDuplicateProp    = "property.duplicate"     // a property twice that may appear once
	CodeUnknownID        = "ack.unknown-id"         // an acknowledgement for no packet in flight
	CodeIDReused         = "id.reused"              // a packet identifier reused while in flight
	CodeRetransmission   = "publish.retransmit"     // DUP=1 resend of a PUBLISH in flight
	CodeNoAnswer         = "answer.missing"         // a request never answered
	CodeLateAnswer       = "answer.late"            // a request answered after the threshold
	CodeQoSDowngraded    = "suback.downgraded"      // granted QoS lower than requested
	CodeReasonFailure    = "reason.failure"         // a reason or return code that signals failure
	CodeAckCount         = "ack.count"              // SUBACK/UNSUBACK codes do not match the filters
	CodeKeepAlive        = "keepalive.missed"       // the client was silent beyond its keepalive
	CodeRetainCleared    = "retain.cleared"         // an empty retained PUBLISH clears the topic
	CodeAliasSet         = "alias.set"              // a PUBLISH sets a topic alias
	CodeAliasUnknown     = "alias.unknown"          // an alias used before it was set
	CodeAliasMaximum     = "alias.maximum"          // an alias beyond the receiver's maximum
	CodeServerDisconnect = "disconnect.from-server" // a 3.1.1 broker sent DISCONNECT
)

// Finding is one thing the analysis points out.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	// Seq lists the packets (trace sequence numbers) the finding is about;
	// the first is the one to show.
	Seq    []int  `json:"seq"`
	Conn   string `json:"conn,omitempty"`
	Leg    string `json:"leg,omitempty"`
	Text   string `json:"text"`
	Clause string `json:"clause,omitempty"` // e.g. "MQTT-3.3.2-2", or a section, "3.8.4"
}

// String returns e.g. "warning #12 [MQTT-3.3.2-2]: …".
func (f Finding) String() string {
	s := f.Severity.String()
	for i, q := range f.Seq {
		if i == 0 {
			s += " #"
		} else {
			s += ",#"
		}
		s += strconv.Itoa(q)
	}
	if f.Clause != "" {
		s += " [" + f.Clause + "]"
	}
	return s + ": " + f.Text
}

// Options tune the analysis.
type Options struct {
	// AnswerTimeout is how long, in milliseconds, a request may wait for
	// its answer before it is reported late or missing (0: 10 s).
	AnswerTimeout float64
	// Truncated says that entries older than the first were dropped (the
	// page keeps the newest arrows): on a connection whose CONNECT is not
	// among the entries, an acknowledgement, a CONNACK, a PINGRESP or a
	// Topic Alias with nothing before it may answer what was dropped, and
	// is not reported.
	Truncated bool
}

// DefaultAnswerTimeout is the answer threshold used when Options leaves it 0.
const DefaultAnswerTimeout = 10_000.0

// Counts returns how many findings there are of each severity, indexed by
// Severity.
func Counts(fs []Finding) [4]int {
	var n [4]int
	for _, f := range fs {
		if f.Severity >= 0 && int(f.Severity) < len(n) {
			n[f.Severity]++
		}
	}
	return n
}

// Analyze returns the findings of the MQTT packets among entries, ordered
// by their first packet. Entries that are not MQTT are used only to know
// when a connection ended. It never panics on any bytes.
func Analyze(entries []trace.Entry, o Options) []Finding {
	a := NewAnalyzer(o)
	for i := range entries {
		a.Add(&entries[i])
	}
	return a.Findings()
}

// An Analyzer analyses a trace as it grows, for a page that shows the
// findings of a live trace: Add each entry once, in the order its
// connection and leg carried it; Findings at any time costs the findings,
// not the trace. Analyze is an Analyzer given every entry.
type Analyzer struct {
	o     Options
	conns map[connKey]*conn
	order []*conn
}

// connKey is a connection's leg: a key of two strings, no string made per
// entry to look one up.
type connKey struct{ conn, leg string }

// NewAnalyzer returns an Analyzer with nothing added.
func NewAnalyzer(o Options) *Analyzer {
	if o.AnswerTimeout <= 0 {
		o.AnswerTimeout = DefaultAnswerTimeout
	}
	return &Analyzer{o: o, conns: map[connKey]*conn{}}
}

// Add analyses the next entry. The Analyzer keeps neither e nor its bytes.
func (a *Analyzer) Add(e *trace.Entry) {
	mqtt := strings.HasPrefix(e.Kind, "mqtt.")
	key := connKey{e.Conn, e.Leg}
	c := a.conns[key]
	if c == nil {
		if !mqtt {
			return
		}
		c = newConn(e, a.o)
		a.conns[key] = c
		a.order = append(a.order, c)
	}
	c.lastT = max(c.lastT, e.T)
	if mqtt {
		c.packet(e)
	}
}

// Findings returns the findings so far, ordered by their first packet:
// what the entries added show, and what their end shows as it stands
// (requests not answered yet, a client silent past its keepalive), which
// more entries may take back.
func (a *Analyzer) Findings() []Finding {
	var out []Finding
	for _, c := range a.order {
		out = append(out, c.out...)
		out = append(out, c.atEnd()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return first(out[i]) < first(out[j]) })
	return out
}

// Prune forgets the findings none of whose packets keep says are kept,
// for a page that drops its oldest entries: the Analyzer still knows what
// they were (a request they answered, a CONNECT), only not the findings
// about them alone.
func (a *Analyzer) Prune(keep func(seq int) bool) {
	for _, c := range a.order {
		out := c.out[:0]
		for _, f := range c.out {
			for _, q := range f.Seq {
				if keep(q) {
					out = append(out, f)
					break
				}
			}
		}
		clear(c.out[len(out):])
		c.out = out
	}
}

func first(f Finding) int {
	if len(f.Seq) == 0 {
		return 0
	}
	return f.Seq[0]
}

// pending is a request waiting for its answer.
type pending struct {
	seq  int
	t    float64
	typ  codec.PacketType // the request: PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE, CONNECT, PINGREQ
	want codec.PacketType // the answer expected next
	qos  []codec.QoS      // SUBSCRIBE: the QoS asked for each filter
	subs []string         // SUBSCRIBE: the filters; UNSUBSCRIBE: the filters
}

// side is what one end of a connection has sent.
type side struct {
	addr     string
	inflight map[uint16]*pending // by packet identifier
	aliasMax int                 // the highest alias this side may send (the peer's maximum)
	aliases  map[uint16]string
	lastSent float64
	sentAny  bool
	closed   bool // sent DISCONNECT
}

type conn struct {
	o          Options
	dec        codec.Decoder // a flood's PUBLISH and PUBACK, decoded in place (see packet)
	name, leg  string
	v          codec.Version
	client     *side // nil until known
	a, b       side  // a: the sender of the first packet
	keepAlive  int   // seconds; 0: off
	connect    *pending
	sawConnect bool
	pings      []*pending
	lastT      float64
	lastClient int // the client's last packet
	out        []Finding
	versionSet bool
}

func newConn(e *trace.Entry, o Options) *conn {
	c := &conn{o: o, name: e.Conn, leg: e.Leg}
	c.a = side{addr: e.From, inflight: map[uint16]*pending{}, aliases: map[uint16]string{}}
	c.b = side{addr: e.To, inflight: map[uint16]*pending{}, aliases: map[uint16]string{}}
	c.v = codec.V311
	if e.Version != 0 {
		c.v, c.versionSet = codec.Version(e.Version), true
	}
	return c
}

// unsure reports whether what came before a packet on this connection
// may have been dropped (Options.Truncated).
func (c *conn) unsure() bool { return c.o.Truncated && !c.sawConnect }

func (c *conn) add(s Severity, code, clause, text string, seq ...int) {
	c.out = append(c.out, Finding{Severity: s, Code: code, Seq: seq, Conn: c.name, Leg: c.leg, Text: text, Clause: clause})
}

// ends returns the sending and receiving side of e.
func (c *conn) ends(e *trace.Entry) (from, to *side) {
	if e.From == c.b.addr && e.From != c.a.addr {
		return &c.b, &c.a
	}
	return &c.a, &c.b
}

// clientTypes and brokerTypes are the packets only one end sends.
func sentByClient(t codec.PacketType) bool {
	return t == codec.TypeConnect || t == codec.TypeSubscribe || t == codec.TypeUnsubscribe || t == codec.TypePingreq
}

func sentByBroker(t codec.PacketType) bool {
	return t == codec.TypeConnack || t == codec.TypeSuback || t == codec.TypeUnsuback || t == codec.TypePingresp
}

func (c *conn) packet(e *trace.Entry) {
	from, to := c.ends(e)
	if len(e.Bytes) == 0 {
		return
	}
	t := codec.PacketType(e.Bytes[0] >> 4)
	if c.client == nil {
		switch {
		case sentByClient(t):
			c.client = from
		case sentByBroker(t):
			c.client = to
		}
	}
	if t == codec.TypeConnect && !c.versionSet {
		if v, err := codec.PeekVersion(e.Bytes); err == nil {
			c.v = v
		}
	}
	if from == c.client {
		c.checkGap(e)
		c.lastClient = e.Seq
	}
	from.lastSent, from.sentAny = e.T, true
	// Into the connection's own Decoder: a new PUBLISH each (360 bytes)
	// was a third of what the page allocated a message. Nothing keeps it.
	p, err := c.dec.Decode(e.Bytes, c.v)
	if err != nil {
		c.decodeError(e, err)
		return
	}
	c.analyze(e, p, from, to)
}

// decodeError turns the codec's refusal into a finding.
func (c *conn) decodeError(e *trace.Entry, err error) {
	var de *codec.DecodeError
	clause := ""
	if errors.As(err, &de) {
		clause = de.Clause
	}
	switch {
	case clause == "MQTT-3.3.2-2":
		c.add(Error, CodeWildcardTopic, clause, "PUBLISH topic name has a wildcard (+ or #); only topic filters may", e.Seq)
	case clause == "MQTT-3.3.1-2":
		c.add(Error, CodeDupQoS0, clause, "PUBLISH at QoS 0 has DUP set; DUP is only for resending QoS 1 and 2", e.Seq)
	case errors.Is(err, codec.ErrDuplicateProp):
		c.add(Error, CodeDuplicateProp, clause, "a property appears twice that may appear once: "+err.Error(), e.Seq)
	default:
		c.add(Error, CodeMalformed, clause, "not a valid packet: "+err.Error(), e.Seq)
	}
}

func (c *conn) analyze(e *trace.Entry, p codec.Packet, from, to *side) {
	switch p := p.(type) {
	case *codec.Connect:
		c.keepAlive = int(p.KeepAlive)
		if c.v == codec.V5 {
			// The client's maximum bounds what the broker may send.
			to.aliasMax = int(p.Properties.TopicAliasMaximum)
		}
		c.connect = &pending{seq: e.Seq, t: e.T, typ: codec.TypeConnect, want: codec.TypeConnack}
		c.sawConnect = true
	case *codec.Connack:
		c.onConnack(e, p, from)
	case *codec.Publish:
		c.onPublish(e, p, from)
	case *codec.Puback:
		c.answer(e, to, p.PacketID, codec.TypePuback, p.ReasonCode, true)
	case *codec.Pubrec:
		c.answer(e, to, p.PacketID, codec.TypePubrec, p.ReasonCode, true)
	case *codec.Pubrel:
		c.answer(e, from, p.PacketID, codec.TypePubrel, p.ReasonCode, false)
	case *codec.Pubcomp:
		c.answer(e, to, p.PacketID, codec.TypePubcomp, p.ReasonCode, true)
	case *codec.Subscribe:
		q := make([]codec.QoS, len(p.Subscriptions))
		f := make([]string, len(p.Subscriptions))
		for i, s := range p.Subscriptions {
			q[i], f[i] = s.QoS, s.Filter
		}
		c.request(e, from, p.PacketID, &pending{typ: codec.TypeSubscribe, want: codec.TypeSuback, qos: q, subs: f}, false)
	case *codec.Unsubscribe:
		c.request(e, from, p.PacketID, &pending{typ: codec.TypeUnsubscribe, want: codec.TypeUnsuback, subs: append([]string(nil), p.Filters...)}, false)
	case *codec.Suback:
		c.onSuback(e, p, to)
	case *codec.Unsuback:
		if q := c.answer(e, to, p.PacketID, codec.TypeUnsuback, 0, false); q != nil {
			if c.v == codec.V5 && len(p.ReasonCodes) != len(q.subs) {
				c.add(Error, CodeAckCount, "MQTT-3.10.4-5", "UNSUBACK has "+strconv.Itoa(len(p.ReasonCodes))+" reason codes for "+strconv.Itoa(len(q.subs))+" topic filters", e.Seq, q.seq)
			}
			for i, rc := range p.ReasonCodes {
				if rc >= 0x80 {
					c.add(Warning, CodeReasonFailure, "2.4", "UNSUBACK refuses"+filterName(q.subs, i)+": "+reasonText(rc, codec.TypeUnsuback, c.v), e.Seq, q.seq)
				}
			}
		}
	case *codec.Pingreq:
		c.pings = append(c.pings, &pending{seq: e.Seq, t: e.T, typ: codec.TypePingreq, want: codec.TypePingresp})
	case *codec.Pingresp:
		if len(c.pings) == 0 {
			if !c.unsure() {
				c.add(Warning, CodeUnknownID, "3.13", "PINGRESP with no PINGREQ waiting for it", e.Seq)
			}
			return
		}
		q := c.pings[0]
		c.pings = c.pings[1:]
		c.late(e, q, "MQTT-3.12.4-1")
	case *codec.Disconnect:
		from.closed = true
		if c.v != codec.V5 && c.client != nil && from != c.client {
			c.add(Error, CodeServerDisconnect, "3.14", "the broker sent DISCONNECT, which in MQTT 3.1.1 only a client sends; a 3.1.1 broker closes the connection instead", e.Seq)
		}
		if c.v == codec.V5 && p.ReasonCode >= 0x80 {
			c.add(Warning, CodeReasonFailure, "2.4", "DISCONNECT: "+reasonText(p.ReasonCode, codec.TypeDisconnect, c.v), e.Seq)
		}
	case *codec.Auth:
		if p.ReasonCode >= 0x80 {
			c.add(Warning, CodeReasonFailure, "2.4", "AUTH: "+reasonText(p.ReasonCode, codec.TypeAuth, c.v), e.Seq)
		}
	}
}

func (c *conn) onConnack(e *trace.Entry, p *codec.Connack, from *side) {
	if q := c.connect; q != nil {
		c.connect = nil
		c.late(e, q, clause(c.v, "MQTT-3.2.0-1", "MQTT-3.2.0-1"))
	} else if !c.unsure() {
		c.add(Warning, CodeUnknownID, "3.2", "CONNACK with no CONNECT before it on this connection", e.Seq)
	}
	switch {
	case c.v == codec.V5 && p.ReasonCode >= 0x80:
		c.add(Warning, CodeReasonFailure, "2.4", "CONNACK refuses the connection: "+reasonText(p.ReasonCode, codec.TypeConnack, c.v), e.Seq)
	case c.v != codec.V5 && p.ReasonCode != 0:
		c.add(Warning, CodeReasonFailure, "3.2.2.3", "CONNACK refuses the connection: "+reasonText(p.ReasonCode, codec.TypeConnack, c.v), e.Seq)
	}
	if c.v == codec.V5 {
		other := &c.a
		if from == &c.a {
			other = &c.b
		}
		other.aliasMax = int(p.Properties.TopicAliasMaximum)
		if p.Properties.Has(codec.PropServerKeepAlive) {
			c.keepAlive = int(p.Properties.ServerKeepAlive) // [MQTT-3.2.2-21]
		}
	}
}

func (c *conn) onPublish(e *trace.Entry, p *codec.Publish, from *side) {
	topic := p.Topic
	if c.v == codec.V5 && p.Properties.Has(codec.PropTopicAlias) {
		a := p.Properties.TopicAlias
		if int(a) > from.aliasMax {
			cl := "MQTT-3.3.2-9"
			if from != c.client && c.client != nil {
				cl = "MQTT-3.3.2-11"
			}
			c.add(Error, CodeAliasMaximum, cl, "Topic Alias "+strconv.Itoa(int(a))+" is beyond the receiver's Topic Alias Maximum of "+strconv.Itoa(from.aliasMax), e.Seq)
		}
		if topic != "" {
			from.aliases[a] = topic
			c.add(Chat, CodeAliasSet, "3.3.2.3.4", "Topic Alias "+strconv.Itoa(int(a))+" now stands for "+quote(topic), e.Seq)
		} else if t, ok := from.aliases[a]; ok {
			topic = t
		} else if !c.unsure() {
			c.add(Error, CodeAliasUnknown, "3.3.2.3.4", "Topic Alias "+strconv.Itoa(int(a))+" used with no topic before it was set on this connection", e.Seq)
		}
	}
	if p.Retain && len(p.Payload) == 0 {
		c.add(Note, CodeRetainCleared, "3.3.1.3", "empty retained PUBLISH clears the retained message of "+quote(topic), e.Seq)
	}
	switch p.QoS {
	case 1:
		c.request(e, from, p.PacketID, &pending{typ: codec.TypePublish, want: codec.TypePuback}, p.Dup)
	case 2:
		c.request(e, from, p.PacketID, &pending{typ: codec.TypePublish, want: codec.TypePubrec}, p.Dup)
	}
}

func (c *conn) onSuback(e *trace.Entry, p *codec.Suback, to *side) {
	q := c.answer(e, to, p.PacketID, codec.TypeSuback, 0, false)
	if q == nil {
		return
	}
	if len(p.ReasonCodes) != len(q.qos) {
		c.add(Error, CodeAckCount, clause(c.v, "MQTT-3.8.4-5", "MQTT-3.8.4-6"), "SUBACK has "+strconv.Itoa(len(p.ReasonCodes))+" codes for "+strconv.Itoa(len(q.qos))+" topic filters", e.Seq, q.seq)
	}
	for i, rc := range p.ReasonCodes {
		switch {
		case rc >= 0x80:
			c.add(Warning, CodeReasonFailure, clause(c.v, "3.9.3", "2.4"), "SUBACK refuses"+filterName(q.subs, i)+": "+reasonText(rc, codec.TypeSuback, c.v), e.Seq, q.seq)
		case i < len(q.qos) && codec.QoS(rc) < q.qos[i]:
			c.add(Note, CodeQoSDowngraded, "3.8.4", "SUBACK grants QoS "+strconv.Itoa(int(rc))+" for"+filterName(q.subs, i)+", lower than the QoS "+strconv.Itoa(int(q.qos[i]))+" asked for", e.Seq, q.seq)
		}
	}
}

func filterName(fs []string, i int) string {
	if i < len(fs) {
		return " " + quote(fs[i])
	}
	return " filter " + strconv.Itoa(i+1)
}

func reasonText(rc codec.ReasonCode, t codec.PacketType, v codec.Version) string {
	return "0x" + hex2(byte(rc)) + " " + rc.Name(t, v)
}

// quote writes s in double quotes, escaping quotes, backslashes and
// control bytes (strconv.Quote would bring its Unicode tables into the
// wasm).
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hex2(c)[0], hex2(c)[1])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

func hex2(b byte) string {
	const d = "0123456789abcdef"
	return string([]byte{d[b>>4], d[b&15]})
}

func clause(v codec.Version, v311, v5 string) string {
	if v == codec.V5 {
		return v5
	}
	return v311
}

// request records a packet that waits for an answer, reporting an
// identifier already in flight from the same side.
func (c *conn) request(e *trace.Entry, from *side, id uint16, p *pending, dup bool) {
	p.seq, p.t = e.Seq, e.T
	if old, ok := from.inflight[id]; ok {
		if dup && p.typ == codec.TypePublish && old.typ == codec.TypePublish && old.want == p.want {
			c.add(Chat, CodeRetransmission, clause(c.v, "MQTT-2.3.1-3", "4.4"), "PUBLISH resent (DUP) with packet id "+strconv.Itoa(int(id))+" still unacknowledged", e.Seq, old.seq)
			return
		}
		cl := clause(c.v, "MQTT-2.3.1-2", "MQTT-2.2.1-3")
		if from != c.client && c.client != nil {
			cl = clause(c.v, "MQTT-2.3.1-4", "MQTT-2.2.1-4")
		}
		c.add(Error, CodeIDReused, cl, p.typ.String()+" reuses packet id "+strconv.Itoa(int(id))+" while "+old.typ.String()+" #"+strconv.Itoa(old.seq)+" still waits for its "+old.want.String(), e.Seq, old.seq)
	}
	from.inflight[id] = p
}

// answer matches an acknowledgement with id, sent about a request of
// owner's, and returns the request it completes (nil if none). failed
// reports the reason code (v5) of a publish acknowledgement.
func (c *conn) answer(e *trace.Entry, owner *side, id uint16, t codec.PacketType, rc codec.ReasonCode, checkRC bool) *pending {
	q, ok := owner.inflight[id]
	if !ok || q.want != t {
		what := "no request"
		if ok {
			what = q.typ.String() + " #" + strconv.Itoa(q.seq) + " waiting for " + q.want.String()
		}
		if ok || !c.unsure() {
			c.add(Warning, CodeUnknownID, ackClause(c.v, t), t.String()+" for packet id "+strconv.Itoa(int(id))+", but "+what+" has that id", e.Seq)
		}
		if t == codec.TypePubrel {
			// Answer it anyway: the receiver still owes a PUBCOMP.
			owner.inflight[id] = &pending{seq: e.Seq, t: e.T, typ: codec.TypePubrel, want: codec.TypePubcomp}
		}
		return nil
	}
	if c.v == codec.V5 && rc >= 0x80 {
		c.add(Warning, CodeReasonFailure, "2.4", t.String()+" for "+q.typ.String()+" #"+strconv.Itoa(q.seq)+": "+reasonText(rc, t, c.v), e.Seq, q.seq)
	}
	c.late(e, q, ackClause(c.v, t))
	switch {
	case t == codec.TypePubrec && rc < 0x80:
		// The sender owes a PUBREL, then the receiver a PUBCOMP.
		q.want, q.typ, q.seq, q.t = codec.TypePubrel, codec.TypePubrec, e.Seq, e.T
	case t == codec.TypePubrel:
		q.want, q.typ, q.seq, q.t = codec.TypePubcomp, codec.TypePubrel, e.Seq, e.T
	default:
		delete(owner.inflight, id)
	}
	return q
}

func ackClause(v codec.Version, t codec.PacketType) string {
	switch t {
	case codec.TypeSuback, codec.TypeUnsuback:
		return clause(v, "MQTT-2.3.1-7", "MQTT-2.2.1-6")
	}
	return clause(v, "MQTT-2.3.1-6", "MQTT-2.2.1-5")
}

// late reports an answer that came after the threshold.
func (c *conn) late(e *trace.Entry, q *pending, cl string) {
	if d := e.T - q.t; d > c.o.AnswerTimeout {
		c.add(Warning, CodeLateAnswer, cl, q.typ.String()+" answered by "+kindName(e)+" after "+seconds(d)+" (threshold "+seconds(c.o.AnswerTimeout)+")", e.Seq, q.seq)
	}
}

func kindName(e *trace.Entry) string {
	if len(e.Bytes) > 0 {
		return codec.PacketType(e.Bytes[0] >> 4).String()
	}
	return strings.TrimPrefix(e.Kind, "mqtt.")
}

func seconds(ms float64) string {
	return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
}

// keepAliveSlack is how far past the keepalive a client's silence must go
// before it is reported: clients time their PINGREQ from their own last
// send, and the trace's clock is not theirs.
func keepAliveSlack(k int) float64 { return max(1000, float64(k)*100) }

// checkGap reports a client that sent nothing for longer than its
// keepalive before e (or before the end, when e is nil).
func (c *conn) checkGap(e *trace.Entry) {
	cl := c.client
	if cl == nil || !cl.sentAny || c.keepAlive == 0 || cl.closed {
		return
	}
	now := c.lastT
	if e != nil {
		now = e.T
	}
	gap := now - cl.lastSent
	k := float64(c.keepAlive) * 1000
	if gap <= k+keepAliveSlack(c.keepAlive) {
		return
	}
	what := "the end of the trace"
	var seq []int
	if e != nil {
		what = kindName(e) + " #" + strconv.Itoa(e.Seq)
		seq = []int{e.Seq}
	}
	text := "client sent nothing for " + seconds(gap) + " before " + what + ", beyond its keepalive of " + strconv.Itoa(c.keepAlive) + " s"
	if gap > 1.5*k {
		text += " and past the broker's 1.5× deadline"
	}
	if len(seq) == 0 {
		seq = []int{c.lastClient}
	}
	c.add(Warning, CodeKeepAlive, clause(c.v, "MQTT-3.1.2-23", "3.1.2.10"), text, seq...)
}

// atEnd returns the findings the end of the trace adds now, leaving c as
// it was.
func (c *conn) atEnd() []Finding {
	kept := c.out
	c.out = nil
	c.finish()
	end := c.out
	c.out = kept
	return end
}

func (c *conn) finish() {
	c.checkGap(nil)
	var open []*pending
	if c.connect != nil {
		open = append(open, c.connect)
	}
	open = append(open, c.pings...)
	for _, s := range []*side{&c.a, &c.b} {
		for _, q := range s.inflight {
			open = append(open, q)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].seq < open[j].seq })
	for _, q := range open {
		text := q.typ.String() + " got no " + q.want.String()
		if d := c.lastT - q.t; d > c.o.AnswerTimeout {
			text += " within " + seconds(d) + ", the rest of the trace"
		} else {
			text += " by the end of the trace, " + seconds(d) + " later"
		}
		c.add(Warning, CodeNoAnswer, answerClause(c.v, q), text, q.seq)
	}
}

func answerClause(v codec.Version, q *pending) string {
	switch q.want {
	case codec.TypeConnack:
		return "MQTT-3.2.0-1"
	case codec.TypePingresp:
		return "MQTT-3.12.4-1"
	case codec.TypeSuback:
		return "MQTT-3.8.4-1"
	case codec.TypeUnsuback:
		return clause(v, "MQTT-3.10.4-4", "MQTT-3.10.4-4")
	case codec.TypePuback:
		return clause(v, "4.3.2", "4.3.2")
	}
	return "4.3.3"
}
