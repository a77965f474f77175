//go:build js && wasm

package main

import (
	"math"
	"strings"
	"syscall/js"
)

// A call from JavaScript into Go costs tens of microseconds in the browser
// (measured: 50 µs for an empty function), more than the work a packet
// needs. So a socket's events are not delivered one by one: a few lines of
// JavaScript queue them with their arrival time and hand Go a batch per
// task — the event kinds as a string, the times and numbers as one
// Float64Array, the texts joined by NUL (which JSON never carries raw),
// the binary messages as one Uint8Array — a handful of crossings for any
// number of messages. A message that follows the last batch within 2 ms
// waits a millisecond for more (the proxy relays each of the broker's
// writes as a message: a flood would otherwise cross once a packet), or
// its socket's gather time (the trace channel's: see traceGatherPage). An
// urgent socket's (a client's: its acknowledgements must not wait) goes
// at once, in the message's own task, after a quiet spell, and within
// 2 ms of the last batch in a task of its own (setTimeout 0), before the
// diagram's work (later_js.go) and the trace channel's.
var attachSocket = jsGlobal.Get("Function").New("ws", "deliver", "urgent", "gather", `
	let kinds = '', times = [], nums = [], texts = [], bins = [], binLen = 0, pending = false, last = -1e9;
	const flush = () => {
		pending = false;
		if (kinds === '') return; // taken already (the function returned below)
		// The open alone does not start a spell: the first message (a
		// CONNACK, the trace channel's hello) goes as one after a quiet
		// spell does.
		last = kinds === 'o' ? -1e9 : performance.now();
		const bin = new Uint8Array(binLen);
		let o = 0;
		for (const b of bins) { bin.set(b, o); o += b.length; }
		const f = new Float64Array(times.length + nums.length);
		f.set(times); f.set(nums, times.length);
		const k = kinds, t = texts.join('\u0000');
		kinds = ''; times = []; nums = []; texts = []; bins = []; binLen = 0;
		deliver(k, new Uint8Array(f.buffer), t, bin);
	};
	const push = (k) => {
		const t = performance.now();
		kinds += k;
		times.push(t);
		// A message after a quiet spell goes at once; one that follows the
		// last batch within 2 ms (a flood, a message a packet) waits a
		// millisecond for those behind it, so that a flood crosses into Go
		// once a millisecond or so, not once a message.
		if (pending) return;
		// An urgent socket's message after a quiet spell (a CONNACK, the
		// open) goes in its own event's task: posted, it would wait
		// behind whatever else came meanwhile (the trace channel's
		// entries for the same connection).
		const quiet = t - last >= 2;
		if (quiet && urgent) { flush(); return; }
		pending = true;
		setTimeout(flush, quiet || urgent ? 0 : gather);
	};
	ws.binaryType = 'arraybuffer';
	ws.onopen = () => push('o');
	ws.onmessage = (ev) => {
		if (typeof ev.data === 'string') { texts.push(ev.data); push('t'); return; }
		const b = new Uint8Array(ev.data);
		bins.push(b); nums.push(b.length); binLen += b.length; push('b');
	};
	ws.onclose = (ev) => { texts.push(ev.reason); nums.push(ev.code); push('c'); };
	return () => { if (pending) flush(); };
`)

// socketHandlers receive a socket's events with the page time (ms since
// navigation, performance.now) at which each arrived. They run on the
// browser's event loop and must not block. A binary message is the
// handler's to keep: a slice of a buffer made for its batch, never reused.
type socketHandlers struct {
	urgent  bool    // its events go before the page's other tasks (see attachSocket)
	gather  float64 // how long (ms) a message that is not urgent waits for more, if not 1
	open    func(at float64)
	message func(at float64, binary []byte, text string, isText bool)
	close   func(at float64, code int, reason string)
	// batched, if set, is called after each batch's events (unless the
	// socket closed in it) with the time the last arrived: work a handler
	// can do once for many messages.
	batched func(at float64)
}

// socket is the browser's own WebSocket, seen through Go types.
type socket struct {
	ws      js.Value
	deliver js.Func
	open    bool
	closed  bool
	out     []byte   // packets sent in this task, not yet given to the browser
	takeNow js.Value // hands Go the messages waiting for their batch, now (see takePending)
}

