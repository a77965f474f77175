//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/mermaid"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// app is the whole state of the client in the page, made once in main.
type app struct {
	api   js.Value // window.lifeline
	funcs funcs

	done chan struct{}

	origin  float64 // performance.now() at start: the page clock's zero
	model   *diagram.Model
	version int // bumped on every change the page should draw
	w       jsonw.Writer

	listeners map[string][]js.Value
	onEntry   []js.Value // listeners["entry"], asked once an arrow
	mb        messageBatch
	lf        liveFindings // the Findings panel's
	tc        traceChannel
	lq        laterQueue // arrows waiting to be placed (later_js.go)

	names         *pagejson.Names     // names that repeat on the trace channel
	sessions      map[string]*session // the page's clients by lifeline name ("browser" unless named)
	order         []string            // their names in order of first connect
	msgs          messages
	defaultBroker string // from /api/config, set by the page
	directConns   int
	untracedConns int
}

func newApp(api js.Value) *app {
	a := &app{
		api:           api,
		done:          make(chan struct{}),
		origin:        now(),
		model:         diagram.New(diagram.Options{}),
		listeners:     map[string][]js.Value{},
		defaultBroker: "broker.lifeline.test:1883",
		names:         pagejson.NewNames(),
		sessions:      map[string]*session{},
	}
	a.tc.a = a
	a.lq.post = jsLater.Invoke(a.funcs.add(func(js.Value, []js.Value) any {
		a.laterTask()
		return nil
	}))
	return a
}

// now is the page clock: ms since the client started.
func (a *app) now() float64 { return now() - a.origin }

// handshake is how long (ms) the oldest connect() still waiting for its
// CONNACK has waited, or -1.
func (a *app) handshake() float64 {
	since := -1.0
	for _, s := range a.sessions {
		if s.connecting != nil {
			since = max(since, a.now()-s.connectAt)
		}
	}
	return since
}

// changed tells the page to redraw on its next frame.
func (a *app) changed() { a.version++ }

// add queues an entry for the diagram (later_js.go).
func (a *app) add(e trace.Entry, src diagram.Source) { a.later(later{e: e, src: src}) }

// put places an entry in the diagram and tells listeners.
func (a *app) put(e trace.Entry, src diagram.Source) {
	seq := a.model.Add(e, src)
	a.lf.placed(a.model, seq)
	a.changed()
	if len(a.onEntry) > 0 {
		e, _ := a.model.Entry(seq)
		fill(&e)
		a.w.Reset()
		pagejson.WriteEntry(&a.w, &e)
		a.emit("entry", parseJSON(a.w.B))
	}
}

// emit calls the listeners of type t registered with on(t, fn); one that
// throws is reported (reportError) and the others are still called.
// Messages written for "message" listeners go first (see messageBatch).
func (a *app) emit(t string, v js.Value) {
	a.mb.flush()
	for _, fn := range a.listeners[t] {
		jsCall.Invoke(fn, v)
	}
}

// method registers an asynchronous function on window.lifeline: a panic
// inside becomes a rejected promise for the caller, not a dead client.
func (a *app) method(name string, fn func(args []js.Value) any) {
	a.api.Set(name, a.funcs.add(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = rejected(name + ": " + jsErrorText(r))
			}
		}()
		return fn(args)
	}))
}

// throwing wraps a function so that an Error it returns is thrown instead.
var throwing = jsGlobal.Get("Function").New("f", "return function (...args) { const r = f.apply(this, args); if (r instanceof Error) throw r; return r; }")

// syncMethod registers a synchronous function: a panic inside is thrown at
// the caller as an Error. One that reads the diagram (readsModel) sees
// every arrow queued (see later_js.go), unless it is one of the diagram's
// own reads during a frame.
func (a *app) syncMethod(name string, fn func(args []js.Value) any) {
	drawn, reads := readsModel[name]
	f := a.funcs.add(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = jsErr(name + ": " + jsErrorText(r))
			}
		}()
		if reads && (drawn < 0 || !arg(args, drawn).Truthy()) {
			a.sync()
		}
		return fn(args)
	})
	a.api.Set(name, throwing.Invoke(f))
}

// readsModel lists the synchronous methods that read or change the
// diagram, each with the argument that says the call is the diagram's own
// during a frame (drawn: true), which sees the arrows placed so far, or -1.
// The others (_messages, _client, on …) never wait for the queue, nor does
// _version, which counts what has been placed: the panels ask it every
// frame, and read with a method above when it moves.
var readsModel = map[string]int{"_view": 2, "_total": 0, "_rowOf": 1,
	"trace": -1, "exportJSON": -1, "findings": 0, "_mermaid": -1, "_detail": -1,
	"_setHidden": -1, "_load": -1, "_clear": -1}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// listened notes a change of listeners where the per-message paths look.
