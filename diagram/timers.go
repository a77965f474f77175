package diagram

// Timers the broker keeps for MQTT 5.0 clients, drawn as deadlines on the
// broker's lane like the keepalive: a message's Message Expiry Interval
// [3.3.2.3.3], a will's Will Delay Interval [3.1.3.2.2] and a session's
// Session Expiry Interval [3.1.2.11.2], each from the moment the broker
// starts counting to what the trace shows became of it.

import (
	"strconv"
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Kinds of broker timer (Deadline.Timer).
const (
	TimerMessageExpiry = "message expiry"
	TimerWillDelay     = "will delay"
	TimerSessionExpiry = "session expiry"
)

// maxTimers bounds the timers followed; beyond it the oldest are forgotten.
const maxTimers = 4096

// timer is one broker timer: secs seconds from start.
type timer struct {
	kind   string
	start  *item  // the PUBLISH the broker received, the connection's end
	broker string // the broker's party
	secs   int
	key    string // the message's topic, or the session's client id
	retain bool   // a retained message: the broker keeps it until it expires
	// What became of it: end (a delivery, a drop, the will's PUBLISH, the
	// CONNACK of the return) and whether that is the benign outcome;
	// void when the trace shows it never ran out (replaced, clean start).
	end  *item
	ok   bool
	void bool
}

func (x *timer) due() float64 { return x.start.e.T + float64(x.secs)*1000 }

// session is what a v5 CONNECT asked of the broker.
type session struct {
	id            string
	broker        string
	willTopic     string // "" without a will
	willDelay     int
	sessionExpiry uint32
	ended         bool
}

// timers follows the broker's timers through a trace.
type timers struct {
	list     []*timer
	sessions map[connKey]*session
	returns  map[connKey]*timer // a returning client's session timer, awaiting its CONNACK
	brokers  map[string]bool    // parties that received a CONNECT
	conn     codec.Connect      // reused
	ack      codec.Connack      // reused
	disc     codec.Disconnect   // reused
}

// toBroker reports whether e goes to the broker itself (not to the proxy
// that relays it: the broker counts from the copy it receives).
func (t *timers) toBroker(e *trace.Entry) bool { return e.To != "proxy" && t.brokers[e.To] }

// followTimers reads the packets that start and end the broker's timers;
// pub is it's PUBLISH decoded as v5, or nil.
func (m *Model) followTimers(it *item, pub *codec.Publish) {
	t := &m.timers
	e := &it.e
	k := connKey{e.Leg, e.Conn}
	switch {
	case e.Kind == "mqtt.CONNECT" && e.To != "proxy":
		if t.brokers == nil {
			t.brokers, t.sessions, t.returns = map[string]bool{}, map[connKey]*session{}, map[connKey]*timer{}
		}
		t.brokers[e.To] = true
		c := &t.conn
		if c.Decode(e.Bytes, codec.V5) != nil || c.Version != codec.V5 || len(t.sessions) >= maxTimers {
			return
		}
		s := &session{id: strings.Clone(c.ClientID), broker: e.To, sessionExpiry: c.Properties.SessionExpiry}
		if c.WillFlag && c.WillProperties.Has(codec.PropWillDelay) {
			s.willTopic, s.willDelay = strings.Clone(c.WillTopic), int(c.WillProperties.WillDelay)
		}
		t.sessions[k] = s
		// A client back: its will is not published [MQTT-3.1.3-9], and its
		// session, if still kept, is resumed.
		for _, x := range t.list {
			if x.end != nil || x.void || x.key != s.id || x.start.e.Leg != e.Leg {
				continue
			}
			switch {
			case x.kind == TimerWillDelay:
				x.end, x.ok = it, e.T < x.due()
			case x.kind == TimerSessionExpiry && c.CleanStart && e.T < x.due():
				x.void = true // the client discarded it itself
			case x.kind == TimerSessionExpiry:
				t.returns[k] = x
			}
		}
	case e.Kind == "mqtt.CONNACK" && t.brokers[e.From]:
		x := t.returns[k]
		if x == nil || t.ack.Decode(e.Bytes, codec.V5) != nil {
			return
		}
		delete(t.returns, k)
		x.end, x.ok = it, t.ack.SessionPresent
	case e.Kind == "mqtt.PUBLISH" && pub != nil:
		if pub.Topic == "" && it.mqtt5 != nil {
			pub.Topic = it.mqtt5.AliasTopic
		}
		if pub.Retain && t.toBroker(e) {
			t.replace(pub.Topic, it) // or cleared, with an empty payload
		}
		switch {
		case t.toBroker(e) && pub.Properties.Has(codec.PropMessageExpiry):
			t.add(&timer{kind: TimerMessageExpiry, start: it, broker: e.To, secs: int(pub.Properties.MessageExpiry),
				key: strings.Clone(pub.Topic), retain: pub.Retain})
		case t.brokers[e.From]:
			t.delivered(it, pub)
		}
	case e.Kind == trace.KindBrokerDrop && e.Drop != nil && e.Drop.Reason == trace.DropExpired:
		for _, x := range t.list {
			if x.kind == TimerMessageExpiry && x.end == nil && !x.void && x.key == e.Drop.Topic {
				x.end = it
				break
			}
		}
	}
	if s := t.sessions[k]; s != nil && !s.ended && closing(e) {
		m.sessionEnd(s, it)
	}
}

// sessionEnd starts the timers of a connection that ended with it.
func (m *Model) sessionEnd(s *session, it *item) {
	t := &m.timers
	s.ended = true
	for _, o := range t.sessions {
		if o != s && !o.ended && o.id == s.id && o.broker == s.broker {
			return // taken over [MQTT-3.1.4-3]: the session goes on
		}
	}
	cut := true // no DISCONNECT from the client: the will is due [MQTT-3.1.2-8]
	if it.e.Kind == "mqtt.DISCONNECT" && !t.brokers[it.e.From] && t.disc.Decode(it.e.Bytes, codec.V5) == nil {
		cut = t.disc.ReasonCode == 0x04 // Disconnect with Will Message
		if t.disc.Properties.Has(codec.PropSessionExpiry) {
			s.sessionExpiry = t.disc.Properties.SessionExpiry
		}
	}
	if cut && s.willDelay > 0 {
		// Published at the will delay or the session's end, whichever
		// comes first [MQTT-3.1.3-9].
		t.add(&timer{kind: TimerWillDelay, start: it, broker: s.broker, secs: min(s.willDelay, int(min(s.sessionExpiry, 1<<30))), key: s.id})
	}
	if s.sessionExpiry > 0 && s.sessionExpiry != 0xFFFFFFFF { // 0xFFFFFFFF: never [3.1.2.11.2]
		t.add(&timer{kind: TimerSessionExpiry, start: it, broker: s.broker, secs: int(s.sessionExpiry), key: s.id})
	}
}

// add follows x, forgetting the oldest timer past maxTimers.
func (t *timers) add(x *timer) {
	if x.secs <= 0 {
		return // at once: no deadline
	}
	t.list = append(t.list, x)
	if len(t.list) > maxTimers {
		t.list[0] = nil
		t.list = t.list[1:]
	}
}

// replace voids the retained message on topic that a new one replaces
// before it expired.
func (t *timers) replace(topic string, it *item) {
	for _, x := range t.list {
		if x.retain && x.end == nil && !x.void && x.key == topic && it.e.T < x.due() {
			x.void = true
		}
	}
}

// delivered resolves the timers a PUBLISH from the broker ends: a will
// published, a message the broker held (its expiry interval counted down
// [MQTT-3.3.2-6]) delivered before it expired.
func (t *timers) delivered(it *item, pub *codec.Publish) {
	for _, x := range t.list {
		if x.end != nil || x.void || it.e.T < x.start.e.T {
			continue
		}
		switch x.kind {
		case TimerWillDelay:
			if s := t.sessionOf(x); s != nil && s.willTopic == pub.Topic {
				x.end = it
			}
		case TimerMessageExpiry:
			if x.key == pub.Topic && pub.Properties.Has(codec.PropMessageExpiry) && int(pub.Properties.MessageExpiry) < x.secs && !x.retain {
				x.end, x.ok = it, true
			}
		}
	}
}

// sessionOf is the session a will timer came from.
func (t *timers) sessionOf(x *timer) *session {
	s := t.sessions[connKey{x.start.e.Leg, x.start.e.Conn}]
	if s != nil && s.id == x.key {
		return s
	}
	return nil
}

// timerDeadlines returns the broker timers that fall due between from and
// to (page times); atEnd includes those after to. Only timers that ran are
// drawn: a message the broker kept or held, a will or session left when
// the connection ended.
func (m *Model) timerDeadlines(out []Deadline, from, to float64, atEnd bool) []Deadline {
	last := to
	if n := len(m.items); n > 0 {
		last = m.items[n-1].e.T
	}
	for _, x := range m.timers.list {
		due := x.due()
		lane, ok := m.laneIndex[x.broker]
		if x.void || !ok || due < from || (due > to && !atEnd) {
			continue
		}
		d := Deadline{T: due, Row: m.timeRow(due), Lane: lane, Timer: x.kind, Interval: x.secs, Met: x.ok}
		var what string
		switch x.kind {
		case TimerMessageExpiry:
			d.Clause = "3.3.2.3.3"
			switch {
			case x.end != nil && x.ok:
				what = "delivered before it expired"
			case x.end != nil || (x.retain && last > due):
				what = "message expired here"
			case x.retain:
				d.Pending, what = true, "retained message expires here"
			default:
				continue // a message not kept or held: nothing to expire
			}
		case TimerWillDelay:
			d.Clause = "3.1.3.2.2"
			switch {
			case x.end != nil && x.ok:
				what = "cancelled, the client came back"
			case x.end != nil || last > due:
				what = "will published here"
			default:
				d.Pending, what = true, "will due here"
			}
		case TimerSessionExpiry:
			d.Clause = "3.1.2.11.2"
			switch {
			case x.end != nil && x.ok:
				what = "session kept, resumed"
			case x.end != nil:
				what = "session gone here"
			default:
				d.Pending, what = true, "session kept until here"
			}
		}
		d.Label = x.kind + " " + strconv.Itoa(x.secs) + " s: " + what + " [" + d.Clause + "]"
		out = append(out, d)
	}
	return out
}
