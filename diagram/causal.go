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
//   - the proxy's close is drawn where it reached the page: after all the
//     page did on that WebSocket (the page records nothing after it).
//
// Orders within one clock (DNS answer before the dial, SYN before SYN-ACK
// before ACK, a request before the answer the broker read) hold by the
// clock's own times (the proxy read the page's close after it relayed the
// page's DISCONNECT). The first two cross-clock orders also bound the
// offset (Clock.Before, Clock.After). When those bounds contradict each
// other (a coarse page timer) the offset cannot honour them all: then the
// later end of each pair is moved just after its cause, and what follows it
// on its own clock with it, so that no arrow is drawn before its cause.

import "github.com/lifeline-mqtt/lifeline/trace"

// pageConn is what the model knows of one of the page's WebSockets through
// the proxy (by its Conn) for the causal order.
type pageConn struct {
	accept, closeTo *item // the proxy's 101 and its close toward the page
	first, last     *item // the page's own entries on it
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
// other clock; a later one replaces it); it reports whether that is new.
// (Not inlined: it is called in five places, and the wasm budget counts
// every copy.)
//
//go:noinline
func (m *Model) follows(effect, cause *item) bool {
	if effect.after == cause {
		return false
	}
	effect.after = cause
	m.unordered = m.unordered || effect.e.T <= cause.e.T
	return true
}

// causal follows the page's WebSockets through the proxy: their 101, the
// proxy's close and the page's own entries (which it records in order).
func (m *Model) causal(it *item) {
	e := &it.e
	if it.src == Imported || e.Leg != trace.LegBrowserProxy || len(m.pconns) >= maxPageConns {
		return
	}
	c := m.pconn // the last one's, found without hashing its name
	if c == nil || m.pconnName != e.Conn {
		if c = m.pconns[e.Conn]; c == nil {
			c = &pageConn{}
			m.pconns[e.Conn] = c
		}
		m.pconn, m.pconnName = c, e.Conn
	}
	switch {
	case it.src == Local:
		if c.first == nil {
			c.first = it
		}
		c.last = it
	case e.Kind == trace.KindWSAccept:
		c.accept = it
	case e.Kind == trace.KindWSClose && e.From == "proxy":
		c.closeTo = it
	default:
		return
	}
	if c.accept != nil && c.first != nil && m.follows(c.first, c.accept) {
		m.unordered = m.clock.After(c.first.rawT, c.accept.rawT) || m.unordered
	}
	if c.closeTo != nil && c.last != nil && m.follows(c.closeTo, c.last) {
		unrelayed(c)
	}
}

// unrelayed marks the page's last packet on a connection as not relayed
// when the proxy closed without relaying it: its entries arrive in order,
// so a relay it made is known by then. (The page sends one packet on open;
// a dial that failed closes right after the 101.)
func unrelayed(c *pageConn) {
	if it := c.last; it.e.To == "proxy" && !it.relayed && isMQTT(it.e.Kind) {
		it.notRelayed = true
		it.e.Note = notRelayedNote // for the exports, which have no other place for it
	}
}

// notRelayedNote is the note of a packet the proxy never relayed.
const notRelayedNote = "not relayed: the proxy closed this WebSocket before passing the packet to a broker"

func isMQTT(kind string) bool { return len(kind) > 5 && kind[:5] == "mqtt." }

// order draws every effect after its cause: items are in base order; an
// effect drawn at or before its cause moves a microsecond after it, and
// the items after it on its clock move as far as needed to stay after it.
// A few passes settle chains of causes (there are no cycles in a real
// session; a made-up one stops after the last pass). It reports whether it
// moved any item; the model then stays in that state (skewed), in which a
// new item is placed by a new pass.
func (m *Model) order() bool {
	m.renumber() // ord says whether an item is still kept
	m.skewed = false
	for pass := 0; pass < 8; pass++ {
		last := [3]float64{-1e300, -1e300, -1e300} // by Source
		changed := false
		for _, it := range m.items {
			t := max(it.e.T, last[it.src])
			if c := it.after; c != nil && c.ord >= m.dropped && t <= c.e.T {
				t = c.e.T + causalGap
			}
			if t != it.e.T {
				it.e.T, changed, m.skewed = t, true, true
			}
			last[it.src] = t
		}
		if !changed {
			break
		}
	}
	return m.skewed
}