// dial opens a WebSocket; events go to h until the socket closes, after
// which its callback is released.
func dial(url string, protocols []string, h socketHandlers) (s *socket, err error) {
	defer func() {
		// new WebSocket throws a SyntaxError on a bad URL.
		if r := recover(); r != nil {
			s, err = nil, errString("cannot open a WebSocket to "+url+": "+jsErrorText(r))
		}
	}()
	ps := make([]any, len(protocols))
	for i, p := range protocols {
		ps[i] = p
	}
	s = &socket{ws: jsGlobal.Get("WebSocket").New(url, ps)} // looked up now: tests put a fake in its place
	var buf []byte
	s.deliver = eventFunc(func(args []js.Value) {
		kinds := args[0].String()
		n := args[1].Get("byteLength").Int()
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		js.CopyBytesToGo(buf, args[1])
		floats := make([]float64, n/8)
		for i := range floats {
			b := buf[8*i : 8*i+8]
			floats[i] = math.Float64frombits(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
		}
		times, nums := floats[:len(kinds)], floats[len(kinds):]
		texts := ""
		if strings.IndexByte(kinds, 't') >= 0 || strings.IndexByte(kinds, 'c') >= 0 { // else "": not read (two crossings into JavaScript)
			texts = args[2].String()
		}
		bin := make([]byte, args[3].Get("byteLength").Int())
		js.CopyBytesToGo(bin, args[3])
		nextText := func() string {
			i := strings.IndexByte(texts, 0)
			if i < 0 {
				t := texts
				texts = ""
				return t
			}
			t := texts[:i]
			texts = texts[i+1:]
			return t
		}
		for i := 0; i < len(kinds) && !s.closed; i++ {
			at := times[i]
			switch kinds[i] {
			case 'o':
				s.open = true
				if h.open != nil {
					h.open(at)
				}
			case 't':
				h.message(at, nil, nextText(), true)
			case 'b':
				l := int(nums[0])
				nums = nums[1:]
				h.message(at, bin[:l:l], "", false)
				bin = bin[l:]
			case 'c':
				code := int(nums[0])
				nums = nums[1:]
				reason := nextText()
				s.open, s.closed = false, true
				for _, k := range []string{"onopen", "onmessage", "onclose"} {
					s.ws.Set(k, js.Null())
				}
				s.deliver.Release()
				if h.close != nil {
					h.close(at, code, reason)
				}
			}
		}
		if h.batched != nil && !s.closed && len(times) > 0 {
			h.batched(times[len(times)-1])
		}
	})
	gather := h.gather
	if gather == 0 {
		gather = 1
	}
	s.takeNow = attachSocket.Invoke(s.ws, s.deliver, h.urgent, gather)
	return s, nil
}

// takePending hands Go, now, the messages that wait in JavaScript for
// their batch (a gather time, a setTimeout): a read of the diagram sees
// every entry that has reached the page, whatever the socket's gather time.
// Nothing waits when called from the batch's own delivery.
func (s *socket) takePending() {
	if s != nil && !s.closed && !s.takeNow.IsUndefined() {
		s.takeNow.Invoke()
	}
}

// protocol is the subprotocol the server chose.
func (s *socket) protocol() string { return s.ws.Get("protocol").String() }

// send writes a packet and reports whether the browser will take it for
// the wire: once the server's close frame has arrived (the socket is
// closing, or closed with its close event still queued) the browser
// discards what is sent [WebSocket standard, send()].
//
// The packets sent in one task (a loop of publish calls, the PUBACKs of a
// batch of messages) go as one WebSocket message at the task's end (see
// atTaskEnd): four crossings into JavaScript and the browser's own send
// for each packet cost more than the rest of publishing it, and MQTT over
// WebSockets lets a message carry several packets [MQTT-6.0.0-2]. The
// socket's state cannot change within a task (its events are tasks), so
// it is asked once a batch.
func (s *socket) send(b []byte) bool {
	if !s.open {
		return false
	}
	if len(s.out) > 0 && len(s.out)+len(b) > maxBatch {
		s.flush()
	}
	if len(s.out) == 0 {
		if s.ws.Get("readyState").Int() != 1 {
			return false
		}
		atTaskEnd()
		unsent = append(unsent, s)
	}
	s.out = append(s.out, b...)
	return true
}

// maxBatch bounds a message of packets sent together (one larger packet
// goes alone), far below any proxy's or broker's message limit.
const maxBatch = 16 << 10

// unsent are the sockets with packets for the task's end to send.
var unsent []*socket

var (
	jsQueueMicrotask = jsGlobal.Get("queueMicrotask")
	flushUnsent      = js.FuncOf(func(js.Value, []js.Value) any { flushAll(); return nil })
	flushQueued      bool // flushAll is due at the task's end
	eventDepth       int  // the calls of eventFuncs under way
)

// atTaskEnd has flushAll called at the task's end, once a task: in a
// microtask, or, inside an eventFunc, as it returns.
func atTaskEnd() {
	if flushQueued {
		return
	}
	flushQueued = true
	if eventDepth == 0 {
		jsQueueMicrotask.Invoke(flushUnsent)
	}
}

// eventFunc makes the js.Func of a socket's batch of events (a task of its
// own, see attachSocket), which flushes what it sent as it returns rather
// than in a microtask: a crossing into Go saved for every batch that
// brings a packet to acknowledge. At QoS 1 each of those crossings
// (profiled: 268 in a burst of 3,000 messages, 48 ms with their sends)
// delays the PUBACKs the broker waits for before it sends the next of its
// 20 in flight. Everything the batch's handlers send (a PUBACK, a publish
// from an on('message') listener) leaves as it would have: before the
// next task, after the batch.
func eventFunc(f func(args []js.Value)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		eventDepth++
		defer func() {
			if eventDepth--; eventDepth == 0 && flushQueued {
				flushAll()
			}
		}()
		f(args)
		return nil
	})
}

