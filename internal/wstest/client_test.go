package wstest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "coder/websocket", "net/http/httptest")) }

// A Client against a gorilla server: the Origin and the subprotocol reach
// it, frames written on TCP (one short, one past 64 KiB and past coder's
// default read limit) arrive as two messages and come back, and the
// server's close code and reason are read.
func TestClient(t *testing.T) {
	origin := make(chan string, 1)
	up := gorilla.Upgrader{Subprotocols: []string{"mqtt"}, CheckOrigin: func(r *http.Request) bool {
		origin <- r.Header.Get("Origin")
		return true
	}}
	done := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for range 2 {
			typ, m, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(typ, m) != nil {
				return
			}
		}
		ws.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(4000, "cut"), time.Now().Add(time.Second))
	}))
	defer hs.Close()
	c, resp, err := Dial("ws"+strings.TrimPrefix(hs.URL, "http"), http.Header{"Origin": {"http://page.test"}}, "mqttv3.1", "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if o := <-origin; resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "mqtt" || o != "http://page.test" {
		t.Fatalf("status %d, subprotocol %q, Origin %q", resp.StatusCode, c.Subprotocol(), o)
	}
	short, long := []byte("short"), bytes.Repeat([]byte{7}, 70000)
	if _, err := c.TCP.Write(append(ClientFrame(OpBinary, short), ClientFrame(OpBinary, long)...)); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{short, long} {
		typ, got, err := c.Receive()
		if err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, want) {
			t.Fatalf("read %v %d bytes %v, want binary %d bytes", typ, len(got), err, len(want))
		}
	}
	if code, reason := c.Closed(); code != 4000 || reason != "cut" {
		t.Fatalf("closed %d %q, want 4000 cut", code, reason)
	}
	<-done
}

// A refused upgrade returns the server's response.
func TestDialRefused(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer hs.Close()
	c, resp, err := Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err == nil || c != nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("client %v, response %v, error %v; want refused with 403", c, resp, err)
	}
}