func (a *app) listened() {
	a.onEntry = a.listeners["entry"]
	a.mb.flush() // to the listeners there were
	ls := make([]any, len(a.listeners["message"]))
	for i, fn := range a.listeners["message"] {
		ls[i] = fn
	}
	a.mb.ls = jsArray.Call("of", ls...)
}

// install puts the API on window.lifeline.
func (a *app) install() {
	a.syncMethod("trace", func([]js.Value) any {
		a.w.Reset()
		pagejson.WriteEntries(&a.w, a.entries())
		return parseJSON(a.w.B)
	})
	a.syncMethod("on", func(args []js.Value) any {
		t, fn := arg(args, 0), arg(args, 1)
		if t.Type() != js.TypeString || fn.Type() != js.TypeFunction {
			panic(errString("on(type, fn): type is a string, fn a function"))
		}
		a.listeners[t.String()] = append(a.listeners[t.String()], fn)
		a.listened()
		return nil
	})
	a.syncMethod("off", func(args []js.Value) any {
		t, fn := arg(args, 0).String(), arg(args, 1)
		ls := a.listeners[t]
		for i, l := range ls {
			if l.Equal(fn) {
				a.listeners[t] = append(ls[:i:i], ls[i+1:]...)
				break
			}
		}
		a.listened()
		return nil
	})
	a.method("connect", a.connect)
	a.method("subscribe", a.subscribe)
	a.method("unsubscribe", a.unsubscribe)
	a.method("disconnect", a.disconnect)
	a.method("cut", a.cut)
	a.installLab()
	a.syncMethod("dissect", a.dissect)
	a.syncMethod("findings", a.findings)
	a.syncMethod("exportJSON", func([]js.Value) any {
		a.w.Reset()
		a.w.Open('{')
		a.w.KString("format", "lifeline-trace")
		a.w.Key("clock")
		pagejson.WriteClock(&a.w, a.model.Clock())
		p := a.model.PagedOut()
		a.w.KInt("pagedOut", p.Count)
		a.w.Key("entries")
		pagejson.WriteEntries(&a.w, a.entries())
		a.w.Close('}')
		return bytesToJS(a.w.B)
	})

	// For the page's own scripts.
	// _version(true) is the diagram's, once a frame: a frame with nothing
	// new is when the model settles what a flood left for later
	// (Model.Settle); other callers ask without.
	a.syncMethod("_version", func(args []js.Value) any {
		if arg(args, 0).Truthy() && a.model.Settle() {
			a.changed()
		}
		return a.version
	})
	// _queued is how many arrows wait to be placed (later_js.go): the
	// diagram redraws less often while the page is behind.
	a.syncMethod("_queued", func([]js.Value) any { return a.lq.len() })
	// _handshake is how long (ms) the oldest connect() still waiting for
	// its CONNACK has waited, or -1: the page's frame skips its drawing for
	// the first 50 ms of one (app.js's HANDSHAKE_HOLD), so that the socket's
	// open and the CONNACK are not kept waiting behind a frame's layout.
	a.syncMethod("_handshake", func([]js.Value) any { return a.handshake() })
	a.syncMethod("_view", func(args []js.Value) any {
		v := a.view(arg(args, 0).Int(), arg(args, 1).Int())
		a.w.Reset()
		pagejson.WriteView(&a.w, &v)
		return parseJSON(a.w.B)
	})
	a.syncMethod("_classes", func([]js.Value) any {
		a.w.Reset()
		pagejson.WriteClasses(&a.w, diagram.Classes)
		return parseJSON(a.w.B)
	})
	// _mermaid(labels) is the whole diagram as Mermaid text; labels
	// ({party: heading}) replaces lane headings, as the page shows them.
	a.syncMethod("_mermaid", func(args []js.Value) any {
		v := a.view(0, a.model.Len())
		if labels := arg(args, 0); labels.Type() == js.TypeObject {
			for i := range v.Lanes {
				if l := labels.Get(v.Lanes[i].Party); l.Type() == js.TypeString && l.String() != "" {
					v.Lanes[i].Label = l.String()
				}
			}
		}
		return string(mermaid.Append(nil, &v))
	})
	a.syncMethod("_total", func([]js.Value) any { return a.model.Len() })
	a.syncMethod("_rowOf", func(args []js.Value) any { return a.model.RowOf(arg(args, 0).Int()) })
	a.syncMethod("_setHidden", func(args []js.Value) any {
		var cs []string
		v := arg(args, 0)
		for i := 0; i < v.Length(); i++ {
			cs = append(cs, v.Index(i).String())
		}
		a.model.SetHidden(cs...)
		a.changed()
		return nil
	})
	a.syncMethod("_detail", func(args []js.Value) any { return a.detail(arg(args, 0).Int()) })
	a.syncMethod("_load", func(args []js.Value) any {
		v := arg(args, 0)
		text := ""
		if v.Type() == js.TypeString {
			text = v.String()
		} else {
			text = stringify(v)
		}
		entries, ok := readTrace([]byte(text))
		if !ok {
			panic(errString("not a Lifeline trace: expected {\"entries\": [...]} or an array of entries"))
		}
		a.model = diagram.New(diagram.Options{})
		a.lf.reset()
		for _, e := range entries {
			a.model.Add(e, diagram.Imported)
		}
		a.changed()
		return a.model.Len()
	})
	a.syncMethod("_clear", func([]js.Value) any {
		a.model.Clear()
		a.lf.reset()
		a.changed()
		return nil
	})
	a.syncMethod("_setDefaultBroker", func(args []js.Value) any {
		if v := arg(args, 0); v.Type() == js.TypeString && v.String() != "" {
			a.defaultBroker = v.String()
		}
		return nil
	})
	a.syncMethod("_client", func(args []js.Value) any {
		name := "browser"
		if v := arg(args, 0); v.Type() == js.TypeString {
			name = v.String()
		}
		return parseJSON(a.clientJSON(a.sessions[name]))
	})
	// _messages(since, limit) is the messages received after number since
	// (the newest limit of them, when given) and how many there are.
	a.syncMethod("_messages", func(args []js.Value) any {
		a.w.Reset()
		a.w.Open('{')
		a.w.KInt("total", a.msgs.total)
		a.w.Key("messages")
		a.w.Open('[')
		limit := -1
		if l := arg(args, 1); l.Type() == js.TypeNumber && l.Int() >= 0 {
			limit = l.Int() // the newest: the panel lists a few a frame and counts the rest
		}
		ms := a.msgs.since(arg(args, 0).Int(), limit)
		for _, m := range ms {
			a.w.Open('{')
			a.w.KString("client", m.client)
			a.w.KInt("n", m.n)
			a.w.KFloat("t", m.t)
			a.w.KString("topic", m.topic)
			a.w.Key("payload")
			a.w.Base64(m.payload)
			a.w.KInt("qos", int(m.qos))
			a.w.KBool("retain", m.retain)
			a.w.KBool("dup", m.dup)
			a.w.Close('}')
		}
		a.w.Close(']')
		a.w.Close('}')
		return parseJSON(a.w.B)
	})
	a.syncMethod("_status", func([]js.Value) any {
		a.w.Reset()
		a.w.Open('{')
		a.w.KString("traceError", a.tc.err)
		a.w.KBool("traceReady", a.tc.state == traceReady)
		a.w.Close('}')
		return parseJSON(a.w.B)
	})
	a.installPublish() // last: it wraps every method above
}

