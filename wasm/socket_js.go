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
// number of messages.
var attachSocket = jsGlobal.Get("Function").New("ws", "deliver", `
	let kinds = '', times = [], nums = [], texts = [], bins = [], binLen = 0, pending = false;
	const flush = () => {
		pending = false;
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
		kinds += k;
		times.push(performance.now());
		if (!pending) { pending = true; setTimeout(flush, 0); }
	};
	ws.binaryType = 'arraybuffer';
	ws.onopen = () => push('o');
	ws.onmessage = (ev) => {
		if (typeof ev.data === 'string') { texts.push(ev.data); push('t'); return; }
		const b = new Uint8Array(ev.data);
		bins.push(b); nums.push(b.length); binLen += b.length; push('b');
	};
	ws.onclose = (ev) => { texts.push(ev.reason); nums.push(ev.code); push('c'); };
`)

// socketHandlers receive a socket's events with the page time (ms since
// navigation, performance.now) at which each arrived. They run on the
// browser's event loop and must not block.
type socketHandlers struct {
	open    func(at float64)
	message func(at float64, binary []byte, text string, isText bool)
	close   func(at float64, code int, reason string)
}

// socket is the browser's own WebSocket, seen through Go types.
type socket struct {
	ws      js.Value
	deliver js.Func
	open    bool
	closed  bool
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
	s.deliver = js.FuncOf(func(_ js.Value, args []js.Value) any {
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
		texts := args[2].String()
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
		return nil
	})
	attachSocket.Invoke(s.ws, s.deliver)
	return s, nil
}

// protocol is the subprotocol the server chose.
func (s *socket) protocol() string { return s.ws.Get("protocol").String() }

// send writes one binary message and reports whether the browser took it
// for the wire: once the server's close frame has arrived (the socket is
// closing, or closed with its close event still queued) the browser
// discards what is sent [WebSocket standard, send()].
func (s *socket) send(b []byte) bool {
	if !s.open || s.ws.Get("readyState").Int() != 1 {
		return false
	}
	s.ws.Call("send", bytesToJS(b))
	return true
}

// sendText writes one text message.
func (s *socket) sendText(t string) {
	if s.open {
		s.ws.Call("send", t)
	}
}

// close starts the closing handshake (code 1000 or 3000-4999).
func (s *socket) close(code int, reason string) { s.ws.Call("close", code, reason) }

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
