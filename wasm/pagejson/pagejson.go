// Package pagejson writes and reads the JSON that the WebAssembly client
// and the page exchange: trace entries (the schema of docs/trace.md), the
// diagram's view and clock, and codec field trees. It is written by hand on
// package jsonw, with no reflection and no encoding/json, because it is
// compiled into the wasm; it carries no build tag, so its schema test
// checks it against encoding/json under plain `go test`.
//
// The names follow the json tags of the Go types (trace.Entry,
// diagram.View, codec.Tree). The package does not talk to JavaScript.
package pagejson

import (
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/dnsdissect"
	"github.com/lifeline-mqtt/lifeline/httpdissect"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

// WriteEntry writes one trace entry as encoding/json would (omitempty
// fields left out when empty).
func WriteEntry(w *jsonw.Writer, e *trace.Entry) {
	w.Open('{')
	w.KInt("seq", e.Seq)
	w.KFloat("t", e.T)
	w.KString("leg", e.Leg)
	w.KString("from", e.From)
	w.KString("to", e.To)
	w.KString("kind", e.Kind)
	w.KString("summary", e.Summary)
	if len(e.Bytes) > 0 {
		w.Key("bytes")
		w.Base64(e.Bytes)
	}
	w.KString("observed", e.Observed)
	if e.Note != "" {
		w.KString("note", e.Note)
	}
	if e.Conn != "" {
		w.KString("conn", e.Conn)
	}
	if e.Src != "" {
		w.KString("src", e.Src)
	}
	if e.Dst != "" {
		w.KString("dst", e.Dst)
	}
	if e.Version != 0 {
		w.KInt("version", e.Version)
	}
	if e.Error != "" {
		w.KString("error", e.Error)
	}
	if e.Drop != nil {
		writeDrop(w, e.Drop)
	}
	w.Close('}')
}

// writeDrop writes a broker.drop entry's drop object.
func writeDrop(w *jsonw.Writer, d *trace.Drop) {
	w.Key("drop")
	w.Open('{')
	w.KString("client", d.Client)
	w.KString("reason", d.Reason)
	w.KString("topic", d.Topic)
	w.KInt("qos", d.QoS)
	w.KInt("size", d.Size)
	w.KInt("queued", d.Queued)
	w.KInt("inflight", d.Inflight)
	w.Key("bytes")
	w.Float(float64(d.Bytes)) // bytes held: far below 2^53
	w.KString("limit", d.Limit)
	if d.Refused {
		w.KBool("refused", true)
	}
	w.Close('}')
}

// readDrop reads a broker.drop entry's drop object.
func readDrop(r *jsonw.Reader) *trace.Drop {
	d := &trace.Drop{}
	r.Object(func(k string) {
		switch k {
		case "client":
			d.Client = r.String()
		case "reason":
			d.Reason = r.String()
		case "topic":
			d.Topic = r.String()
		case "qos":
			d.QoS = r.Int()
		case "size":
			d.Size = r.Int()
		case "queued":
			d.Queued = r.Int()
		case "inflight":
			d.Inflight = r.Int()
		case "bytes":
			d.Bytes = int64(r.Float())
		case "limit":
			d.Limit = r.String()
		case "refused":
			d.Refused = r.Bool()
		default:
			r.Skip()
		}
	})
	return d
}

// WriteEntries writes entries as a JSON array.
func WriteEntries(w *jsonw.Writer, es []trace.Entry) {
	w.Open('[')
	for i := range es {
		WriteEntry(w, &es[i])
	}
	w.Close(']')
}

func writeArrow(w *jsonw.Writer, a *diagram.Arrow) {
	w.Open('{')
	w.KInt("row", a.Row)
	w.KInt("seq", a.Seq)
	w.KFloat("t", a.T)
	w.KFloat("delta", a.Delta)
	w.KString("kind", a.Kind)
	w.KString("class", a.Class)
	w.KString("leg", a.Leg)
	w.KString("from", a.From)
	w.KString("to", a.To)
	w.KInt("fromLane", a.FromLane)
	w.KInt("toLane", a.ToLane)
	w.KString("summary", a.Summary)
	w.KString("observed", a.Observed)
	if a.Conn != "" {
		w.KString("conn", a.Conn)
	}
	if a.Note != "" {
		w.KString("note", a.Note)
	}
	if a.Error != "" {
		w.KString("error", a.Error)
	}
	w.KBool("remote", a.Remote)
	w.KInt("exchange", a.Exchange)
	w.KInt("size", a.Size)
	if a.Held {
		w.KBool("held", true)
	}
	if a.NotRelayed {
		w.KBool("notRelayed", true)
	}
	if m := a.MQTT5; m != nil {
		writeMQTT5(w, m)
	}
	w.Close('}')
}

// writeMQTT5 writes an arrow's "mqtt5" links as diagram.MQTT5's JSON tags
// say.
func writeMQTT5(w *jsonw.Writer, m *diagram.MQTT5) {
	w.Key("mqtt5")
	w.Open('{')
	if m.Alias != 0 {
		w.KInt("alias", m.Alias)
		w.KString("aliasTopic", m.AliasTopic)
		w.KBool("aliasSet", m.AliasSet)
	}
	if m.Response != 0 {
		w.KInt("response", m.Response)
	}
	if m.Request != 0 {
		w.KInt("request", m.Request)
		w.KFloat("elapsed", m.Elapsed)
	}
	if len(m.Subs) > 0 {
		w.Key("subs")
		w.Open('[')
		for _, s := range m.Subs {
			w.Open('{')
			w.KInt("id", s.ID)
			w.KString("filter", s.Filter)
			w.Close('}')
		}
		w.Close(']')
	}
	w.Close('}')
}

func writeInts(w *jsonw.Writer, k string, vs []int) {
	w.Key(k)
	if vs == nil {
		w.Null()
		return
	}
	w.Open('[')
	for _, v := range vs {
		w.Int(v)
	}
	w.Close(']')
}

func writeCounts(w *jsonw.Writer, k string, m map[string]int) {
	w.Key(k)
	if m == nil {
		w.Null()
		return
	}
	w.Open('{')
	// The page reads these by name; order does not matter.
	for name, n := range m {
		w.KInt(name, n)
	}
	w.Close('}')
}

// WriteClock writes the clock alignment the page shows.
func WriteClock(w *jsonw.Writer, c diagram.ClockInfo) {
	w.Open('{')
	w.KBool("aligned", c.Aligned)
	w.KFloat("offset", c.Offset)
	w.KFloat("uncertainty", c.Uncertainty)
	w.KInt("samples", c.Samples)
	w.KInt("pairs", c.Pairs)
	w.Close('}')
}

// WriteView writes a page of the diagram: lanes, arrows, spans, deadlines,
// what was paged out, the clock and the counts.
func WriteView(w *jsonw.Writer, v *diagram.View) {
	w.Open('{')
	w.KInt("first", v.First)
	w.KInt("total", v.Total)
	w.Key("lanes")
	w.Open('[')
	for _, l := range v.Lanes {
		w.Open('{')
		w.KString("party", l.Party)
		w.KString("label", l.Label)
		if l.Detail != "" {
			w.KString("detail", l.Detail)
		}
		w.Close('}')
	}
	w.Close(']')
	w.Key("arrows")
	w.Open('[')
	for i := range v.Arrows {
		writeArrow(w, &v.Arrows[i])
	}
	w.Close(']')
	w.Key("spans")
	if v.Spans == nil {
		w.Null()
	} else {
		w.Open('[')
		for _, s := range v.Spans {
			w.Open('{')
			w.KInt("exchange", s.Exchange)
			w.KString("name", s.Name)
			w.KString("class", s.Class)
			writeInts(w, "rows", s.Rows)
			w.KBool("done", s.Done)
			w.KInt("column", s.Column)
			w.Close('}')
		}
		w.Close(']')
	}
	w.Key("deadlines")
	if v.Deadlines == nil {
		w.Null()
	} else {
		w.Open('[')
		for _, d := range v.Deadlines {
			w.Open('{')
			w.KFloat("t", d.T)
			w.KFloat("row", d.Row)
			w.KInt("lane", d.Lane)
			w.KInt("keepAlive", d.KeepAlive)
			w.KBool("met", d.Met)
			w.KBool("pending", d.Pending)
			w.KString("label", d.Label)
			if d.Timer != "" {
				w.KString("timer", d.Timer)
				w.KInt("interval", d.Interval)
				w.KString("clause", d.Clause)
			}
			w.Close('}')
		}
		w.Close(']')
	}
	w.Key("pagedOut")
	w.Open('{')
	w.KInt("count", v.PagedOut.Count)
	w.KFloat("until", v.PagedOut.Until)
	writeCounts(w, "byKind", v.PagedOut.ByKind)
	w.Close('}')
	w.Key("clock")
	WriteClock(w, v.Clock)
	writeCounts(w, "counts", v.Counts)
	w.Close('}')
}

// WriteClasses writes the classes of arrows with their names, for the
// page's filter and colours.
func WriteClasses(w *jsonw.Writer, cs []diagram.ClassName) {
	w.Open('[')
	for _, c := range cs {
		w.Open('{')
		w.KString("class", c.Class)
		w.KString("name", c.Name)
		w.Close('}')
	}
	w.Close(']')
}

// WriteDetail writes what the page's detail panel shows of one arrow: its
// entry, its class (see diagram.Class), its exchange when it has one (x,
// with those of its arrows that entry still finds) and, for an MQTT packet,
// its field tree read as the entry's version (3.1.1 when it is not known;
// a CONNECT says its own).
func WriteDetail(w *jsonw.Writer, e *trace.Entry, x *diagram.Exchange, entry func(seq int) (trace.Entry, bool)) {
	w.Open('{')
	w.Key("entry")
	WriteEntry(w, e)
	w.KString("class", diagram.Class(e.Kind))
	if x != nil {
		w.Key("exchange")
		w.Open('{')
		w.KInt("id", x.ID)
		w.KString("name", x.Name)
		w.KBool("done", x.Done)
		w.Key("arrows")
		w.Open('[')
		for _, seq := range x.Seqs {
			o, ok := entry(seq)
			if !ok {
				continue
			}
			w.Open('{')
			w.KInt("seq", seq)
			w.KString("kind", o.Kind)
			w.KString("from", o.From)
			w.KString("to", o.To)
			w.KFloat("t", o.T)
			w.Close('}')
		}
		w.Close(']')
		w.Close('}')
	}
	// The lab's entries about a packet (held, released, dropped) carry it too.
	if (strings.HasPrefix(e.Kind, "mqtt.") || strings.HasPrefix(e.Kind, "lab.")) && len(e.Bytes) > 0 {
		v := codec.Version(e.Version)
		if v == 0 {
			v = codec.V311
		}
		t := codec.Dissect(e.Bytes, v)
		w.Key("tree")
		WriteTree(w, &t)
	}
	if (e.Kind == trace.KindDNSQuery || e.Kind == trace.KindDNSResponse) && len(e.Bytes) > 0 {
		t := dnsdissect.Dissect(e.Bytes)
		w.Key("tree")
		WriteTree(w, &t)
	}
	if (e.Kind == trace.KindWSUpgrade || e.Kind == trace.KindWSAccept) && len(e.Bytes) > 0 {
		t := httpdissect.Dissect(e.Bytes)
		w.Key("tree")
		WriteTree(w, &t)
	}
	w.Close('}')
}

// WriteTree writes the field tree of one dissected packet.
func WriteTree(w *jsonw.Writer, t *codec.Tree) {
	w.Open('{')
	w.KInt("type", int(t.Type))
	w.KString("name", t.Name)
	w.KInt("version", int(t.Version))
	w.KString("summary", t.Summary)
	w.Key("fields")
	writeFields(w, t.Fields)
	if len(t.Expert) > 0 {
		w.Key("expert")
		w.Open('[')
		for _, x := range t.Expert {
			w.Open('{')
			w.KInt("offset", x.Offset)
			w.KString("clause", x.Clause)
			w.KString("message", x.Message)
			w.Close('}')
		}
		w.Close(']')
	}
	w.Close('}')
}

func writeFields(w *jsonw.Writer, fs []codec.Field) {
	if fs == nil {
		w.Null()
		return
	}
	w.Open('[')
	for i := range fs {
		f := &fs[i]
		w.Open('{')
		w.KString("name", f.Name)
		w.KString("value", f.Value)
		w.KInt("offset", f.Offset)
		w.KInt("length", f.Length)
		w.KString("label", f.Label)
		if len(f.Children) > 0 {
			w.Key("children")
			writeFields(w, f.Children)
		}
		w.Close('}')
	}
	w.Close(']')
}

// Names keeps the strings that repeat from one entry to the next in a
// stream of them (legs, parties, kinds, observers, connections), so that
// ReadEntry allocates none of them again and, as most entries repeat the
// last entry's, mostly does not even hash them.
type Names struct {
	m    map[string]string
	last [nameFields]string // the last value of each field

	// PacketSummaries false: the summary of an MQTT entry with its bytes is
	// not read (the page labels packets from their bytes when it draws
	// them), only skipped.
	PacketSummaries bool
}

// The fields Names remembers.
const (
	nameLeg = iota
	nameFrom
	nameTo
	nameKind
	nameObserved
	nameConn
	nameFields
)

// NewNames returns an empty Names.
func NewNames() *Names { return &Names{m: map[string]string{}} }

func (n *Names) read(r *jsonw.Reader, field int) string {
	if n == nil {
		return r.String()
	}
	if l := n.last[field]; l != "" && r.Is(l) {
		return l
	}
	s := r.Intern(n.m, 512)
	n.last[field] = s
	return s
}

// ReadEntry reads a trace entry (the schema of docs/trace.md) at the
// reader; names (nil: none) interns the strings that repeat.
func ReadEntry(r *jsonw.Reader, names *Names) trace.Entry {
	var e trace.Entry
	summary := -1 // where the summary is, read last (see Names.PacketSummaries)
	r.Object(func(k string) {
		switch k {
		case "seq":
			e.Seq = r.Int()
		case "t":
			e.T = r.Float()
		case "leg":
			e.Leg = names.read(r, nameLeg)
		case "from":
			e.From = names.read(r, nameFrom)
		case "to":
			e.To = names.read(r, nameTo)
		case "kind":
			e.Kind = names.read(r, nameKind)
		case "summary":
			summary = r.Offset()
			r.Skip()
		case "bytes":
			if b, ok := r.Base64(); ok && len(b) > 0 {
				e.Bytes = b
			}
		case "observed":
			e.Observed = names.read(r, nameObserved)
		case "note":
			e.Note = r.String()
		case "conn":
			e.Conn = names.read(r, nameConn)
		case "src":
			e.Src = r.String()
		case "dst":
			e.Dst = r.String()
		case "version":
			e.Version = r.Int()
		case "error":
			e.Error = r.String()
		case "drop":
			e.Drop = readDrop(r)
		default:
			r.Skip()
		}
	})
	if summary >= 0 && !r.Err() && (names == nil || names.PacketSummaries || len(e.Bytes) == 0 || !strings.HasPrefix(e.Kind, "mqtt.")) {
		end := r.Offset()
		r.Seek(summary)
		e.Summary = r.String()
		r.Seek(end)
	}
	return e
}
