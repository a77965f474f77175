package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// fakeBroker is a loopback TCP server whose behaviour a test scripts.
type fakeBroker struct {
	ln    net.Listener
	wg    sync.WaitGroup
	ended chan error // what serve returned, once per connection
}

func newFakeBroker(t *testing.T, serve func(c *net.TCPConn) error) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{ln: ln, ended: make(chan error, 16)}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				f.ended <- serve(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeBroker) addr() string { return f.ln.Addr().String() }

// privateEnv is an env whose proxy may reach fake brokers on loopback.
func privateEnv(t *testing.T, change func(*proxy.Config)) *env {
	return newTestEnv(t, func(c *proxy.Config) {
		c.Policy.Allow = mustAllow(t, "*:*")
		c.Policy.AllowPrivate = true
		if change != nil {
			change(c)
		}
	})
}

// stillServes checks the proxy takes a new session to the embedded broker.
func stillServes(t *testing.T, e *env) {
	t.Helper()
	newPaho(t, e.mqttURL(""), "after")
}

func TestBadInput(t *testing.T) {
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	tests := []struct {
		name     string
		send     func(ws *wstest.Client) error
		wantCode websocket.StatusCode
	}{
		{"text frame", func(ws *wstest.Client) error {
			return ws.Send(websocket.MessageText, connect)
		}, websocket.StatusUnsupportedData},
		{"oversize message", func(ws *wstest.Client) error {
			return ws.Send(websocket.MessageBinary, make([]byte, 4096))
		}, websocket.StatusMessageTooBig},
		{"oversize packet in small frames", func(ws *wstest.Client) error {
			// PUBLISH claiming 1 MiB of remaining length, sent a little at a time.
			if err := ws.Send(websocket.MessageBinary, []byte{0x30, 0x80, 0x80, 0x40}); err != nil {
				return err
			}
			return ws.Send(websocket.MessageBinary, make([]byte, 100))
		}, websocket.StatusMessageTooBig},
		{"garbage bytes", func(ws *wstest.Client) error {
			return ws.Send(websocket.MessageBinary, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}, websocket.StatusProtocolError},
		{"garbage after a good packet", func(ws *wstest.Client) error {
			return ws.Send(websocket.MessageBinary, append(append([]byte{}, connect...), 0xe0, 0x80, 0x80, 0x80, 0x80, 0x01))
		}, websocket.StatusProtocolError},
	}
	e := newTestEnv(t, func(c *proxy.Config) { c.MaxMessage = 1024 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := e.openTrace(t)
			ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
			if err := tt.send(ws); err != nil {
				t.Fatal(err)
			}
			code, reason := ws.Closed()
			if code != tt.wantCode {
				t.Fatalf("close %d %q, want %d", code, reason, tt.wantCode)
			}
			got := tc.waitFor(t, "ws.close", func(en trace.Entry) bool { return en.Kind == trace.KindWSClose && en.From == "proxy" })
			last := got[len(got)-1]
			for _, en := range got {
				if en.Kind == trace.KindWSClose && en.From == "proxy" {
					last = en
				}
			}
			if last.Error == "" || !strings.Contains(last.Summary, strconv.Itoa(int(tt.wantCode))) {
				t.Errorf("ws.close entry %+v lacks the code or the error", last)
			}
			stillServes(t, e)
		})
	}
}

