package diagram

// Timers the broker keeps for MQTT 5.0 clients, drawn as deadlines on the
// broker's lane like the keepalive: a message's Message Expiry Interval
// [3.3.2.3.3], a will's Will Delay Interval [3.1.3.2.2] and a session's
// Session Expiry Interval [3.1.2.11.2], each from the moment the broker
// starts counting to what the trace shows became of it. The code is
// compact on purpose: it is compiled into the WebAssembly client.

import (
	"strconv"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Kinds of broker timer (Deadline.Timer).
const (
	TimerMessageExpiry = "message expiry"
	TimerWillDelay     = "will delay"
	TimerSessionExpiry = "session expiry"
)

// timerKinds are the kinds of timer: the name, the clause, and the words
// for pending, met (the benign end) and missed.
var timerKinds = [4][5]string{
	1: {TimerMessageExpiry, "3.3.2.3.3", "retained message expires here", "delivered before it expired", "message expired here"},
	2: {TimerWillDelay, "3.1.3.2.2", "will due here", "cancelled, the client came back", "will published here"},
	3: {TimerSessionExpiry, "3.1.2.11.2", "session kept until here", "session kept, resumed", "session gone here"},
}

// Kinds of record in timers.list.
const (
	recConn    = 0 // a v5 connection: what its CONNECT asked for; not drawn
	recMessage = 1
	recWill    = 2
	recSession = 3
)

// What an entry may end (followTimers).
const (
	evReturn  = 1 + iota // a client back: its will and session
	evRetain             // a retained message replaced
	evDrop               // a message the broker dropped as expired
	evDeliver            // a will or held message delivered
)

// maxTimers bounds the records followed; beyond it the older half is
// forgotten, but for the connections still open.
const maxTimers = 4096

// timer is a connection, or one broker timer: secs seconds from start.
type timer struct {
	_      noEq
	kind   int
	start  *item  // the CONNECT; the PUBLISH the broker received; the connection's end
	end    *item  // what resolved it: a delivery, a drop, the will, the return's CONNACK
	broker string // the broker's party
	key    string // the client id, or the message's topic
	will   string // a connection's will topic
	secs   int    // a connection's will delay
	expiry uint32 // a connection's session expiry
	conn   *timer // a will's or session's connection; a connection's return, awaiting CONNACK
	ok     bool   // the end is the benign one
	void   bool   // it never ran out: replaced, taken over, discarded
	retain bool   // a retained message, kept until it expires
	ended  bool   // a connection that ended
}

// noEq makes a struct that holds it not comparable, so that the compiler
// writes no equality function for it into the WebAssembly client (about
// 5 KB of code for the view's types). Zero bytes; first in the struct, so
// it adds no padding.
type noEq [0]func()

func (x *timer) due() float64 { return x.start.e.T + float64(x.secs)*1000 }

// timers follows the broker's timers through a trace.
type timers struct {
	list []*timer
	conn codec.Connect // reused
	ack  codec.Connack // reused
	disc codec.Disconnect
}

// followTimers reads the packets that start and end the broker's timers;
// pub is it's PUBLISH decoded as v5, or nil; from and to its parties.
func (m *Model) followTimers(it *item, pub *codec.Publish, from, to *party) {
	t := &m.timers
	e := &it.e
	fromBroker := from != nil && from.broker
	toBroker := !fromBroker && to != nil && to.broker && e.To != "proxy"
	kind := -1
	switch e.Kind {
	case "mqtt.CONNECT":
		if e.To == "proxy" {
			return // the broker counts from the copy it receives
		}
		if to != nil {
			to.broker = true
		}
		if t.conn.Decode(e.Bytes, codec.V5) != nil || t.conn.Version != codec.V5 {
			return
		}
		kind = recConn
	case "mqtt.PUBLISH":
		if pub == nil {
			return
		}
		if pub.Topic == "" && it.mqtt5 != nil {
			pub.Topic = it.mqtt5.AliasTopic
		}
		if toBroker && pub.Properties.Has(codec.PropMessageExpiry) {
			kind = recMessage
		}
	case trace.KindBrokerDrop:
	default:
		if e.Kind == "mqtt.CONNACK" || closing(e) {
			m.connEntry(it, fromBroker)
		}
		return
	}
	// Keys are views into the packets' bytes, which the arrows keep.
	var add *timer
	if kind >= 0 {
		add = &timer{kind: kind, start: it, broker: e.To}
	}
	// What the entry may end, and the key a timer must have for it.
	ev, match := 0, ""
	switch {
	case kind == recConn:
		p := &t.conn
		add.key, add.expiry = p.ClientID, p.Properties.SessionExpiry
		if p.WillFlag {
			add.will, add.secs = p.WillTopic, int(p.WillProperties.WillDelay)
		}
		ev, match = evReturn, add.key
	case kind == recMessage:
		add.key, add.secs, add.retain = pub.Topic, int(pub.Properties.MessageExpiry), pub.Retain
	}
	switch {
	case ev != 0:
	case toBroker && pub != nil && pub.Retain:
		ev, match = evRetain, pub.Topic
	case e.Drop != nil && e.Drop.Reason == trace.DropExpired:
		ev, match = evDrop, e.Drop.Topic
	case fromBroker && pub != nil:
		ev, match = evDeliver, pub.Topic
	}
	for _, x := range t.list {
		if ev == 0 || x.end != nil || x.void || x.kind == recConn || e.T < x.start.e.T {
			continue
		}
		k := x.key
		if x.kind == recWill && ev == evDeliver {
			k = x.conn.will
		}
		if k != match {
			continue
		}
		due := e.T < x.due()
		switch {
		case ev == evReturn:
			// A client back: its will is not published [MQTT-3.1.3-9],
			// and its session, if still kept, is resumed; one that asks
			// for a clean start before then discards it.
			switch {
			case x.kind == recWill:
				x.end, x.ok = it, due
			case x.kind == recSession && due && t.conn.CleanStart:
				x.void = true
			case x.kind == recSession:
				add.conn = x
			}
		case ev == evRetain && x.retain && due:
			x.void = true // replaced (or cleared) before it expired
		case ev == evDrop && x.kind == recMessage:
			x.end = it
		case ev == evDeliver && x.kind == recWill:
			x.end = it
		case ev == evDeliver && x.kind == recMessage && !x.retain &&
			pub.Properties.Has(codec.PropMessageExpiry) && int(pub.Properties.MessageExpiry) < x.secs:
			// Held, its interval counted down [MQTT-3.3.2-6], and delivered.
			x.end, x.ok = it, true
		}
	}
	if add != nil {
		t.list = append(t.list, add)
		if len(t.list) > maxTimers { // connEnd adds too
			// Keep the newest half and the connections still open.
			kept := t.list[:0]
			for i, x := range t.list {
				if i >= len(t.list)-maxTimers/2 || x.kind == recConn && !x.ended {
					kept = append(kept, x)
				}
			}
			clear(t.list[len(kept):])
			t.list = kept
		}
	}
	if e.Kind == "mqtt.DISCONNECT" {
		m.connEntry(it, fromBroker)
	}
}

// connEntry reads a CONNACK or the end of a v5 connection.
func (m *Model) connEntry(it *item, fromBroker bool) {
	t := &m.timers
	e := &it.e
	var c *timer // the connection
	for i := len(t.list) - 1; i >= 0 && c == nil; i-- {
		if x := t.list[i]; x.kind == recConn && !x.ended && x.start.e.Conn == e.Conn && x.start.e.Leg == e.Leg {
			c = x
		}
	}
	switch {
	case c == nil:
	case e.Kind == "mqtt.CONNACK":
		if c.conn != nil && fromBroker && t.ack.Decode(e.Bytes, codec.V5) == nil {
			c.conn.end, c.conn.ok, c.conn = it, t.ack.SessionPresent, nil
		}
	default:
		m.connEnd(c, it, fromBroker)
	}
}

// connEnd starts the timers of a connection that ended with it.
func (m *Model) connEnd(c *timer, it *item, fromBroker bool) {
	t := &m.timers
	c.ended = true
	for _, x := range t.list {
		if x.kind == recConn && !x.ended && x.key == c.key && x.broker == c.broker {
			return // taken over [MQTT-3.1.4-3]: the session goes on
		}
	}
	will := c.will != "" // no DISCONNECT from the client: the will is due [MQTT-3.1.2-8]
	if it.e.Kind == "mqtt.DISCONNECT" && !fromBroker && t.disc.Decode(it.e.Bytes, codec.V5) == nil {
		will = will && t.disc.ReasonCode == 0x04 // Disconnect with Will Message
		if t.disc.Properties.Has(codec.PropSessionExpiry) {
			c.expiry = t.disc.Properties.SessionExpiry
		}
	}
	lim := int(min(c.expiry, 1<<30))
	exp := lim
	if c.expiry == 0xFFFFFFFF {
		exp = 0 // never expires [3.1.2.11.2]
	}
	// The will goes at its delay or the session's end, whichever comes
	// first [MQTT-3.1.3-9].
	for _, x := range [2]timer{{kind: recWill, secs: min(c.secs, lim), void: !will}, {kind: recSession, secs: exp}} {
		if !x.void && x.secs > 0 {
			x.start, x.broker, x.key, x.conn = it, c.broker, c.key, c
			t.list = append(t.list, &x)
		}
	}
}

// timerDeadlines adds to out the broker timers that fall due between from
// and to (page times), and after to when atEnd. Only timers that ran are
// drawn: a message the broker kept or held, a will or session left when
// the connection ended.
func (m *Model) timerDeadlines(out []Deadline, from, to float64, atEnd bool) []Deadline {
	last := m.items[len(m.items)-1].e.T
	for _, x := range m.timers.list {
		due := x.due()
		lane, ok := m.laneIndex[x.broker]
		if x.kind == recConn || x.void || !ok || due < from || (due > to && !atEnd) {
			continue
		}
		k := &timerKinds[x.kind]
		d := Deadline{T: due, Row: m.timeRow(due), Lane: lane, Timer: k[0], Interval: x.secs, Clause: k[1], Met: x.ok}
		words := k[4] // missed: expired, published, gone
		switch {
		case x.ok:
			words = k[3]
		case x.end == nil && x.kind == recMessage && !x.retain:
			continue // a message not kept or held: nothing to expire
		case x.end == nil && last <= due:
			d.Pending, words = true, k[2]
		}
		d.Label = k[0] + " " + strconv.Itoa(x.secs) + " s: " + words + " [" + k[1] + "]"
		out = append(out, d)
	}
	return out
}
