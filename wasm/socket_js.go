//go:build js && wasm

package main

import "syscall/js"

var (
	jsTimeout = jsGlobal.Get("setTimeout")
	jsClear   = jsGlobal.Get("clearTimeout")
)

// socketHandlers receive a socket's events. They run on the browser's event
// loop and must not block.
type socketHandlers struct {
	open    func()
	message func(binary []byte, text string, isText bool)
	close   func(code int, reason string, clean bool)
}

// socket is the browser's own WebSocket, seen through Go types.
type socket struct {
	ws    js.Value
	funcs funcs
	open  bool
}

// dial opens a WebSocket; events go to h until the socket closes, after
// which its callbacks are released.
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
	s.ws.Set("binaryType", "arraybuffer")
	s.ws.Set("onopen", s.funcs.add(func(js.Value, []js.Value) any {
		s.open = true
		if h.open != nil {
			h.open()
		}
		return nil
	}))
	s.ws.Set("onmessage", s.funcs.add(func(_ js.Value, args []js.Value) any {
		d := args[0].Get("data")
		if d.Type() == js.TypeString {
			h.message(nil, d.String(), true)
			return nil
		}
		b, _ := bytesFromJS(d)
		h.message(b, "", false)
		return nil
	}))
	s.ws.Set("onclose", s.funcs.add(func(_ js.Value, args []js.Value) any {
		s.open = false
		ev := args[0]
		code, reason, clean := ev.Get("code").Int(), ev.Get("reason").String(), ev.Get("wasClean").Bool()
		for _, k := range []string{"onopen", "onmessage", "onclose", "onerror"} {
			s.ws.Set(k, js.Null())
		}
		s.funcs.release()
		if h.close != nil {
			h.close(code, reason, clean)
		}
		return nil
	}))
	return s, nil
}

// protocol is the subprotocol the server chose.
func (s *socket) protocol() string { return s.ws.Get("protocol").String() }

// send writes one binary message.
func (s *socket) send(b []byte) {
	if s.open {
		s.ws.Call("send", bytesToJS(b))
	}
}

// sendText writes one text message.
func (s *socket) sendText(t string) {
	if s.open {
		s.ws.Call("send", t)
	}
}

// close starts the closing handshake (code 1000 or 3000-4999).
func (s *socket) close(code int, reason string) { s.ws.Call("close", code, reason) }

// buffered is how many bytes wait to be sent.
func (s *socket) buffered() int { return s.ws.Get("bufferedAmount").Int() }

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
	t.id = jsTimeout.Invoke(t.fn, ms)
	return t
}

// stop cancels the timer if it has not fired.
func (t *timer) stop() {
	if t == nil || t.id.IsUndefined() {
		return
	}
	jsClear.Invoke(t.id)
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