// release stops the app's tasks and releases its functions.
func (a *app) release() {
	a.lq.post.Call("close")
	a.lq.held.stop()
	a.lq.held = nil
	a.funcs.release()
}

// entries returns the kept entries, labelled, the queue placed first.
func (a *app) entries() []trace.Entry {
	a.sync()
	es := a.model.Entries()
	for i := range es {
		fill(&es[i])
	}
	return es
}

// fill labels an MQTT entry that has no summary yet from its bytes: packets
// are labelled when they are drawn or exported, not as thousands arrive.
func fill(e *trace.Entry) {
	if e.Summary != "" || !strings.HasPrefix(e.Kind, "mqtt.") || len(e.Bytes) == 0 {
		return
	}
	v := codec.Version(e.Version)
	if v == 0 {
		v = codec.V311
	}
	p, err := codec.Decode(e.Bytes, v)
	if err != nil {
		e.Summary = strings.TrimPrefix(e.Kind, "mqtt.") + " (malformed: " + err.Error() + ")"
		return
	}
	e.Summary = codec.Summary(p)
}

// readTrace reads a JSON trace: {"entries": [...]} (as exportJSON writes
// it, and /api/import answers) or a bare array of entries.
func readTrace(b []byte) ([]trace.Entry, bool) {
	var out []trace.Entry
	found := false
	r := jsonw.NewReader(b)
	entries := func() {
		found = true
		r.Array(func() { out = append(out, pagejson.ReadEntry(r, nil)) })
	}
	r.Object(func(k string) {
		if k == "entries" {
			entries()
		} else {
			r.Skip()
		}
	})
	if r.Err() {
		r = jsonw.NewReader(b)
		found = false
		entries()
	}
	return out, found && r.End()
}

