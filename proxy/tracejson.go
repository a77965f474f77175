package proxy

import (
	"bytes"
	"math"

	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// appendEntryMsg appends {"type":"entry","entry":…} for e, byte for byte
// what encoding/json makes of entryMsg (TestAppendEntryMsgMatchesJSON and
// FuzzAppendEntryMsg check), without its reflection: the trace channel
// encodes an entry for every packet. The entry is written by the page's
// own writer (pagejson). It returns ok false for a T that is not a finite
// number, which encoding/json refuses and pagejson writes as 0.
func appendEntryMsg(b []byte, e *trace.Entry) (_ []byte, ok bool) {
	if math.IsNaN(e.T) || math.IsInf(e.T, 0) {
		return b, false
	}
	w := jsonw.Writer{B: b}
	w.Open('{')
	w.KString("type", "entry")
	w.Key("entry")
	pagejson.WriteEntry(&w, e)
	w.Close('}')
	return w.B, true
}

// entryMsgPrefix is what appendEntryMsg writes before an entry's first
// value, its seq; tPrefix and bytesPrefix come before its t and its bytes
// (the keys of trace.Entry's JSON, docs/trace.md).
const (
	entryMsgPrefix = `{"type":"entry","entry":{"seq":`
	tPrefix        = `,"t":`
	bytesPrefix    = `,"bytes":`
)

// shapes holds, for the entries of relayed packets, the JSON appendEntryMsg
// writes around their four values that change from packet to packet (seq,
// t, summary, bytes), by the values the packets of one session one way
// share (shapeKey): most of an entry's JSON is those, and the trace
// channel's writer otherwise escapes them again for every packet. Each
// shape is cut from appendEntryMsg's own output and checked against it
// (see newShape), so pagejson stays the one writer of an entry.
type shapes struct {
	m map[shapeKey]*entryShape
	// recent are the shapes last found, newest first: their keys compare
	// cheaply (the strings of one session's entries share their bytes),
	// where a look-up in m hashes all eight strings.
	recent [4]recentShape
}

type recentShape struct {
	k  shapeKey
	sh *entryShape
}

// shapeKey is what the entries of one shape share.
type shapeKey struct {
	leg, from, to, kind, observed, conn, src, dst string
	version                                       int
}

// entryShape is an entry's JSON without its four values: mid goes
// between t and summary (from the leg to the summary's key), tail after
// bytes (from observed to the end).
type entryShape struct{ mid, tail []byte }

// maxShapes bounds a writer's shapes (a few per session).
const maxShapes = 256

// appendEntryMsg is appendEntryMsg(b, e), through a shape when e has one:
// a packet's entry (bytes) with no note, error or drop.
func (s *shapes) appendEntryMsg(b []byte, e *trace.Entry) (_ []byte, ok bool) {
	k, ok := shapeOf(e)
	if !ok {
		return appendEntryMsg(b, e)
	}
	sh := s.find(k, e)
	if sh == nil {
		return appendEntryMsg(b, e)
	}
	return sh.appendEntryMsg(b, e), true
}

// shapeOf returns the key of e's shape, and false if e has none: only a
// packet's entry (bytes) with no note, error or drop, at a finite time,
// has one (the rest are written whole, in JSON and in the compact form).
func shapeOf(e *trace.Entry) (shapeKey, bool) {
	if len(e.Bytes) == 0 || e.Note != "" || e.Error != "" || e.Drop != nil || math.IsNaN(e.T) || math.IsInf(e.T, 0) {
		return shapeKey{}, false
	}
	return shapeKey{e.Leg, e.From, e.To, e.Kind, e.Observed, e.Conn, e.Src, e.Dst, e.Version}, true
}

// find returns the shape of e's entries (of key k), nil if they have none.
func (s *shapes) find(k shapeKey, e *trace.Entry) *entryShape {
	for i := range s.recent {
		if hit := s.recent[i]; hit.sh != nil && hit.k == k {
			copy(s.recent[1:i+1], s.recent[:i])
			s.recent[0] = hit
			return hit.sh
		}
	}
	sh, found := s.m[k]
	if !found {
		if s.m == nil || len(s.m) >= maxShapes {
			*s = shapes{m: map[shapeKey]*entryShape{}}
		}
		sh = newShape(e)
		s.m[k] = sh // nil: this entry has no shape; written whole
	}
	if sh != nil {
		copy(s.recent[1:], s.recent[:len(s.recent)-1])
		s.recent[0] = recentShape{k, sh}
	}
	return sh
}

func (sh *entryShape) appendEntryMsg(b []byte, e *trace.Entry) []byte {
	b = append(b, entryMsgPrefix...)
	w := jsonw.Writer{B: b}
	w.Int(e.Seq)
	w.B = append(w.B, tPrefix...)
	w = jsonw.Writer{B: w.B}
	w.Float(e.T)
	w.B = append(w.B, sh.mid...)
	w = jsonw.Writer{B: w.B}
	w.String(e.Summary)
	w.B = append(w.B, bytesPrefix...)
	w = jsonw.Writer{B: w.B}
	w.Base64(e.Bytes)
	return append(w.B, sh.tail...)
}

// newShape cuts the shape of e's entries from appendEntryMsg's output for
// one of them, and returns it only if it writes two others exactly as
// appendEntryMsg does; nil otherwise.
func newShape(e *trace.Entry) *entryShape {
	probe := *e
	probe.Seq, probe.T, probe.Summary, probe.Bytes = 0, 0, "", []byte{0}
	out, _ := appendEntryMsg(nil, &probe)
	head := entryMsgPrefix + "0" + tPrefix + "0"
	mark := []byte(`"summary":""` + bytesPrefix + `"AA=="`) // the probe's summary and bytes
	i := bytes.Index(out, mark)
	if !bytes.HasPrefix(out, []byte(head)) || i < len(head) {
		return nil
	}
	sh := &entryShape{
		mid:  append(out[len(head):i:i], `"summary":`...),
		tail: out[i+len(mark):],
	}
	for _, p := range []trace.Entry{
		{Seq: 12, T: 3.25, Summary: `"a" <b> & \c`, Bytes: []byte{1, 2, 3, 4}},
		{Seq: -1, T: 1e-9, Summary: "\xff\u2028", Bytes: make([]byte, 300)},
	} {
		check := *e
		check.Seq, check.T, check.Summary, check.Bytes = p.Seq, p.T, p.Summary, p.Bytes
		want, _ := appendEntryMsg(nil, &check)
		if !bytes.Equal(sh.appendEntryMsg(nil, &check), want) {
			return nil
		}
	}
	return sh
}
