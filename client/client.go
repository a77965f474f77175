package client

import (
	"errors"
	"strconv"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// Errors returned by the command methods.
var (
	ErrNotConnected = errors.New("client: not connected")
	ErrNoPacketID   = errors.New("client: all 65535 packet identifiers are in flight")
	ErrPingPending  = errors.New("client: a PINGREQ is already waiting for its PINGRESP")
	ErrBusy         = errors.New("client: already connecting or connected")
)

// Config configures a Client. The zero value is a valid MQTT 5.0 client
// with a generated client id, no keepalive and no reconnect.
type Config struct {
	Version    codec.Version // codec.V311 or codec.V5 (default V5)
	ClientID   string        // generated ("lifeline-" + 8 hex digits) when empty
	Username   string        // sent when non-empty
	Password   []byte        // sent when non-nil
	KeepAlive  uint16        // seconds; 0 disables keepalive
	CleanStart bool          // Clean Session (3.1.1) / Clean Start (5.0) of the first CONNECT
	Will       *Message      // the will message, if any
	// Properties are the CONNECT properties (MQTT 5.0): Session Expiry
	// Interval, Receive Maximum, Maximum Packet Size, Topic Alias Maximum,
	// User Properties… The client enforces those that bind the broker.
	Properties codec.Properties

	// PingTimeout bounds the wait for PINGRESP (default KeepAlive/2, at
	// least 1s); after it the connection is declared dead.
	PingTimeout time.Duration
	// ConnectTimeout bounds the wait for CONNACK (default 10s).
	ConnectTimeout time.Duration
	// Reconnect after a lost or refused connection, with Backoff.
	Reconnect bool
	Backoff   Backoff
	// MaxInflight caps our unacknowledged QoS 1/2 PUBLISHes in MQTT 3.1.1,
	// which has no Receive Maximum (default 65535).
	MaxInflight uint16
	// TopicAliases makes the client assign Topic Aliases to every outgoing
	// PUBLISH when the broker allows them (a Topic Alias Maximum in
	// CONNACK): the first PUBLISH to a topic sets an alias, later ones send
	// the alias and no topic. Message.TopicAlias asks for one message.
	TopicAliases bool
	// Seed seeds the jitter and the generated client id.
	Seed uint64
	// BytesOnly leaves Packet nil in the EventReceive of a PUBLISH and in
	// the EventSend of the PUBACK that answers one (their Bytes are there,
	// and the message is in its EventMessage), so that the client decodes
	// and encodes those in structs of its own, used again for the next,
	// rather than a new one each: 360 bytes a received message, 330 more
	// at QoS 1, for a collector that runs on a browser page's one thread.
	// An EventMessage's Message is then the client's too, used again once
	// Next has reported no more events: copy what is kept beyond that.
	// The page's client sets it; a caller that reads those packets from
	// the events leaves it off.
	BytesOnly bool
}

// out states of an outgoing QoS>0 (or queued QoS 0) message.
const (
	outQueued   = iota // not sent on this connection
	outSent            // PUBLISH sent, waiting for PUBACK / PUBREC
	outReleased        // PUBREC arrived, PUBREL sent, waiting for PUBCOMP
)

type outMsg struct {
	pub   codec.Publish // our own copy: Topic and Payload never change
	wire  []byte        // pub encoded by Publish, sent as is unless pump changes it; nil once sent
	state int
	alias bool // use a Topic Alias when the broker allows (Message.TopicAlias)
}

type pendingSub struct {
	unsub bool
	n     int // number of filters
}

// Client is the sans-IO MQTT client: it owns no socket, goroutine or clock.
// The driver feeds it time, received bytes and transport outcomes, and user
// commands; it drains Events (Next) and writes and closes as they say, and
// calls Tick when Deadline passes. A Client is not safe for concurrent use:
// call it from one goroutine (or the browser's event loop).
type Client struct {
	cfg      Config
	v        codec.Version
	clientID string
	rnd      rng

	state    State
	events   []Event
	head     int
	split    *codec.Splitter
	maxIn    int       // the splitter's bound on a packet's size (0: MaxPacketSize)
	attempts int       // consecutive failed connections, for backoff
	retryAt  time.Time // StateWaiting: when to dial again
	deadline time.Time // StateConnecting: CONNACK deadline
	userQuit bool      // Disconnect was called: do not reconnect

	// Session state, kept across connections.
	ids      idSet
	out      []*outMsg // our messages in order
	inflight int       // out entries in outSent/outReleased
	// pumpFrom is where pump looks for queued messages: none of out's
	// entries before it is outQueued. A burst of 5,000 publishes at QoS 1
	// has 5,000 in flight; pump runs after each publish and each
	// acknowledgement, and looking from the start every time made the
	// burst quadratic (16 µs a message natively, BenchmarkPublishBurst).
	pumpFrom  int
	relTwice  map[uint16]struct{} // QoS 2 ids whose PUBREL went out more than once (see completed)
	inRel     map[uint16]struct{} // received QoS 2 ids waiting for PUBREL
	subs      map[uint16]pendingSub
	cleanNext bool // Clean Start of the next CONNECT
	haveSess  bool // we hold session state the broker should have

	// Per connection.
	sendQuota    int // broker's Receive Maximum
	maxOut       int // broker's Maximum Packet Size (0: none)
	maxQoS       codec.QoS
	retainOK     bool
	aliasMax     uint16 // broker's Topic Alias Maximum
	aliasOut     map[string]uint16
	aliasIn      map[uint16]string
	keepAlive    time.Duration
	lastSent     time.Time
	lastRecv     time.Time
	pingAt       time.Time // PINGREQ outstanding since; zero if none
	connectingAt time.Time

	// With Config.BytesOnly: received PUBLISHes are decoded in dec, and
	// the PUBACK sent last is in ackOut, each used again for the next.
	dec    codec.Decoder
	ackOut codec.Puback
	// … and the messages of the events queued are in msgs, used again
	// once Next has none left (a received batch's, 170 or so in a flood).
	msgs []Message
}

// New returns a Client in StateDisconnected.
func New(cfg Config) *Client {
	if cfg.Version == 0 {
		cfg.Version = codec.V5
	}
	c := &Client{cfg: cfg, v: cfg.Version, rnd: rng{s: cfg.Seed}, cleanNext: cfg.CleanStart,
		inRel: map[uint16]struct{}{}, subs: map[uint16]pendingSub{}}
	c.clientID = cfg.ClientID
	if c.clientID == "" {
		n := c.rnd.next()
		b := []byte("lifeline-")
		for i := 0; i < 8; i++ {
			b = append(b, hexDigits[(n>>(4*i))&15])
		}
		c.clientID = string(b)
	}
	max := 0
	if cfg.Version == codec.V5 && cfg.Properties.Has(codec.PropMaximumPacketSize) {
		max = int(cfg.Properties.MaximumPacketSize)
	}
	c.split = codec.NewSplitter(max)
	c.maxIn = max
	return c
}

// State returns the current state.
func (c *Client) State() State { return c.state }

// ClientID returns the client identifier in use (generated, configured or
// assigned by the broker).
func (c *Client) ClientID() string { return c.clientID }

// Version returns the protocol version.
func (c *Client) Version() codec.Version { return c.v }

// Next removes and returns the oldest pending event; ok is false when there
// is none. Drain it after every call into the Client.
func (c *Client) Next() (ev Event, ok bool) {
	if c.head >= len(c.events) {
		c.events, c.head = c.events[:0], 0
		if len(c.msgs) > 0 {
			clear(c.msgs) // what they point to (a batch's buffer) is the collector's
			c.msgs = c.msgs[:0]
		}
		return Event{}, false
	}
	ev = c.events[c.head]
	c.events[c.head] = Event{}
	c.head++
	return ev, true
}

// Deadline returns when Tick must next be called, or the zero Time when no
// timer is running.
func (c *Client) Deadline() time.Time {
	switch c.state {
	case StateWaiting:
		return c.retryAt
	case StateConnecting:
		return c.deadline
	case StateConnected:
		if c.keepAlive <= 0 && c.pingAt.IsZero() {
			return time.Time{}
		}
		if !c.pingAt.IsZero() {
			return c.pingAt.Add(c.pingTimeout())
		}
		last := c.lastSent
		if c.lastRecv.Before(last) {
			last = c.lastRecv
		}
		return last.Add(c.keepAlive)
	}
	return time.Time{}
}

func (c *Client) pingTimeout() time.Duration {
	if c.cfg.PingTimeout > 0 {
		return c.cfg.PingTimeout
	}
	d := c.keepAlive / 2
	if d < time.Second {
		d = time.Second
	}
	return d
}

// Tick runs the timers due at now: reconnect, CONNACK timeout, keepalive
// PINGREQ and the PINGRESP deadline.
func (c *Client) Tick(now time.Time) {
	d := c.Deadline()
	if d.IsZero() || now.Before(d) {
		return
	}
	switch c.state {
	case StateWaiting:
		c.dial(now)
	case StateConnecting:
		c.fail(now, codec.ReasonUnspecifiedError, "3.1.4", "no CONNACK within "+dur(c.connectTimeout()), nil, false)
	case StateConnected:
		if !c.pingAt.IsZero() {
			c.fail(now, codec.ReasonKeepAliveTimeout, "4.4", "no PINGRESP within "+dur(c.pingTimeout())+": connection is dead", nil, false)
			return
		}
		c.sendPing(now)
	}
}

func (c *Client) connectTimeout() time.Duration {
	if c.cfg.ConnectTimeout > 0 {
		return c.cfg.ConnectTimeout
	}
	return 10 * time.Second
}

// Connect starts connecting: it asks the driver to dial (EventDial).
func (c *Client) Connect(now time.Time) error {
	if c.state != StateDisconnected {
		return ErrBusy
	}
	c.userQuit = false
	c.attempts = 0
	c.dial(now)
	return nil
}

func (c *Client) dial(now time.Time) {
	c.setState(now, StateDialing, 0)
	c.emit(Event{Type: EventDial, Time: now})
}

// Dialed tells the client its transport is open; it sends CONNECT.
func (c *Client) Dialed(now time.Time) {
	if c.state != StateDialing {
		c.emit(Event{Type: EventClose, Time: now}) // a dial nobody wants any more
		return
	}
	c.split.Reset()
	c.aliasOut, c.aliasIn = nil, nil
	c.pingAt = time.Time{}
	c.connectingAt = now
	c.deadline = now.Add(c.connectTimeout())
	p := &codec.Connect{
		Version:      c.v,
		CleanStart:   c.cleanNext,
		KeepAlive:    c.cfg.KeepAlive,
		ClientID:     c.clientID,
		UsernameFlag: c.cfg.Username != "",
		Username:     c.cfg.Username,
		PasswordFlag: c.cfg.Password != nil,
		Password:     c.cfg.Password,
	}
	if c.v == codec.V5 {
		p.Properties = c.cfg.Properties
	}
	if w := c.cfg.Will; w != nil {
		p.WillFlag, p.WillTopic, p.WillPayload, p.WillQoS, p.WillRetain = true, w.Topic, w.Payload, w.QoS, w.Retain
		if c.v == codec.V5 {
			p.WillProperties = w.Properties
		}
	}
	c.setState(now, StateConnecting, 0)
	if err := c.send(now, p); err != nil {
		c.fail(now, 0, "3.1", "cannot encode CONNECT: "+err.Error(), err, false)
	}
}

// DialFailed tells the client the transport could not be opened.
func (c *Client) DialFailed(now time.Time, err error) {
	if c.state != StateDialing {
		return
	}
	c.errorEvent(now, &Error{Text: "dial failed: " + errText(err), Fatal: true, Err: err})
	c.lost(now)
}

// Closed tells the client the transport closed (broker closed it, or a read
// or write failed); err may be nil. Not called after EventClose.
func (c *Client) Closed(now time.Time, err error) {
	if c.state != StateConnecting && c.state != StateConnected {
		return
	}
	text := "connection closed by the broker"
	if err != nil {
		text = "connection lost: " + err.Error()
	}
	if n := c.split.Buffered(); n > 0 {
		text += " in the middle of a packet (" + itoa(n) + " bytes of it received)"
	}
	if c.state == StateConnecting {
		text += " before CONNACK"
	}
	c.errorEvent(now, &Error{Text: text, Clause: "4.1", Fatal: true, Err: err})
	c.lost(now)
}

// Receive feeds bytes read from the transport, in any chunking.
func (c *Client) Receive(now time.Time, b []byte) {
	if c.state != StateConnecting && c.state != StateConnected {
		return
	}
	c.split.Write(b)
	for c.state == StateConnecting || c.state == StateConnected {
		pkt, ok, err := c.split.Next()
		if err != nil {
			c.fail(now, codec.ReasonForError(err), clauseOf(err, "1.5.5"), "bad packet framing: "+decodeText(err), err, true)
			return
		}
		if !ok {
			return
		}
		c.received(now, append([]byte(nil), pkt...)) // owned: the decoded packet's views point here
	}
}

// ReceiveOwned is Receive for bytes the caller hands over and never
// touches again: the whole packets in b are decoded where they lie (the
// events' Bytes and the decoded packets' views alias b), not copied, and
// only a packet's start that b ends in waits, copied, for the rest.
func (c *Client) ReceiveOwned(now time.Time, b []byte) {
	for len(b) > 0 && c.split.Buffered() == 0 && (c.state == StateConnecting || c.state == StateConnected) {
		n, err := codec.PacketLen(b, c.maxIn)
		if err != nil || n == 0 || len(b) < n {
			break // in pieces, or bad framing: Receive's way, which says so
		}
		c.received(now, b[:n:n])
		b = b[n:]
	}
	if len(b) > 0 {
		c.Receive(now, b)
	}
}

// received takes one whole packet, raw, which the client keeps.
func (c *Client) received(now time.Time, raw []byte) {
	c.lastRecv = now
	var p codec.Packet
	var err error
	lean := c.cfg.BytesOnly && codec.PacketType(raw[0]>>4) == codec.TypePublish
	if lean {
		p, err = c.dec.Decode(raw, c.v)
	} else {
		p, err = codec.Decode(raw, c.v)
	}
	if err != nil {
		c.emit(Event{Type: EventReceive, Time: now, Bytes: raw, Packet: nil})
		c.fail(now, codec.ReasonForError(err), clauseOf(err, "4.13"), "broker sent an invalid packet: "+decodeText(err), err, true)
		return
	}
	ev := Event{Type: EventReceive, Time: now, Bytes: raw, Packet: p}
	if lean {
		ev.Packet = nil // c.dec's, the next PUBLISH's too
	}
	c.emit(ev)
	c.handle(now, p)
}

func (c *Client) handle(now time.Time, p codec.Packet) {
	if c.state == StateConnecting {
		if cp, ok := p.(*codec.Connack); ok {
			c.handleConnack(now, cp)
			return
		}
		c.fail(now, codec.ReasonProtocolError, "MQTT-3.2.0-1", p.Type().String()+" before CONNACK: the first packet from the broker must be CONNACK", nil, true)
		return
	}
	switch p := p.(type) {
	case *codec.Publish:
		c.handlePublish(now, p)
	case *codec.Puback:
		c.handleAck(now, p.PacketID, codec.TypePuback, p.ReasonCode)
	case *codec.Pubrec:
		c.handleAck(now, p.PacketID, codec.TypePubrec, p.ReasonCode)
	case *codec.Pubcomp:
		c.handleAck(now, p.PacketID, codec.TypePubcomp, p.ReasonCode)
	case *codec.Pubrel:
		c.handlePubrel(now, p)
	case *codec.Suback:
		c.handleSubAck(now, p.PacketID, false, p.ReasonCodes)
	case *codec.Unsuback:
		c.handleSubAck(now, p.PacketID, true, p.ReasonCodes)
	case *codec.Pingresp:
		if !c.pingAt.IsZero() {
			c.emit(Event{Type: EventPong, Time: now, RTT: now.Sub(c.pingAt)})
			c.pingAt = time.Time{}
		}
	case *codec.Disconnect:
		if c.v != codec.V5 {
			c.fail(now, 0, "MQTT-3.14.0", "DISCONNECT from the broker: in MQTT 3.1.1 only the client sends DISCONNECT", nil, true)
			return
		}
		text := "broker sent DISCONNECT: " + p.ReasonCode.Name(codec.TypeDisconnect, codec.V5)
		if p.Properties.Has(codec.PropReasonString) {
			text += ": " + p.Properties.ReasonString
		}
		if p.Properties.Has(codec.PropServerReference) {
			text += " (use server " + p.Properties.ServerReference + ")"
		}
		c.errorEvent(now, &Error{Text: text, Clause: "3.14", Reason: p.ReasonCode, Fatal: true})
		c.closeTransport(now)
		c.lost(now)
	case *codec.Connack:
		c.fail(now, codec.ReasonProtocolError, "MQTT-3.2.0-2", "a second CONNACK on the same connection", nil, true)
	case *codec.Auth:
		c.fail(now, codec.ReasonProtocolError, "MQTT-4.12.0-6", "AUTH from the broker, but the client did not ask for enhanced authentication", nil, true)
	default:
		c.fail(now, codec.ReasonProtocolError, "2.1.2", p.Type().String()+" is sent by clients, never by a broker", nil, true)
	}
}

func (c *Client) handleConnack(now time.Time, p *codec.Connack) {
	if p.ReasonCode != 0 {
		text := "CONNECT refused: " + p.ReasonCode.Name(codec.TypeConnack, c.v)
		if p.Properties.Has(codec.PropReasonString) {
			text += ": " + p.Properties.ReasonString
		}
		cl := "MQTT-3.2.2-5"
		if c.v == codec.V5 {
			cl = "MQTT-3.2.2-7"
		}
		e := &Error{Text: text, Clause: cl, Fatal: true}
		if c.v == codec.V5 {
			e.Reason = p.ReasonCode
		}
		c.errorEvent(now, e)
		c.closeTransport(now)
		c.lost(now)
		return
	}
	if p.SessionPresent && c.cleanNext {
		cl := "MQTT-3.2.2-1"
		if c.v == codec.V5 {
			cl = "MQTT-3.2.2-2"
		}
		c.fail(now, codec.ReasonProtocolError, cl, "Session Present set in answer to a Clean Start CONNECT", nil, true)
		return
	}
	if p.SessionPresent && !c.haveSess && c.v == codec.V5 {
		c.cleanNext = true // start afresh next time [MQTT-3.2.2-4]
		c.fail(now, codec.ReasonProtocolError, "MQTT-3.2.2-4", "broker has a session this client does not know: reconnecting with Clean Start", nil, true)
		return
	}
	pr := &p.Properties
	c.sendQuota = int(c.cfg.MaxInflight)
	if c.sendQuota == 0 {
		c.sendQuota = 65535
	}
	c.maxOut, c.maxQoS, c.retainOK, c.aliasMax = 0, 2, true, 0
	c.keepAlive = time.Duration(c.cfg.KeepAlive) * time.Second
	if c.v == codec.V5 {
		if pr.Has(codec.PropReceiveMaximum) {
			c.sendQuota = int(pr.ReceiveMaximum)
		} else {
			c.sendQuota = 65535
		}
		if pr.Has(codec.PropMaximumPacketSize) {
			c.maxOut = int(pr.MaximumPacketSize)
		}
		if pr.Has(codec.PropMaximumQoS) {
			c.maxQoS = codec.QoS(pr.MaximumQoS)
		}
		if pr.Has(codec.PropRetainAvailable) {
			c.retainOK = pr.RetainAvailable == 1
		}
		if pr.Has(codec.PropTopicAliasMaximum) {
			c.aliasMax = pr.TopicAliasMaximum
		}
		if pr.Has(codec.PropServerKeepAlive) {
			c.keepAlive = time.Duration(pr.ServerKeepAlive) * time.Second // [MQTT-3.2.2-21]
		}
		if pr.Has(codec.PropAssignedClientID) {
			c.clientID = string([]byte(pr.AssignedClientID))
		}
	}
	c.attempts = 0
	c.lastSent, c.lastRecv = now, now
	if !p.SessionPresent {
		c.discardSession(now)
	}
	// The session persists when the broker keeps it after the connection.
	c.haveSess = c.v == codec.V5 && c.cfg.Properties.Has(codec.PropSessionExpiry) && c.cfg.Properties.SessionExpiry > 0 ||
		c.v == codec.V311 && !c.cfg.CleanStart
	c.cleanNext = c.v == codec.V311 && c.cfg.CleanStart
	c.setState(now, StateConnected, 0)
	c.resume(now)
}

// discardSession drops the session state the broker no longer has
// [MQTT-3.2.2-5 (5.0)]: QoS 2 flows past PUBREC are complete from our side;
// unacknowledged PUBLISHes are sent again as new messages; received QoS 2
// ids are forgotten.
func (c *Client) discardSession(now time.Time) {
	keep := c.out[:0]
	for _, m := range c.out {
		switch m.state {
		case outReleased:
			c.inflight--
			c.ids.free(m.pub.PacketID)
			c.emit(Event{Type: EventPublished, Time: now, ID: m.pub.PacketID,
				Err: &Error{Text: "session not present: the broker had acknowledged this QoS 2 message with PUBREC, its PUBREL is dropped", Clause: "4.4"}})
			continue
		case outSent:
			c.inflight--
			m.state = outQueued
		}
		keep = append(keep, m)
	}
	for i := len(keep); i < len(c.out); i++ {
		c.out[i] = nil
	}
	c.out = keep
	c.pumpFrom = 0 // sent ones are queued again
	clear(c.inRel)
}

// resume resends, in the original order, unacknowledged PUBLISHes with DUP
// set and the same id, and PUBREL where PUBREC had arrived [MQTT-4.4.0-1],
// then sends queued messages as the window allows.
func (c *Client) resume(now time.Time) {
	for _, m := range c.out {
		if c.state != StateConnected {
			return
		}
		switch m.state {
		case outSent:
			p := m.pub
			p.Dup = true // [MQTT-3.3.1-1]
			c.send(now, &p)
		case outReleased:
			c.send(now, &codec.Pubrel{PacketID: m.pub.PacketID})
		}
	}
	c.pump(now)
}

// pump sends queued messages in order while the in-flight window allows
// [MQTT-4.9.0-2]; it stops at the first message that must wait, so order is
// kept.
func (c *Client) pump(now time.Time) {
	for c.pumpFrom < len(c.out) && c.out[c.pumpFrom].state != outQueued {
		c.pumpFrom++ // sent since the last look
	}
	for i := c.pumpFrom; i < len(c.out) && c.state == StateConnected; {
		m := c.out[i]
		if m.state != outQueued {
			i++
			continue
		}
		if m.pub.QoS > 0 && c.inflight >= c.sendQuota {
			return
		}
		// Sent as Publish encoded it, unless the broker's limits or a
		// Topic Alias change it: then a copy, changed and encoded again.
		p, wire := &m.pub, m.wire
		m.wire = nil // a resend sets DUP: encoded again
		alias := c.aliasMax > 0 && (m.alias || c.cfg.TopicAliases) && !p.Properties.Has(codec.PropTopicAlias)
		if p.QoS > c.maxQoS || p.Retain && !c.retainOK || alias {
			cp := m.pub
			p, wire = &cp, nil
		}
		if p.QoS > c.maxQoS {
			c.errorEvent(now, &Error{Text: "broker's Maximum QoS is " + itoa(int(c.maxQoS)) + ": publishing " + p.Topic + " at QoS " + itoa(int(c.maxQoS)), Clause: "MQTT-3.2.2-11"})
			p.QoS = c.maxQoS
		}
		if p.Retain && !c.retainOK {
			c.errorEvent(now, &Error{Text: "broker does not support retained messages: publishing " + p.Topic + " without RETAIN", Clause: "MQTT-3.2.2-14"})
			p.Retain = false
		}
		if p.QoS == 0 {
			p.PacketID = 0
		}
		if alias {
			if a, ok := c.aliasOut[p.Topic]; ok {
				p.Topic = ""
				p.Properties.TopicAlias = a
				p.Properties.Set(codec.PropTopicAlias)
			} else if len(c.aliasOut) < int(c.aliasMax) {
				if c.aliasOut == nil {
					c.aliasOut = map[string]uint16{}
				}
				a := uint16(len(c.aliasOut) + 1)
				c.aliasOut[p.Topic] = a
				p.Properties.TopicAlias = a
				p.Properties.Set(codec.PropTopicAlias)
			}
		}
		var err error
		if wire != nil {
			err = c.sendBytes(now, p, wire, p)
		} else {
			err = c.send(now, p)
		}
		if err != nil {
			c.removeOut(i)
			if m.pub.QoS > 0 {
				c.ids.free(m.pub.PacketID)
				c.emit(Event{Type: EventPublished, Time: now, ID: m.pub.PacketID, Err: &Error{Text: "PUBLISH not sent: " + err.Error(), Clause: clauseOf(err, ""), Err: err}})
			} else {
				c.errorEvent(now, &Error{Text: "PUBLISH not sent: " + err.Error(), Clause: clauseOf(err, ""), Err: err})
			}
			continue
		}
		if p.QoS == 0 {
			c.removeOut(i)
			continue
		}
		m.pub.QoS = p.QoS
		m.pub.Retain = p.Retain
		m.state = outSent
		c.inflight++
		i++
	}
}

// removeOut removes out's entry i: from the front (acknowledgements come
// in order, mostly) without moving the rest.
func (c *Client) removeOut(i int) {
	if i < c.pumpFrom {
		c.pumpFrom--
	}
	if i == 0 {
		c.out[0] = nil
		c.out = c.out[1:]
		return
	}
	copy(c.out[i:], c.out[i+1:])
	c.out[len(c.out)-1] = nil
	c.out = c.out[:len(c.out)-1]
}

func (c *Client) findOut(id uint16) int {
	for i, m := range c.out {
		if m.pub.PacketID == id && m.pub.QoS > 0 && m.state != outQueued {
			return i
		}
	}
	return -1
}

func (c *Client) handleAck(now time.Time, id uint16, t codec.PacketType, rc codec.ReasonCode) {
	i := c.findOut(id)
	var m *outMsg
	if i >= 0 {
		m = c.out[i]
	}
	switch {
	case t == codec.TypePuback && m != nil && m.pub.QoS == 1 && m.state == outSent,
		t == codec.TypePubcomp && m != nil && m.state == outReleased,
		t == codec.TypePubrec && m != nil && m.pub.QoS == 2 && m.state == outSent && rc >= 0x80:
		c.removeOut(i)
		c.inflight--
		c.ids.free(id)
		c.emit(Event{Type: EventPublished, Time: now, ID: id, Reason: rc})
		c.pump(now)
	case t == codec.TypePubrec && m != nil && m.pub.QoS == 2:
		if m.state == outReleased {
			if c.relTwice == nil {
				c.relTwice = map[uint16]struct{}{}
			}
			c.relTwice[id] = struct{}{} // one more PUBCOMP may follow the first
		}
		m.state = outReleased // a repeated PUBREC gets its PUBREL again
		c.send(now, &codec.Pubrel{PacketID: id})
	case t == codec.TypePubcomp && m == nil && c.completed(id):
		// A second PUBCOMP answers a PUBREL sent twice: after a resumed
		// session the broker may resend its PUBREC while it also answers
		// the PUBLISH resent with DUP [MQTT-4.4.0-1], and each PUBREC gets
		// its PUBREL. The exchange is complete: nothing to do.
		c.errorEvent(now, &Error{Text: "PUBCOMP for packet id " + itoa(int(id)) + ", whose QoS 2 exchange is already complete (the answer to a repeated PUBREL): ignored", Clause: "4.3.3"})
	case t == codec.TypePubrec:
		// [4.3.3] answer an unknown id with PUBREL "Packet Identifier not found".
		p := &codec.Pubrel{PacketID: id}
		if c.v == codec.V5 {
			p.ReasonCode = codec.ReasonPacketIdentifierNotFound
		}
		c.send(now, p)
	default:
		want, cl := "QoS 2 PUBLISH waiting for PUBCOMP", "4.3.3"
		if t == codec.TypePuback {
			want, cl = "QoS 1 PUBLISH waiting for PUBACK", "4.3.2"
		}
		c.fail(now, codec.ReasonProtocolError, cl, t.String()+" for packet id "+itoa(int(id))+", but no "+want+" has that id", nil, true)
	}
}

// completed reports whether id ended a QoS 2 exchange on this connection
// after a PUBREL was sent for it more than once, so that one more PUBCOMP
// may still come.
func (c *Client) completed(id uint16) bool {
	_, ok := c.relTwice[id]
	delete(c.relTwice, id)
	return ok
}

func (c *Client) handleSubAck(now time.Time, id uint16, unsub bool, codes []codec.ReasonCode) {
	name := "SUBACK"
	if unsub {
		name = "UNSUBACK"
	}
	s, ok := c.subs[id]
	if !ok || s.unsub != unsub {
		c.fail(now, codec.ReasonProtocolError, "MQTT-2.2.1-6", name+" for packet id "+itoa(int(id))+", which has no request waiting for it", nil, true)
		return
	}
	if (!unsub || c.v == codec.V5) && len(codes) != s.n {
		cl := "MQTT-3.9.3-1"
		if unsub {
			cl = "MQTT-3.11.3-1"
		}
		c.fail(now, codec.ReasonProtocolError, cl, name+" carries "+itoa(len(codes))+" reason codes for "+itoa(s.n)+" topic filters", nil, true)
		return
	}
	delete(c.subs, id)
	c.ids.free(id)
	t := EventSubscribed
	if unsub {
		t = EventUnsubscribed
	}
	c.emit(Event{Type: t, Time: now, ID: id, Reasons: codes})
}

func (c *Client) handlePublish(now time.Time, p *codec.Publish) {
	topic := p.Topic
	if c.v == codec.V5 && p.Properties.Has(codec.PropTopicAlias) {
		a := p.Properties.TopicAlias
		max := uint16(0)
		if c.cfg.Properties.Has(codec.PropTopicAliasMaximum) {
			max = c.cfg.Properties.TopicAliasMaximum
		}
		if a == 0 || a > max {
			c.fail(now, codec.ReasonTopicAliasInvalid, "MQTT-3.3.2-9", "Topic Alias "+itoa(int(a))+" outside 1.."+itoa(int(max))+" (our Topic Alias Maximum)", nil, true)
			return
		}
		if topic != "" {
			if c.aliasIn == nil {
				c.aliasIn = map[uint16]string{}
			}
			c.aliasIn[a] = topic
		} else if t, ok := c.aliasIn[a]; ok {
			topic = t
		} else {
			c.fail(now, codec.ReasonProtocolError, "3.3.2.3.4", "PUBLISH with an empty topic and Topic Alias "+itoa(int(a))+", which this connection never defined", nil, true)
			return
		}
	}
	if p.QoS > 0 {
		if _, dup := c.inRel[p.PacketID]; dup && p.QoS == 2 {
			// Already delivered; the broker did not see our PUBREC.
			c.send(now, &codec.Pubrec{PacketID: p.PacketID})
			return
		}
		if c.v == codec.V5 && len(c.inRel) >= c.recvMax() {
			c.fail(now, codec.ReasonReceiveMaximumExceeded, "MQTT-3.3.4-9", "broker sent more than our Receive Maximum ("+itoa(c.recvMax())+") of unacknowledged QoS 1 and 2 PUBLISHes", nil, true)
			return
		}
	}
	msg := Message{Topic: topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Dup: p.Dup, PacketID: p.PacketID, Properties: p.Properties}
	var m *Message
	if c.cfg.BytesOnly {
		// An element of msgs: when append moves them, the events
		// queued still point to the old array, which holds them.
		c.msgs = append(c.msgs, msg)
		m = &c.msgs[len(c.msgs)-1]
	} else {
		m = new(Message)
		*m = msg
	}
	c.emit(Event{Type: EventMessage, Time: now, Message: m})
	switch p.QoS {
	case 1:
		if c.cfg.BytesOnly {
			c.ackOut = codec.Puback{PacketID: p.PacketID}
			c.sendShown(now, &c.ackOut, nil) // used again: its event has its bytes only
		} else {
			c.send(now, &codec.Puback{PacketID: p.PacketID})
		}
	case 2:
		c.inRel[p.PacketID] = struct{}{}
		c.send(now, &codec.Pubrec{PacketID: p.PacketID})
	}
}

func (c *Client) recvMax() int {
	if c.cfg.Properties.Has(codec.PropReceiveMaximum) {
		return int(c.cfg.Properties.ReceiveMaximum)
	}
	return 65535
}

func (c *Client) handlePubrel(now time.Time, p *codec.Pubrel) {
	rp := &codec.Pubcomp{PacketID: p.PacketID}
	if _, ok := c.inRel[p.PacketID]; ok {
		delete(c.inRel, p.PacketID)
	} else if c.v == codec.V5 {
		rp.ReasonCode = codec.ReasonPacketIdentifierNotFound // [3.7.2.1]
	}
	c.send(now, rp)
}

// Publish queues m and sends it as soon as the connection and the in-flight
// window allow. It returns the packet id (0 for QoS 0). Messages keep their
// order; QoS 1 and 2 messages survive reconnects.
func (c *Client) Publish(now time.Time, m Message) (uint16, error) {
	if c.state == StateDisconnected {
		return 0, ErrNotConnected
	}
	// Encoded once, here, which also checks it: what pump sends unchanged
	// (most messages) is these bytes.
	o := &outMsg{pub: codec.Publish{QoS: m.QoS, Retain: m.Retain, Topic: m.Topic, Payload: m.Payload, Properties: m.Properties}, alias: m.TopicAlias}
	p := &o.pub
	if p.QoS > 0 {
		if p.PacketID = c.ids.alloc(); p.PacketID == 0 {
			p.PacketID = 1 // a placeholder, so that a bad message says why first
			if _, err := p.Append(nil, c.v); err != nil {
				return 0, err
			}
			return 0, ErrNoPacketID
		}
	}
	b, err := p.Append(nil, c.v)
	if err != nil {
		if p.QoS > 0 {
			c.ids.free(p.PacketID)
		}
		return 0, err
	}
	o.wire = b
	c.out = append(c.out, o)
	c.pump(now)
	return p.PacketID, nil
}

// Subscribe sends SUBSCRIBE; props are its MQTT 5.0 properties (e.g. a
// Subscription Identifier). It returns the packet id that EventSubscribed
// will carry.
func (c *Client) Subscribe(now time.Time, subs []codec.Subscription, props codec.Properties) (uint16, error) {
	if c.state != StateConnected {
		return 0, ErrNotConnected
	}
	p := &codec.Subscribe{PacketID: 1, Properties: props, Subscriptions: subs}
	return c.request(now, p, &p.PacketID, pendingSub{n: len(subs)})
}

// Unsubscribe sends UNSUBSCRIBE for filters.
func (c *Client) Unsubscribe(now time.Time, filters []string, props codec.Properties) (uint16, error) {
	if c.state != StateConnected {
		return 0, ErrNotConnected
	}
	p := &codec.Unsubscribe{PacketID: 1, Properties: props, Filters: filters}
	return c.request(now, p, &p.PacketID, pendingSub{unsub: true, n: len(filters)})
}

type appender interface {
	codec.Packet
	Append([]byte, codec.Version) ([]byte, error)
}

func (c *Client) request(now time.Time, p appender, id *uint16, s pendingSub) (uint16, error) {
	if _, err := p.Append(nil, c.v); err != nil {
		return 0, err
	}
	if *id = c.ids.alloc(); *id == 0 {
		return 0, ErrNoPacketID
	}
	if err := c.send(now, p); err != nil {
		c.ids.free(*id)
		return 0, err
	}
	c.subs[*id] = s
	return *id, nil
}

// Ping sends a PINGREQ now (the lesson's manual ping); EventPong follows.
func (c *Client) Ping(now time.Time) error {
	if c.state != StateConnected {
		return ErrNotConnected
	}
	if !c.pingAt.IsZero() {
		return ErrPingPending
	}
	c.sendPing(now)
	return nil
}

func (c *Client) sendPing(now time.Time) {
	if c.send(now, &codec.Pingreq{}) == nil {
		c.pingAt = now
	}
}

// Disconnect ends the connection: when connected it sends DISCONNECT (in
// MQTT 5.0 with reason and props, e.g. a Session Expiry Interval or a Reason
// String) and closes; it stops any reconnecting. Session state is kept for a
// later Connect.
func (c *Client) Disconnect(now time.Time, reason codec.ReasonCode, props codec.Properties) error {
	switch c.state {
	case StateDisconnected:
		return ErrNotConnected
	case StateConnected:
		p := &codec.Disconnect{}
		if c.v == codec.V5 {
			p.ReasonCode, p.Properties = reason, props
		}
		if err := c.send(now, p); err != nil {
			return err
		}
		c.closeTransport(now)
	case StateConnecting, StateDialing:
		c.closeTransport(now)
	}
	c.userQuit = true
	c.lost(now)
	return nil
}

// send encodes p and emits it for the driver to write.
func (c *Client) send(now time.Time, p appender) error { return c.sendShown(now, p, p) }

// sendShown is send, its event carrying shown as the Packet: nil for a
// struct the client uses again (Config.BytesOnly).
func (c *Client) sendShown(now time.Time, p appender, shown codec.Packet) error {
	b, err := p.Append(nil, c.v)
	if err != nil {
		return err
	}
	return c.sendBytes(now, p, b, shown)
}

// sendBytes sends p, already encoded as b; its event carries shown.
func (c *Client) sendBytes(now time.Time, p codec.Packet, b []byte, shown codec.Packet) error {
	if c.maxOut > 0 && len(b) > c.maxOut {
		return &Error{Text: p.Type().String() + " of " + itoa(len(b)) + " bytes exceeds the broker's Maximum Packet Size " + itoa(c.maxOut), Clause: "MQTT-3.1.2-24"}
	}
	c.lastSent = now
	c.emit(Event{Type: EventSend, Time: now, Bytes: b, Packet: shown})
	return nil
}

// fail reports a fatal error and ends the connection: in MQTT 5.0, once
// CONNECT is sent and the broker broke the protocol (violation), with a
// DISCONNECT carrying reason and a Reason String [4.13].
func (c *Client) fail(now time.Time, reason codec.ReasonCode, clause, text string, err error, violation bool) {
	c.errorEvent(now, &Error{Text: text, Clause: clause, Reason: reason, Fatal: true, Err: err})
	if violation && c.v == codec.V5 && reason >= 0x80 {
		d := &codec.Disconnect{ReasonCode: reason}
		if len(text) < 1024 {
			d.Properties.ReasonString = text
			d.Properties.Set(codec.PropReasonString)
		}
		c.maxOut = 0 // a Reason String must not make the DISCONNECT undeliverable
		c.send(now, d)
	}
	c.closeTransport(now)
	c.lost(now)
}

func (c *Client) closeTransport(now time.Time) {
	if c.state == StateConnecting || c.state == StateConnected || c.state == StateDialing {
		c.emit(Event{Type: EventClose, Time: now})
	}
}

// lost ends the connection: pending SUBSCRIBE/UNSUBSCRIBE are dropped, and
// the client reconnects after a backoff delay unless told not to.
func (c *Client) lost(now time.Time) {
	for id := range c.subs {
		c.ids.free(id)
		delete(c.subs, id)
	}
	c.pingAt = time.Time{}
	c.aliasOut, c.aliasIn = nil, nil
	c.split.Reset()
	if c.userQuit || !c.cfg.Reconnect {
		c.setState(now, StateDisconnected, 0)
		return
	}
	c.attempts++
	d := c.cfg.Backoff.Delay(c.attempts, c.rnd.float())
	c.retryAt = now.Add(d)
	c.setState(now, StateWaiting, d)
}

func (c *Client) setState(now time.Time, s State, delay time.Duration) {
	if s == c.state {
		return
	}
	c.emit(Event{Type: EventState, Time: now, State: s, Prev: c.state, Delay: delay})
	c.state = s
}

func (c *Client) errorEvent(now time.Time, e *Error) {
	c.emit(Event{Type: EventError, Time: now, Err: e})
}

func (c *Client) emit(e Event) { c.events = append(c.events, e) }

func clauseOf(err error, def string) string {
	var de *codec.DecodeError
	if errors.As(err, &de) && de.Clause != "" {
		return de.Clause
	}
	return def
}

// decodeText is err's text without the clause, which Error carries.
func decodeText(err error) string {
	var de *codec.DecodeError
	if errors.As(err, &de) {
		c := *de
		c.Clause = ""
		return c.Error()
	}
	return err.Error()
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func itoa(n int) string { return strconv.Itoa(n) }

func dur(d time.Duration) string { return d.String() }