// wsURL is a ws:// or wss:// URL of this page's server: path ("/trace",
// "/mqtt?…") is taken relative to the page's own folder, so the page works
// under a sub-path behind a reverse proxy (https://host/lifeline/ reaches
// wss://host/lifeline/mqtt); an https page gets wss.
func (a *app) wsURL(path string) string {
	u := jsGlobal.Get("URL").New(strings.TrimPrefix(path, "/"), jsGlobal.Get("document").Get("baseURI"))
	scheme := "ws:"
	if u.Get("protocol").String() == "https:" {
		scheme = "wss:"
	}
	u.Set("protocol", scheme)
	u.Set("hash", "")
	return u.Call("toString").String()
}

// clientState is the connection's state for the page: idle, connecting,
// connected, waiting (to reconnect), closing or error.
func (a *app) clientState(s *session) (state, text string) {
	if s == nil {
		return "idle", "Not connected"
	}
	how := " through the proxy"
	if s.mode == "direct" {
		how = " directly"
	}
	v := " (MQTT " + s.cl.Version().String() + ")"
	if s.party != "browser" {
		v = ", lifeline " + s.party + v
	}
	switch st := s.cl.State(); {
	case s.closing != nil:
		return "closing", "Disconnecting from " + s.where
	case st == client.StateDialing:
		return "connecting", "Opening the WebSocket to " + s.where + how
	case st == client.StateConnecting:
		return "connecting", "CONNECT sent to " + s.where + how + ", waiting for CONNACK"
	case st == client.StateConnected:
		return "connected", "Connected to " + s.where + how + " as " + s.cl.ClientID() + v
	case st == client.StateWaiting:
		return "waiting", "Connection lost; reconnecting to " + s.where
	case s.lastErr != "":
		return "error", "Not connected: " + s.lastErr
	}
	return "idle", "Disconnected from " + s.where
}

func (a *app) clientJSON(s *session) []byte {
	w := &a.w
	w.Reset()
	state, text := a.clientState(s)
	w.Open('{')
	w.KString("state", state)
	w.KString("text", text)
	w.Key("clients")
	w.Open('[')
	for _, n := range a.order {
		w.String(n)
	}
	w.Close(']')
	if s != nil {
		w.KString("client", s.party)
		if state == "error" || state == "waiting" {
			w.KString("error", s.lastErr)
		}
		w.KString("mode", s.mode)
		w.KString("broker", s.where)
		w.KString("clientId", s.cl.ClientID())
		w.KInt("version", int(s.cl.Version()))
		w.Key("subscriptions")
		w.Open('[')
		for _, sub := range s.subscriptions {
			w.Open('{')
			w.KString("filter", sub.filter)
			w.KInt("qos", int(sub.qos))
			w.KInt("granted", sub.granted)
			w.Close('}')
		}
		w.Close(']')
	}
	w.Close('}')
	return w.B
}

// emitState tells "state" listeners.
func (a *app) emitState(s *session) {
	if len(a.listeners["state"]) > 0 {
		a.emit("state", parseJSON(a.clientJSON(s)))
	}
}

// detail is what the page shows for one arrow: the entry, its exchange
// with the times of the other arrows in it.
// view is rows [first, first+n) of the diagram, each arrow with its
// summary (the codec's, for the page's own packets).
func (a *app) view(first, n int) diagram.View {
	v := a.model.View(first, n)
	for i := range v.Arrows {
		if ar := &v.Arrows[i]; ar.Summary == "" {
			if e, ok := a.model.Entry(ar.Seq); ok {
				fill(&e)
				ar.Summary = e.Summary
			}
		}
	}
	return v
}

func (a *app) detail(seq int) js.Value {
	e, ok := a.model.Entry(seq)
	if !ok {
		return js.Null()
	}
	fill(&e)
	var x *diagram.Exchange
	if ex, ok := a.model.ExchangeOf(seq); ok {
		x = &ex
	}
	w := &a.w
	w.Reset()
	pagejson.WriteDetail(w, &e, x, a.model.Entry)
	return parseJSON(w.B)
}

// closeText says in words why a WebSocket closed.
func closeText(code int, reason string) string {
	s := "code " + strconv.Itoa(code)
	if m := closeMeaning[code]; m != "" {
		s += ", " + m
	}
	if reason = strings.TrimSpace(reason); reason != "" {
		s += ": " + reason
	}
	return s
}

var closeMeaning = map[int]string{
	1000: "normal close",
	1001: "going away",
	1002: "protocol error",
	1003: "unsupported data",
	1006: "connection lost without a close frame",
	1008: "refused by policy",
	1009: "message too big",
	1011: "server error",
	1014: "bad gateway (the broker could not be reached)",
	1015: "TLS handshake failed",
	4000: "cut by request: the proxy reset the broker connection",
	4002: "the broker is not HOST:PORT",
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }
