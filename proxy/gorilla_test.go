package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
)

// go.mod requires the gorilla version gorilla.go is written for: upgrading
// gorilla means reading gorilla.go's assumptions again.
func TestGorillaVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/gorilla/websocket " + gorillaVersion
	for _, line := range strings.Split(string(mod), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "github.com/gorilla/websocket ") && strings.TrimSpace(line) != want {
			t.Fatalf("go.mod has %q, gorilla.go is written for %q: check its assumptions (TestGorillaAssumptions) and update gorillaVersion", strings.TrimSpace(line), want)
		}
	}
	if !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %s", want)
	}
}

// TestGorillaAssumptions checks, on a real upgrade over loopback, what
// gorilla.go assumes of gorilla: the read buffer is net/http's 4 KiB
// bufio.Reader handed over with the hijack, empty when Upgrade returns,
// over a *net.TCPConn, and gorilla reads the page only through it, so the
// frames that arrived with one it has read are visible to frameBuffered.
func TestGorillaAssumptions(t *testing.T) {
	s := New(Config{})
	type accepted struct {
		ws       *websocket.Conn
		in       pageInput
		buffered int
	}
	got := make(chan accepted, 1)
	done := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, in := s.accept(w, r)
		a := accepted{ws: ws, in: in}
		if in.br != nil {
			a.buffered = in.br.Buffered()
		}
		got <- a
		<-done
	}))
	defer hs.Close()
	defer close(done)
	c, _, err := wstest.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	a := <-got
	if a.ws == nil {
		t.Fatal("upgrade failed")
	}
	defer a.ws.Close()
	switch {
	case a.in.br == nil:
		t.Fatal("the hijack handed over no bufio.Reader")
	case a.in.br.Size() != 4096:
		t.Errorf("the hijacked read buffer is %d bytes, want net/http's 4096", a.in.br.Size())
	case a.buffered != 0:
		t.Errorf("%d bytes buffered when Upgrade returned, want 0", a.buffered)
	case a.in.pr == nil:
		t.Fatalf("NetConn is a %T, not the *net.TCPConn net/http hijacked: no pageReader", a.ws.NetConn())
	}

	// Two frames in one TCP write: once gorilla has read the first, the
	// second is in the buffers the proxy can see (br, then the pageReader).
	// coder writes each message on its own: both frames go on the TCP
	// connection under it.
	first, second := []byte("first message"), []byte("second message")
	if _, err := c.TCP.Write(append(wstest.ClientFrame(wstest.OpBinary, first), wstest.ClientFrame(wstest.OpBinary, second)...)); err != nil {
		t.Fatal(err)
	}
	a.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, want := range [][]byte{first, second} {
		_, r, err := a.ws.NextReader()
		if err != nil {
			t.Fatal(err)
		}
		msg, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(msg, want) {
			t.Fatalf("message %d: %q %v, want %q", i, msg, err, want)
		}
		b, _ := a.in.br.Peek(a.in.br.Buffered())
		if waiting := frameBuffered(b, a.in.pr.buffered()); waiting != (i == 0) {
			t.Fatalf("after message %d frameBuffered = %v (%d bytes in br, %d in the pageReader): gorilla does not read through the hijacked reader",
				i, waiting, len(b), len(a.in.pr.buffered()))
		}
	}
}

