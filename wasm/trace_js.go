//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// traceChannel is the page's end of the server's /trace side channel (see
// docs/trace.md): a hello with a token, pong answers to clock pings, and
// the proxy's entries (DNS, TCP, WebSocket, the broker leg) on the server's
// clock.
type traceChannel struct {
	a        *app
	sock     *socket
	token    string
	session  string  // the id this page picked for the channel (see newSessionID)
	openedAt float64 // page ms when the socket was opened
	state    int     // closed, opening, ready
	waiters  []func(token string)
	deadline *timer
	pinger   *timer
	pings    int
	conns    int               // /mqtt connections opened with this token
	parties  map[string]string // the conn ids the page gave them ("c1" …) -> the page client's lifeline
	err      string            // why the channel is not there, for the page
	cutting  *promise          // a cut request waiting for the proxy's answer
	cutConn  string            // … for this conn
	labs     map[int]labWait   // lab controls waiting for the proxy's answer, by id (lab_js.go)
	labID    int
	compact  pagejson.Compact // reads the channel's messages (batch=3), the shapes it has defined
}

// traceGatherPage is how long (ms) a trace channel message that follows
// the channel's last batch closely waits for more before Go reads them
// (socketHandlers.gather): the proxy writes one a millisecond while
// packets flow, and each batch is a crossing into Go (tens of
// microseconds in itself) and a task that the client's socket, whose
// acknowledgements the broker waits for, would wait behind. A frame's
// time: the diagram draws the entries the same (they carry their own
// times), at most a frame later; a pong's arrival time is its event's.
// Measured in BenchmarkPageClients (docs/performance.md), with the batch
// flush of eventFunc: these batches in a 3,000-message QoS 1 burst went
// from 105-145 to 17-33, the calls into Go from 899-1,043 to 525-645, and
// receive at QoS 1 from 1.02× mqtt.js's rate to 1.11× (medians of four
// runs alternating; at QoS 0 no change this machine can tell).
const traceGatherPage = 16

// traceHelloWait is how long (ms) a connection waits for the trace
// channel's hello before it goes without (and draws only the page's leg,
// for good): long enough for a busy server behind a balancer and TLS, as a
// channel that is not there fails at once rather than hangs.
const traceHelloWait = 10000

const (
	traceClosed = iota
	traceOpening
	traceReady
)

// withToken calls f with the channel's token once it is there, or with ""
// when the server has no trace channel (then the proxy still works, and the
// page draws its own leg only).
func (tc *traceChannel) withToken(url string, f func(token string)) {
	switch tc.state {
	case traceReady:
		f(tc.token)
		return
	case traceOpening:
		tc.waiters = append(tc.waiters, f)
		return
	}
	tc.waiters = append(tc.waiters, f)
	tc.state = traceOpening
	tc.openedAt = tc.a.now()
	// A new id for every channel: the proxy refuses one it has seen.
	tc.session = newSessionID()
	// batch=3: the proxy gathers its messages into one binary WebSocket
	// message per write, in records where a packet's entry is its bytes,
	// raw, and the id of what it shares with the others of its connection
	// and direction (docs/trace.md): the browser hands over the bytes as
	// they are, and a flood's entry is a few bytes beyond its packet to
	// read, not a JSON line of 300 (its bytes in base64 among them).
	tc.compact = pagejson.Compact{Names: tc.a.names}
	s, err := dial(url+"?batch=3&session="+tc.session, nil, socketHandlers{
		message: tc.message,
		gather:  traceGatherPage,
		close: func(_ float64, code int, reason string) {
			tc.sock = nil
			tc.pinger.stop()
			was := tc.state
			tc.state, tc.token = traceClosed, ""
			if was == traceOpening {
				tc.err = "the server has no trace channel (" + closeText(code, reason) + ")"
			} else {
				tc.err = "the trace channel closed (" + closeText(code, reason) + ")"
			}
			tc.settle()
			tc.failLabs(tc.err)
			tc.a.changed()
		},
	})
	if err != nil {
		tc.state, tc.err = traceClosed, err.Error()
		tc.settle()
		return
	}
	tc.sock = s
	tc.deadline = afterFunc(traceHelloWait, func() {
		tc.deadline = nil
		if tc.state == traceOpening {
			tc.err = "the server's trace channel did not answer within " + strconv.Itoa(traceHelloWait/1000) + " s"
			tc.settle()
		}
	})
}

