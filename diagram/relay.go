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
	h := uint64(fnvOffset)
	if up {
		h ^= 1
	}
	h = fnvString(h*fnvPrime, conn)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return relayKey(h)
}

// relayEnd is one side of a packet the proxy relayed, waiting for the
// other: a slot of Model.waiting.
type relayEnd struct {
	_    noEq // see noEq
	it   *item
	key  relayKey
	next int32 // the next half waiting with the same key (a later slot), -1 for none
}

// relayQueue is the halves waiting with one key, oldest first: the slots
// of the first and the last (the others linked by relayEnd.next). The
// same bytes on one connection (a sensor's same reading) may wait more
// than once; most keys have one half waiting, and no slice of their own.
type relayQueue struct{ head, tail int32 }

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
	q, ok := m.relays[key]
	if !ok || (m.waiting[q.head].it.src == Remote) == remote {
		m.wait(key, it, q, ok)
		return
	}
	other := m.unwait(key, q)
	page, server := it, other
	if remote {
		page, server = other, it
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

// wait adds it to the halves waiting with key (q, if any). Past
// maxRelays the oldest half waiting is forgotten: the slot it takes.
func (m *Model) wait(key relayKey, it *item, q relayQueue, any bool) {
	if m.waiting == nil {
		m.waiting = make([]relayEnd, maxRelays)
	}
	slot := int32(m.relayNext)
	m.relayNext = (m.relayNext + 1) % maxRelays
	if old := m.waiting[slot]; old.it != nil {
		// The oldest waiting: the first of its key's.
		m.unwait(old.key, m.relays[old.key])
		if old.key == key {
			q, any = m.relays[key]
		}
	}
	m.waiting[slot] = relayEnd{it: it, key: key, next: -1}
	if any {
		m.waiting[q.tail].next = slot
		m.relays[key] = relayQueue{q.head, slot}
		return
	}
	m.relays[key] = relayQueue{slot, slot}
}

// unwait takes the oldest half waiting with key (q) off the queue.
func (m *Model) unwait(key relayKey, q relayQueue) *item {
	w := &m.waiting[q.head]
	it := w.it
	if q.head == q.tail {
		delete(m.relays, key)
	} else {
		m.relays[key] = relayQueue{w.next, q.tail}
	}
	*w = relayEnd{}
	return it
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
	sortItems(m.items, byTimeSeq)
	m.ordered = 0 // every position may have moved
	if m.order() {
		sortItems(m.items, byTimeSeq)
		m.ordered = 0
	}
	m.renumber()
	if m.rows != nil {
		m.refilter()
	}
}

// byTimeSeq orders items by time; ties keep the order of arrival (seq),
// which on one clock is its order.
func byTimeSeq(a, b *item) bool {
	return a.e.T < b.e.T || a.e.T == b.e.T && a.e.Seq < b.e.Seq
}

// sortItems sorts s stably by less: by insertion, as items are nearly
// always nearly in order (a realign moves the server's arrows by the
// offset's last change, microseconds; late arrows come in order), which
// takes a comparison an item where sort.SliceStable takes a dozen through
// a closure; by sort.SliceStable once the moves exceed a few per item.
func sortItems(s []*item, less func(a, b *item) bool) {
	moves := 0
	for i := 1; i < len(s); i++ {
		it, j := s[i], i
		for j > 0 && less(it, s[j-1]) {
			j--
		}
		if j == i {
			continue
		}
		if moves += i - j; moves > 4*len(s)+64 {
			sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
			return
		}
		copy(s[j+1:i+1], s[j:i])
		s[j] = it
	}
}

// Clock reports how the server's clock is aligned with the page's.
func (m *Model) Clock() ClockInfo { return m.clock.Info() }
