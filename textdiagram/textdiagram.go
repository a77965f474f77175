// Package textdiagram draws trace entries as a text sequence diagram, one
// lane per party, for terminals (`lifeline trace`): each entry is a label
// line (time, kind, summary) over an arrow between its two lanes. Arrows
// observed on the wire are drawn with '-', those inferred from a socket call
// (observed "kernel") with '.'; an entry whose From equals its To is a note
// on that lane.
package textdiagram

import (
	"io"
	"strconv"
	"strings"

	"github.com/lifeline-mqtt/lifeline/trace"
)

const (
	timeWidth = 14 // "     12.345  |"
	laneGap   = 34
)

// Options change the drawing.
type Options struct {
	// Parties orders the lanes; parties not listed get lanes after them in
	// order of appearance.
	Parties []string
	// MaskTimes prints "t" instead of each time (for golden files).
	MaskTimes bool
}

// Render writes the diagram of entries to w.
func Render(w io.Writer, entries []trace.Entry, opt Options) error {
	lanes := map[string]int{}
	var names []string
	add := func(p string) {
		if _, ok := lanes[p]; !ok && p != "" {
			lanes[p] = len(names)
			names = append(names, p)
		}
	}
	used := map[string]bool{}
	for _, e := range entries {
		used[e.From], used[e.To] = true, true
	}
	for _, p := range opt.Parties {
		if used[p] {
			add(p)
		}
	}
	for _, e := range entries {
		add(e.From)
		add(e.To)
	}
	x := func(i int) int { return timeWidth + i*laneGap }
	width := x(len(names)-1) + 1
	var b strings.Builder
	// Header: names centred on their lanes.
	head := blank(width + laneGap)
	put(head, 0, "    t (ms)")
	for i, n := range names {
		put(head, x(i)-len(n)/2, n)
	}
	b.WriteString(strings.TrimRight(string(head), " ") + "\n")
	for _, e := range entries {
		label := lanesLine(width, len(names), x)
		arrow := lanesLine(width, len(names), x)
		t := "t"
		if !opt.MaskTimes {
			t = strconv.FormatFloat(e.T, 'f', 3, 64)
		}
		put(label, timeWidth-2-len(t), t)
		text := e.Kind
		if e.Summary != "" && !strings.HasPrefix(e.Kind, "mqtt.") {
			text += "  " + e.Summary
		} else if e.Summary != "" {
			text = e.Summary
		}
		if e.Error != "" {
			text += "  !! " + e.Error
		}
		from, to := lanes[e.From], lanes[e.To]
		lo, hi := min(from, to), max(from, to)
		if from == to {
			put(label, x(from)+2, "* "+text)
			b.WriteString(strings.TrimRight(string(label), " ") + "\n")
			continue
		}
		put(label, x(lo)+2, text)
		fill := byte('-')
		if e.Observed == trace.ObservedKernel {
			fill = '.'
		}
		for i := x(lo) + 1; i < x(hi); i++ {
			arrow[i] = fill
		}
		if from < to {
			arrow[x(hi)-1] = '>'
		} else {
			arrow[x(lo)+1] = '<'
		}
		b.WriteString(strings.TrimRight(string(label), " ") + "\n")
		b.WriteString(strings.TrimRight(string(arrow), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func blank(n int) []byte { return []byte(strings.Repeat(" ", n)) }

// lanesLine is a blank line with a '|' on every lane, with room for long
// labels past the last lane.
func lanesLine(width, n int, x func(int) int) []byte {
	l := blank(width + 200)
	for i := 0; i < n; i++ {
		l[x(i)] = '|'
	}
	return l
}

// put writes s into line at column col, growing the line if needed.
func put(line []byte, col int, s string) {
	if col < 0 {
		col = 0
	}
	for i := 0; i < len(s) && col+i < len(line); i++ {
		line[col+i] = s[i]
	}
}
