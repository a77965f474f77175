//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

// The client's own work comes first, the diagram's right after. A packet
// the page's client sends or receives is decoded, acknowledged and
// delivered to on('message') at once; its arrow, and the proxy's entries
// from the trace channel, wait in a queue that tasks of their own place in
// the diagram (Model.Add, the pairing of the two legs), a millisecond at
// a time, so that a flood neither holds up the client nor the page's
// frames. Nothing is reordered: the queue is placed in the order it came.
//
// Every read of the diagram from JavaScript (trace(), findings(), exports,
// _view …: app_js.go's readsModel) first places the whole queue, so it
// sees every arrow there is, except the diagram's own reads during a frame
// (_view, _total and _rowOf with their "drawn" argument true, and
// _version, which counts what has been placed): the rest is drawn at the
// next frame. So the queue waits at most a task or two while the page
// keeps up; while it does not (more arrives than the page can place), at
// most laterMax wait and the oldest are placed as new ones come.

// laterBudget is how long (ms) a task of the queue's runs before it lets
// the browser draw and deliver. Short: a socket's message that comes
// while a task runs waits for its end (JavaScript cannot see it coming),
// and at QoS 1 the broker sends the next of its 20 in flight only when
// the page's PUBACK for one is back (4 ms: the page received 6,500 a
// second; 1 ms: 7,100, one more crossing into Go a millisecond).
const laterBudget = 1

// laterMax is how many items the queue holds before new ones are placed as
// they come: a burst of 10,000 messages is 20,000 arrows (the page's leg
// and the broker's), held whole while it comes (see floodDefer).
const laterMax = 33792

// later is one thing to place: an entry, or a trace channel message that
// is an entry, read when placed.
type later struct {
	e    trace.Entry
	src  diagram.Source // Remote: the trace channel's, its parties named when placed (traceChannel.put)
	text string         // a trace channel message, not yet read
	at   float64        // … and when it arrived
}

// laterQueue is the app's queue of arrows to place.
type laterQueue struct {
	items []later
	head  int
	post  js.Value // posts a task that calls back into Go (see newApp)
	asked bool     // a task is posted
	held  *timer   // a handshake or a flood holds the tasks until it fires (see handshakeHold, floodQuiet)
	// floodAt is when (performance.now) a client's socket last brought a
	// batch within floodQuiet ms of its last; lastBatch, its last.
	floodAt, lastBatch float64
	// holdFrom is when placing began to wait for a flood, 0 when it does
	// not (it waits floodHoldMax at most, see laterTask).
	holdFrom float64
}

// batch notes a batch of a client socket's messages, the last of which
// arrived at t (performance.now).
func (q *laterQueue) batch(t float64) {
	if t-q.lastBatch < floodQuiet {
		q.floodAt = t
	}
	q.lastBatch = t
}

func (q *laterQueue) len() int { return len(q.items) - q.head }

// jsLater makes a function that posts a task calling f: at background
// priority where the browser has a scheduler (Chromium), so that frames,
// input and the sockets' own events go first; else a MessageChannel
// message, not setTimeout, which the browser may hold back for 4 ms or, in
// a background tab, a second. Its close() stops the tasks posted (for f's
// release).
var jsLater = jsFunc("f", `let open = true;
const run = () => { if (open) f(); };
let post;
if (globalThis.scheduler && scheduler.postTask) {
  post = () => { scheduler.postTask(run, {priority: "background"}); };
} else {
  const ch = new MessageChannel();
  ch.port1.onmessage = run;
  post = () => ch.port2.postMessage(0);
}
post.close = () => { open = false; };
return post;`)

// later queues an entry to place in a task of the queue's.
func (a *app) later(l later) {
	q := &a.lq
	if q.len() >= laterMax {
		a.place(1)
	}
	q.items = append(q.items, l)
	if !q.asked {
		q.asked = true
		q.post.Invoke()
	}
}

// handshakeHold is how long (ms) placing waits while a connect() waits for
// its CONNACK (app.js's frames wait as long, HANDSHAKE_HOLD): the socket's
// open and the CONNACK are not kept waiting behind a task of the queue's,
// and the handshake's arrows are placed as soon as it ends.
const handshakeHold = 50

