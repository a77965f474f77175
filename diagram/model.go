package diagram

import (
	"sort"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// Source says which clock an entry's time is on.
type Source int

const (
	// Local entries are the page's own (its client's packets), timed on
	// the page's clock.
	Local Source = iota
	// Remote entries come from the server's /trace side channel, timed on
	// the server's clock; the Model moves them onto the page's.
	Remote
	// Imported entries (an opened JSON trace or capture) are already on
	// one clock and keep their seq when it is unique.
	Imported
)

// DefaultMaxArrows is how many arrows a Model keeps before it pages the
// oldest out.
const DefaultMaxArrows = 20000

// Options configure a Model.
type Options struct {
	// MaxArrows bounds the arrows kept; past it the oldest tenth are paged
	// out and counted in PagedOut. 0 means DefaultMaxArrows.
	MaxArrows int
}

// item is one kept entry. Its small fields are together: 288 bytes, not
// 320 (the arrows are most of what a flood allocates).
type item struct {
	e        trace.Entry // T on the page's clock, Seq the model's
	rawT     float64     // T as received
	src      Source
	ord      int       // position since the first entry ever kept: index + Model.dropped
	exchange *Exchange // nil for none
	mqtt5    *MQTT5    // links5
	after    *item     // drawn after this (causal.go)

	class      uint8 // Classes index
	held       bool  // see Arrow.Held
	relayed    bool  // a packet the page sent, paired with the proxy's relay of it
	notRelayed bool  // see Arrow.NotRelayed
}

// connKey names a connection on a leg.
type connKey struct{ leg, conn string }

// Model is the diagram of one session. It is not safe for concurrent use.
type Model struct {
	max     int
	items   []*item // by time, then arrival
	late    []*item // added out of time order, placed at the next read (placeLate)
	tail    []*item // placeLate's scratch
	buf     []*item // the array items is in, with room (see roomy)
	ordered int     // items[:ordered] have their ord right (see renumber)
	dropped int
	bySeq   index
	nextSeq int

	hidden     map[string]bool
	hiddenMask uint32  // the Classes hidden: bit i for Classes[i]
	rows       []*item // the shown items when a filter is set; nil means all

	parties   map[string]*party // what is known of each party, by name
	recent    [4]namedParty     // the parties named last (partyOf)
	nextParty int               // the slot of recent to take next
	names     map[string]string // IP address -> the DNS name whose answer gave it
	lanes     []Lane
	laneIndex map[string]int

	openTab  [openSlots]*Exchange // open exchanges by their key's hash (see openExchange)
	open     map[uint64]*Exchange
	openMore []*Exchange // open exchanges whose key's hash is taken in openTab and open
	exAhead  []Exchange  // allocated, not yet used (newExchange)
	nextEx   int

	channels []*channel
	byChan   map[chanKey]*channel
	ended    map[connKey]float64 // connections seen closing (raw time), for CONNECTs that arrive after

	counts [numClasses]int
	paged  PagedOut
	clock  Clock

	// Packets seen on one leg and waiting for their copy on the other
	// (see relay).
	stale       bool // the offset moved; remote entries await realign
	sinceAlign  int  // arrows added since the last realign
	sinceSettle int  // arrows added since the last Settle
	aligns      int  // realigns so far (for tests)
	relays      map[relayKey]relayQueue
	waiting     []relayEnd // a ring of maxRelays: the halves waiting, oldest at relayNext
	relayNext   int

	links  links5 // MQTT 5.0 properties across packets (links5.go)
	timers timers // the broker's timers (timers.go)

	// The causal order (causal.go).
	pconns    map[string]*pageConn
	pconn     *pageConn // the last one followed, and its Conn
	pconnName string
	unordered bool // an effect is drawn before its cause, or the offset moved
	skewed    bool // the last order pass moved items
}

// New returns an empty Model. Not inlined: one copy in the wasm, not one
// more in Clear and in each caller.
//
//go:noinline
func New(opts Options) *Model {
	if opts.MaxArrows <= 0 {
		opts.MaxArrows = DefaultMaxArrows
	}
	return &Model{
		max:       opts.MaxArrows,
		hidden:    map[string]bool{},
		parties:   map[string]*party{},
		names:     map[string]string{},
		laneIndex: map[string]int{},
		open:      map[uint64]*Exchange{},
		byChan:    map[chanKey]*channel{},
		ended:     map[connKey]float64{},
		paged:     PagedOut{ByKind: map[string]int{}},
		relays:    map[relayKey]relayQueue{},
		pconns:    map[string]*pageConn{},
		nextSeq:   1,
		nextEx:    1,
	}
}

// Clear forgets every arrow (a fresh diagram, e.g. for a lesson) but keeps
// the clock's samples, the filter and the numbering: a new arrow never
// reuses an old arrow's seq.
func (m *Model) Clear() {
	c, seq, ex, hidden, mask := m.clock, m.nextSeq, m.nextEx, m.hidden, m.hiddenMask
	*m = *New(Options{MaxArrows: m.max})
	m.clock, m.nextSeq, m.nextEx, m.hidden, m.hiddenMask = c, seq, ex, hidden, mask
	if len(hidden) > 0 {
		m.refilter()
	}
}

// Len is the number of rows shown (kept arrows that pass the filter).
func (m *Model) Len() int {
	m.fresh()
	if m.rows != nil {
		return len(m.rows)
	}
	return len(m.items)
}

// Add places an entry in the diagram and returns its seq in the model.
// Remote entries are moved onto the page's clock with the current offset.
func (m *Model) Add(e trace.Entry, src Source) int {
	it := &item{e: e, rawT: e.T, src: src, class: classOf(e.Kind)}
	switch {
	case src == Imported && e.Seq > 0 && m.bySeq.get(e.Seq) == nil:
		if e.Seq >= m.nextSeq {
			m.nextSeq = e.Seq + 1
		}
	default:
		it.e.Seq = m.nextSeq
		m.nextSeq++
	}
	it.e.T = m.base(it)
	m.sinceAlign++
	m.sinceSettle++
	m.bySeq.put(it.e.Seq, it)
	m.counts[it.class]++
	from, to := m.learn(&it.e)
	m.insert(it)
	m.link(it)
	m.followTimers(it, m.links.add(it), from, to)
	m.follow(it, from, to)
	m.relay(it)
	m.causal(it)
	if m.skewed {
		// The causal order moved items: one of its clock drawn after it
		// (moved past its time) asks for a new pass; so does a late one.
		m.renumber()
		if it.ord < 0 {
			m.unordered = true
		} else {
			for _, o := range m.items[it.ord-m.dropped+1:] {
				m.unordered = m.unordered || o.src == src
			}
		}
	}
	if m.unordered {
		// Realigned on the next read: at most once a frame however fast
		// packets come.
		m.unordered = false
		m.stale = true
	}
	m.held(it)
	if len(m.items)+len(m.late) > m.max {
		m.placeLate()
		m.pageOut(max(1, m.max/10))
	}
	return it.e.Seq
}

// insert puts it in time order; entries of equal time keep arrival order.
// Entries nearly always arrive in order or a little late (the broker leg's
// behind the page's own, by as much as the trace channel lags in a flood:
// thousands of arrows), so the common case appends. A late one waits in
// m.late until the next read, which places all that came late in one
// merge (placeLate): placed one by one, each would move every arrow after
// it (a copy of pointers that the collector's write barrier makes slow in
// the wasm: 38% of the page's time in a flood).
func (m *Model) insert(it *item) {
	n := len(m.items)
	if len(m.late) > 0 || n > 0 && m.items[n-1].e.T > it.e.T {
		it.ord = -1 // not placed yet
		m.late = append(m.late, it)
		return
	}
	m.items = append(m.items, it)
	if m.ordered == n {
		it.ord = m.dropped + n
		m.ordered++
	}
	if m.rows != nil && m.hiddenMask&(1<<it.class) == 0 {
		m.rows = append(m.rows, it)
	}
}

// placeLate merges the items that came late into their places: after the
// items of the same time, in the order they came.
func (m *Model) placeLate() {
	late := m.late
	if len(late) == 0 {
		return
	}
	sortItems(late, func(a, b *item) bool { return a.e.T < b.e.T })
	k := len(m.items) // the first after late[0]: near the end, as the tail is copied anyway
	for k > 0 && m.items[k-1].e.T > late[0].e.T {
		k--
	}
	tail := append(m.tail[:0], m.items[k:]...)
	m.items = append(m.items, late...) // room for them
	for w, i, j := k, 0, 0; w < len(m.items); w++ {
		if j == len(late) || i < len(tail) && tail[i].e.T <= late[j].e.T {
			m.items[w], i = tail[i], i+1
		} else {
			m.items[w], j = late[j], j+1
		}
	}
	clear(late)
	clear(tail)
	m.late, m.tail = late[:0], tail[:0]
	m.ordered = min(m.ordered, k)
	if m.rows != nil {
		m.refilter()
	}
}

// renumber numbers the items whose position moved since (ord).
func (m *Model) renumber() {
	for j := m.ordered; j < len(m.items); j++ {
		m.items[j].ord = m.dropped + j
	}
	m.ordered = len(m.items)
}

// link attaches it to the exchange it belongs to.
func (m *Model) link(it *item) {
	s, ok := stepOf(&it.e)
	if !ok {
		return
	}
	h := s.key.sum()
	x := m.openExchange(&s.key, h)
	if it.e.Kind == trace.KindTCPAck && x == nil {
		// Not the handshake's last step: perhaps the close's.
		s.key.group = keyTCPClose
		h = s.key.sum()
		x = m.openExchange(&s.key, h)
	}
	role := s.role
	if role == roleCheck {
		role = roleOpen
		if x != nil {
			role = roleLast
		}
	}
	switch {
	case role == roleOpen || (role == roleMid && x == nil):
		if x != nil {
			m.closeExchange(x) // forgotten unfinished
		}
		x = m.newExchange() // zero: set field by field, not copied whole
		x.ID, x.key, x.hash, x.step, x.qos, x.id = m.nextEx, s.key, h, s.kind, s.qos, s.id
		x.Seqs = x.seqs[:0]
		m.nextEx++
		m.openAs(x)
	case x == nil: // a last step with nothing open
		return
	}
	x.Seqs = append(x.Seqs, it.e.Seq)
	x.live++
	it.exchange = x
	switch it.e.Kind {
	case trace.KindTCPFin:
		// A FIN from each side ends the close: the ACKs that confirm them
		// are the kernel's, unseen by a socket (a capture's final ACK
		// still joins the exchange).
		if x.finFrom != "" && x.finFrom != it.e.From {
			x.Done = true
		}
		x.finFrom = it.e.From
	case trace.KindWSClose:
		// A close without a close frame (the connection is gone, or the
		// browser reporting a finished handshake) awaits no answer; a
		// close from the other side may still join it.
		if it.e.Observed == trace.ObservedKernel {
			x.Done = true
		}
	}
	if role == roleLast {
		x.Done = true
		m.closeExchange(x)
	}
}

// openSlots is the size of Model.openTab.
const openSlots = 256

// openExchange returns the unfinished exchange with the key (h its sum),
// or nil. Keys are found by their hash, and the exchange's own key is
// compared. An open exchange is in one of three places: its slot of
// openTab (nearly always: few are open at once, and a map's hashing is
// slow in WebAssembly), else the map open by its hash, else (its hash
// taken there too: at 2^-64 a pair) openMore.
func (m *Model) openExchange(k *exKey, h uint64) *Exchange {
	if x := m.openTab[h%openSlots]; x != nil && x.hash == h && x.key == *k {
		return x
	}
	if x := m.open[h]; x != nil && x.key == *k {
		return x
	}
	for _, x := range m.openMore {
		if x.key == *k {
			return x
		}
	}
	return nil
}

// openAs makes x the open exchange with its key (none is).
func (m *Model) openAs(x *Exchange) {
	x.open = true
	switch s := &m.openTab[x.hash%openSlots]; {
	case *s == nil:
		*s = x
	case m.open[x.hash] == nil:
		m.open[x.hash] = x
	default:
		m.openMore = append(m.openMore, x)
	}
}

// closeExchange forgets x's key: no later step joins it.
func (m *Model) closeExchange(x *Exchange) {
	x.open = false
	if s := &m.openTab[x.hash%openSlots]; *s == x {
		*s = nil
	} else if m.open[x.hash] == x {
		delete(m.open, x.hash)
	}
	for i, y := range m.openMore {
		if y == x {
			last := len(m.openMore) - 1
			m.openMore[i], m.openMore[last] = m.openMore[last], nil
			m.openMore = m.openMore[:last]
			return
		}
	}
}

// newExchange returns a new exchange, allocated with the next few: one
// allocation, not one each (only their kept arrows point to them, and
// they are paged out in about the order they were made).
func (m *Model) newExchange() *Exchange {
	if len(m.exAhead) == 0 {
		m.exAhead = make([]Exchange, 32)
	}
	x := &m.exAhead[0]
	m.exAhead = m.exAhead[1:]
	return x
}

// pageOut forgets the n oldest arrows.
func (m *Model) pageOut(n int) {
	kind, run := "", 0 // counted before the map: runs of one kind are common
	for _, it := range m.items[:n] {
		m.paged.Count++
		if it.e.Kind != kind {
			if run > 0 {
				m.paged.ByKind[kind] += run
			}
			kind, run = it.e.Kind, 0
		}
		run++
		m.paged.Until = it.e.T
		m.bySeq.del(it.e.Seq)
		if x := it.exchange; x != nil {
			if x.live--; x.live <= 0 {
				m.closeExchange(x)
			}
			// Kept by its arrows only: an arrow paged out but still
			// known elsewhere (a request awaiting its response) keeps
			// neither it nor the exchanges allocated with it.
			it.exchange = nil
		}
	}
	m.paged.ByKind[kind] += run
	clear(m.items[:n])
	m.items = m.items[n:]
	if cap(m.items)-len(m.items) < m.max/2 {
		m.buf = roomy(m.buf, m.items, m.max)
		m.items = m.buf
	}
	m.dropped += n
	m.ordered = max(m.ordered-n, 0)
	if m.rows != nil {
		m.refilter()
	}
	// Keepalive sends before the first kept arrow are no longer drawn;
	// keep the last of them, which the next deadline counts from.
	first := m.items[0].e.T
	kept := m.channels[:0]
	for _, c := range m.channels {
		ft := m.raw(first, c.src)
		if c.closed && c.closedAt < ft {
			continue
		}
		i := sort.SearchFloat64s(c.sends, ft)
		if i > 1 {
			c.sends = append(c.sends[:0], c.sends[i-1:]...)
		}
		kept = append(kept, c)
	}
	clear(m.channels[len(kept):])
	m.channels = kept
}
