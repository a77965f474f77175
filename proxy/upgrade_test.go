package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/proxy"
)

// countingDNS is a loopback DNS server that answers every A question with
// 127.0.0.1 (and AAAA with nothing) and counts the queries it gets.
func countingDNS(t *testing.T) (addr string, queries *atomic.Int32) {
	t.Helper()
	queries = new(atomic.Int32)
	addr = newFakeDNS(t, func(h dnsmessage.Header, q dnsmessage.Question) []byte {
		queries.Add(1)
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if q.Type == dnsmessage.TypeA {
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
		}
		msg, _ := b.Finish()
		return msg
	})
	return addr, queries
}

// upgradeRequest is a valid WebSocket upgrade to path on e, as a page of
// the proxy's own origin sends it; tests spoil one part of it.
func upgradeRequest(e *env, method, path string) *http.Request {
	req := httptest.NewRequest(method, "http://"+e.host+path, nil)
	req.RequestURI = ""
	req.Host = e.host
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", "mqtt")
	req.Header.Set("Origin", "http://"+e.host)
	return req
}

// send sends req to the proxy over HTTP and returns the status; a 101 is
// closed at once.
func send(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode
}

// Every check that can refuse a request — method, upgrade headers, Origin,
// Host, subprotocol, trace token, connection limits — is made before the
// broker's name is looked up or its address dialed: a refused request sends
// no DNS query and opens no connection (with tls=1, so no ClientHello
// either). A valid request does both, so the counters can move.
func TestNoDialBeforeValidUpgrade(t *testing.T) {
	for _, tlsQuery := range []string{"", "&tls=1"} {
		t.Run("tls="+strconv.FormatBool(tlsQuery != ""), func(t *testing.T) {
			ln := newCountingListener(t)
			ns, queries := countingDNS(t)
			e := privateEnv(t, func(c *proxy.Config) {
				c.Nameserver = ns
				c.MaxConnsPerIP = 2 // the limit case holds two /trace channels
			})
			path := "/mqtt?broker=counted.example:" + strconv.Itoa(ln.port()) + tlsQuery
			tests := []struct {
				name   string
				method string
				path   string
				spoil  func(*http.Request)
				want   int // HTTP status; 101 for refusals sent as a close frame
			}{
				{"plain GET", "GET", path, func(r *http.Request) { r.Header = http.Header{} }, http.StatusBadRequest},
				{"plain GET from a page", "GET", path, func(r *http.Request) {
					r.Header = http.Header{"Origin": {"http://" + e.host}}
				}, http.StatusBadRequest},
				{"HEAD", "HEAD", path, nil, http.StatusMethodNotAllowed},
				{"no Connection: Upgrade", "GET", path, func(r *http.Request) { r.Header.Del("Connection") }, http.StatusBadRequest},
				{"Connection: keep-alive", "GET", path, func(r *http.Request) { r.Header.Set("Connection", "keep-alive") }, http.StatusBadRequest},
				{"no Upgrade: websocket", "GET", path, func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, http.StatusBadRequest},
				{"no Sec-WebSocket-Key", "GET", path, func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, http.StatusBadRequest},
				{"short Sec-WebSocket-Key", "GET", path, func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }, http.StatusBadRequest},
				{"Sec-WebSocket-Version 8", "GET", path, func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, http.StatusBadRequest},
				{"foreign Origin", "GET", path, func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, http.StatusForbidden},
				{"bad Host", "GET", path, func(r *http.Request) { r.Host = "evil.example" }, http.StatusForbidden},
				{"refused subprotocol", "GET", path, func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "chat, superchat") }, http.StatusBadRequest},
				{"bad trace token", "GET", path + "&trace=00112233445566778899aabbccddeeff", nil, http.StatusSwitchingProtocols},
				{"bad broker", "GET", "/mqtt?broker=counted.example" + tlsQuery, nil, http.StatusSwitchingProtocols},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := queries.Load()
					req := upgradeRequest(e, tt.method, tt.path)
					if tt.spoil != nil {
						tt.spoil(req)
					}
					if got := send(t, req); got != tt.want {
						t.Errorf("status %d, want %d", got, tt.want)
					}
					if n := queries.Load() - before; n != 0 {
						t.Errorf("%d DNS queries for a refused request", n)
					}
				})
			}
			// Methods the server's mux would stop are refused by the handler too.
			for _, method := range []string{"POST", "PUT", "CONNECT"} {
				t.Run(method+" to the handler", func(t *testing.T) {
					before := queries.Load()
					rec := httptest.NewRecorder()
					e.proxy.ServeMQTT(rec, upgradeRequest(e, method, path))
					if rec.Code != http.StatusMethodNotAllowed {
						t.Errorf("status %d, want 405", rec.Code)
					}
					if n := queries.Load() - before; n != 0 {
						t.Errorf("%d DNS queries for a refused request", n)
					}
				})
			}
			t.Run("over the limit", func(t *testing.T) {
				waitNoWebSockets(t, e)
				before := queries.Load()
				e.openTrace(t)
				e.openTrace(t)
				if got := send(t, upgradeRequest(e, "GET", path)); got != http.StatusSwitchingProtocols {
					t.Errorf("status %d, want 101 (then 1013)", got)
				}
				if n := queries.Load() - before; n != 0 {
					t.Errorf("%d DNS queries for a refused request", n)
				}
			})
			// The valid request looks the name up and connects, before it
			// answers 101; the listener has seen no other connection.
			waitNoWebSockets(t, e) // the limit case's channels are closing
			if got := send(t, upgradeRequest(e, "GET", path)); got != http.StatusSwitchingProtocols {
				t.Fatalf("valid request: status %d, want 101", got)
			}
			if queries.Load() == 0 {
				t.Fatal("the valid request sent no DNS query: the test cannot see a dial")
			}
			deadline := time.Now().Add(10 * time.Second)
			for ln.accepted.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := ln.accepted.Load(); n != 1 {
				t.Fatalf("the target accepted %d connections, want 1 (the valid request's): a refused request was dialed", n)
			}
		})
	}
}

// waitNoWebSockets waits for the WebSockets of earlier cases to be gone.
func waitNoWebSockets(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.proxy.Stats().WebSockets > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d WebSockets still open after 10 s", e.proxy.Stats().WebSockets)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
