//go:build js && wasm

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/mermaid"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

// These tests run in headless Chromium (make test-wasm): they call the
// functions the client puts on window.lifeline, as the page and people at
// the console do, and check what JavaScript gets back.

func init() {
	jsonw.SlowFloat = func(s string) float64 { return js.Global().Call("Number", s).Float() }
}

func newTestApp(t *testing.T) (*app, js.Value) {
	t.Helper()
	api := js.Global().Get("Object").New()
	a := newApp(api)
	a.install()
	t.Cleanup(a.release)
	return a, api
}

// toGo converts a JavaScript value to Go through JSON.
func toGo(t *testing.T, v js.Value) any {
	t.Helper()
	var out any
	if err := json.Unmarshal([]byte(stringify(v)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// throws calls f and returns the message of the Error it throws.
func throws(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = jsErrorText(r)
		}
	}()
	f()
	return ""
}

func connectBytes(t *testing.T) []byte {
	b, err := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 60, ClientID: "dev1"}, codec.V311)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDissect(t *testing.T) {
	_, api := newTestApp(t)
	connect := connectBytes(t)
	var hexText strings.Builder
	for i, b := range connect {
		if i > 0 {
			hexText.WriteString(" ")
		}
		hexText.WriteString(hex2(b))
	}
	tests := []struct {
		name  string
		input js.Value
		field string
		value string
	}{
		{"hex with spaces", js.ValueOf(hexText.String()), "mqtt.kalive", "60"},
		{"Uint8Array", bytesToJS(connect), "mqtt.clientid", "dev1"},
		{"ArrayBuffer", bytesToJS(connect).Get("buffer"), "mqtt.ver", "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := api.Call("dissect", tt.input, 4)
			if tree.Get("name").String() != "CONNECT" {
				t.Fatalf("name %v", tree.Get("name"))
			}
			var find func(fs js.Value) js.Value
			find = func(fs js.Value) js.Value {
				for i := 0; i < fs.Length(); i++ {
					f := fs.Index(i)
					if f.Get("name").String() == tt.field {
						return f
					}
					if c := f.Get("children"); !c.IsUndefined() {
						if r := find(c); !r.IsUndefined() {
							return r
						}
					}
				}
				return js.Undefined()
			}
			f := find(tree.Get("fields"))
			if f.IsUndefined() || f.Get("value").String() != tt.value {
				t.Fatalf("%s = %v, want %s", tt.field, toGo(t, f), tt.value)
			}
		})
	}
	t.Run("malformed packet has expert notes", func(t *testing.T) {
		tree := api.Call("dissect", "30 05 00 09 61", 4) // topic length past the end
		ex := tree.Get("expert")
		if ex.IsUndefined() || ex.Length() == 0 || ex.Index(0).Get("clause").String() == "" {
			t.Fatalf("expert %v", toGo(t, tree))
		}
	})
	t.Run("not hex throws", func(t *testing.T) {
		if msg := throws(func() { api.Call("dissect", "zz", 4) }); !strings.Contains(msg, "not hex") {
			t.Fatalf("threw %q", msg)
		}
	})
}

