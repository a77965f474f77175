package proxy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

func TestCheckSessionID(t *testing.T) {
	for _, tc := range []struct {
		name, id, err string
	}{
		{"ok", "0123456789abcdef0123456789abcdef", ""},
		{"empty", "", "got 0 characters"},
		{"short", "0123456789abcdef", "got 16 characters"},
		{"long", "0123456789abcdef0123456789abcdef0", "got 33 characters"},
		{"upper case", "0123456789ABCDEF0123456789abcdef", `got "A" at 10`},
		{"not hex", "0123456789abcdef0123456789abcdeg", `got "g" at 31`},
		{"separator", "01234567-89ab-cdef-0123-456789ab", `got "-" at 8`},
		{"non-ASCII", "0123456789abcdef0123456789abcd\xc3\xa9", "at 30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := proxy.CheckSessionID(tc.id)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("CheckSessionID(%q) = %v, want nil", tc.id, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("CheckSessionID(%q) = %v, want an error containing %q", tc.id, err, tc.err)
			}
		})
	}
}

func FuzzCheckSessionID(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("0123456789ABCDEF0123456789abcdef")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		err := proxy.CheckSessionID(id)
		_, herr := hex.DecodeString(id)
		want := len(id) == proxy.SessionIDLen && herr == nil && strings.ToLower(id) == id
		if (err == nil) != want {
			t.Fatalf("CheckSessionID(%q) = %v, want ok=%v", id, err, want)
		}
	})
}

func newSessionID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openSessionTrace opens /trace?session=id and returns the channel, or the
// close code and reason it was refused with.
func (e *env) openSessionTrace(t *testing.T, id string) (*traceConn, websocket.StatusCode, string) {
	t.Helper()
	ws, _, err := wstest.Dial("ws://"+e.host+"/trace?session="+id, e.origin())
	if err != nil {
		t.Fatal(err)
	}
	var hello struct {
		Type, Token, Session string
	}
	if err := ws.ReceiveJSON(&hello); err != nil {
		ws.CloseNow()
		if websocket.CloseStatus(err) != -1 {
			code, reason := wstest.CloseOf(err)
			return nil, code, reason
		}
		t.Fatalf("reading the hello: %v", err)
	}
	if hello.Type != "hello" || len(hello.Token) != 32 || hello.Session != id {
		t.Fatalf("first /trace message = %+v, want hello with a token and session %s", hello, id)
	}
	tc := &traceConn{ws: ws, token: hello.Token, more: make(chan struct{}, 1), done: make(chan struct{})}
	sessionOf.Store(tc, id)
	go tc.read()
	t.Cleanup(func() {
		ws.CloseNow()
		<-tc.done
	})
	return tc, 0, ""
}

// sessionOf holds the session id each channel was opened with.
var sessionOf sync.Map

func (tc *traceConn) session(t *testing.T) string {
	t.Helper()
	id, ok := sessionOf.Load(tc)
	if !ok {
		t.Fatal("channel opened without a session id")
	}
	return id.(string)
}

// entries is what the channel has received so far.
func (tc *traceConn) entries() []trace.Entry {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]trace.Entry(nil), tc.got...)
}

