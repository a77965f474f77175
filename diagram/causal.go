package diagram

// Causal order. The two clocks are aligned by one offset (clock.go), which
// the ping samples and the relayed packets bound; but some orders are known
// for certain and must hold whatever the offset says, on every leg and in
// every output made from the model (the page, SVG, PNG, Mermaid, JSON and
// pcapng all take its order and times):
//
//   - the proxy's 101 reached the page before the page sent anything on
//     that WebSocket (the page's first entry of the connection);
//   - a packet the page sent reached the proxy before the proxy relayed it
//     to the broker, and the proxy read an answer from the broker before the
//     page received it (relay.go pairs them);
//   - the proxy read the page's close after everything the page sent;
//   - the proxy's close is drawn where it reached the page: after all the
//     page did on that WebSocket (the page records nothing after it).
//
// Orders within one clock (DNS answer before the dial, SYN before SYN-ACK
// before ACK, a request before the answer the broker read) hold by the
// clock's own times. The first three cross-clock orders also bound the
// offset (Clock.Before, Clock.After). When those bounds contradict each
// other (a coarse page timer) the offset cannot honour them all: then the
// later end of each pair is moved just after its cause, and what follows it
// on its own clock with it, so that no arrow is drawn before its cause.

import (
	"sort"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// pageConn is what the model knows of one of the page's WebSockets through
// the proxy (by its Conn) for the causal order.
type pageConn struct {
	accept    *item // the proxy's 101
	closeTo   *item // the proxy's close toward the page
	closeFrom *item // the proxy's read of the page's close
	first     *item // the page's own entries: the first,
	last      *item // the last,
	lastSend  *item // and the last it sent
}

// maxPageConns bounds the connections followed.
const maxPageConns = 4096

// base is an item's time on the page's clock before the causal order.
func (m *Model) base(it *item) float64 {
	if it.src == Remote {
		return m.clock.ToPage(it.rawT)
	}
	return it.rawT
}

// follows records that effect must be drawn after cause (a cause on the
// other clock); it reports whether that is new. A later cause on the same
// clock as the one known replaces it.
func (m *Model) follows(effect, cause *item) bool {
	if a := effect.after; a == cause || a != nil && a.src == cause.src && a.rawT >= cause.rawT {
		return false
	}
	effect.after = cause
	if effect.e.T <= cause.e.T {
		m.moved()
	}
	return true
}

// causal follows the page's WebSockets through the proxy: their 101, their
// closes and the page's own entries.
func (m *Model) causal(it *item) {
	e := &it.e
	if it.src == Imported || e.Leg != trace.LegBrowserProxy || e.Conn == "" {
		return
	}
	c := m.pconns[e.Conn]
	if c == nil {
		if len(m.pconns) >= maxPageConns {
			return
		}
		c = &pageConn{}
		m.pconns[e.Conn] = c
	}
	switch {
	case it.src == Local:
		if c.first == nil || it.rawT < c.first.rawT {
			c.first = it
		}
		if c.last == nil || it.rawT >= c.last.rawT {
			c.last = it
		}
		if e.To == "proxy" && (c.lastSend == nil || it.rawT >= c.lastSend.rawT) {
			c.lastSend = it
		}
		if c.closeTo != nil && !it.relayed && e.To == "proxy" && isMQTT(e.Kind) {
			it.notRelayed = true // the proxy had closed, and relayed nothing of it
		}
	case e.Kind == trace.KindWSAccept:
		c.accept = it
	case e.Kind == trace.KindWSClose && e.To == "proxy":
		c.closeFrom = it
	case e.Kind == trace.KindWSClose:
		c.closeTo = it
		m.unrelayed(e.Conn)
	default:
		return
	}
	if c.accept != nil && c.first != nil && m.follows(c.first, c.accept) {
		m.bound(m.clock.After(c.first.rawT, c.accept.rawT))
	}
	if c.closeFrom != nil && c.lastSend != nil && m.follows(c.closeFrom, c.lastSend) {
		m.bound(m.clock.Before(c.lastSend.rawT, c.closeFrom.rawT))
	}
	if c.closeTo != nil && c.last != nil {
		m.follows(c.closeTo, c.last)
	}
}

// bound realigns when a causal pair moved the offset.
func (m *Model) bound(changed bool) {
	if changed {
		m.moved()
	}
}

// unrelayed marks the packets the page sent on conn that the proxy did not
// relay to a broker by the time it closed: its entries arrive in order, so
// a relay it made is known by then.
func (m *Model) unrelayed(conn string) {
	for i := len(m.items) - 1; i >= 0 && i >= len(m.items)-heldSearch; i-- {
		it := m.items[i]
		if it.src == Local && it.e.Conn == conn && it.e.To == "proxy" && !it.relayed && isMQTT(it.e.Kind) {
			it.notRelayed = true
		}
	}
}

func isMQTT(kind string) bool { return len(kind) > 5 && kind[:5] == "mqtt." }

// order draws every effect after its cause: items are in base order; an
// effect drawn at or before its cause moves a microsecond after it, and
// the items after it on its clock move as far as needed to stay after it.
// A few passes settle chains of causes (there are no cycles in a real
// session; a made-up one stops after the last pass).
func (m *Model) order() {
	var last [3]float64
	var seen [3]bool
	moved := false
	m.floor = [3]floor{}
	for pass := 0; pass < 8; pass++ {
		changed := false
		seen = [3]bool{}
		for _, it := range m.items {
			t := it.e.T
			if seen[it.src] && t < last[it.src] {
				t = last[it.src]
			}
			if c := it.after; c != nil && c.ord >= m.dropped && t <= c.e.T {
				t = c.e.T + causalGap
			}
			if t != it.e.T {
				it.e.T, changed = t, true
			}
			last[it.src], seen[it.src] = t, true
		}
		if !changed {
			break
		}
		moved = true
	}
	for i := len(m.items) - 1; i >= 0; i-- {
		it := m.items[i]
		if f := &m.floor[it.src]; !f.ok || it.rawT > f.raw {
			*f = floor{it.rawT, it.e.T, true}
		}
	}
	m.skewed = moved
	if moved {
		sort.SliceStable(m.items, func(i, j int) bool { return m.items[i].e.T < m.items[j].e.T })
	}
}

// floor is the latest item of a clock: its raw time and where it is drawn.
type floor struct {
	raw, t float64
	ok     bool
}

// atFloor keeps a new item after the items of its clock that the causal
// order moved past its time (one that arrives out of its clock's order is
// placed by a new pass).
func (m *Model) atFloor(it *item) {
	f := &m.floor[it.src]
	switch {
	case it.src == Imported:
	case !f.ok || it.rawT >= f.raw:
		it.e.T = max(it.e.T, f.t)
		*f = floor{it.rawT, it.e.T, true}
	case m.skewed:
		m.moved()
	}
}