func TestTraceExportAndLoad(t *testing.T) {
	a, api := newTestApp(t)
	conn := connectBytes(t)
	a.put(trace.Entry{T: 2, Leg: trace.LegBrowserBroker, From: "browser", To: "broker", Kind: "mqtt.CONNECT", Bytes: conn, Observed: "wire", Version: 4}, diagram.Local)
	a.put(trace.Entry{T: 3, Leg: trace.LegBrowserBroker, From: "broker", To: "browser", Kind: "mqtt.CONNACK", Bytes: []byte{0x20, 2, 0, 0}, Observed: "wire", Version: 4}, diagram.Local)

	var seen []string
	on := js.FuncOf(func(_ js.Value, args []js.Value) any {
		seen = append(seen, args[0].Get("kind").String())
		return nil
	})
	defer on.Release()
	api.Call("on", "entry", on)
	a.put(trace.Entry{T: 4, Leg: trace.LegBrowserBroker, From: "browser", To: "broker", Kind: "mqtt.PINGREQ", Bytes: []byte{0xc0, 0}, Observed: "wire"}, diagram.Local)
	if !reflect.DeepEqual(seen, []string{"mqtt.PINGREQ"}) {
		t.Fatalf("entry listener saw %v", seen)
	}

	tr := api.Call("trace")
	if tr.Length() != 3 || tr.Index(0).Get("bytes").String() == "" || tr.Index(1).Get("kind").String() != "mqtt.CONNACK" {
		t.Fatalf("trace() = %v", toGo(t, tr))
	}
	exported, ok := bytesFromJS(api.Call("exportJSON"))
	if !ok {
		t.Fatal("exportJSON did not return bytes")
	}
	var doc struct {
		Format  string        `json:"format"`
		Entries []trace.Entry `json:"entries"`
	}
	if err := json.Unmarshal(exported, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Format != "lifeline-trace" || len(doc.Entries) != 3 || !bytes.Equal(doc.Entries[0].Bytes, conn) {
		t.Fatalf("export %s", exported)
	}

	// Loading the export gives the same trace, seqs included.
	_, api2 := newTestApp(t)
	if n := api2.Call("_load", string(exported)).Int(); n != 3 {
		t.Fatalf("_load = %d", n)
	}
	if a, b := stringify(api2.Call("trace")), stringify(tr); a != b {
		t.Fatalf("reloaded trace differs:\n%s\n%s", a, b)
	}
	if msg := throws(func() { api2.Call("_load", `{"nope": 1}`) }); !strings.Contains(msg, "not a Lifeline trace") {
		t.Fatalf("bad load threw %q", msg)
	}

	// The detail of the CONNECT carries its field tree.
	d := api.Call("_detail", tr.Index(0).Get("seq"))
	if d.Get("tree").Get("name").String() != "CONNECT" {
		t.Fatalf("detail %v", toGo(t, d))
	}
}

func TestMessagesKeepCountingPastTheRing(t *testing.T) {
	var m messages
	for i := 0; i < keepMessages+250; i++ {
		m.add(message{topic: "t"})
	}
	if m.total != keepMessages+250 {
		t.Fatalf("total %d", m.total)
	}
	got := m.since(0, -1)
	if len(got) != keepMessages || got[0].n != 251 || got[len(got)-1].n != keepMessages+250 {
		t.Fatalf("since(0): %d messages, %d..%d", len(got), got[0].n, got[len(got)-1].n)
	}
	if got := m.since(m.total-3, -1); len(got) != 3 || got[0].n != m.total-2 {
		t.Fatalf("since(total-3) = %+v", got)
	}
	for _, tt := range []struct{ n, limit, first, count int }{
		{0, 12, m.total - 11, 12},
		{m.total - 3, 12, m.total - 2, 3},
		{m.total - 3, 2, m.total - 1, 2},
		{0, 0, 0, 0},
		{m.total, 5, 0, 0},
	} {
		got := m.since(tt.n, tt.limit)
		if len(got) != tt.count || tt.count > 0 && (got[0].n != tt.first || got[len(got)-1].n != m.total) {
			t.Errorf("since(%d, %d) = %d messages from %v, want %d from %d", tt.n, tt.limit, len(got), got, tt.count, tt.first)
		}
	}
}

// _clear starts a fresh diagram for a lesson: no arrows, and the next
// arrow does not reuse an old seq.
func TestClearKeepsNumbering(t *testing.T) {
	a, api := newTestApp(t)
	a.put(trace.Entry{T: 1, Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: "mqtt.PINGREQ", Bytes: []byte{0xc0, 0}, Observed: "wire"}, diagram.Local)
	last := api.Call("trace").Index(0).Get("seq").Int()
	api.Call("_clear")
	if n := api.Call("_total").Int(); n != 0 {
		t.Fatalf("after _clear, %d arrows", n)
	}
	a.put(trace.Entry{T: 2, Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: "mqtt.PINGRESP", Bytes: []byte{0xd0, 0}, Observed: "wire"}, diagram.Local)
	if seq := api.Call("trace").Index(0).Get("seq").Int(); seq <= last {
		t.Fatalf("seq %d after _clear, the last before was %d", seq, last)
	}
}

// cut refuses, in words, a client that is not connected through the
// proxy's trace channel (the e2e tests cut a real one).
func TestCutNeedsAConnection(t *testing.T) {
	_, api := newTestApp(t)
	for _, tt := range []struct {
		name string
		opts map[string]any
		want string
	}{
		{"no such client", map[string]any{"client": "device"}, "no client named device"},
		{"a bad name", map[string]any{"client": "broker"}, "options.client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan string, 1)
			onErr := js.FuncOf(func(_ js.Value, args []js.Value) any { done <- args[0].Get("message").String(); return nil })
			defer onErr.Release()
			api.Call("cut", tt.opts).Call("catch", onErr)
			if msg := <-done; !strings.Contains(msg, tt.want) {
				t.Fatalf("cut(%v) rejected with %q, want %q", tt.opts, msg, tt.want)
			}
		})
	}
}

