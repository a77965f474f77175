package static

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/httpdissect"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// The lesson format (lessons/README.md), as this test reads it: unknown
// keys are errors, so a misspelt key is caught here, not in front of a
// class.
type lessonFile struct {
	Format  string            `json:"format"`
	ID      string            `json:"id"`
	Title   string            `json:"title"`
	Summary string            `json:"summary"`
	Clients map[string]string `json:"clients"`
	Steps   []lessonStep      `json:"steps"`
}

type lessonStep struct {
	Title   string         `json:"title"`
	Text    string         `json:"text"`
	Actions []lessonAction `json:"actions"`
	Expect  []arrowSpec    `json:"expect"`
	Show    []showSpec     `json:"show"`
	Timeout int            `json:"timeout"`
}

type lessonAction struct {
	Call       string            `json:"call"`
	Args       []json.RawMessage `json:"args"`
	Background bool              `json:"background"` // not awaited
}

type arrowSpec struct {
	Kind string `json:"kind"`
	Leg  string `json:"leg"`
	From string `json:"from"`
	To   string `json:"to"`
}

type showSpec struct {
	Kind   string      `json:"kind"`
	Leg    string      `json:"leg"`
	From   string      `json:"from"`
	To     string      `json:"to"`
	Fields []fieldSpec `json:"fields"`
}

// fieldSpec is a field name, or {field, label} for one field among
// several of that name (e.g. one property).
type fieldSpec struct {
	Field string `json:"field"`
	Label string `json:"label"`
}

func (f *fieldSpec) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &f.Field)
	}
	type plain fieldSpec
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode((*plain)(f))
}