// checkUpgrade must refuse exactly what gorilla's Upgrade refuses, with the
// same status, or the proxy would dial for a request gorilla then refuses.
// Upgrade on a ResponseWriter that cannot be hijacked makes every check and
// then fails with 500 for want of a hijacker: that is "valid". This breaks
// if a gorilla upgrade changes its checks.
func TestCheckUpgradeMatchesGorilla(t *testing.T) {
	s := New(Config{Hosts: []string{"proxy.test"}, Origins: []string{"http://proxy.test"}})
	conns := []string{"Upgrade", "keep-alive, Upgrade", "keep-alive", "", "upgrade,", "a b, Upgrade", "Upgrade;x", "UPGRADE , close"}
	upgrades := []string{"websocket", "WebSocket", "h2c", "", "websocket/13", "h2c, websocket"}
	methods := []string{"GET", "HEAD", "POST"}
	versions := []string{"13", "8", "", "8, 13", "13 14", "13;x", " 13 "}
	keys := []string{"dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", "", "not base64!", "dGhlIHNhbXBsZSBub25jZQ"}
	origins := []string{"http://proxy.test", "http://evil.example", ""}
	set := func(h http.Header, k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	n, valid := 0, 0
	for _, c := range conns {
		for _, u := range upgrades {
			for _, m := range methods {
				for _, v := range versions {
					for _, k := range keys {
						for _, o := range origins {
							r := httptest.NewRequest(m, "http://proxy.test/mqtt", nil)
							set(r.Header, "Connection", c)
							set(r.Header, "Upgrade", u)
							set(r.Header, "Sec-WebSocket-Version", v)
							set(r.Header, "Sec-WebSocket-Key", k)
							set(r.Header, "Origin", o)
							gotStatus, gotReason := s.checkUpgrade(r)
							var gStatus int
							var gErr error
							up := s.upgrader
							up.Error = func(_ http.ResponseWriter, _ *http.Request, status int, reason error) {
								gStatus, gErr = status, reason
							}
							up.Upgrade(httptest.NewRecorder(), r, nil)
							wantValid := gStatus == http.StatusInternalServerError && strings.Contains(gErr.Error(), "Hijacker")
							n++
							switch {
							case wantValid && gotStatus != 0:
								t.Errorf("%s Connection %q Upgrade %q Version %q Key %q Origin %q: refused %d %q, gorilla accepts",
									m, c, u, v, k, o, gotStatus, gotReason)
							case !wantValid && gotStatus != gStatus:
								t.Errorf("%s Connection %q Upgrade %q Version %q Key %q Origin %q: status %d %q, gorilla %d %v",
									m, c, u, v, k, o, gotStatus, gotReason, gStatus, gErr)
							case wantValid:
								valid++
							}
						}
					}
				}
			}
		}
	}
	if valid == 0 || valid == n {
		t.Fatalf("%d of %d requests valid: the table does not test both ways", valid, n)
	}
	t.Logf("%d requests, %d valid", n, valid)
}

func TestCheckSubprotocol(t *testing.T) {
	s := New(Config{})
	for _, tt := range []struct {
		offered string
		ok      bool
	}{
		{"", true}, {"mqtt", true}, {"mqttv3.1", true}, {"chat, mqtt", true}, {" mqtt ", true},
		{"chat", false}, {"MQTT", false}, {"mqttv5", false}, {"chat, superchat", false},
	} {
		r := httptest.NewRequest("GET", "/mqtt", nil)
		if tt.offered != "" {
			r.Header.Set("Sec-WebSocket-Protocol", tt.offered)
		}
		status, reason := s.checkSubprotocol(r)
		if (status == 0) != tt.ok {
			t.Errorf("offered %q: status %d %q, want ok=%v", tt.offered, status, reason, tt.ok)
		}
		if !tt.ok && !strings.Contains(reason, "mqtt") {
			t.Errorf("offered %q: reason %q does not say what to ask for", tt.offered, reason)
		}
	}
}

// FuzzCheckUpgrade holds checkUpgrade to gorilla's Upgrade on any request:
// the same refusals with the same statuses, and nothing more.
func FuzzCheckUpgrade(f *testing.F) {
	f.Add("GET", "Upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==", "http://proxy.test")
	f.Add("GET", "keep-alive, Upgrade", "WebSocket", "8, 13", "dGhlIHNhbXBsZSBub25jZQ==", "")
	f.Add("HEAD", "a b, Upgrade", "h2c, websocket", "13;x", "c2hvcnQ=", "http://evil.example")
	f.Add("POST", "UPGRADE , close", "websocket/13", " 13 ", "dGhlIHNhbXBsZSBub25jZQ", "null")
	s := New(Config{Hosts: []string{"proxy.test"}, Origins: []string{"http://proxy.test"}})
	f.Fuzz(func(t *testing.T, method, conn, upgrade, version, key, origin string) {
		r := &http.Request{Method: method, Host: "proxy.test", Header: http.Header{}, URL: &url.URL{Path: "/mqtt"}}
		for k, v := range map[string]string{"Connection": conn, "Upgrade": upgrade, "Sec-Websocket-Version": version,
			"Sec-Websocket-Key": key, "Origin": origin} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		status, reason := s.checkUpgrade(r)
		var gStatus int
		var gErr error
		up := s.upgrader
		up.Error = func(_ http.ResponseWriter, _ *http.Request, status int, reason error) { gStatus, gErr = status, reason }
		up.Upgrade(httptest.NewRecorder(), r, nil)
		valid := gStatus == http.StatusInternalServerError && strings.Contains(gErr.Error(), "Hijacker")
		if valid && status != 0 {
			t.Fatalf("refused %d %q, gorilla accepts", status, reason)
		}
		if !valid && status != gStatus {
			t.Fatalf("status %d %q, gorilla %d %v", status, reason, gStatus, gErr)
		}
	})
}

// serveUpgraded starts a server that upgrades every request as a /trace
// channel's is (Server.upgrade) and hands it to serve; it returns the
// server's ws:// URL. A failed upgrade fails the test.
func serveUpgraded(t *testing.T, serve func(s *Server, ws *websocket.Conn, bc *batchConn)) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	s := New(Config{Hosts: []string{hs.Listener.Addr().String()}})
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, bc, ip := s.upgrade(w, r)
		if ws == nil {
			t.Error("the upgrade failed")
			return
		}
		defer s.release(ip)
		serve(s, ws, bc)
	})
	hs.Start()
	t.Cleanup(hs.Close)
	return "ws://" + hs.Listener.Addr().String() + "/trace"
}