// TestClassesDetailAndMermaid checks what the page takes from Go instead of
// its own copies: the class list, an arrow's class in _detail, and the
// Mermaid text with the page's lane headings.
func TestClassesDetailAndMermaid(t *testing.T) {
	a, api := newTestApp(t)
	classes := toGo(t, api.Call("_classes")).([]any)
	if len(classes) != len(diagram.Classes) || classes[0].(map[string]any)["name"] != diagram.Classes[0].Name {
		t.Fatalf("_classes() = %v", classes)
	}
	a.put(trace.Entry{T: 2, Leg: trace.LegBrowserBroker, From: "browser", To: "broker", Kind: "mqtt.CONNECT", Bytes: connectBytes(t), Observed: "wire", Version: 4}, diagram.Local)
	a.put(trace.Entry{T: 3, Leg: trace.LegBrowserBroker, From: "broker", To: "browser", Kind: "mqtt.CONNACK", Bytes: []byte{0x20, 2, 0, 0}, Observed: "wire", Version: 4}, diagram.Local)
	seq := a.model.View(0, 1).Arrows[0].Seq
	if got := api.Call("_detail", seq).Get("class").String(); got != "connect" {
		t.Errorf("_detail(%d).class = %q, want connect", seq, got)
	}
	labels := js.Global().Get("Object").New()
	labels.Set("broker", "Cloud <broker>")
	got := api.Call("_mermaid", labels).String()
	v := a.view(0, a.model.Len())
	for i := range v.Lanes {
		if v.Lanes[i].Party == "broker" {
			v.Lanes[i].Label = "Cloud <broker>"
		}
	}
	if want := string(mermaid.Append(nil, &v)); got != want || !strings.Contains(got, " as Cloud #lt;broker#gt;\n") || !strings.Contains(got, `CONNECT v3.1.1 id="dev1"`) {
		t.Fatalf("_mermaid() =\n%s\nwant\n%s", got, want)
	}
}

// Direct mode says what it can when the browser says nothing: a ws://
// target from an https: page is refused before trying, and a failed open
// names the likely causes and the doctor command for that URL.
func TestDirectModeWords(t *testing.T) {
	tests := []struct {
		page, url string
		want      []string // empty: tried
	}{
		{"http:", "ws://127.0.0.1:9001/mqtt", nil},
		{"https:", "wss://broker.example/mqtt", nil},
		{"https:", "ws://broker.example:8083/mqtt", []string{"mixed content", "wss://broker.example:8083/mqtt", "lifeline doctor wss://broker.example:8083/mqtt"}},
	}
	for _, tt := range tests {
		got := mixedContent(tt.page, tt.url)
		if (got == "") != (tt.want == nil) {
			t.Errorf("%s from %s: %q", tt.url, tt.page, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s from %s: %q lacks %q", tt.url, tt.page, got, w)
			}
		}
	}
	for _, u := range []string{"ws://127.0.0.1:9001/mqtt", "wss://broker.example:8084/mqtt"} {
		got := directOpenFailed(u, 1006, "")
		for _, w := range []string{"code 1006", "1) nothing listens", "2) the path", "3) the broker refused", "lifeline doctor " + u} {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", u, got, w)
			}
		}
		if strings.HasPrefix(u, "wss://") != strings.Contains(got, "4) the certificate") {
			t.Errorf("%s: certificate cause: %q", u, got)
		}
	}
}