// vocabulary is what the dissector can show: for each packet kind, the
// field names it writes and their labels, from packets of every type in
// both versions with every part a lesson might point at (will,
// credentials, properties).
func vocabulary(t *testing.T) map[string]map[string][]string {
	t.Helper()
	var p5 codec.Properties
	set := func(id codec.PropertyID) { p5.Set(id) }
	p5.SessionExpiry, p5.ReceiveMaximum, p5.MaximumPacketSize, p5.TopicAliasMaximum = 120, 10, 1<<20, 5
	set(codec.PropSessionExpiry)
	set(codec.PropReceiveMaximum)
	set(codec.PropMaximumPacketSize)
	set(codec.PropTopicAliasMaximum)
	p5.User = []codec.UserProperty{{Key: "site", Value: "lab-3"}}
	var pub5 codec.Properties
	pub5.ContentType, pub5.MessageExpiry, pub5.PayloadFormat, pub5.ResponseTopic = "application/json", 60, 1, "r"
	pub5.CorrelationData = []byte{1}
	for _, id := range []codec.PropertyID{codec.PropContentType, codec.PropMessageExpiry, codec.PropPayloadFormat, codec.PropResponseTopic, codec.PropCorrelationData} {
		pub5.Set(id)
	}
	pub5.User = []codec.UserProperty{{Key: "unit", Value: "celsius"}}
	var ack5 codec.Properties
	ack5.ReasonString, ack5.ReceiveMaximum, ack5.TopicAliasMaximum, ack5.MaximumQoS, ack5.RetainAvailable = "r", 20, 10, 1, 1
	ack5.AssignedClientID, ack5.ServerKeepAlive = "a", 30
	for _, id := range []codec.PropertyID{codec.PropReasonString, codec.PropReceiveMaximum, codec.PropTopicAliasMaximum, codec.PropMaximumQoS, codec.PropRetainAvailable, codec.PropAssignedClientID, codec.PropServerKeepAlive} {
		ack5.Set(id)
	}
	var why codec.Properties // what every acknowledgement may carry
	why.ReasonString = "why"
	why.Set(codec.PropReasonString)
	why.User = []codec.UserProperty{{Key: "k", Value: "v"}}
	subs := []codec.Subscription{{Filter: "a/#", QoS: 1}}
	packets := func(v codec.Version) []codec.Packet {
		pr := func(p codec.Properties) codec.Properties {
			if v == codec.V5 {
				return p
			}
			return codec.Properties{}
		}
		return []codec.Packet{
			&codec.Connect{Version: v, CleanStart: true, KeepAlive: 5, ClientID: "c", Properties: pr(p5),
				WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "w", WillPayload: []byte("x"), WillProperties: pr(pub5),
				UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")},
			&codec.Connack{SessionPresent: true, Properties: pr(ack5)},
			&codec.Publish{QoS: 1, Retain: true, Dup: true, PacketID: 1, Topic: "t", Payload: []byte("x"), Properties: pr(pub5)},
			&codec.Publish{Topic: "t"},
			&codec.Puback{PacketID: 1, ReasonCode: 0x10, Properties: pr(why)},
			&codec.Pubrec{PacketID: 1, ReasonCode: 0x10, Properties: pr(why)},
			&codec.Pubrel{PacketID: 1, ReasonCode: 0x92, Properties: pr(why)},
			&codec.Pubcomp{PacketID: 1, ReasonCode: 0x92, Properties: pr(why)},
			&codec.Subscribe{PacketID: 1, Subscriptions: subs},
			&codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{1}, Properties: pr(why)},
			&codec.Unsubscribe{PacketID: 1, Filters: []string{"a/#"}},
			&codec.Unsuback{PacketID: 1, ReasonCodes: []codec.ReasonCode{0x11}, Properties: pr(why)},
			&codec.Pingreq{},
			&codec.Pingresp{},
			&codec.Disconnect{ReasonCode: 4, Properties: pr(why)},
		}
	}
	vocab := map[string]map[string][]string{}
	var walk func(kind string, fs []codec.Field)
	walk = func(kind string, fs []codec.Field) {
		for _, f := range fs {
			vocab[kind][f.Name] = append(vocab[kind][f.Name], f.Label)
			walk(kind, f.Children)
		}
	}
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		for _, p := range packets(v) {
			if v == codec.V311 {
				// 3.1.1 acknowledgements have no reason code or properties.
				switch q := p.(type) {
				case *codec.Puback:
					q.ReasonCode = 0
				case *codec.Pubrec:
					q.ReasonCode = 0
				case *codec.Pubrel:
					q.ReasonCode = 0
				case *codec.Pubcomp:
					q.ReasonCode = 0
				case *codec.Unsuback:
					q.ReasonCodes = nil
				case *codec.Disconnect:
					q.ReasonCode = 0
				}
			}
			b, err := codec.AppendPacket(nil, p, v)
			if err != nil {
				t.Fatalf("%s %T: %v", v, p, err)
			}
			tree := codec.Dissect(b, v)
			if len(tree.Expert) > 0 {
				t.Fatalf("%s %T: %+v", v, p, tree.Expert)
			}
			kind := trace.KindMQTT(p.Type().String())
			if vocab[kind] == nil {
				vocab[kind] = map[string][]string{}
			}
			walk(kind, tree.Fields)
		}
	}
	// The WebSocket upgrade's request and answer, as the proxy records them.
	for kind, head := range map[string]string{
		trace.KindWSUpgrade: "GET /mqtt?broker=b:1883 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\nOrigin: http://h\r\n\r\n",
		trace.KindWSAccept:  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: a\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
	} {
		vocab[kind] = map[string][]string{}
		walk(kind, httpdissect.Dissect([]byte(head)).Fields)
	}
	return vocab
}

// engineCalls reads the calls the engine knows from lessons.js (export
// const CALLS = [...]), so the test and the engine cannot drift apart.
func engineCalls(t *testing.T) []string {
	t.Helper()
	src, err := fs.ReadFile(FS, "lessons.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export const CALLS = \[([^\]]*)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("lessons.js has no `export const CALLS = [...]`")
	}
	var calls []string
	for _, q := range regexp.MustCompile(`'([a-z]+)'`).FindAllSubmatch(m[1], -1) {
		calls = append(calls, string(q[1]))
	}
	return calls
}

