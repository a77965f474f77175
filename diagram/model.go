package diagram

import (
	"sort"
	"strconv"

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

// Lane is one party's lifeline, left to right.
type Lane struct {
	Party string `json:"party"` // as in trace entries: browser, proxy, dns, broker, device …; a host for a lane of DNS lookups
	Label string `json:"label"` // the heading people read: "Broker", a client id, "broker.iot.example"
	// Detail is the secondary text under the heading: the address behind
	// a named lane of an opened capture ("127.0.0.1:43270"), or "".
	Detail string `json:"detail,omitempty"`
}

// Arrow is one entry as the diagram shows it.
type Arrow struct {
	Row      int     `json:"row"` // position among the shown (unfiltered) arrows
	Seq      int     `json:"seq"`
	T        float64 `json:"t"`     // ms on the page's clock
	Delta    float64 `json:"delta"` // ms since the arrow one row up (since 0 for the first)
	Kind     string  `json:"kind"`
	Class    string  `json:"class"`
	Leg      string  `json:"leg"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	FromLane int     `json:"fromLane"`
	ToLane   int     `json:"toLane"`
	Summary  string  `json:"summary"`
	Observed string  `json:"observed"`
	Conn     string  `json:"conn,omitempty"`
	Note     string  `json:"note,omitempty"`
	Error    string  `json:"error,omitempty"`
	Remote   bool    `json:"remote"`          // from the server's side channel
	Exchange int     `json:"exchange"`        // Exchange.ID, 0 for none
	Size     int     `json:"size"`            // len(bytes)
	MQTT5    *MQTT5  `json:"mqtt5,omitempty"` // alias, request/response, subscriptions (links5.go)
}

// Span is an exchange as far as it is shown: the rows of its arrows.
type Span struct {
	Exchange int    `json:"exchange"`
	Name     string `json:"name"`
	Class    string `json:"class"`
	Rows     []int  `json:"rows"` // rows of its shown arrows, ascending
	Done     bool   `json:"done"`
	Column   int    `json:"column"` // gutter column, 0 nearest the lanes; -1 when there is no room
}

// Deadline is a keepalive deadline: the time by which a client must send a
// packet [MQTT-3.1.2-22 ff.], KeepAlive seconds after its last one.
type Deadline struct {
	T         float64 `json:"t"`
	Row       float64 `json:"row"` // where it falls between arrows: 2.5 is halfway between rows 2 and 3
	Lane      int     `json:"lane"`
	KeepAlive int     `json:"keepAlive"` // seconds
	Met       bool    `json:"met"`       // the client sent a packet by then
	Pending   bool    `json:"pending"`   // still ahead
	Label     string  `json:"label"`
}

// PagedOut summarises the arrows a Model no longer keeps.
type PagedOut struct {
	Count  int            `json:"count"`
	Until  float64        `json:"until"` // time of the last one paged out
	ByKind map[string]int `json:"byKind"`
}

// View is what the page draws: a window of rows and everything that
// touches it.
type View struct {
	First     int            `json:"first"`
	Total     int            `json:"total"` // rows in all (after the filter)
	Lanes     []Lane         `json:"lanes"`
	Arrows    []Arrow        `json:"arrows"`
	Spans     []Span         `json:"spans"`
	Deadlines []Deadline     `json:"deadlines"`
	PagedOut  PagedOut       `json:"pagedOut"`
	Clock     ClockInfo      `json:"clock"`
	Counts    map[string]int `json:"counts"` // arrows per class, paged-out ones included
}

// item is one kept entry.
type item struct {
	e        trace.Entry // T on the page's clock, Seq the model's
	rawT     float64     // T as received
	src      Source
	ord      int // position since the first entry ever kept: index + Model.dropped
	class    string
	exchange int
	mqtt5    *MQTT5 // links5
}

// connKey names a connection on a leg.
type connKey struct{ leg, conn string }

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

// Model is the diagram of one session. It is not safe for concurrent use.
type Model struct {
	max     int
	items   []*item // by time, then arrival
	dropped int
	bySeq   map[int]*item
	nextSeq int

	hidden map[string]bool
	rows   []*item // the shown items when a filter is set; nil means all

	parties   map[string]*party // what is known of each party, by name
	names     map[string]string // IP address -> the DNS name whose answer gave it
	lanes     []Lane
	laneIndex map[string]int

	exchanges map[int]*Exchange
	open      map[string]int // step key -> open exchange
	openKey   map[int]string // open exchange -> its step key
	live      map[int]int    // exchange -> kept arrows
	nextEx    int

	channels []*channel
	byChan   map[chanKey]*channel
	ended    map[connKey]float64 // connections seen closing (raw time), for CONNECTs that arrive after

	counts map[string]int
	paged  PagedOut
	clock  Clock

	// Packets seen on one leg and waiting for their copy on the other
	// (see relay).
	stale      bool // the offset moved; remote entries await realign
	relays     map[relayKey][]relayEnd
	relayOrder []relayKey

	links links5 // MQTT 5.0 properties across packets (links5.go)
}

// relayKey names a relayed packet: its direction, connection and bytes
// (by length and FNV-1a hash, so that no key is allocated per packet).
type relayKey struct {
	up   bool
	conn string
	n    int
	h    uint64
}

func fnv(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// relayEnd is one side of a packet the proxy relayed.
type relayEnd struct {
	t      float64 // raw time
	remote bool
}

// maxRelays bounds the packets waiting for their other half (the server
// may drop trace entries under load).
const maxRelays = 4096

// New returns an empty Model.
func New(opts Options) *Model {
	if opts.MaxArrows <= 0 {
		opts.MaxArrows = DefaultMaxArrows
	}
	return &Model{
		max:       opts.MaxArrows,
		bySeq:     map[int]*item{},
		hidden:    map[string]bool{},
		parties:   map[string]*party{},
		names:     map[string]string{},
		laneIndex: map[string]int{},
		exchanges: map[int]*Exchange{},
		open:      map[string]int{},
		openKey:   map[int]string{},
		live:      map[int]int{},
		byChan:    map[chanKey]*channel{},
		ended:     map[connKey]float64{},
		counts:    map[string]int{},
		paged:     PagedOut{ByKind: map[string]int{}},
		relays:    map[relayKey][]relayEnd{},
		nextSeq:   1,
		nextEx:    1,
	}
}

// Clear forgets every arrow (a fresh diagram, e.g. for a lesson) but keeps
// the clock's samples, the filter and the numbering: a new arrow never
// reuses an old arrow's seq.
func (m *Model) Clear() {
	c, seq, ex, hidden := m.clock, m.nextSeq, m.nextEx, m.hidden
	*m = *New(Options{MaxArrows: m.max})
	m.clock, m.nextSeq, m.nextEx, m.hidden = c, seq, ex, hidden
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
	it := &item{e: e, rawT: e.T, src: src, class: Class(e.Kind)}
	switch {
	case src == Imported && e.Seq > 0 && m.bySeq[e.Seq] == nil:
		if e.Seq >= m.nextSeq {
			m.nextSeq = e.Seq + 1
		}
	default:
		it.e.Seq = m.nextSeq
		m.nextSeq++
	}
	if src == Remote {
		it.e.T = m.clock.ToPage(e.T)
	}
	m.bySeq[it.e.Seq] = it
	m.counts[it.class]++
	m.learn(&it.e)
	m.insert(it)
	m.link(it)
	m.links.add(it)
	m.follow(it)
	m.relay(it)
	if len(m.items) > m.max {
		m.pageOut(max(1, m.max/10))
	}
	return it.e.Seq
}

// insert puts it in time order; entries of equal time keep arrival order.
// Entries nearly always arrive in order or a little late, so the search
// starts from the end.
func (m *Model) insert(it *item) {
	i := len(m.items)
	for i > 0 && m.items[i-1].e.T > it.e.T {
		i--
	}
	m.items = append(m.items, nil)
	copy(m.items[i+1:], m.items[i:])
	m.items[i] = it
	for j := i; j < len(m.items); j++ {
		m.items[j].ord = m.dropped + j
	}
	if m.rows != nil && !m.hidden[it.class] {
		k := sort.Search(len(m.rows), func(k int) bool { return m.rows[k].ord > it.ord })
		m.rows = append(m.rows, nil)
		copy(m.rows[k+1:], m.rows[k:])
		m.rows[k] = it
	}
}

// link attaches it to the exchange it belongs to.
func (m *Model) link(it *item) {
	s := stepOf(&it.e)
	if s.role == roleNone {
		return
	}
	id, isOpen := m.openExchange(s.key)
	if it.e.Kind == trace.KindTCPAck && !isOpen {
		// Not the handshake's last step: perhaps the close's.
		s.key = s.key[:len(s.key)-len("tcp-open")] + "tcp-close"
		id, isOpen = m.openExchange(s.key)
	}
	role := s.role
	if role == roleCheck {
		role = roleOpen
		if isOpen {
			role = roleLast
		}
	}
	switch {
	case role == roleOpen || (role == roleMid && !isOpen):
		id = m.nextEx
		m.nextEx++
		m.exchanges[id] = &Exchange{ID: id, Name: s.name}
		if old, ok := m.open[s.key]; ok {
			delete(m.openKey, old)
		}
		m.open[s.key] = id
		m.openKey[id] = s.key
	case !isOpen: // a last step with nothing open
		return
	}
	x := m.exchanges[id]
	x.Seqs = append(x.Seqs, it.e.Seq)
	m.live[id]++
	it.exchange = id
	if role == roleLast {
		x.Done = true
		delete(m.open, s.key)
		delete(m.openKey, id)
	}
}

// openExchange returns the unfinished exchange with the key, forgetting
// one whose arrows were all paged out.
func (m *Model) openExchange(key string) (int, bool) {
	id, ok := m.open[key]
	if ok && m.exchanges[id] == nil {
		delete(m.open, key)
		return 0, false
	}
	return id, ok
}

// follow keeps the keepalive bookkeeping of clients.
func (m *Model) follow(it *item) {
	e := &it.e
	if e.Kind == "mqtt.CONNECT" && e.From != "proxy" { // the proxy's copy has the same deadlines
		ka, ok := keepAlive(e.Bytes)
		if !ok {
			return
		}
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
		return
	}
	if closing(e) && e.Conn != "" && len(m.ended) < 4096 {
		m.ended[connKey{e.Leg, e.Conn}] = m.raw(it.e.T, Local)
	}
	// A packet from the client, or the end of its connection.
	for _, key := range [2]chanKey{{e.Leg, e.Conn, e.From}, {e.Leg, e.Conn, e.To}} {
		c := m.byChan[key]
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

// closing reports whether an entry ends its connection.
func closing(e *trace.Entry) bool {
	return e.Kind == "mqtt.DISCONNECT" || e.Kind == trace.KindWSClose || e.Kind == trace.KindTCPFin || e.Kind == trace.KindTCPRst || e.Error != ""
}

// pageOut forgets the n oldest arrows.
func (m *Model) pageOut(n int) {
	for _, it := range m.items[:n] {
		m.paged.Count++
		m.paged.ByKind[it.e.Kind]++
		m.paged.Until = it.e.T
		delete(m.bySeq, it.e.Seq)
		if it.exchange != 0 {
			m.live[it.exchange]--
			if m.live[it.exchange] <= 0 {
				delete(m.live, it.exchange)
				delete(m.exchanges, it.exchange)
				if key, ok := m.openKey[it.exchange]; ok {
					delete(m.open, key)
					delete(m.openKey, it.exchange)
				}
			}
		}
	}
	clear(m.items[:n])
	m.items = append(m.items[:0], m.items[n:]...)
	m.dropped += n
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
	key := relayKey{up, e.Conn, len(e.Bytes), fnv(e.Bytes)}
	remote := it.src == Remote
	q := m.relays[key]
	if len(q) == 0 || q[0].remote == remote {
		m.relays[key] = append(q, relayEnd{it.rawT, remote})
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
	page, server := it.rawT, other.t
	if remote {
		page, server = other.t, it.rawT
	}
	var changed bool
	if up {
		changed = m.clock.Before(page, server)
	} else {
		changed = m.clock.After(page, server)
	}
	if changed {
		m.moved()
	}
}

// moved reacts to a new offset: at once for a small diagram, else on the
// next read (at most once a frame, not once a packet).
func (m *Model) moved() {
	if len(m.items) <= 2000 {
		m.realign()
		return
	}
	m.stale = true
}

// fresh realigns if the offset moved since.
func (m *Model) fresh() {
	if m.stale {
		m.realign()
	}
}

// realign moves the server's entries to the current offset and re-sorts.
func (m *Model) realign() {
	m.stale = false
	for _, it := range m.items {
		if it.src == Remote {
			it.e.T = m.clock.ToPage(it.rawT)
		}
	}
	sort.SliceStable(m.items, func(i, j int) bool { return m.items[i].e.T < m.items[j].e.T })
	for i, it := range m.items {
		it.ord = m.dropped + i
	}
	if m.rows != nil {
		m.refilter()
	}
}

// Clock reports how the server's clock is aligned with the page's.
func (m *Model) Clock() ClockInfo { return m.clock.Info() }

// SetHidden hides the arrows of the given classes (see Class); none shows
// all.
func (m *Model) SetHidden(classes ...string) {
	clear(m.hidden)
	for _, c := range classes {
		m.hidden[c] = true
	}
	if len(m.hidden) == 0 {
		m.rows = nil
		return
	}
	m.refilter()
}

func (m *Model) refilter() {
	m.rows = m.rows[:0]
	if m.rows == nil {
		m.rows = make([]*item, 0, len(m.items))
	}
	for _, it := range m.items {
		if !m.hidden[it.class] {
			m.rows = append(m.rows, it)
		}
	}
}

func (m *Model) at(row int) *item {
	if m.rows != nil {
		return m.rows[row]
	}
	return m.items[row]
}

// rowOf returns the row of it, or -1 when it is filtered out.
func (m *Model) rowOf(it *item) int {
	if m.rows == nil {
		return it.ord - m.dropped
	}
	k := sort.Search(len(m.rows), func(k int) bool { return m.rows[k].ord >= it.ord })
	if k < len(m.rows) && m.rows[k] == it {
		return k
	}
	return -1
}

// RowOf returns the row of the arrow seq, or -1 when it is paged out or
// filtered out.
func (m *Model) RowOf(seq int) int {
	m.fresh()
	it := m.bySeq[seq]
	if it == nil {
		return -1
	}
	return m.rowOf(it)
}

// timeRow returns where time t falls between rows: the row of the last
// arrow at or before t plus the fraction of the way to the next.
func (m *Model) timeRow(t float64) float64 {
	n := m.Len()
	k := sort.Search(n, func(k int) bool { return m.at(k).e.T > t }) // first row after t
	switch {
	case n == 0:
		return 0
	case k == 0:
		return -0.5
	case k == n:
		return float64(n-1) + 0.6
	}
	a, b := m.at(k-1).e.T, m.at(k).e.T
	f := 0.5
	if b > a {
		f = (t - a) / (b - a)
	}
	return float64(k-1) + min(max(f, 0.1), 0.9)
}

// Lanes returns the lifelines, left to right.
func (m *Model) Lanes() []Lane { return append([]Lane(nil), m.lanes...) }

// Entry returns the entry of an arrow, on the page's clock, with the
// model's seq.
func (m *Model) Entry(seq int) (trace.Entry, bool) {
	m.fresh()
	it := m.bySeq[seq]
	if it == nil {
		return trace.Entry{}, false
	}
	return it.e, true
}

// ExchangeOf returns the exchange an arrow belongs to.
func (m *Model) ExchangeOf(seq int) (Exchange, bool) {
	it := m.bySeq[seq]
	if it == nil || it.exchange == 0 {
		return Exchange{}, false
	}
	x := m.exchanges[it.exchange]
	return Exchange{ID: x.ID, Name: x.Name, Seqs: append([]int(nil), x.Seqs...), Done: x.Done}, true
}

// Entries returns the kept entries in diagram order, on the page's clock.
func (m *Model) Entries() []trace.Entry {
	m.fresh()
	out := make([]trace.Entry, len(m.items))
	for i, it := range m.items {
		out[i] = it.e
	}
	return out
}

// PagedOut summarises the arrows no longer kept.
func (m *Model) PagedOut() PagedOut { return m.paged }

// View returns rows [first, first+n) of the diagram and what touches them.
func (m *Model) View(first, n int) View {
	m.fresh()
	total := m.Len()
	first = min(max(first, 0), total)
	end := min(first+max(n, 0), total)
	v := View{
		First:    first,
		Total:    total,
		Lanes:    m.Lanes(),
		Arrows:   make([]Arrow, 0, end-first),
		PagedOut: m.paged,
		Clock:    m.clock.Info(),
		Counts:   m.counts,
	}
	spans := map[int]bool{}
	for r := first; r < end; r++ {
		it := m.at(r)
		prev := 0.0
		if r > 0 {
			prev = m.at(r - 1).e.T
		}
		v.Arrows = append(v.Arrows, m.arrow(it, r, it.e.T-prev))
		if it.exchange != 0 && !spans[it.exchange] {
			spans[it.exchange] = true
			v.Spans = append(v.Spans, m.span(it.exchange))
		}
	}
	assignColumns(v.Spans, 4)
	if end > first {
		v.Deadlines = m.deadlines(m.at(first).e.T, m.at(end-1).e.T, end == total)
	}
	return v
}

func (m *Model) arrow(it *item, row int, delta float64) Arrow {
	e := &it.e
	return Arrow{
		Row: row, Seq: e.Seq, T: e.T, Delta: delta,
		Kind: e.Kind, Class: it.class, Leg: e.Leg, From: e.From, To: e.To,
		FromLane: m.laneIndex[e.From], ToLane: m.laneIndex[e.To],
		Summary: e.Summary, Observed: e.Observed, Conn: e.Conn, Note: e.Note, Error: e.Error,
		Remote: it.src == Remote, Exchange: it.exchange, Size: len(e.Bytes), MQTT5: it.mqtt5,
	}
}

func (m *Model) span(id int) Span {
	x := m.exchanges[id]
	s := Span{Exchange: id, Name: x.Name, Done: x.Done}
	for _, seq := range x.Seqs {
		it := m.bySeq[seq]
		if it == nil {
			continue
		}
		if s.Class == "" {
			s.Class = it.class
		}
		if r := m.rowOf(it); r >= 0 {
			s.Rows = append(s.Rows, r)
		}
	}
	sort.Ints(s.Rows)
	return s
}

// assignColumns gives overlapping spans different gutter columns, greedily
// in order of their first row; spans that find no free column among n get
// -1.
func assignColumns(spans []Span, n int) {
	sort.Slice(spans, func(i, j int) bool { return firstRow(spans[i]) < firstRow(spans[j]) })
	ends := make([]int, n) // last row taken per column
	for i := range ends {
		ends[i] = -1 << 30
	}
	for i := range spans {
		s := &spans[i]
		s.Column = -1
		if len(s.Rows) < 2 {
			continue
		}
		for c := range ends {
			if ends[c] < s.Rows[0] {
				s.Column, ends[c] = c, s.Rows[len(s.Rows)-1]
				break
			}
		}
	}
}

func firstRow(s Span) int {
	if len(s.Rows) == 0 {
		return -1
	}
	return s.Rows[0]
}

// deadlines returns the keepalive deadlines between from and to (page
// times); atEnd includes those still ahead. A deadline is drawn after a
// client's packet when the client then stayed silent for at least half its
// keepalive: that is when the keepalive matters.
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
			if (!last || c.closed) && next-page(c.sends[i]) < ka/2 {
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
