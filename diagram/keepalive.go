package diagram

// Keepalive: each client's channel of sends on a leg and connection, and
// the deadlines the view draws: KeepAlive seconds after its last packet
// [MQTT-3.1.2-22 ff.], the broker allowing one and a half.

import (
	"sort"
	"strconv"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Deadline is a keepalive deadline: the time by which a client must send a
// packet [MQTT-3.1.2-22 ff.], KeepAlive seconds after its last one; or,
// with Timer set, a timer the broker keeps (timers.go), Interval seconds
// long, on the broker's lane.
type Deadline struct {
	_         noEq    // see noEq
	T         float64 `json:"t"`
	Row       float64 `json:"row"` // where it falls between arrows: 2.5 is halfway between rows 2 and 3
	Lane      int     `json:"lane"`
	KeepAlive int     `json:"keepAlive"` // seconds
	Met       bool    `json:"met"`       // the client sent a packet by then; a timer's benign end (delivered, will cancelled, session kept)
	Pending   bool    `json:"pending"`   // still ahead
	Label     string  `json:"label"`
	Timer     string  `json:"timer,omitempty"`    // TimerMessageExpiry, TimerWillDelay, TimerSessionExpiry
	Interval  int     `json:"interval,omitempty"` // a timer's seconds
	Clause    string  `json:"clause,omitempty"`   // a timer's section of the MQTT 5.0 specification
}

// chanKey names a client's keepalive channel.
type chanKey struct{ leg, conn, client string }

// channel follows one client's keepalive on one leg and connection.
type channel struct {
	leg, conn, client string
	keepAlive         int       // seconds; 0 disables
	src               Source    // which clock sends are on
	sends             []float64 // raw times of the client's packets, ascending
	closed            bool
	closedAt          float64 // raw
}

// follow keeps the keepalive bookkeeping of clients; from and to are
// it's parties.
func (m *Model) follow(it *item, from, to *party) {
	e := &it.e
	if e.Kind == "mqtt.CONNECT" && e.From != "proxy" { // the proxy's copy has the same deadlines
		ka16, ok := codec.PeekKeepAlive(e.Bytes)
		if !ok {
			return
		}
		ka := int(ka16)
		c := &channel{leg: e.Leg, conn: e.Conn, client: e.From, keepAlive: ka, src: it.src, sends: []float64{it.rawT}}
		key := chanKey{e.Leg, e.Conn, e.From}
		if old := m.byChan[key]; old != nil && !old.closed {
			old.closed, old.closedAt = true, it.rawT
		}
		if at, ok := m.ended[connKey{e.Leg, e.Conn}]; ok && e.Conn != "" {
			// The close was reported (by the other clock) before this
			// CONNECT arrived.
			c.closed, c.closedAt = true, at
		}
		m.byChan[key] = c
		m.channels = append(m.channels, c)
		if from != nil {
			from.client = true
		}
		return
	}
	if closing(e) && e.Conn != "" && len(m.ended) < 4096 {
		m.ended[connKey{e.Leg, e.Conn}] = m.raw(it.e.T, Local)
	}
	// A packet from the client, or the end of its connection.
	// Only a party that had a channel (or one unnamed) is looked up:
	// hashing the key is slow in WebAssembly.
	for i, p := range [2]*party{from, to} {
		if p != nil && !p.client {
			continue
		}
		c := m.byChan[chanKey{e.Leg, e.Conn, [2]string{e.From, e.To}[i]}]
		if c == nil || c.closed {
			continue
		}
		fromClient := e.From == c.client
		switch {
		case closing(e):
			c.closed, c.closedAt = true, it.rawT
		case fromClient && len(e.Kind) > 5 && e.Kind[:5] == "mqtt.":
			i := len(c.sends)
			for i > 0 && c.sends[i-1] > it.rawT {
				i--
			}
			c.sends = append(c.sends, 0)
			copy(c.sends[i+1:], c.sends[i:])
			c.sends[i] = it.rawT
		}
	}
}

// closing reports whether an entry ends its connection. Not inlined: one
// copy in the wasm for its three callers.
//
//go:noinline
func closing(e *trace.Entry) bool {
	return e.Kind == "mqtt.DISCONNECT" || e.Kind == trace.KindWSClose || e.Kind == trace.KindTCPFin || e.Kind == trace.KindTCPRst || e.Error != ""
}

// deadlines returns the keepalive deadlines between from and to (page
// times); atEnd includes those still ahead. Only a deadline that really
// fell due is drawn: one the client's next packet did not reset before it
// (met by a packet in its last tenth or within the broker's grace, missed
// after), and the one pending after its last packet.
func (m *Model) deadlines(from, to float64, atEnd bool) []Deadline {
	var out []Deadline
	for _, c := range m.channels {
		if c.keepAlive == 0 {
			continue
		}
		ka := float64(c.keepAlive) * 1000
		lane, ok := m.laneIndex[c.client]
		if !ok {
			continue
		}
		page := func(raw float64) float64 {
			if c.src == Remote {
				return m.clock.ToPage(raw)
			}
			return raw
		}
		i := sort.SearchFloat64s(c.sends, m.raw(from, c.src)-ka)
		for ; i < len(c.sends); i++ {
			due := page(c.sends[i]) + ka
			if due < from {
				continue
			}
			last := i == len(c.sends)-1
			var next float64
			switch {
			case !last:
				next = page(c.sends[i+1])
			case c.closed:
				next = page(c.closedAt)
			}
			if !last && next < due-ka/10 {
				// Reset before it fell due: any control packet from the
				// client restarts the keepalive [MQTT-3.1.2-23], so this
				// deadline never was. A packet in its last tenth (the
				// client's PINGREQ as the keepalive runs out) meets it.
				continue
			}
			if due > to && !(atEnd && last) {
				break
			}
			d := Deadline{T: due, Row: m.timeRow(due), Lane: lane, KeepAlive: c.keepAlive}
			switch {
			case !last:
				// The broker allows one and a half keepalives [MQTT-3.1.2-22].
				d.Met = next <= due+ka/2
			case c.closed:
				if next <= due {
					continue // closed before it was due
				}
			default:
				d.Pending = true
			}
			d.Label = deadlineLabel(d)
			out = append(out, d)
		}
	}
	return out
}

func deadlineLabel(d Deadline) string {
	ka := strconv.Itoa(d.KeepAlive) + " s"
	switch {
	case d.Pending:
		return "keepalive " + ka + ": next packet due here"
	case d.Met:
		return "keepalive " + ka + ": packet due here"
	}
	return "keepalive " + ka + ": due here, missed (the broker may close after 1.5×)"
}