var (
	legs       = []string{trace.LegBrowserProxy, trace.LegProxyDNS, trace.LegProxyBroker, trace.LegBrowserBroker}
	otherKinds = []string{trace.KindDNSQuery, trace.KindDNSResponse, trace.KindTCPSyn, trace.KindTCPSynAck, trace.KindTCPAck,
		trace.KindTCPFin, trace.KindTCPRst, trace.KindTLS, trace.KindWSUpgrade, trace.KindWSAccept, trace.KindWSClose,
		trace.KindTCPState, trace.KindLabHold, trace.KindLabRelease, trace.KindLabDrop, trace.KindLabDelay, trace.KindLabSilence,
		trace.KindBrokerDrop}
	// labOps are window.lifeline.lab's methods (proxy/doc.go's ops).
	labOps     = []string{"hold", "pause", "step", "release", "resume", "drop", "delay", "silence", "state"}
	clientName = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)
)

func validKind(k string) bool {
	if slices.Contains(otherKinds, k) {
		return true
	}
	for typ := codec.TypeConnect; typ <= codec.TypeAuth; typ++ {
		if k == trace.KindMQTT(typ.String()) {
			return true
		}
	}
	return false
}

func TestLessons(t *testing.T) {
	var index struct {
		Format  string   `json:"format"`
		Lessons []string `json:"lessons"`
	}
	b, err := fs.ReadFile(FS, "lessons/index.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil || index.Format != "lifeline-lessons/1" || len(index.Lessons) == 0 {
		t.Fatalf("lessons/index.json: %v %+v", err, index)
	}
	files, _ := fs.Glob(FS, "lessons/*.json")
	for _, f := range files {
		if id := strings.TrimSuffix(strings.TrimPrefix(f, "lessons/"), ".json"); id != "index" && !slices.Contains(index.Lessons, id) {
			t.Errorf("%s is not listed in lessons/index.json", f)
		}
	}
	if !slices.Contains(index.Lessons, "lifecycle") {
		t.Error("the nine-step lifecycle lesson is not listed")
	}
	vocab := vocabulary(t)
	calls := engineCalls(t)
	for _, id := range index.Lessons {
		t.Run(id, func(t *testing.T) {
			b, err := fs.ReadFile(FS, "lessons/"+id+".json")
			if err != nil {
				t.Fatal(err)
			}
			d := json.NewDecoder(bytes.NewReader(b))
			d.DisallowUnknownFields()
			var l lessonFile
			if err := d.Decode(&l); err != nil {
				t.Fatalf("schema: %v", err)
			}
			checkLesson(t, id, &l, vocab, calls)
		})
	}
}

