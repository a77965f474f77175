//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
	"github.com/lifeline-mqtt/lifeline/wasm/options"
)

// The lab bench on the page: window.lifeline.lab's methods send the
// proxy's lab controls ({"type":"lab",…}, proxy/doc.go) on the trace
// channel for the client named by options.client, and return a Promise the
// proxy's answer settles: resolved with the lab's state, rejected with the
// proxy's reason in words.

// labOps are the methods of window.lifeline.lab, named as the proxy's ops.
var labOps = []string{"hold", "pause", "step", "release", "resume", "drop", "delay", "silence", "state"}

// labOptions are the options of a lab method besides client.
type labOptions struct {
	Dir   string   // "toBroker", "toPage", or "" for both
	Types []string // packet type names, "*" for all
	Topic string   // a topic filter selecting PUBLISH packets
	Count int      // drop: how many (0: one)
	Ms    float64  // delay, in milliseconds
	HasMs bool
}

// labOptionsFrom turns the options read into the request's fields.
func labOptionsFrom(o *options.Lab) labOptions {
	lo := labOptions{Dir: o.Dir, Types: o.Types, Topic: o.Topic, Count: o.Count}
	if o.Ms != nil {
		lo.Ms, lo.HasMs = float64(*o.Ms), true
	}
	return lo
}

// labRequest writes the control message for conn.
func labRequest(w *jsonw.Writer, id int, conn, op string, lo labOptions) []byte {
	w.Reset()
	w.Open('{')
	w.KString("type", "lab")
	w.KInt("id", id)
	w.KString("conn", conn)
	w.KString("op", op)
	if lo.Dir != "" {
		w.KString("dir", lo.Dir)
	}
	if len(lo.Types) > 0 {
		w.Key("types")
		w.Open('[')
		for _, t := range lo.Types {
			w.String(t)
		}
		w.Close(']')
	}
	if lo.Topic != "" {
		w.KString("topic", lo.Topic)
	}
	if lo.Count != 0 {
		w.KInt("count", lo.Count)
	}
	if lo.HasMs {
		w.KFloat("ms", lo.Ms)
	}
	w.Close('}')
	return w.B
}

// installLab puts window.lifeline.lab in place.
func (a *app) installLab() {
	lab := jsGlobal.Get("Object").New()
	for _, op := range labOps {
		lab.Set(op, a.funcs.add(func(_ js.Value, args []js.Value) (out any) {
			defer func() {
				if r := recover(); r != nil {
					out = rejected("lab." + op + ": " + jsErrorText(r))
				}
			}()
			return a.labCall(op, args)
		}))
	}
	a.api.Set("lab", lab)
}

func (a *app) labCall(op string, args []js.Value) js.Value {
	var o options.Lab
	if err := assign("lab."+op, arg(args, 0), &o); err != nil {
		return rejected(err.Error())
	}
	s, err := a.session("lab."+op, o.Client)
	if err != nil {
		return rejected("lab." + op + ": " + err.Error())
	}
	if s.mode != "proxy" || !s.traced || s.sock == nil {
		return rejected("lab." + op + ": " + s.party + " has no open connection through the proxy's trace channel")
	}
	return a.tc.lab(s.conn, op, labOptionsFrom(&o))
}

// lab sends a lab control for conn and returns the Promise of its answer.
func (tc *traceChannel) lab(conn, op string, lo labOptions) js.Value {
	if tc.sock == nil || tc.state != traceReady {
		return rejected("lab." + op + " needs the proxy's trace channel, and there is none: " + tc.err)
	}
	if tc.labs == nil {
		tc.labs = map[int]labWait{}
	}
	tc.labID++
	p := newPromise()
	tc.labs[tc.labID] = labWait{p: p, op: op}
	var w jsonw.Writer
	tc.sock.sendText(string(labRequest(&w, tc.labID, conn, op, lo)))
	return p.p
}

// labWait is a lab control waiting for the proxy's answer.
type labWait struct {
	p  *promise
	op string
}

// labAnswer settles the control answered by the message text.
func (tc *traceChannel) labAnswer(id int, ok bool, errText, text string) {
	w, found := tc.labs[id]
	if !found {
		return
	}
	delete(tc.labs, id)
	if !ok {
		w.p.fail("lab." + w.op + ": " + errText)
		return
	}
	st := jsJSON.Call("parse", text).Get("state")
	tc.a.emit("lab", st)
	w.p.resolve(st)
}

// failLabs rejects the controls still waiting when the channel closes.
func (tc *traceChannel) failLabs(why string) {
	for id, w := range tc.labs {
		w.p.fail("lab." + w.op + ": no answer: " + why + " (control " + strconv.Itoa(id) + ")")
	}
	tc.labs = nil
}