// TestSessionRouting holds the page's session id to its contract: /mqtt
// meets its /trace on the instance that holds the session, with its own
// token; any other instance, a forged token, a reused or malformed id is
// refused in words before any dial, and no entry reaches another
// session's trace.
func TestSessionRouting(t *testing.T) {
	counting := newCountingListener(t)
	loose := func(c *proxy.Config) {
		c.Policy.Allow = mustAllow(t, "127.0.0.1:*")
		c.Policy.AllowPrivate = true
	}
	a, b := newTestEnv(t, loose), newTestEnv(t, loose)
	id, other := newSessionID(t), newSessionID(t)
	tcA, code, why := a.openSessionTrace(t, id)
	if tcA == nil {
		t.Fatalf("/trace?session=%s refused: %d %s", id, code, why)
	}
	tcOther, _, _ := a.openSessionTrace(t, other)
	trap := "broker=127.0.0.1:" + strconv.Itoa(counting.port())

	refusals := []struct {
		name   string
		env    *env
		query  string
		code   websocket.StatusCode
		reason string
	}{
		{"another instance", b, "session=" + id + "&trace=" + tcA.token + "&" + trap,
			proxy.CloseSessionElsewhere, "is not held by this instance (its /trace went to another): route both by the session parameter"},
		{"forged token", a, "session=" + id + "&trace=" + tcOther.token + "&" + trap,
			websocket.StatusPolicyViolation, "does not belong to this session"},
		{"guessed token", a, "session=" + id + "&trace=" + strings.Repeat("0", 32) + "&" + trap,
			websocket.StatusPolicyViolation, "does not belong to this session"},
		{"no token", a, "session=" + id + "&" + trap,
			websocket.StatusPolicyViolation, "without a trace token"},
		{"malformed id", a, "session=" + strings.ToUpper(id) + "&trace=" + tcA.token + "&" + trap,
			websocket.StatusPolicyViolation, "lowercase hex"},
		{"short id", a, "session=abc&trace=" + tcA.token + "&" + trap,
			websocket.StatusPolicyViolation, "got 3 characters"},
		{"unknown id", a, "session=" + newSessionID(t) + "&trace=" + tcA.token + "&" + trap,
			proxy.CloseSessionElsewhere, "is not held by this instance"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			ws := r.env.dialWS(t, r.env.mqttURL(r.query))
			if code, text := ws.Closed(); code != r.code || !strings.Contains(text, r.reason) {
				t.Fatalf("closed with %d %q, want %d and %q", code, text, r.code, r.reason)
			}
		})
	}
	if n := counting.accepted.Load(); n != 0 {
		t.Fatalf("the refused sessions reached the broker %d times", n)
	}

	// The session's own /mqtt is served, on its own trace only.
	ws := a.dialWS(t, a.mqttURL("session="+id+"&trace="+tcA.token+"&broker="+a.brokerAddr()))
	tcA.waitFor(t, "the session's 101", func(e trace.Entry) bool { return e.Kind == trace.KindWSAccept && e.Conn == "c1" })
	ws.CloseNow()
	tcA.waitFor(t, "the session's end", func(e trace.Entry) bool { return e.Kind == trace.KindWSClose && e.From == "proxy" })
	time.Sleep(100 * time.Millisecond) // anything misrouted would have arrived by now
	if got := tcOther.entries(); len(got) != 0 {
		t.Fatalf("another session's trace got entries:\n%s", dump(got))
	}
	for _, e := range tcA.entries() {
		if e.Conn != "c1" {
			t.Fatalf("session trace got an entry of conn %q:\n%s", e.Conn, dump(tcA.entries()))
		}
	}

	// The id is taken while open, and stays taken once closed.
	if tc, code, why := a.openSessionTrace(t, id); tc != nil || code != websocket.StatusPolicyViolation || !strings.Contains(why, "already used") {
		t.Fatalf("a second /trace with an open session id: %d %q, want 1008 already used", code, why)
	}
	tcA.ws.CloseNow()
	<-tcA.done
	waitUntil(t, "the trace channel's end", func() bool { return a.proxy.Stats().Traces == 1 })
	if tc, code, why := a.openSessionTrace(t, id); tc != nil || code != websocket.StatusPolicyViolation || !strings.Contains(why, "already used") {
		t.Fatalf("/trace reusing an ended session id: %d %q, want 1008 already used", code, why)
	}
	ws = a.dialWS(t, a.mqttURL("session="+id+"&trace="+tcA.token+"&"+trap))
	if code, text := ws.Closed(); code != proxy.CloseSessionElsewhere || !strings.Contains(text, "has ended on this instance") {
		t.Fatalf("/mqtt of an ended session: %d %q", code, text)
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("a", 33), strings.ToUpper(other)} {
		if tc, code, why := a.openSessionTrace(t, bad); tc != nil || code != websocket.StatusPolicyViolation || !strings.Contains(why, "session id must be") {
			t.Fatalf("/trace?session=%q: %d %q, want 1008 and the format", bad, code, why)
		}
	}
	if n := counting.accepted.Load(); n != 0 {
		t.Fatalf("the refused sessions reached the broker %d times", n)
	}
}

// waitUntil polls ok for up to 5 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutdown closes a session with 1001 and its trace channel after it: the
// page reads the session's close on the trace before the channel's own
// close, 1001 too.
func TestShutdownTellsTheTrace(t *testing.T) {
	e := newTestEnv(t, nil)
	tc, code, why := e.openSessionTrace(t, newSessionID(t))
	if tc == nil {
		t.Fatalf("/trace refused: %d %s", code, why)
	}
	ws := e.dialWS(t, e.mqttURL("trace="+tc.token+"&session="+tc.session(t)))
	tc.waitFor(t, "the 101", func(en trace.Entry) bool { return en.Kind == trace.KindWSAccept })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.proxy.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, text := ws.Closed(); code != websocket.StatusGoingAway {
		t.Fatalf("session closed with %d %q, want 1001", code, text)
	}
	<-tc.done
	if websocket.CloseStatus(tc.err) != websocket.StatusGoingAway {
		t.Fatalf("trace channel ended with %v, want close 1001", tc.err)
	}
	tc.waitFor(t, "the session's close on the trace", func(en trace.Entry) bool {
		return en.Kind == trace.KindWSClose && en.From == "proxy" && strings.HasPrefix(en.Summary, "Close 1001 ")
	})
}