func checkLesson(t *testing.T, id string, l *lessonFile, vocab map[string]map[string][]string, calls []string) {
	if l.Format != "lifeline-lesson/1" || l.ID != id || l.Title == "" || l.Summary == "" || len(l.Steps) == 0 || len(l.Clients) == 0 {
		t.Fatalf("format %q, id %q (file %s), title, summary, clients and steps are required", l.Format, l.ID, id)
	}
	for c := range l.Clients {
		if !clientName.MatchString(c) || c == "proxy" || c == "dns" || c == "broker" || c == "browser" {
			t.Errorf("client %q: 1 to 32 letters, digits or -, and not a party of the proxy's", c)
		}
	}
	party := func(where, p string) {
		if p != "" && l.Clients[p] == "" && p != "proxy" && p != "dns" && p != "broker" {
			t.Errorf("%s: party %q is neither a client of the lesson nor proxy, dns or broker", where, p)
		}
	}
	spec := func(where string, s arrowSpec) {
		if !validKind(s.Kind) {
			t.Errorf("%s: kind %q is not a trace kind", where, s.Kind)
		}
		if s.Leg != "" && !slices.Contains(legs, s.Leg) {
			t.Errorf("%s: leg %q", where, s.Leg)
		}
		party(where, s.From)
		party(where, s.To)
	}
	connected, reconnecting := map[string]bool{}, map[string]bool{}
	for i, st := range l.Steps {
		where := fmt.Sprintf("step %d", i+1)
		if st.Title == "" || st.Text == "" {
			t.Errorf("%s: title and text are required", where)
		}
		if n := len(st.Text); n > 700 {
			t.Errorf("%s: the text is %d characters; a step is explained in a sentence or two", where, n)
		}
		if len(st.Expect) == 0 {
			t.Errorf("%s: no expected arrows: the engine could not tell the step happened", where)
		}
		if st.Timeout < 0 || st.Timeout > 60000 {
			t.Errorf("%s: timeout %d ms", where, st.Timeout)
		}
		for j, a := range st.Actions {
			checkAction(t, fmt.Sprintf("%s action %d (%s)", where, j+1, a.Call), a, calls, l.Clients, connected, reconnecting)
		}
		for j, s := range st.Expect {
			spec(fmt.Sprintf("%s expect %d", where, j+1), s)
		}
		for j, s := range st.Show {
			w := fmt.Sprintf("%s show %d", where, j+1)
			spec(w, arrowSpec{s.Kind, s.Leg, s.From, s.To})
			for _, f := range s.Fields {
				labels, ok := vocab[s.Kind][f.Field]
				if !ok {
					t.Errorf("%s: the dissector writes no field %q in %s", w, f.Field, s.Kind)
					continue
				}
				if f.Label != "" && !slices.ContainsFunc(labels, func(x string) bool { return strings.Contains(x, f.Label) }) {
					t.Errorf("%s: no %s field labelled with %q (labels: %q)", w, f.Field, f.Label, labels)
				}
			}
		}
	}
}

// checkAction checks a call's arguments and that its client is connected
// when the call needs it (tracking connect, disconnect and cut in order).
func checkAction(t *testing.T, where string, a lessonAction, calls []string, clients map[string]string, connected, reconnecting map[string]bool) {
	if !slices.Contains(calls, a.Call) {
		t.Errorf("%s: unknown call (the engine knows %v)", where, calls)
		return
	}
	var opts struct {
		Client string `json:"client"`
	}
	arity := map[string][2]int{"connect": {1, 1}, "subscribe": {2, 2}, "unsubscribe": {2, 2}, "publish": {3, 3}, "disconnect": {1, 1}, "cut": {1, 1}, "lab": {2, 2}, "wait": {1, 1}}[a.Call]
	if len(a.Args) < arity[0] || len(a.Args) > arity[1] {
		t.Errorf("%s: %d arguments, want %d", where, len(a.Args), arity[0])
		return
	}
	if a.Call == "wait" {
		var ms float64
		if err := json.Unmarshal(a.Args[0], &ms); err != nil || ms < 0 || ms > 30000 {
			t.Errorf("%s: wait takes milliseconds (0 to 30000): %s", where, a.Args[0])
		}
		return
	}
	for _, s := range a.Args[:len(a.Args)-1] {
		var str string
		if err := json.Unmarshal(s, &str); err != nil {
			t.Errorf("%s: %s is not a string (topic, filter or payload)", where, s)
		}
	}
	if a.Call == "lab" {
		var op string
		if json.Unmarshal(a.Args[0], &op); !slices.Contains(labOps, op) {
			t.Errorf("%s: lab operation %s is not one of %v", where, a.Args[0], labOps)
		}
	}
	var reconnects struct {
		Reconnect bool `json:"reconnect"`
	}
	last := a.Args[len(a.Args)-1]
	json.Unmarshal(last, &reconnects)
	if err := json.Unmarshal(last, &opts); err != nil || opts.Client == "" {
		t.Errorf("%s: the last argument is the options, with the client it is for: %s", where, last)
		return
	}
	if clients[opts.Client] == "" {
		t.Errorf("%s: client %q is not declared in clients", where, opts.Client)
	}
	switch a.Call {
	case "connect":
		if connected[opts.Client] {
			t.Errorf("%s: %s is connected already", where, opts.Client)
		}
		connected[opts.Client] = true
		if reconnects.Reconnect {
			reconnecting[opts.Client] = true
		}
	default:
		if !connected[opts.Client] {
			t.Errorf("%s: %s is not connected at this point", where, opts.Client)
		}
		// A client that reconnects by itself is connected again after a cut.
		if a.Call == "disconnect" || a.Call == "cut" && !reconnecting[opts.Client] {
			connected[opts.Client] = false
		}
		if a.Call == "disconnect" {
			reconnecting[opts.Client] = false
		}
	}
}