// window.lifeline.lab has every operation of the proxy's lab bench, and
// each refuses, in words, a client that is not connected through the
// proxy's trace channel (the e2e tests drive a real one). A request is
// written as the proxy reads it.
func TestLabNeedsAConnection(t *testing.T) {
	_, api := newTestApp(t)
	lab := api.Get("lab")
	for _, op := range labOps {
		t.Run(op, func(t *testing.T) {
			if lab.Get(op).Type() != js.TypeFunction {
				t.Fatalf("lifeline.lab.%s is not a function", op)
			}
			done := make(chan string, 1)
			onErr := js.FuncOf(func(_ js.Value, args []js.Value) any { done <- args[0].Get("message").String(); return nil })
			defer onErr.Release()
			lab.Call(op, map[string]any{"client": "device"}).Call("catch", onErr)
			if msg := <-done; !strings.Contains(msg, "lab."+op) || !strings.Contains(msg, "no client named device") {
				t.Fatalf("lab.%s rejected with %q", op, msg)
			}
		})
	}
	var w jsonw.Writer
	got := string(labRequest(&w, 7, "c2", "drop", labOptions{Dir: "toPage", Types: []string{"PUBACK", "PUBREC"}, Topic: "a/+", Count: 2, Ms: 0, HasMs: false}))
	want := `{"type":"lab","id":7,"conn":"c2","op":"drop","dir":"toPage","types":["PUBACK","PUBREC"],"topic":"a/+","count":2}`
	if got != want {
		t.Errorf("request %s\nwant    %s", got, want)
	}
	got = string(labRequest(&w, 8, "c2", "delay", labOptions{Ms: 0, HasMs: true}))
	if want := `{"type":"lab","id":8,"conn":"c2","op":"delay","ms":0}`; got != want {
		t.Errorf("request %s\nwant    %s", got, want)
	}
}

// The proxy's "dropped" message (entries the page read too slowly) is
// drawn where the gap is, on the proxy's lane, with its count: a gap in
// the trace is never silent.
func TestTraceDroppedIsDrawn(t *testing.T) {
	a, api := newTestApp(t)
	tc := &traceChannel{a: a}
	tc.message(a.origin+5, nil, `{"type":"dropped","count":1145}`, true)
	es := toGo(t, api.Call("trace")).([]any)
	if len(es) != 1 {
		t.Fatalf("%d entries after a dropped message, want 1: %v", len(es), es)
	}
	e := es[0].(map[string]any)
	if e["kind"] != trace.KindTraceDropped || e["from"] != "proxy" || e["to"] != "proxy" || e["observed"] != trace.ObservedProxy ||
		!strings.Contains(e["summary"].(string), "1145") || !strings.Contains(e["error"].(string), "dropped") {
		t.Fatalf("the dropped message drew %v", e)
	}
}

// In batch form (/trace?batch=1, as the page asks) one WebSocket message
// holds several of the channel's messages, a line each: every one is read,
// in order.
func TestTraceBatchLinesRead(t *testing.T) {
	a, api := newTestApp(t)
	tc := &traceChannel{a: a}
	tc.message(a.origin+5, nil, `{"type":"dropped","count":3}`+"\n"+`{"type":"dropped","count":41}`+"\n"+`{"type":"dropped","count":5}`, true)
	es := toGo(t, api.Call("trace")).([]any)
	var got []string
	for _, e := range es {
		got = append(got, e.(map[string]any)["summary"].(string))
	}
	want := []string{"3 trace entries dropped", "41 trace entries dropped", "5 trace entries dropped"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("a batch of three dropped messages drew %q, want %q", got, want)
	}
}

// on("message") listeners get each message as an object: the client's
// name, the topic (UTF-8), the payload as its own Uint8Array, qos, retain
// and dup; messages of different lengths in turn, of two clients.
func TestMessageEvent(t *testing.T) {
	a, api := newTestApp(t)
	var got []any
	on := js.FuncOf(func(_ js.Value, args []js.Value) any {
		m := args[0]
		got = append(got, []any{m.Get("client").String(), m.Get("topic").String(), string(bytesOf(t, m.Get("payload"))),
			m.Get("qos").Int(), m.Get("retain").Bool(), m.Get("dup").Bool()})
		return nil
	})
	defer on.Release()
	api.Call("on", "message", on)
	for _, tt := range []struct {
		party string
		p     codec.Publish
	}{
		{"browser", codec.Publish{Topic: "a/°C/é", Payload: []byte("twenty-one and a half")}},
		{"browser", codec.Publish{Topic: "b", Payload: nil, Retain: true}},
		{"device", codec.Publish{Topic: "long/" + strings.Repeat("x", 5000), Payload: bytes.Repeat([]byte{0, 255}, 3000), QoS: 1, PacketID: 7, Dup: true}},
		{"browser", codec.Publish{Topic: "c/d", Payload: []byte{1, 2, 3}, QoS: 1, PacketID: 8}},
	} {
		s := a.sessions[tt.party]
		if s == nil {
			s = connected(t, a, tt.party, codec.V311)
			defer func() { s.timer.stop() }()
		}
		pkt, err := codec.AppendPacket(nil, &tt.p, codec.V311)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		s.cl.Receive(time.Now(), pkt)
		s.drain()
		want := []any{[]any{tt.party, tt.p.Topic, string(tt.p.Payload), int(tt.p.QoS), tt.p.Retain, tt.p.Dup}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message event %v, want %v", got, want)
		}
	}
}