// While a client's socket brings a flood (a batch within floodQuiet ms of
// the one before), placing waits until the flood pauses, floodDefer items
// wait, or it has waited floodHoldMax ms: the browser hands the page a
// socket's messages only as fast as the page takes them, so each
// millisecond spent placing during a flood is one the flood waits. A burst
// (10,000 messages at once arrive over about 170 ms here) is drawn when it
// ends; a flood that lasts, or a device that sends every few milliseconds,
// is drawn a quarter of a second at a time, never held up longer.
//
// Measured in BenchmarkPageClients (receiving 10,000 at QoS 0): with
// floodQuiet 3 ms the burst's small gaps let placing in, 2,000-8,200
// arrows in 8-39 ms of the measure; now none, and Go's time in the
// measure fell from 87-90 ms to 53-57 ms (docs/performance.md).
const (
	floodQuiet   = 20              // ms
	floodHoldMax = 250             // ms
	floodDefer   = laterMax - 1024 // items
)

// laterTask is a task of the queue's: it places items for laterBudget ms
// and posts another task for the rest.
func (a *app) laterTask() {
	q := &a.lq
	q.asked = false
	hold := 0.0
	if h := a.handshake(); h >= 0 && h < handshakeHold {
		hold = handshakeHold - h
	} else if t := now(); t-q.floodAt < floodQuiet && q.len() < floodDefer {
		if q.holdFrom == 0 {
			q.holdFrom = t
		}
		if waited := t - q.holdFrom; waited < floodHoldMax {
			hold = min(floodQuiet-(t-q.floodAt), floodHoldMax-waited)
		}
	} else {
		q.holdFrom = 0
	}
	if hold > 0 {
		if q.held == nil {
			q.held = afterFunc(hold, func() { q.held = nil; a.kick() })
		}
		return
	}
	end := now() + laterBudget
	for q.len() > 0 {
		a.place(32)
		if now() >= end {
			break
		}
	}
	if q.len() == 0 {
		q.holdFrom = 0 // the next flood's hold starts anew
	}
	if q.len() > 0 && !q.asked {
		q.asked = true
		q.post.Invoke()
	}
}

// kick posts a task of the queue's if anything waits and none is posted:
// when a handshake or a flood that held them ends.
func (a *app) kick() {
	q := &a.lq
	if q.len() > 0 && !q.asked {
		q.asked = true
		q.post.Invoke()
	}
}

// sync places the whole queue: before every read of the diagram.
func (a *app) sync() {
	a.tc.sock.takePending() // the trace channel's entries that have come, waiting for their batch
	if n := a.lq.len(); n > 0 {
		a.place(n)
	}
}

// place places the next n items of the queue.
func (a *app) place(n int) {
	q := &a.lq
	for ; n > 0 && q.len() > 0; n-- {
		l := &q.items[q.head]
		q.head++
		if l.text != "" {
			a.tc.read(l.at, l.text)
		} else if l.src == diagram.Remote {
			a.tc.put(l.e)
		} else {
			a.put(l.e, l.src)
		}
		*l = later{} // let the collector have its bytes
	}
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 4096 && q.head*2 > len(q.items) {
		q.items, q.head = append(q.items[:0], q.items[q.head:]...), 0
	}
}

// canWait reports whether a trace channel message of type typ (see
// messageType) can wait in the queue: an entry, a clock's pong or a note
// of dropped entries, each read in its place in the queue. A pong read at
// once (every 5 s) held a flood's client, in the trace channel's task, for
// as long as placing thousands of arrows takes; in the queue, its clock
// sample comes after the entries that came before it, as it did.
func canWait(typ string) bool {
	return typ == "entry" || typ == "pong" || typ == "dropped"
}

// placesFirst reports whether a trace channel message of type typ that is
// read at once needs the queue placed before it: a hello, which starts
// the channel's connections and parties anew, does; an answer (a cut's, a
// lab control's) does not, and is not held up by placing a flood's arrows
// in its task (the lab panel asks for the proxy's state every 700 ms; each
// answer placed up to 15,360 arrows at once, 20 ms and more). What reads
// the diagram places the queue first in any case (app.sync).
func placesFirst(typ string) bool { return typ != "cut" && typ != "lab" }

// messageType is a trace channel message's type, "" if it has none. The
// proxy writes the type first, which is read from the message's start; a
// message with its keys in another order (a server that wrote its pong
// from a map, as this one did) is read for it.
func messageType(text string) string {
	const head = `{"type":"`
	if strings.HasPrefix(text, head) {
		if typ, _, ok := strings.Cut(text[len(head):], `"`); ok && !strings.Contains(typ, `\`) {
			return typ
		}
	}
	var typ string
	r := jsonw.NewStringReader(text)
	r.Object(func(k string) {
		if k == "type" {
			typ = r.String()
		} else {
			r.Skip()
		}
	})
	return typ
}
