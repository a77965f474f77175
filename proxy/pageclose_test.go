package proxy_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// When the broker closes first (here after the page's DISCONNECT), the page
// may still be writing: mqtt.js ending inside a QoS 2 message's handler
// writes its PUBCOMP after its DISCONNECT, a byte a message. Over TCP the
// kernel takes those bytes; through the proxy, the page's connection must
// stay open under them until its close frame answers the proxy's, and then
// end with a FIN, not an RST (which mqtt.js reports as write EPIPE).
func TestPageWritesAfterTheBrokerClosed(t *testing.T) {
	e := newTestEnv(t, nil)
	ws := e.dialWS(t, e.mqttURL(""))
	ws.SetCloseHandler(func(int, string) error { return nil }) // answered below, by hand
	connect := []byte{0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 6, 'c', 'l', 'o', 's', 'e', 'r'}
	if err := ws.WriteMessage(websocket.BinaryMessage, connect); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || len(m) < 4 || m[0] != 0x20 || m[3] != 0 {
		t.Fatalf("CONNACK: % x, %v", m, err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0xe0, 0x00}); err != nil {
		t.Fatal(err)
	}
	// The broker closes on the DISCONNECT; the proxy says so.
	var ce *websocket.CloseError
	if _, _, err := ws.ReadMessage(); !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("after DISCONNECT: %v, want the proxy's close frame 1000", err)
	}
	// The page's last PUBCOMP, a byte a message, as mqtt.js writes it.
	for i, b := range []byte{0x70, 0x02, 0x00, 0x01} {
		time.Sleep(30 * time.Millisecond)
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte{b}); err != nil {
			t.Fatalf("write %d after the proxy's close frame: %v", i+1, err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(3*time.Second)); err != nil {
		t.Fatalf("the page's close frame: %v", err)
	}
	raw := ws.UnderlyingConn()
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the page's close frame: %d bytes, %v; want the proxy's FIN (EOF)", n, err)
	}
}
