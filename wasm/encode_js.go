//go:build js && wasm

package main

import (
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

// The JSON the page reads. The names follow the json tags of the Go types
// (diagram.View, trace.Entry, codec.Tree), so the page and the exports speak
// the schema of docs/trace.md; encode_js_test.go checks them against
// encoding/json.

func writeEntry(w *jsonw.Writer, e *trace.Entry) {
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
	if e.Version != 0 {
		w.KInt("version", e.Version)
	}
	if e.Error != "" {
		w.KString("error", e.Error)
	}
	w.Close('}')
}

func writeEntries(w *jsonw.Writer, es []trace.Entry) {
	w.Open('[')
	for i := range es {
		writeEntry(w, &es[i])
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

func writeClock(w *jsonw.Writer, c diagram.ClockInfo) {
	w.Open('{')
	w.KBool("aligned", c.Aligned)
	w.KFloat("offset", c.Offset)
	w.KFloat("uncertainty", c.Uncertainty)
	w.KInt("samples", c.Samples)
	w.KInt("pairs", c.Pairs)
	w.Close('}')
}

func writeView(w *jsonw.Writer, v *diagram.View) {
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
	writeClock(w, v.Clock)
	writeCounts(w, "counts", v.Counts)
	w.Close('}')
}
