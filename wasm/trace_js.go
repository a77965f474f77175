//go:build js && wasm

package main

import (
	"encoding/base64"
	"strings"
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// traceChannel is the page's end of the server's /trace side channel (see
// the team notes): a hello with a token, pong answers to clock pings, and
// the proxy's entries (DNS, TCP, WebSocket, the broker leg) on the server's
// clock.
type traceChannel struct {
	a        *app
	sock     *socket
	token    string
	openedAt float64 // page ms when the socket was opened
	state    int     // closed, opening, ready
	waiters  []func(token string)
	deadline *timer
	pinger   *timer
	pings    int
	conns    int    // /mqtt connections opened with this token
	err      string // why the channel is not there, for the page
}

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
	s, err := dial(url, nil, socketHandlers{
		message: tc.message,
		close: func(code int, reason string, clean bool) {
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
			tc.a.changed()
		},
	})
	if err != nil {
		tc.state, tc.err = traceClosed, err.Error()
		tc.settle()
		return
	}
	tc.sock = s
	tc.deadline = afterFunc(3000, func() {
		tc.deadline = nil
		if tc.state == traceOpening {
			tc.err = "the server's trace channel did not answer within 3 s"
			tc.settle()
		}
	})
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

func (tc *traceChannel) message(_ []byte, text string, isText bool) {
	if !isText {
		return
	}
	msg := obj{parseJSONText(text)}
	received := tc.a.now()
	switch msg.str("type", "") {
	case "hello":
		tc.token = msg.str("token", "")
		tc.state = traceReady
		tc.conns = 0
		tc.err = ""
		// The server stamped its hello between our opening and now.
		tc.a.model.AddClockSample(diagram.Sample{Sent: tc.openedAt, Received: received, Server: msg.num("serverTime", 0)})
		tc.pings = 0
		tc.ping()
		tc.settle()
		tc.a.changed()
	case "pong":
		tc.a.model.AddClockSample(diagram.Sample{Sent: msg.num("t", 0), Received: received, Server: msg.num("serverTime", 0)})
		tc.a.changed()
	case "entry":
		e, ok := msg.sub("entry")
		if !ok {
			return
		}
		en := entryFromJS(e)
		if strings.HasPrefix(en.Kind, "mqtt.") && len(en.Bytes) > 0 {
			// The proxy labels packets by type and size; the codec says more.
			v := codec.Version(en.Version)
			if v == 0 {
				v = codec.V311
			}
			if p, err := codec.Decode(en.Bytes, v); err == nil {
				en.Summary = codec.Summary(p)
			}
		}
		tc.a.add(en, diagram.Remote)
	}
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

func (tc *traceChannel) close() {
	tc.pinger.stop()
	if tc.sock != nil {
		tc.sock.close(1000, "page closed")
	}
}

// entryFromJS reads a trace entry parsed from JSON.
func entryFromJS(o obj) trace.Entry {
	e := trace.Entry{
		Seq:      o.int("seq", 0),
		T:        o.num("t", 0),
		Leg:      o.str("leg", ""),
		From:     o.str("from", ""),
		To:       o.str("to", ""),
		Kind:     o.str("kind", ""),
		Summary:  o.str("summary", ""),
		Observed: o.str("observed", ""),
		Note:     o.str("note", ""),
		Conn:     o.str("conn", ""),
		Version:  o.int("version", 0),
		Error:    o.str("error", ""),
	}
	if v, ok := o.get("bytes"); ok {
		if v.Type() == js.TypeString {
			e.Bytes, _ = base64.StdEncoding.DecodeString(v.String())
		} else {
			e.Bytes, _ = bytesFromJS(v)
		}
	}
	return e
}

func parseJSONText(s string) (v js.Value) {
	defer func() {
		if recover() != nil {
			v = js.Null()
		}
	}()
	return jsJSON.Call("parse", s)
}