// newSessionID is a session id for the trace channel and its /mqtt
// connections: 128 random bits from the browser's crypto, as 32 lowercase
// hex digits. A load balancer routes both connections by it (the session
// URL parameter), so they meet on the same proxy instance; the channel's
// token still binds the connections to this page.
func newSessionID() string {
	const digits = "0123456789abcdef"
	u8 := jsGlobal.Get("Uint8Array").New(16)
	jsGlobal.Get("crypto").Call("getRandomValues", u8)
	var b [16]byte
	js.CopyBytesToGo(b[:], u8)
	out := make([]byte, 0, 32)
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// settle calls the waiters with the token, or "" if there is none.
func (tc *traceChannel) settle() {
	tc.deadline.stop()
	tc.deadline = nil
	ws := tc.waiters
	tc.waiters = nil
	for _, f := range ws {
		f(tc.token)
	}
}

// message takes a message of the channel: records (batch=3), or lines
// (a text message: one or more, a line each). An entry waits in the app's
// queue (later_js.go); anything else is read now, after the queue.
func (tc *traceChannel) message(at float64, b []byte, text string, isText bool) {
	if !isText {
		err := tc.compact.Read(b, func(l []byte) { tc.line(at, string(l)) }, func(e trace.Entry) {
			tc.a.later(later{e: e, src: diagram.Remote})
		})
		if err != nil {
			// The proxy wrote what it should not: said, and the rest
			// of the channel read on.
			jsGlobal.Get("console").Call("error", "lifeline: the trace channel: "+err.Error())
		}
		return
	}
	for text != "" {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		tc.line(at, line)
	}
}

// line takes one JSON message of the channel.
func (tc *traceChannel) line(at float64, line string) {
	typ := messageType(line)
	if canWait(typ) {
		tc.a.later(later{text: line, at: at})
		return
	}
	if placesFirst(typ) {
		tc.a.sync()
	}
	tc.read(at, line)
}

// read reads a message from the channel that arrived at page time at.
func (tc *traceChannel) read(at float64, text string) {
	received := at - tc.a.origin
	// Read in Go from the one string: far cheaper than JSON.parse and a
	// property read across the boundary per field, thousands of times a
	// second.
	var typ, token, conn, cutErr string
	var t, serverTime float64
	id, count := 0, 0
	ok := false
	var en trace.Entry
	hasEntry := false
	r := jsonw.NewStringReader(text)
	r.Object(func(k string) {
		switch k {
		case "type":
			typ = r.String()
		case "token":
			token = r.String()
		case "t":
			t = r.Float()
		case "serverTime":
			serverTime = r.Float()
		case "entry":
			en, hasEntry = pagejson.ReadEntry(r, tc.a.names), true
		case "conn":
			conn = r.String()
		case "id":
			id = r.Int()
		case "count":
			count = r.Int()
		case "ok":
			ok = r.Bool()
		case "error":
			cutErr = r.String()
		default:
			r.Skip()
		}
	})
	if r.Err() {
		return
	}
	switch typ {
	case "hello":
		tc.token = token
		tc.state = traceReady
		tc.conns = 0
		tc.parties = map[string]string{}
		tc.err = ""
		// The server stamped its hello between our opening and now.
		tc.a.model.AddClockSample(diagram.Sample{Sent: tc.openedAt, Received: received, Server: serverTime})
		tc.pings = 0
		tc.ping()
		tc.settle()
		tc.a.changed()
	case "cut":
		if p := tc.cutting; p != nil && conn == tc.cutConn {
			tc.cutting = nil
			if ok {
				p.resolve(conn)
			} else {
				p.fail("the proxy did not cut " + conn + ": " + cutErr)
			}
		}
	case "lab":
		tc.labAnswer(id, ok, cutErr, text)
	case "dropped":
		// The proxy dropped entries the page read too slowly: drawn where
		// the gap is, at the time the page learned of it.
		n := strconv.Itoa(count)
		tc.a.put(trace.Entry{T: received, Leg: trace.LegBrowserProxy, From: "proxy", To: "proxy", Kind: trace.KindTraceDropped,
			Observed: trace.ObservedProxy, Summary: n + " trace entries dropped", Error: n + " entries the page read too slowly were dropped by the proxy"}, diagram.Local)
	case "pong":
		tc.a.model.AddClockSample(diagram.Sample{Sent: t, Received: received, Server: serverTime})
		tc.a.changed()
	case "entry":
		if !hasEntry {
			return
		}
		// The proxy labels packets by type and size; the codec says more,
		// when the arrow is drawn (see app.fill): tc.a.names skips their
		// summaries.
		tc.put(en)
	}
}

// put places an entry of the proxy's. The proxy calls every page
// "browser"; the page knows which of its clients opened each connection.
func (tc *traceChannel) put(en trace.Entry) {
	if en.Leg == trace.LegBrowserProxy {
		if p, ok := tc.parties[en.Conn]; ok {
			if en.From == "browser" {
				en.From = p
			}
			if en.To == "browser" {
				en.To = p
			}
		}
	}
	tc.a.put(en, diagram.Remote)
}

// ping sends clock pings: five quickly, then one every 5 s.
func (tc *traceChannel) ping() {
	if tc.sock == nil || tc.state != traceReady {
		return
	}
	tc.sock.sendText(`{"type":"ping","t":` + ftoa(tc.a.now()) + `}`)
	tc.pings++
	next := 5000.0
	if tc.pings < 5 {
		next = 30
	}
	tc.pinger = afterFunc(next, tc.ping)
}

// cut asks the proxy to abort conn's broker connection with a TCP reset
// and no DISCONNECT, as a device losing power would.
func (tc *traceChannel) cut(conn string) js.Value {
	if tc.sock == nil || tc.state != traceReady {
		return rejected("cut needs the proxy's trace channel, and there is none: " + tc.err)
	}
	if tc.cutting != nil {
		return rejected("cut: another cut is waiting for the proxy's answer")
	}
	p := newPromise()
	tc.cutting, tc.cutConn = p, conn
	tc.sock.sendText(`{"type":"cut","conn":"` + conn + `"}`)
	return p.p
}
