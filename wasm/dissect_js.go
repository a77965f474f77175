//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/expert"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// dissect is lifeline.dissect(hexOrBytes, version): the field tree of one
// packet given as hex text (spaces and colons allowed) or bytes.
func (a *app) dissect(args []js.Value) any {
	in := arg(args, 0)
	var b []byte
	if in.Type() == js.TypeString {
		var ok bool
		if b, ok = parseHex(in.String()); !ok {
			panic(errString("dissect: not hex: give pairs of 0-9 a-f (spaces, colons and 0x allowed)"))
		}
	} else if bs, ok := bytesFromJS(in); ok {
		b = bs
	} else {
		panic(errString("dissect(hexOrBytes, version): give a hex string or a Uint8Array"))
	}
	v := codec.V311
	if n := arg(args, 1); n.Type() == js.TypeNumber {
		v = codec.Version(n.Int())
	}
	t := codec.Dissect(b, v)
	a.w.Reset()
	pagejson.WriteTree(&a.w, &t)
	return parseJSON(a.w.B)
}

// parseHex reads hex text, allowing spaces, colons and 0x prefixes
// (encoding/hex would bring fmt into the wasm).
func parseHex(s string) ([]byte, bool) {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == ':' || c == '\n' || c == '\t' || c == '\r':
		case c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X'):
			i++
		default:
			clean = append(clean, c)
		}
	}
	s = string(clean)
	if len(s)%2 != 0 {
		return nil, false
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// findings is lifeline.findings(): the expert analysis of the kept
// entries, [{severity, code, seq: [..], conn, leg, text, clause}], ordered
// by their first packet.
func (a *app) findings(args []js.Value) any {
	var fs []expert.Finding
	if arg(args, 0).Truthy() { // the panel's: what the diagram has drawn
		fs = a.lf.findings(a.model)
	} else {
		fs = expert.Analyze(a.model.Entries(), expert.Options{Truncated: a.model.PagedOut().Count > 0})
	}
	a.w.Reset()
	a.w.Open('[')
	for _, f := range fs {
		a.w.Open('{')
		a.w.KString("severity", f.Severity.String())
		a.w.KString("code", f.Code)
		a.w.Key("seq")
		a.w.Open('[')
		for _, q := range f.Seq {
			a.w.Int(q)
		}
		a.w.Close(']')
		a.w.KString("conn", f.Conn)
		a.w.KString("leg", f.Leg)
		a.w.KString("text", f.Text)
		a.w.KString("clause", f.Clause)
		a.w.Close('}')
	}
	a.w.Close(']')
	return parseJSON(a.w.B)
}

// liveFindings is the Findings panel's analysis (findings(true)). The
// panel asks every half second or so; analysing every arrow kept (20,000
// in a flood) each time held the page for up to a quarter of a second, and
// a connect() that fell in it waited as long. So one expert.Analyzer is
// kept and given each arrow once, the next time the panel asks or once
// liveChunk are waiting, in the order they were placed (on each
// connection's leg, the order they travelled). It starts again from the
// arrows kept when an arrow was paged
// out before it was given one, and on _load and _clear; the findings about
// arrows paged out since are forgotten (Analyzer.Prune), while what those
// arrows were still counts (a CONNECT seen, a request answered).
type liveFindings struct {
	an      *expert.Analyzer
	pending []int // arrows placed and not yet analysed, by seq
	stale   bool  // start again from the arrows kept
	paged   int   // PagedOut().Count when last pruned
}

// placed notes an arrow placed in m. Every liveChunk arrows they are
// given to the analysis at once: in a flood the oldest arrows are paged
// out long before the panel asks again, and one paged out unseen would
// start the analysis again from all 20,000 kept (30-70 ms at once, where
// a chunk costs a millisecond or two).
func (lf *liveFindings) placed(m *diagram.Model, seq int) {
	if lf.stale || lf.an == nil {
		return // the next ask starts from the arrows kept
	}
	lf.pending = append(lf.pending, seq)
	if len(lf.pending) >= liveChunk {
		lf.catchUp(m)
	}
}

// liveChunk is how many arrows placed wait for the analysis at most.
const liveChunk = 1024

// catchUp gives the analysis the arrows placed since it last had some;
// with none to give them to, the next ask starts from the arrows kept.
func (lf *liveFindings) catchUp(m *diagram.Model) {
	if lf.an != nil && !lf.stale && len(lf.pending) > 0 && m.Look(lf.pending, lf.an.Add) > 0 {
		lf.stale = true
	}
	lf.pending = lf.pending[:0]
}

// reset starts again at the next ask (a new or cleared diagram).
func (lf *liveFindings) reset() { lf.an, lf.pending, lf.stale = nil, nil, false }

// findings returns the findings of m's arrows, given to the analysis
// those placed since the last call.
func (lf *liveFindings) findings(m *diagram.Model) []expert.Finding {
	lf.catchUp(m)
	paged := m.PagedOut().Count
	if lf.an == nil || lf.stale {
		lf.an = expert.NewAnalyzer(expert.Options{Truncated: paged > 0})
		m.EachDrawn(lf.an.Add)
		lf.stale, lf.paged = false, paged
	}
	if paged != lf.paged {
		lf.paged = paged
		lf.an.Prune(m.Has)
	}
	fs := lf.an.Findings()
	// Those the end adds (a request not answered yet) may be about
	// arrows paged out: only findings with an arrow to show are listed.
	out := fs[:0]
	for _, f := range fs {
		for _, q := range f.Seq {
			if m.Has(q) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}
