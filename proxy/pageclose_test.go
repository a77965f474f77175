package proxy_test

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
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
	connect := []byte{0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 6, 'c', 'l', 'o', 's', 'e', 'r'}
	if err := ws.Send(websocket.MessageBinary, connect); err != nil {
		t.Fatal(err)
	}
	if _, m, err := ws.Receive(); err != nil || len(m) < 4 || m[0] != 0x20 || m[3] != 0 {
		t.Fatalf("CONNACK: % x, %v", m, err)
	}
	// From here on the page's side is written by hand on the TCP
	// connection: coder answers a close frame at once, and this page must
	// go on writing after the proxy's close frame, as mqtt.js does.
	raw := ws.TCP
	if _, err := raw.Write(wstest.ClientFrame(wstest.OpBinary, []byte{0xe0, 0x00})); err != nil {
		t.Fatal(err)
	}
	// The broker closes on the DISCONNECT; the proxy says so.
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, 2)
	if _, err := io.ReadFull(raw, head); err != nil {
		t.Fatalf("after DISCONNECT: %v, want the proxy's close frame", err)
	}
	body := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(raw, body); err != nil || head[0] != 0x88 || len(body) < 2 || binary.BigEndian.Uint16(body) != 1000 {
		t.Fatalf("after DISCONNECT: frame % x % x (%v), want the proxy's close frame 1000", head, body, err)
	}
	// The page's last PUBCOMP, a byte a message, as mqtt.js writes it.
	for i, b := range []byte{0x70, 0x02, 0x00, 0x01} {
		time.Sleep(30 * time.Millisecond)
		if _, err := raw.Write(wstest.ClientFrame(wstest.OpBinary, []byte{b})); err != nil {
			t.Fatalf("write %d after the proxy's close frame: %v", i+1, err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	if _, err := raw.Write(wstest.ClientFrame(wstest.OpClose, []byte{0x03, 0xe8})); err != nil {
		t.Fatalf("the page's close frame: %v", err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := raw.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the page's close frame: %d bytes, %v; want the proxy's FIN (EOF)", n, err)
	}
}