// heapInUse returns the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// A page that never reads: the broker's bytes back up, the proxy stops
// reading the broker, and after the write timeout the session ends and the
// broker connection is closed. Memory stays bounded meanwhile.
func TestPageNeverReads(t *testing.T) {
	chunk := bytes.Repeat([]byte{0x30, 0xfd, 0xff, 0x03}, 1) // PUBLISH, 65533 bytes follow
	body := make([]byte, 65533)
	body[1] = 1
	body[2] = 'x'
	wrote := make(chan int, 1)
	f := newFakeBroker(t, func(c *net.TCPConn) error {
		total := 0
		defer func() { wrote <- total }()
		for {
			c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			n, err := c.Write(append(append([]byte{}, chunk...), body...))
			total += n
			if err != nil {
				return err
			}
		}
	})
	e := privateEnv(t, func(c *proxy.Config) { c.WriteTimeout = 500 * time.Millisecond })
	before := heapInUse()
	tc := e.openTrace(t)
	tc.dropBytes.Store(true) // the entries' copies of the 64 KB packets would be this test's heap
	ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
	_ = ws // never read
	select {
	case err := <-f.ended:
		if err == nil {
			t.Fatal("broker connection ended without an error")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the session did not end although the page never read")
	}
	total := <-wrote
	grew := int64(heapInUse()) - int64(before)
	if grew > 8<<20 {
		t.Errorf("heap grew by %d bytes while the broker wrote %d bytes to a page that does not read", grew, total)
	}
	t.Logf("broker managed to write %d bytes before the proxy gave up; heap grew by %d bytes", total, grew)
	tc.waitFor(t, "ws.close saying the page is not reading", func(en trace.Entry) bool {
		return en.Kind == trace.KindWSClose && strings.Contains(en.Summary, "1008 the page is not reading")
	})
	stillServes(t, e)
}

// A broker that never reads: the page's bytes back up and the session ends
// with 1014 after the write timeout.
func TestBrokerNeverReads(t *testing.T) {
	release := make(chan struct{})
	f := newFakeBroker(t, func(c *net.TCPConn) error {
		<-release
		return nil
	})
	defer close(release)
	e := privateEnv(t, func(c *proxy.Config) {
		c.WriteTimeout = 500 * time.Millisecond
		c.MaxMessage = 1 << 20
	})
	before := heapInUse()
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
	pkt := append([]byte{0x30, 0xfd, 0xff, 0x03}, make([]byte, 65533)...)
	pkt[5] = 1
	go func() {
		for ws.Send(websocket.MessageBinary, pkt) == nil {
		}
	}()
	if code, reason := ws.Closed(); code != 1014 {
		t.Fatalf("close %d %q, want 1014", code, reason)
	}
	tc.waitFor(t, "ws.close saying the broker is not reading", func(en trace.Entry) bool {
		return en.Kind == trace.KindWSClose && strings.Contains(en.Summary, "1014 the broker is not reading")
	})
	if grew := int64(heapInUse()) - int64(before); grew > 8<<20 {
		t.Errorf("heap grew by %d bytes", grew)
	}
	stillServes(t, e)
}

func TestBrokerCloses(t *testing.T) {
	tests := []struct {
		name     string
		serve    func(c *net.TCPConn) error
		wantCode websocket.StatusCode
		wantKind string
	}{
		{"after a whole packet", func(c *net.TCPConn) error {
			_, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}) // CONNACK
			return err
		}, websocket.StatusNormalClosure, trace.KindTCPFin},
		{"mid-packet", func(c *net.TCPConn) error {
			_, err := c.Write([]byte{0x30, 0x0a, 0x00, 0x03, 'a'}) // 5 of 12 bytes
			return err
		}, 1014, trace.KindTCPFin},
		{"with a reset", func(c *net.TCPConn) error {
			c.Write([]byte{0x20, 0x02, 0x00, 0x00})
			time.Sleep(50 * time.Millisecond) // let the proxy read it
			return c.SetLinger(0)
		}, 1014, trace.KindTCPRst},
	}
	e := privateEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBroker(t, tt.serve)
			tc := e.openTrace(t)
			ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
			code, reason := ws.Closed()
			if code != tt.wantCode {
				t.Fatalf("close %d %q, want %d", code, reason, tt.wantCode)
			}
			tc.waitFor(t, tt.wantKind+" from the broker", func(en trace.Entry) bool { return en.Kind == tt.wantKind && en.From == "broker" })
			stillServes(t, e)
		})
	}
}