// writeRecorder records each Write made on the connection under it.
type writeRecorder struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// TestGorillaControlFramesThroughBatchConn checks the assumption a trace
// channel's writer makes of gorilla: on a /trace upgrade the connection
// gorilla writes to is the batchConn, and each control frame reaches it
// whole in one Write, so the channel's own data frames (writeFrames) can go
// between them; once gorilla has written a close frame, writeFrames sends
// nothing more.
func TestGorillaControlFramesThroughBatchConn(t *testing.T) {
	type result struct {
		writes   [][]byte
		afterErr error
	}
	done := make(chan result, 1)
	url := serveUpgraded(t, func(_ *Server, ws *websocket.Conn, bc *batchConn) {
		defer ws.Close()
		rec := &writeRecorder{Conn: bc.Conn}
		bc.Conn = rec
		deadline := time.Now().Add(5 * time.Second)
		if err := ws.WriteControl(websocket.PongMessage, []byte("p"), deadline); err != nil {
			t.Error(err)
		}
		if err := bc.writeFrames(appendFrame(nil, websocket.TextMessage, []byte("data")), deadline); err != nil {
			t.Error(err)
		}
		if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), deadline); err != nil {
			t.Error(err)
		}
		err := bc.writeFrames(appendFrame(nil, websocket.TextMessage, []byte("late")), deadline)
		rec.mu.Lock()
		done <- result{rec.writes, err}
		rec.mu.Unlock()
	})
	c, _, err := wstest.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, got, err := c.Receive(); err != nil || string(got) != "data" {
		t.Fatalf("read %q, %v; want data", got, err)
	}
	if code, reason := c.Closed(); code != 1001 || reason != "bye" {
		t.Errorf("closed with %d %q, want 1001 bye", code, reason)
	}
	res := <-done
	want := [][]byte{
		wstest.Frame(0xa, []byte("p")),
		wstest.Frame(0x1, []byte("data")),
		wstest.CloseFrame(1001, "bye"),
	}
	if len(res.writes) != len(want) {
		t.Fatalf("%d writes % x, want %d", len(res.writes), res.writes, len(want))
	}
	for i := range want {
		if !bytes.Equal(res.writes[i], want[i]) {
			t.Errorf("write %d is % x, want % x (one whole frame)", i+1, res.writes[i], want[i])
		}
	}
	if res.afterErr != websocket.ErrCloseSent {
		t.Errorf("writeFrames after the close frame: %v, want ErrCloseSent", res.afterErr)
	}
}

// TestAppendFrame holds appendFrame to RFC 6455's framing (as wstest.Frame
// writes it) on each side of the header's length boundaries.
func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 20} {
		p := bytes.Repeat([]byte{'x'}, n)
		got := appendFrame([]byte("before"), websocket.TextMessage, p)
		if want := append([]byte("before"), wstest.Frame(0x1, p)...); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: % .20x…, want % .20x…", n, got, want)
		}
		if h := frameHeaderLen(n); h != len(got)-len("before")-n {
			t.Errorf("frameHeaderLen(%d) = %d, the header is %d bytes", n, h, len(got)-len("before")-n)
		}
	}
}
