//go:build js && wasm

package main

import (
	"bytes"
	"syscall/js"
	"testing"
)

// fakeSocket puts a WebSocket of the test's in the browser's place while
// dial makes one (dial looks the class up then), and returns it: it keeps
// a copy of each message sent (as the browser does) in sent.
func fakeSocket(t *testing.T, url string, h socketHandlers) (*socket, js.Value) {
	t.Helper()
	global := js.Global()
	real := global.Get("WebSocket")
	global.Set("WebSocket", jsFunc(`return class {
		constructor(url) { this.url = url; this.readyState = 1; this.sent = []; this.protocol = 'mqtt'; }
		send(b) { this.sent.push(b.slice()); }
		close() {}
	};`).Invoke())
	s, err := dial(url, nil, h)
	global.Set("WebSocket", real)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !s.closed {
			s.deliver.Release()
		}
	})
	return s, s.ws
}

// sentBytes is what the fake socket was given, message by message.
func sentBytes(ws js.Value) [][]byte {
	sent := ws.Get("sent")
	out := make([][]byte, sent.Length())
	for i := range out {
		out[i] = make([]byte, sent.Index(i).Length())
		js.CopyBytesToGo(out[i], sent.Index(i))
	}
	return out
}

// TestBatchSendsOnReturn: what a socket's handlers send while its batch is
// delivered (the PUBACKs of the messages in it) leaves as the batch's call
// into Go returns, in one message, with no microtask (a crossing into Go
// of its own) to wait for; what is sent outside one still leaves at the
// task's end, in a microtask.
func TestBatchSendsOnReturn(t *testing.T) {
	var s *socket
	s, ws := fakeSocket(t, "ws://test/mqtt", socketHandlers{
		urgent: true,
		message: func(_ float64, b []byte, _ string, _ bool) {
			s.send([]byte{0x40, 2, b[0], b[1]})
		},
	})
	// A message after a quiet spell goes to Go in its own event's task
	// (the open alone does not end one: the CONNACK right after it goes
	// so): what it sent is there as onmessage returns.
	got, msg := settle(t, jsFunc("ws", `return new Promise((res) => {
		ws.onopen();
		setTimeout(() => {
			ws.onmessage({data: new Uint8Array([0, 7, 9]).buffer});
			const n = ws.sent.length;
			// Two that follow (in one batch or two, by how soon).
			ws.onmessage({data: new Uint8Array([0, 8]).buffer});
			ws.onmessage({data: new Uint8Array([0, 9]).buffer});
			setTimeout(() => res(n), 10);
		}, 1);
	});`).Invoke(ws))
	if msg != "" || got.Int() != 1 {
		t.Fatalf("after a message's event: %d messages sent (%s), want its PUBACK", got.Int(), msg)
	}
	sent := sentBytes(ws)
	if all, want := bytes.Join(sent, nil), []byte{0x40, 2, 0, 7, 0x40, 2, 0, 8, 0x40, 2, 0, 9}; len(sent) > 3 || !bytes.Equal(all, want) {
		t.Fatalf("sent %d messages, % x, want % x", len(sent), all, want)
	}
	// Outside a batch: at the task's end, not before.
	n := len(sent)
	s.send([]byte{0xc0, 0})
	if got := ws.Get("sent").Length(); got != n {
		t.Fatalf("a send outside a batch left at once (%d messages, %d before)", got, n)
	}
	if _, msg := settle(t, jsGlobal.Get("Promise").Call("resolve")); msg != "" {
		t.Fatal(msg)
	}
	if got := sentBytes(ws); len(got) != n+1 || !bytes.Equal(got[n], []byte{0xc0, 0}) {
		t.Fatalf("after the microtask: sent % x", got)
	}
}