// flushAll gives the browser every socket's unsent packets, in the order
// they were sent, and settles the task's acknowledged publishes.
func flushAll() {
	flushQueued = false
	for _, s := range unsent {
		s.flush()
	}
	unsent = unsent[:0]
	settleAcked()
}

// sendBuf is where a socket's packets are copied for the browser's send,
// which takes a copy of a view's bytes [WebSockets standard, send()]:
// one buffer for every send, rather than a Uint8Array made (and a
// finalizer set on it in Go) for each. A packet larger than it (s.out
// holds more than maxBatch only then) goes in an array of its own.
var (
	sendBuf    = jsUint8Array.New(maxBatch)
	jsSendView = jsFunc("ws", "buf", "n", "ws.send(buf.subarray(0, n));")
)

// flush gives the browser the socket's unsent packets as one message.
func (s *socket) flush() {
	switch {
	case len(s.out) == 0 || s.closed:
	case len(s.out) <= maxBatch:
		js.CopyBytesToJS(sendBuf, s.out)
		jsSendView.Invoke(s.ws, sendBuf, len(s.out))
	default:
		s.ws.Call("send", bytesToJS(s.out))
	}
	s.out = s.out[:0]
	if cap(s.out) > 4*maxBatch {
		s.out = nil // one large packet: not kept
	}
}

// sendText writes one text message, after every packet sent before it on
// any socket (a lab request or a cut acts on what the page sent first).
func (s *socket) sendText(t string) {
	flushAll()
	if s.open {
		s.ws.Call("send", t)
	}
}

// close starts the closing handshake (code 1000 or 3000-4999), after the
// packets sent before it.
func (s *socket) close(code int, reason string) {
	flushAll()
	s.ws.Call("close", code, reason)
}

// timer is one setTimeout.
type timer struct {
	id js.Value
	fn js.Func
}

// afterFunc calls f once after ms milliseconds unless stopped first.
func afterFunc(ms float64, f func()) *timer {
	t := &timer{}
	t.fn = js.FuncOf(func(js.Value, []js.Value) any {
		t.fn.Release()
		t.id = js.Value{}
		f()
		return nil
	})
	t.id = jsGlobal.Get("setTimeout").Invoke(t.fn, ms)
	return t
}

// stop cancels the timer if it has not fired.
func (t *timer) stop() {
	if t == nil || t.id.IsUndefined() {
		return
	}
	jsGlobal.Get("clearTimeout").Invoke(t.id)
	t.id = js.Value{}
	t.fn.Release()
}

type errString string

func (e errString) Error() string { return string(e) }

func jsErrorText(r any) string {
	if e, ok := r.(js.Error); ok {
		return e.Value.Get("message").String()
	}
	if e, ok := r.(error); ok {
		return e.Error()
	}
	return "unknown error"
}
