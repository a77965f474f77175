// Package textdiagram draws trace entries as a text sequence diagram, one
// lane per party, for terminals (`lifeline trace`): each entry is a label
// line (time, kind, summary) over an arrow between its two lanes. Arrows
// observed on the wire are drawn with '-', those inferred from a socket call
// (observed "kernel") with '.'; an entry whose From equals its To is a note
// on that lane.
//
// Lanes are spaced so that every label fits between the two lanes of its
// arrow; a label longer than MaxLabel is cut with "…" and continued on the
// following lines, inside the same span, so nothing is lost and nothing
// runs over another lane. Lanes are ordered clients first, then DNS
// servers, then brokers (unless Options.Parties says otherwise); a client
// lane named by its address (a capture's) is headed with its MQTT client id
// too when a CONNECT names it, and the DNS lookups a host makes from
// ephemeral ports share one lane per host. An MQTT 5.0 response (a PUBLISH
// with the Correlation Data of a request, on its Response Topic) gets a
// line under its arrow naming the request's time and the time between.
//
// It draws; it does not reorder or filter entries.
package textdiagram

import (
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

const (
	minGap = 16 // the narrowest space between two lanes
	// MaxLabel is the longest label drawn on one line.
	MaxLabel = 64
)

// Options change the drawing.
type Options struct {
	// Parties orders the lanes; parties not listed get lanes after them,
	// clients first, then DNS servers, then brokers.
	Parties []string
	// MaskTimes prints "t" instead of each time (for golden files).
	MaskTimes bool
	// Notes adds each entry's Note to its label (e.g. the WebSocket frame
	// an MQTT packet travelled in).
	Notes bool
}

// role is what a party does in the entries, which places its lane.
type role int

const (
	roleClient role = iota
	roleDNSClient
	roleDNSServer
	roleBroker
)

// lane is one column of the diagram.
type lane struct {
	name  string // the header
	role  role
	first int // index of the first entry naming it, for a stable order
}

// Render writes the diagram of entries to w.
func Render(w io.Writer, entries []trace.Entry, opt Options) error {
	times := make([]string, len(entries))
	timeW := width("t (ms)")
	for i, e := range entries {
		times[i] = "t"
		if !opt.MaskTimes {
			times[i] = strconv.FormatFloat(e.T, 'f', 3, 64)
		}
		timeW = max(timeW, width(times[i]))
	}
	// The line under a response's arrow that links it to its request.
	under := make([]string, len(entries))
	for i, l := range diagram.Links5(entries) {
		if l != nil && l.Request > 0 {
			under[i] = responseText(times[l.Request-1], l.Elapsed, opt.MaskTimes)
		}
	}
	lanes, of := layoutLanes(entries, opt.Parties)
	x := spaceLanes(entries, under, lanes, of, timeW+4)
	var b strings.Builder
	// Header: names centred on their lanes, then the time column's title.
	head := newLine(x[len(x)-1] + 1)
	for i, l := range lanes {
		head.put(x[i]-width(l.name)/2, l.name)
	}
	head.writeTo(&b)
	head = lanesLine(x)
	head.put(x[0]-2-width("t (ms)"), "t (ms)")
	head.writeTo(&b)
	for i, e := range entries {
		t := times[i]
		text := labelText(e)
		if opt.Notes && e.Note != "" {
			text += "  · " + e.Note
		}
		from, to := of[e.From], of[e.To]
		lo, hi := min(from, to), max(from, to)
		room := 1 << 20 // a note on the last lane: the line is its own
		if from == to {
			text = "* " + text
			if lo+1 < len(x) {
				room = x[lo+1] - x[lo] - 3
			}
		} else {
			room = x[hi] - x[lo] - 3
		}
		parts := wrap(text, room)
		label := lanesLine(x)
		label.put(x[0]-2-width(t), t)
		label.put(x[lo]+2, parts[0])
		label.writeTo(&b)
		if from != to {
			arrow := lanesLine(x)
			fill := '-'
			if e.Observed == trace.ObservedKernel {
				fill = '.'
			}
			for i := x[lo] + 1; i < x[hi]; i++ {
				arrow.cells[i] = fill
			}
			if from < to {
				arrow.cells[x[hi]-1] = '>'
			} else {
				arrow.cells[x[lo]+1] = '<'
			}
			arrow.writeTo(&b)
		}
		if under[i] != "" {
			parts = append(parts, wrap(under[i], room)...)
		}
		for _, p := range parts[1:] {
			cont := lanesLine(x)
			cont.put(x[lo]+2, p)
			cont.writeTo(&b)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// labelText is the text over an entry's arrow.
func labelText(e trace.Entry) string {
	text := e.Kind
	if e.Summary != "" && !strings.HasPrefix(e.Kind, "mqtt.") {
		text += "  " + e.Summary
	} else if e.Summary != "" {
		text = e.Summary
	}
	if e.Error != "" {
		text += "  !! " + e.Error
	}
	return text
}

// responseText links a response to its request: when the request was
// sent and how long the answer took.
func responseText(requestAt string, elapsed float64, mask bool) string {
	took := "t"
	if !mask {
		took = strconv.FormatFloat(elapsed, 'f', 3, 64)
	}
	return "↳ answers the request at " + requestAt + " (+" + took + " ms)"
}

// wrap cuts text into pieces of at most room columns: the first ends with
// "…" and each following one starts with it. It cuts after a space when one
// is near enough.
func wrap(text string, room int) []string {
	room = max(room, 8)
	if width(text) <= room {
		return []string{text}
	}
	var parts []string
	r := []rune(text)
	prefix := ""
	for {
		avail := room - width(prefix)
		if len(r) <= avail {
			return append(parts, prefix+string(r))
		}
		cut := avail - 1 // room for the "…"
		for i := cut; i > cut/2; i-- {
			if r[i-1] == ' ' {
				cut = i
				break
			}
		}
		parts = append(parts, prefix+strings.TrimRight(string(r[:cut]), " ")+"…")
		r = r[cut:]
		prefix = "…"
	}
}

// layoutLanes gives every party a lane and returns the lanes in order and
// the lane of each party.
func layoutLanes(entries []trace.Entry, order []string) ([]lane, map[string]int) {
	roles := map[string]role{}
	var parties []string // in order of first appearance
	firstAt := map[string]int{}
	dnsOnly := map[string]bool{}
	ids := map[string]string{}
	for i, e := range entries {
		for _, p := range []string{e.From, e.To} {
			if _, ok := firstAt[p]; !ok && p != "" {
				firstAt[p] = i
				dnsOnly[p] = true
				parties = append(parties, p)
			}
			if !strings.HasPrefix(e.Kind, "dns.") {
				dnsOnly[p] = false
			}
		}
		switch {
		case e.Kind == trace.KindTCPSyn, e.Kind == "mqtt.CONNECT":
			roles[e.To] = roleBroker
		case e.Kind == "mqtt.CONNACK":
			roles[e.From] = roleBroker
		case e.Kind == trace.KindDNSQuery && roles[e.To] != roleBroker:
			roles[e.To] = roleDNSServer
		case e.Kind == trace.KindDNSResponse && roles[e.From] != roleBroker:
			roles[e.From] = roleDNSServer
		}
		if e.Kind == "mqtt.CONNECT" && ids[e.From] == "" {
			ids[e.From] = clientID(e)
		}
	}

	var lanes []lane
	of := map[string]int{}
	byName := map[string]int{}
	addLane := func(p, name string, r role) {
		i, ok := byName[name]
		if !ok {
			i = len(lanes)
			byName[name] = i
			lanes = append(lanes, lane{name: name, role: r, first: firstAt[p]})
		}
		of[p] = i
	}
	listed := map[string]bool{}
	for _, p := range order {
		if _, used := firstAt[p]; used && !listed[p] {
			addLane(p, p, roles[p])
			listed[p] = true
		}
	}
	fixed := len(lanes)
	for _, p := range parties {
		if listed[p] {
			continue
		}
		name, r := p, roles[p]
		if r == roleClient && dnsOnly[p] {
			// Lookups from ephemeral ports: one lane per host.
			r = roleDNSClient
			if ap, err := netip.ParseAddrPort(p); err == nil {
				name = ap.Addr().String() + " (DNS client)"
			}
		}
		if _, err := netip.ParseAddrPort(p); err == nil && ids[p] != "" && r == roleClient {
			name = ids[p] + " " + p // a capture's client: its address says little
		}
		addLane(p, name, r)
	}
	// Order the unlisted lanes by role, then by first appearance.
	rest := append([]lane(nil), lanes[fixed:]...)
	sortLanes(rest)
	perm := make([]int, len(lanes))
	for i := range perm {
		perm[i] = i
	}
	for newAt, l := range rest {
		perm[byName[l.name]] = fixed + newAt
	}
	copy(lanes[fixed:], rest)
	for p, i := range of {
		of[p] = perm[i]
	}
	return lanes, of
}

// sortLanes orders lanes by role, then by first appearance (insertion sort:
// a handful of lanes).
func sortLanes(ls []lane) {
	less := func(a, b lane) bool {
		if a.role != b.role {
			return a.role < b.role
		}
		return a.first < b.first
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && less(ls[j], ls[j-1]); j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// clientID is the client identifier of a CONNECT entry, or "".
func clientID(e trace.Entry) string {
	if len(e.Bytes) == 0 {
		return ""
	}
	v := codec.V311
	if e.Version == int(codec.V5) {
		v = codec.V5
	}
	p, err := codec.Decode(e.Bytes, v)
	if err != nil {
		return ""
	}
	if c, ok := p.(*codec.Connect); ok {
		return c.ClientID
	}
	return ""
}

// spaceLanes returns the column of each lane, the first at least at first:
// wide enough apart for the headers, and for every label and line under
// an arrow (up to MaxLabel) between its arrow's lanes.
func spaceLanes(entries []trace.Entry, under []string, lanes []lane, of map[string]int, first int) []int {
	n := len(lanes)
	if n == 0 {
		return []int{first}
	}
	gap := make([]int, max(n-1, 0))
	for i := range gap {
		// Two centred headers with two spaces between them.
		gap[i] = max(minGap, (width(lanes[i].name)+1)/2+(width(lanes[i+1].name)+1)/2+2)
	}
	type need struct{ lo, hi, w int }
	var needs []need
	for i, e := range entries {
		from, to := of[e.From], of[e.To]
		// "| " label " |"; a note reaches up to the next lane.
		w := min(max(width(labelText(e)), width(under[i])), MaxLabel) + 3
		if from == to {
			if from+1 == n {
				continue
			}
			to, w = from+1, w+2
		}
		needs = append(needs, need{min(from, to), max(from, to), w})
	}
	// Spans of one gap first: they fix the gaps the wider spans then add to.
	for span := 1; span < n; span++ {
		for _, nd := range needs {
			if nd.hi-nd.lo != span {
				continue
			}
			have := 0
			for i := nd.lo; i < nd.hi; i++ {
				have += gap[i]
			}
			if d := nd.w - have; d > 0 {
				for i := nd.lo; i < nd.hi; i++ {
					gap[i] += d / span
				}
				gap[nd.hi-1] += d % span
			}
		}
	}
	x := make([]int, n)
	x[0] = max(first, (width(lanes[0].name)+1)/2)
	for i := 1; i < n; i++ {
		x[i] = x[i-1] + gap[i-1]
	}
	return x
}

func width(s string) int { return utf8.RuneCountInString(s) }

// line is one output line as cells of one rune each, so that labels with
// "→" or "…" keep the lanes aligned.
type line struct{ cells []rune }

func newLine(n int) *line {
	l := &line{cells: make([]rune, n)}
	for i := range l.cells {
		l.cells[i] = ' '
	}
	return l
}

// lanesLine is a blank line with a '|' on every lane.
func lanesLine(x []int) *line {
	l := newLine(x[len(x)-1] + 1)
	for _, c := range x {
		l.cells[c] = '|'
	}
	return l
}

// put writes s at column col, growing the line if needed.
func (l *line) put(col int, s string) {
	col = max(col, 0)
	for _, r := range s {
		for col >= len(l.cells) {
			l.cells = append(l.cells, ' ')
		}
		l.cells[col] = r
		col++
	}
}

func (l *line) writeTo(b *strings.Builder) {
	b.WriteString(strings.TrimRight(string(l.cells), " "))
	b.WriteByte('\n')
}
