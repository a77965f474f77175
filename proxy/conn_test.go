package proxy_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestConnChosenByThePage opens traced sessions naming their connections
// (&conn=): the entries carry the names whatever order the requests come
// in, a session without one is numbered past the names taken, and a bad or
// reused name is refused in words before anything is dialed.
func TestConnChosenByThePage(t *testing.T) {
	ln := newCountingListener(t)
	e := privateEnv(t, nil)
	tc := e.openTrace(t)
	open := func(conn string) *wstest.Client {
		q := "broker=127.0.0.1:" + strconv.Itoa(ln.port()) + "&trace=" + tc.token
		if conn != "" {
			q += "&conn=" + url.QueryEscape(conn)
		}
		return e.dialWS(t, e.mqttURL(q))
	}
	// Out of order, as requests may arrive: the page's names hold.
	for _, id := range []string{"c2", "page.b-1_x", "c1"} {
		open(id)
		tc.waitFor(t, "ws.accept of "+id, func(en trace.Entry) bool { return en.Kind == trace.KindWSAccept && en.Conn == id })
	}
	open("")
	tc.waitFor(t, "ws.accept of c3", func(en trace.Entry) bool { return en.Kind == trace.KindWSAccept && en.Conn == "c3" })

	tests := []struct {
		name, conn, reason string
	}{
		{"reused", "page.b-1_x", "conn page.b-1_x is already used in this trace"},
		{"reused number", "c3", "conn c3 is already used"},
		{"space", "a b", "conn: only letters, digits, '-', '_' and '.' (character 2 is not)"},
		{"quote", `a"`, "(character 2 is not)"},
		{"slash", "a/b", "(character 2 is not)"},
		{"too long", strings.Repeat("x", 33), "conn: want 1 to 32 characters, got 33"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ln.accepted.Load()
			code, reason := open(tt.conn).Closed()
			if code != websocket.StatusPolicyViolation || !strings.Contains(reason, tt.reason) {
				t.Fatalf("close %d %q, want 1008 …%s", code, reason, tt.reason)
			}
			if ln.accepted.Load() != before {
				t.Fatal("the refused session reached its target")
			}
		})
	}
	// 32 characters are fine.
	long := strings.Repeat("y", 32)
	open(long)
	tc.waitFor(t, "ws.accept of the 32-character id", func(en trace.Entry) bool { return en.Kind == trace.KindWSAccept && en.Conn == long })
}