// A drain's messages reach the listeners in one crossing, in order, each
// listener in turn; one that throws is reported and the others still get
// every message; a listener added or removed during the batch counts
// from the next.
func TestMessageBatchListeners(t *testing.T) {
	a, api := newTestApp(t)
	var got []string
	var late js.Func
	thrower := js.Global().Get("Function").New("m", "throw new Error('listener broke on ' + m.topic)")
	first := js.FuncOf(func(_ js.Value, args []js.Value) any {
		got = append(got, "first:"+args[0].Get("topic").String())
		if args[0].Get("topic").String() == "t/1" {
			api.Call("on", "message", late) // from the next batch
		}
		return nil
	})
	late = js.FuncOf(func(_ js.Value, args []js.Value) any {
		got = append(got, "late:"+args[0].Get("topic").String())
		return nil
	})
	defer first.Release()
	defer late.Release()
	api.Call("on", "message", thrower)
	api.Call("on", "message", first)
	s := connected(t, a, "browser", codec.V311)
	defer func() { s.timer.stop() }()
	var pkts []byte
	for _, topic := range []string{"t/1", "t/2", "t/3"} {
		var err error
		if pkts, err = codec.AppendPacket(pkts, &codec.Publish{Topic: topic, Payload: []byte(topic)}, codec.V311); err != nil {
			t.Fatal(err)
		}
	}
	s.cl.Receive(time.Now(), pkts)
	s.drain()
	if want := "first:t/1 first:t/2 first:t/3"; strings.Join(got, " ") != want {
		t.Fatalf("one batch of three, a throwing listener first: got %q, want %q", got, want)
	}
	got = nil
	api.Call("off", "message", thrower)
	pkt, _ := codec.AppendPacket(nil, &codec.Publish{Topic: "t/4"}, codec.V311)
	s.cl.Receive(time.Now(), pkt)
	s.drain()
	if want := "first:t/4 late:t/4"; strings.Join(got, " ") != want {
		t.Fatalf("the next batch: got %q, want %q", got, want)
	}
}

// A batch's messages that repeat the last one's topic carry it once: the
// listeners still get every message's topic, in order, whatever repeats.
func TestMessageBatchTopics(t *testing.T) {
	a, api := newTestApp(t)
	var got []string
	on := js.FuncOf(func(_ js.Value, args []js.Value) any {
		m := args[0]
		got = append(got, m.Get("topic").String()+"="+string(bytesOf(t, m.Get("payload"))))
		return nil
	})
	defer on.Release()
	api.Call("on", "message", on)
	s := connected(t, a, "browser", codec.V311)
	defer func() { s.timer.stop() }()
	topics := []string{"t/a", "t/a", "t/b", "t/a", "é/°C", "é/°C", "t/a"}
	var pkts []byte
	var want []string
	for i, topic := range topics {
		payload := strconv.Itoa(i)
		var err error
		if pkts, err = codec.AppendPacket(pkts, &codec.Publish{Topic: topic, Payload: []byte(payload)}, codec.V311); err != nil {
			t.Fatal(err)
		}
		want = append(want, topic+"="+payload)
	}
	s.cl.Receive(time.Now(), pkts)
	s.drain()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("one batch: got %q, want %q", got, want)
	}
	// The second of two alike is written without its topic: flag 32, length 0.
	var mb messageBatch
	mb.add("browser", "t/a", []byte("1"), 0, false, false)
	first := len(mb.b)
	mb.add("browser", "t/a", []byte("2"), 0, false, false)
	if second := mb.b[first:]; second[0]&32 == 0 || binary.BigEndian.Uint32(second[1:5]) != 0 || len(second) != 9+1 {
		t.Fatalf("a repeated topic was written again: % x", second)
	}
}

