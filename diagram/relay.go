package diagram

// Clock relay: remote entries (the proxy's, on the server's clock) are
// moved onto the page's clock with the offset the ping samples and the
// packets the proxy relayed between the page and the broker allow.

import (
	"sort"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// relayKey names a relayed packet: the 64-bit FNV-1a hash of its
// direction, connection and bytes. One integer, not a struct with a
// string: hashing a struct key for the map (memhash, with no AES in
// WebAssembly) took as long as the rest of pairing a packet. Two packets
// waiting at once (at most maxRelays) with one hash would be paired wrong,
// their clock bound ignored as unordered at worst; at 2^-64 a pair, never.
type relayKey uint64

func newRelayKey(up bool, conn string, b []byte) relayKey {
	h := uint64(14695981039346656037)
	if up {
		h ^= 1
	}
	h *= 1099511628211
	for i := 0; i < len(conn); i++ {
		h ^= uint64(conn[i])
		h *= 1099511628211
	}
	h ^= 0x100 // conn's end: no byte is 256
	h *= 1099511628211
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return relayKey(h)
}

// relayEnd is one side of a packet the proxy relayed.
type relayEnd struct{ it *item }

// maxRelays bounds the packets waiting for their other half (the server
// may drop trace entries under load).
const maxRelays = 4096

// raw converts a page time to the clock of src.
func (m *Model) raw(t float64, src Source) float64 {
	if src == Remote {
		return t + m.clock.Info().Offset
	}
	return t
}

// AddClockSample records a ping/pong sample. When it improves the offset,
// the server's entries are moved to the new estimate and re-sorted.
func (m *Model) AddClockSample(s Sample) {
	if m.clock.Add(s) {
		m.moved()
	}
}

// relay pairs an MQTT packet the page sent or received with the proxy's
// record of relaying it on the broker leg (same connection, same bytes):
// the page's send precedes the proxy's, and the proxy's read from the
// broker precedes the page's receive. Each pair bounds the clock offset.
func (m *Model) relay(it *item) {
	e := &it.e
	if len(e.Bytes) == 0 || len(e.Kind) < 5 || e.Kind[:5] != "mqtt." || it.src == Imported {
		return
	}
	var up bool
	switch {
	case it.src == Local && e.Leg == trace.LegBrowserProxy && e.To == "proxy":
		up = true
	case it.src == Local && e.Leg == trace.LegBrowserProxy && e.From == "proxy":
	case it.src == Remote && e.Leg == trace.LegProxyBroker && e.From == "proxy":
		up = true
	case it.src == Remote && e.Leg == trace.LegProxyBroker && e.To == "proxy":
	default:
		return
	}
	key := newRelayKey(up, e.Conn, e.Bytes)
	remote := it.src == Remote
	q := m.relays[key]
	if len(q) == 0 || (q[0].it.src == Remote) == remote {
		m.relays[key] = append(q, relayEnd{it})
		m.relayOrder = append(m.relayOrder, key)
		if len(m.relayOrder) > maxRelays {
			old := m.relayOrder[0]
			m.relayOrder = m.relayOrder[1:]
			if oq := m.relays[old]; len(oq) > 1 {
				m.relays[old] = oq[1:]
			} else {
				delete(m.relays, old)
			}
		}
		return
	}
	other := q[0]
	if len(q) > 1 {
		m.relays[key] = q[1:]
	} else {
		delete(m.relays, key)
	}
	page, server := it, other.it
	if remote {
		page, server = other.it, it
	}
	if up {
		page.relayed = true
		m.follows(server, page)
		m.unordered = m.clock.Before(page.rawT, server.rawT) || m.unordered
	} else {
		m.follows(page, server)
		m.unordered = m.clock.After(page.rawT, server.rawT) || m.unordered
	}
}

// moved reacts to a new offset: at once for a small diagram, else on a
// later read (see fresh).
func (m *Model) moved() {
	if len(m.items) <= 2000 {
		m.realign()
		return
	}
	m.stale = true
}

// fresh realigns if the offset moved or an effect was placed before its
// cause, when the model is small or when the arrows added since the last
// realign are an eighth of those kept: while a flood's packet pairs move
// the offset every frame, a realign (linear in the arrows kept) then
// costs each new arrow a constant, not the whole diagram each frame. What
// is drawn meanwhile is off by the offset's last moves (microseconds);
// Settle makes it exact when the flood pauses, and what the exports and
// the scripting API read (Entries) is always exact.
func (m *Model) fresh() {
	m.placeLate()
	if m.stale && (len(m.items) <= 2000 || m.sinceAlign*8 >= len(m.items)) {
		m.realign()
	}
}

// Settle is called by the page once a frame: after a frame in which no
// arrow came it realigns what fresh left for later, and reports whether
// it did (the diagram is then to be drawn again).
func (m *Model) Settle() bool {
	quiet := m.sinceSettle == 0
	m.sinceSettle = 0
	if m.stale && quiet {
		m.realign()
		return true
	}
	return false
}

// realign moves the server's entries to the current offset, re-sorts and
// puts every effect after its cause (causal.go).
func (m *Model) realign() {
	m.placeLate()
	m.stale, m.sinceAlign = false, 0
	m.aligns++
	for _, it := range m.items {
		it.e.T = m.base(it)
	}
	// Ties keep the order of arrival (seq), which on one clock is its order.
	byT := func(i, j int) bool {
		a, b := &m.items[i].e, &m.items[j].e
		return a.T < b.T || a.T == b.T && a.Seq < b.Seq
	}
	sort.SliceStable(m.items, byT)
	m.ordered = 0 // every position may have moved
	if m.order() {
		sort.SliceStable(m.items, byT)
		m.ordered = 0
	}
	m.renumber()
	if m.rows != nil {
		m.refilter()
	}
}

// Clock reports how the server's clock is aligned with the page's.
func (m *Model) Clock() ClockInfo { return m.clock.Info() }
