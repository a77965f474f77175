package diagram

// The view: the lanes, arrows, spans and deadlines of a window of rows,
// what the page draws, and the lookups the page makes by row and seq.

import (
	"sort"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// Lane is one party's lifeline, left to right.
type Lane struct {
	_     noEq   // see noEq
	Party string `json:"party"` // as in trace entries: browser, proxy, dns, broker, device …; a host for a lane of DNS lookups
	Label string `json:"label"` // the heading people read: "Broker", a client id, "broker.iot.example"
	// Detail is the secondary text under the heading: the address behind
	// a named lane of an opened capture ("127.0.0.1:43270"), or "".
	Detail string `json:"detail,omitempty"`
}

// Arrow is one entry as the diagram shows it.
type Arrow struct {
	_        noEq    // see noEq
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
	Remote   bool    `json:"remote"`   // from the server's side channel
	Exchange int     `json:"exchange"` // Exchange.ID, 0 for none
	Size     int     `json:"size"`     // len(bytes)
	// Held marks a packet's arrival at the proxy when the proxy's lab bench
	// held it there (a lab.hold entry with its bytes followed): its
	// forwarding, if any, is drawn when it happens.
	Held bool `json:"held,omitempty"`
	// NotRelayed marks a packet the page sent that the proxy never passed
	// to a broker: the proxy closed the WebSocket first (a refused or
	// failed dial, a session ending) and its trace shows no relay of it.
	NotRelayed bool `json:"notRelayed,omitempty"`
	// MQTT5 links the arrow to others by its MQTT 5.0 properties: alias,
	// request/response, subscriptions (links5.go).
	MQTT5 *MQTT5 `json:"mqtt5,omitempty"`
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
	Counts    map[string]int `json:"counts"` // arrows per class, paged-out ones included (the View's own)
}

// SetHidden hides the arrows of the given classes (see Class); none shows
// all.
func (m *Model) SetHidden(classes ...string) {
	clear(m.hidden)
	for _, c := range classes {
		m.hidden[c] = true
	}
	m.hiddenMask = 0
	for i, c := range Classes {
		if m.hidden[c.Class] {
			m.hiddenMask |= 1 << i
		}
	}
	if len(m.hidden) == 0 {
		m.rows = nil
		return
	}
	m.placeLate()
	m.refilter()
}

// refilter lists the rows the filter shows, from the placed items (callers
// place late ones first). Not inlined: one copy in the wasm for its callers.
//
//go:noinline
func (m *Model) refilter() {
	m.rows = m.rows[:0]
	if m.rows == nil {
		m.rows = make([]*item, 0, len(m.items))
	}
	for _, it := range m.items {
		if m.hiddenMask&(1<<it.class) == 0 {
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
	m.renumber()
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
	it := m.bySeq.get(seq)
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
	it := m.bySeq.get(seq)
	if it == nil {
		return trace.Entry{}, false
	}
	return it.e, true
}

// ExchangeOf returns the exchange an arrow belongs to.
func (m *Model) ExchangeOf(seq int) (Exchange, bool) {
	it := m.bySeq.get(seq)
	if it == nil || it.exchange == nil {
		return Exchange{}, false
	}
	x := it.exchange
	return Exchange{ID: x.ID, Name: x.name(), Seqs: append([]int(nil), x.Seqs...), Done: x.Done}, true
}

// Entries returns the kept entries in diagram order, on the page's clock,
// exactly (realigned if a flood left that for later, see fresh).
func (m *Model) Entries() []trace.Entry {
	m.placeLate()
	if m.stale {
		m.realign()
	}
	return m.kept()
}

// Drawn returns the kept entries as View draws them: in a flood, off by
// the clock offset's last moves until the model settles (see fresh), and
// without the full realign Entries may cost.
func (m *Model) Drawn() []trace.Entry {
	m.fresh()
	return m.kept()
}

// kept copies the kept entries in the order they stand.
func (m *Model) kept() []trace.Entry {
	out := make([]trace.Entry, len(m.items))
	for i, it := range m.items {
		out[i] = it.e
	}
	return out
}

// Look calls f with the kept entry of each of seqs, as Drawn has them, in
// the order given, and returns how many of seqs are not kept (paged out,
// or never given). f must neither change nor keep e.
func (m *Model) Look(seqs []int, f func(e *trace.Entry)) (missing int) {
	m.fresh()
	for _, q := range seqs {
		if it := m.bySeq.get(q); it != nil {
			f(&it.e)
		} else {
			missing++
		}
	}
	return missing
}

// EachDrawn calls f with each kept entry, in Drawn's order and as Drawn
// has them, without copying them. f must neither change nor keep e.
func (m *Model) EachDrawn(f func(e *trace.Entry)) {
	m.fresh()
	for _, it := range m.items {
		f(&it.e)
	}
}

// Has reports whether the arrow seq is kept.
func (m *Model) Has(seq int) bool { return m.bySeq.get(seq) != nil }

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
		Counts:   map[string]int{},
	}
	for i, n := range m.counts {
		if n > 0 {
			v.Counts[Classes[i].Class] = n
		}
	}
	spans := map[int]bool{}
	for r := first; r < end; r++ {
		it := m.at(r)
		prev := 0.0
		if r > 0 {
			prev = m.at(r - 1).e.T
		}
		v.Arrows = append(v.Arrows, m.arrow(it, r, it.e.T-prev))
		if x := it.exchange; x != nil && !spans[x.ID] {
			spans[x.ID] = true
			v.Spans = append(v.Spans, m.span(x))
		}
	}
	assignColumns(v.Spans, 4)
	if end > first {
		from, to := m.at(first).e.T, m.at(end-1).e.T
		v.Deadlines = m.timerDeadlines(m.deadlines(from, to, end == total), from, to, end == total)
	}
	return v
}

func (m *Model) arrow(it *item, row int, delta float64) Arrow {
	e := &it.e
	return Arrow{
		Row: row, Seq: e.Seq, T: e.T, Delta: delta,
		Kind: e.Kind, Class: Classes[it.class].Class, Leg: e.Leg, From: e.From, To: e.To,
		FromLane: m.laneIndex[e.From], ToLane: m.laneIndex[e.To],
		Summary: e.Summary, Observed: e.Observed, Conn: e.Conn, Note: e.Note, Error: e.Error,
		Remote: it.src == Remote, Exchange: it.exchangeID(), Size: len(e.Bytes), Held: it.held, MQTT5: it.mqtt5,
		NotRelayed: it.notRelayed,
	}
}

// exchangeID is the ID of it's exchange, 0 for none.
func (it *item) exchangeID() int {
	if it.exchange == nil {
		return 0
	}
	return it.exchange.ID
}

func (m *Model) span(x *Exchange) Span {
	s := Span{Exchange: x.ID, Name: x.name(), Done: x.Done}
	for _, seq := range x.Seqs {
		it := m.bySeq.get(seq)
		if it == nil {
			continue
		}
		if s.Class == "" {
			s.Class = Classes[it.class].Class
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