// bytesOf copies a Uint8Array that is not a view of a larger buffer.
func bytesOf(t *testing.T, v js.Value) []byte {
	t.Helper()
	if !v.InstanceOf(jsUint8Array) || v.Get("byteOffset").Int() != 0 || v.Get("buffer").Get("byteLength").Int() != v.Length() {
		t.Fatalf("payload %s: want a Uint8Array of its own", typeName(v))
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b
}

// findings(true), the panel's, is analysed as arrows come (liveFindings):
// each time it is what findings() finds in the whole trace, and _clear
// starts it again.
func TestLiveFindings(t *testing.T) {
	a, api := newTestApp(t)
	seq := 0
	add := func(conn, from, to string, p codec.Packet) {
		b, err := codec.AppendPacket(nil, p, codec.V311)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		a.add(trace.Entry{T: float64(seq), Leg: trace.LegBrowserProxy, From: from, To: to, Conn: conn,
			Kind: trace.KindMQTT(p.Type().String()), Bytes: b, Version: 4, Observed: trace.ObservedWire}, diagram.Local)
		a.sync()
	}
	codes := func(drawn bool) string {
		var out []string
		for _, f := range toGo(t, api.Call("findings", drawn)).([]any) {
			f := f.(map[string]any)
			out = append(out, f["code"].(string)+fmt.Sprint(f["seq"]))
		}
		return strings.Join(out, " ")
	}
	step := func(what, want string) {
		t.Helper()
		if got := codes(true); got != want {
			t.Fatalf("%s: findings(true) %q, want %q", what, got, want)
		}
		if all := codes(false); all != want {
			t.Fatalf("%s: findings() %q, want %q", what, all, want)
		}
	}
	step("nothing yet", "")
	add("c1", "browser", "proxy", &codec.Connect{Version: codec.V311, CleanStart: true, ClientID: "d"})
	step("a CONNECT", "answer.missing[1]")
	add("c1", "proxy", "browser", &codec.Connack{})
	add("c1", "proxy", "browser", &codec.Puback{PacketID: 9})
	step("a PUBACK for nothing", "ack.unknown-id[3]")
	add("c1", "browser", "proxy", &codec.Publish{QoS: 1, PacketID: 4, Topic: "a"})
	step("a PUBLISH waiting", "ack.unknown-id[3] answer.missing[4]")
	add("c1", "proxy", "browser", &codec.Puback{PacketID: 4})
	step("and its PUBACK", "ack.unknown-id[3]")
	// More than a chunk (liveChunk) between asks: given to the analysis
	// as they are placed, the same findings.
	for i := 0; i < liveChunk+100; i++ {
		add("c1", "browser", "proxy", &codec.Publish{Topic: "a", Payload: []byte("x")})
	}
	add("c1", "proxy", "browser", &codec.Puback{PacketID: 12})
	step("a chunk and more, then a PUBACK for nothing", "ack.unknown-id[3] ack.unknown-id["+strconv.Itoa(seq)+"]")
	api.Call("_clear")
	step("cleared", "")
	add("c2", "proxy", "browser", &codec.Pingresp{})
	step("a new connection after _clear", "ack.unknown-id["+strconv.Itoa(seq)+"]")
}

// A listener of any event that throws is reported and the others are
// still called; the throw does not unwind into Go (which would end the
// page's client).
func TestListenerThrows(t *testing.T) {
	a, api := newTestApp(t)
	thrower := js.Global().Get("Function").New("v", "throw new Error('state listener broke')")
	got := 0
	rec := js.FuncOf(func(js.Value, []js.Value) any { got++; return nil })
	defer rec.Release()
	api.Call("on", "state", thrower)
	api.Call("on", "state", rec)
	s := connected(t, a, "browser", codec.V311)
	defer func() { s.timer.stop() }()
	got = 0
	a.emitState(s)
	if got != 1 {
		t.Fatalf("the listener after a throwing one was called %d times, want 1", got)
	}
}