// rawUpgrade sends an upgrade request with the given Host and Origin and
// returns the HTTP status.
func rawUpgrade(t *testing.T, e *env, path, host, origin string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.host+path, nil)
	req.Host = host
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "mqtt")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRefuseOrigin(t *testing.T) {
	ln := newCountingListener(t)
	e := privateEnv(t, nil)
	for _, path := range []string{"/mqtt?broker=127.0.0.1:" + strconv.Itoa(ln.port()), "/trace"} {
		for _, origin := range []string{"http://evil.example", "null", "http://" + e.host + ".evil.example"} {
			t.Run(path+" "+origin, func(t *testing.T) {
				if got := rawUpgrade(t, e, path, e.host, origin); got != http.StatusForbidden {
					t.Fatalf("status %d, want 403", got)
				}
			})
		}
	}
	if got := rawUpgrade(t, e, "/trace", e.host, "http://"+e.host); got != http.StatusSwitchingProtocols {
		t.Fatalf("own origin: status %d, want 101", got)
	}
	if ln.accepted.Load() != 0 {
		t.Fatal("a refused request reached the target")
	}
}

// The Host check stops DNS rebinding against the proxy itself: a page on
// evil.example whose name now points at 127.0.0.1.
func TestRefuseHost(t *testing.T) {
	ln := newCountingListener(t)
	e := privateEnv(t, nil)
	for _, host := range []string{"evil.example", "evil.example:" + strings.Split(e.host, ":")[1]} {
		t.Run(host, func(t *testing.T) {
			if got := rawUpgrade(t, e, "/mqtt?broker=127.0.0.1:"+strconv.Itoa(ln.port()), host, "http://"+host); got != http.StatusForbidden {
				t.Fatalf("status %d, want 403", got)
			}
		})
	}
	if ln.accepted.Load() != 0 {
		t.Fatal("a refused request reached the target")
	}
}

func TestRefuseConnectionLimits(t *testing.T) {
	tests := []struct {
		name   string
		change func(*proxy.Config)
		reason string
	}{
		{"per ip", func(c *proxy.Config) { c.MaxConnsPerIP = 2 }, "from your address"},
		{"total", func(c *proxy.Config) { c.MaxConns = 2 }, "to this server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := newCountingListener(t)
			e := privateEnv(t, tt.change)
			release := make(chan struct{})
			f := newFakeBroker(t, func(c *net.TCPConn) error { <-release; return nil })
			defer close(release)
			a := e.dialWS(t, e.mqttURL("broker="+f.addr()))
			b := e.dialWS(t, e.mqttURL("broker="+f.addr()))
			_, _ = a, b
			ws := e.dialWS(t, e.mqttURL("broker=127.0.0.1:"+strconv.Itoa(ln.port())))
			code, reason := ws.Closed()
			if code != websocket.StatusTryAgainLater || !strings.Contains(reason, tt.reason) {
				t.Fatalf("close %d %q, want 1013 …%s", code, reason, tt.reason)
			}
			if ln.accepted.Load() != 0 {
				t.Fatal("the refused session reached its target")
			}
		})
	}
}

func TestUnknownTraceToken(t *testing.T) {
	ln := newCountingListener(t)
	e := privateEnv(t, nil)
	ws := e.dialWS(t, e.mqttURL("broker=127.0.0.1:"+strconv.Itoa(ln.port())+"&trace=00112233445566778899aabbccddeeff"))
	code, reason := ws.Closed()
	if code != websocket.StatusPolicyViolation || !strings.Contains(reason, "trace token") {
		t.Fatalf("close %d %q, want 1008 unknown trace token", code, reason)
	}
	if ln.accepted.Load() != 0 {
		t.Fatal("the refused session reached its target")
	}
}