// TestSendBufferReused: the buffer every send is copied through carries
// each message's own bytes, whatever the message before it held, and a
// packet larger than it goes whole, in a message of its own.
func TestSendBufferReused(t *testing.T) {
	s, ws := fakeSocket(t, "ws://test/mqtt", socketHandlers{urgent: true, message: func(float64, []byte, string, bool) {}})
	s.open = true
	big := bytes.Repeat([]byte{0xab}, maxBatch+100)
	for _, b := range [][]byte{bytes.Repeat([]byte{1}, 300), {2, 2}, big, {3}} {
		s.send(b)
		s.flush()
	}
	got := sentBytes(ws)
	if len(got) != 4 || !bytes.Equal(got[0], bytes.Repeat([]byte{1}, 300)) || !bytes.Equal(got[1], []byte{2, 2}) ||
		!bytes.Equal(got[2], big) || !bytes.Equal(got[3], []byte{3}) {
		t.Fatalf("sent %d messages: lengths %d", len(got), func() (n []int) {
			for _, b := range got {
				n = append(n, len(b))
			}
			return
		}())
	}
	flushAll() // the microtask's, queued by the first send
}

// TestGather: a socket that is not urgent (the trace channel's) hands Go
// the messages that follow its last batch closely once its gather time
// has passed, in one batch.
func TestGather(t *testing.T) {
	var got []int
	var ws js.Value
	_, ws = fakeSocket(t, "ws://test/trace", socketHandlers{
		gather: 200,
		message: func(_ float64, b []byte, _ string, _ bool) {
			got = append(got, int(b[0]))
			if b[0] == 1 { // two more come as the first batch is read
				jsFunc("ws", `ws.onmessage({data: new Uint8Array([2]).buffer}); ws.onmessage({data: new Uint8Array([3]).buffer});`).Invoke(ws)
			}
		},
	})
	seen, msg := settle(t, jsFunc("ws", "count", `return new Promise((res) => {
		ws.onmessage({data: new Uint8Array([1]).buffer}); // after a quiet spell: at once (in a task)
		const seen = [];
		const poll = () => {
			if (count() === 0) { setTimeout(poll, 0); return; }
			seen.push(count());
			setTimeout(() => seen.push(count()), 50);
			setTimeout(() => { seen.push(count()); res(seen.join(' ')); }, 400);
		};
		poll();
	});`).Invoke(ws, js.FuncOf(func(js.Value, []js.Value) any { return len(got) })))
	if msg != "" || seen.String() != "1 1 3" {
		t.Fatalf("messages Go had once the first came, 50 ms and 400 ms later: %s (%s), want 1 1 3", seen.String(), msg)
	}
	if len(got) != 3 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("got %v", got)
	}
}

// TestTakePending: a read of the diagram takes the messages a socket holds
// back for its gather time at once (socket.takePending, from app.sync).
func TestTakePending(t *testing.T) {
	var got []int
	var ws js.Value
	var s *socket
	s, ws = fakeSocket(t, "ws://test/trace", socketHandlers{
		gather: 5000,
		message: func(_ float64, b []byte, _ string, _ bool) {
			got = append(got, int(b[0]))
			if b[0] == 1 { // one more comes as the first batch is read: held 5 s
				jsFunc("ws", `ws.onmessage({data: new Uint8Array([2]).buffer});`).Invoke(ws)
			}
		},
	})
	if _, msg := settle(t, jsFunc("ws", "count", `return new Promise((res) => {
		ws.onmessage({data: new Uint8Array([1]).buffer});
		const poll = () => count() > 0 ? res(1) : setTimeout(poll, 0);
		poll();
	});`).Invoke(ws, js.FuncOf(func(js.Value, []js.Value) any { return len(got) }))); msg != "" {
		t.Fatal(msg)
	}
	if len(got) != 1 {
		t.Fatalf("before: got %v, want [1] (the second held)", got)
	}
	s.takePending()
	if len(got) != 2 || got[1] != 2 {
		t.Fatalf("after takePending: got %v, want [1 2]", got)
	}
	s.takePending() // nothing waits: nothing happens
	if len(got) != 2 {
		t.Fatalf("a second takePending: got %v", got)
	}
}