// TestLessonClaims holds the sentences reviewed against the specification
// and against what is drawn (#12 item 13): each step must say the first
// and must not say the second, false, claim again.
func TestLessonClaims(t *testing.T) {
	for _, c := range []struct {
		lesson       string
		step         int
		says, wrong  string
		showsField   string // a field the step must point at ("" for none)
		notPointedAt string // a field it must not point at
	}{
		{"lifecycle", 0, "type AAAA", "one small question (the query) and one answer", "", ""},
		{"lifecycle", 8, "ACKs are not drawn", "and the other confirms", "", ""},
		{"lifecycle", 2, "MQTT-6.0.0-4", "", "http.sec_websocket_protocol", ""},
		{"lifecycle", 5, "MQTT-4.4.0-1", "Without a PUBACK it would send the message again", "mqtt.msg", ""},
		{"session", 1, "DISCONNECT", "", "mqtt.msgtype", ""},
		{"qos", 2, "MQTT-4.4.0-1", "sends it again if no PUBACK comes", "", ""},
		{"session", 3, "DUP flag is 1", "", "mqtt.dupflag", ""},
		{"retained", 3, "Message field is empty", "", "mqtt.msg", "mqtt.len"},
		// The words of the deadlines the diagram draws (diagram/timers.go).
		{"timers", 1, `"message expiry 2 s: message expired here"`, "", "", ""},
		{"timers", 2, `"will delay 2 s: will published here"`, "", "", ""},
		{"timers", 3, `"session expiry 2 s: session gone here"`, "", "", ""},
	} {
		b, err := fs.ReadFile(FS, "lessons/"+c.lesson+".json")
		if err != nil {
			t.Fatal(err)
		}
		var l lessonFile
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		s := l.Steps[c.step]
		if !strings.Contains(s.Text, c.says) || c.wrong != "" && strings.Contains(s.Text, c.wrong) {
			t.Errorf("%s step %d (%s): want %q and not %q in %q", c.lesson, c.step+1, s.Title, c.says, c.wrong, s.Text)
		}
		pointed := map[string]bool{}
		for _, sh := range s.Show {
			for _, f := range sh.Fields {
				pointed[f.Field] = true
			}
		}
		if c.showsField != "" && !pointed[c.showsField] || c.notPointedAt != "" && pointed[c.notPointedAt] {
			t.Errorf("%s step %d points at %v: want %q, not %q", c.lesson, c.step+1, pointed, c.showsField, c.notPointedAt)
		}
	}
}

// Every step opens a packet of its own: a step without one left the packet
// panel on the step before's (the session lesson's step 2 showed step 1's
// CONNECT).
func TestEveryStepShowsItsPacket(t *testing.T) {
	ids, err := fs.Glob(FS, "lessons/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ids {
		if p == "lessons/index.json" {
			continue
		}
		b, err := fs.ReadFile(FS, p)
		if err != nil {
			t.Fatal(err)
		}
		var l lessonFile
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		for i, s := range l.Steps {
			if len(s.Show) == 0 {
				t.Errorf("%s step %d (%s) shows no packet of its own", l.ID, i+1, s.Title)
			}
		}
	}
}