// A message over -max-message is closed with 1009 and a reason in words
// the page can show (gorilla's own close for its read limit has none), in
// one frame or in many, and the trace says the same.
func TestOversizeMessageSaysWhy(t *testing.T) {
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	e := newTestEnv(t, func(c *proxy.Config) { c.MaxMessage = 1024 })
	for _, frames := range []int{1, 16} {
		t.Run(strconv.Itoa(frames)+" frames", func(t *testing.T) {
			tc := e.openTrace(t)
			ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
			// A good packet first: what the page sent before is still delivered.
			if err := ws.Send(websocket.MessageBinary, connect); err != nil {
				t.Fatal(err)
			}
			if frames == 1 {
				ws.Send(websocket.MessageBinary, make([]byte, 4096))
			} else {
				// coder's message writer sends one frame per Write (and an
				// empty final frame on Close).
				ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
				defer cancel()
				w, err := ws.Writer(ctx, websocket.MessageBinary)
				if err != nil {
					t.Fatal(err)
				}
				for range frames {
					w.Write(make([]byte, 4096/frames))
				}
				w.Close()
			}
			code, reason := ws.Closed()
			if code != websocket.StatusMessageTooBig || !strings.Contains(reason, "larger than 1024 bytes") {
				t.Fatalf("close %d %q, want 1009 saying the message is larger than 1024 bytes", code, reason)
			}
			got := tc.waitFor(t, "ws.close from the proxy", func(en trace.Entry) bool { return en.Kind == trace.KindWSClose && en.From == "proxy" })
			for _, en := range got {
				if en.Kind == trace.KindWSClose && en.From == "proxy" && !strings.Contains(en.Summary, "1009 message larger than 1024 bytes") {
					t.Errorf("ws.close entry %q does not say why", en.Summary)
				}
			}
			tc.waitFor(t, "the CONNECT sent before", func(en trace.Entry) bool { return en.Kind == "mqtt.CONNECT" })
		})
	}
}

// A broker that stops in the middle of a packet is timed out, although the
// page keeps the session busy with pings; one that sends whole packets
// slowly is not.
func TestBrokerStopsMidPacket(t *testing.T) {
	half := []byte{0x30, 0x0a, 0x00, 0x03, 'a'} // 5 of a PUBLISH's 12 bytes
	f := newFakeBroker(t, func(c *net.TCPConn) error {
		if _, err := c.Write(half); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, c) // read the pings until the proxy closes
		return err
	})
	e := privateEnv(t, func(c *proxy.Config) { c.PartialTimeout = 500 * time.Millisecond })
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if ws.Send(websocket.MessageBinary, []byte{0xc0, 0x00}) != nil { // PINGREQ
				return
			}
		}
	}()
	code, reason := ws.Closed()
	if code != 1014 {
		t.Fatalf("close %d %q, want 1014", code, reason)
	}
	tc.waitFor(t, "ws.close saying the broker stopped mid-packet", func(en trace.Entry) bool {
		return en.Kind == trace.KindWSClose && en.From == "proxy" && strings.Contains(en.Summary, "1014 the broker stopped in the middle of a packet") &&
			strings.Contains(en.Summary, "500ms")
	})
	stillServes(t, e)

	// 30 bytes of one packet, one every 100 ms: the packet takes 3 s, but
	// the broker never stops for the 2 s timeout.
	t.Run("slow but steady", func(t *testing.T) {
		pkt := append([]byte{0x30, 28, 0x00, 0x03, 'a', '/', 'b'}, bytes.Repeat([]byte{'x'}, 23)...)
		f := newFakeBroker(t, func(c *net.TCPConn) error {
			for i := range pkt {
				time.Sleep(100 * time.Millisecond)
				if _, err := c.Write(pkt[i : i+1]); err != nil {
					return err
				}
			}
			_, err := io.Copy(io.Discard, c)
			return err
		})
		e := privateEnv(t, func(c *proxy.Config) { c.PartialTimeout = 2 * time.Second })
		ws := e.dialWS(t, e.mqttURL("broker="+f.addr()))
		var got []byte
		for len(got) < len(pkt) {
			_, msg, err := ws.Receive()
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", len(got), len(pkt), err)
			}
			got = append(got, msg...)
		}
		if !bytes.Equal(got, pkt) {
			t.Fatalf("got % x, want % x", got, pkt)
		}
	})
}
