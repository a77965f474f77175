package proxy_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func closePayload(code uint16) []byte { return binary.BigEndian.AppendUint16(nil, code) }

// received is what a recording broker read: the bytes, and how the stream
// ended (io.EOF for the proxy's FIN).
type received struct {
	bytes []byte
	err   error
}

// newRecordingBroker is a broker stand-in that records every byte it reads
// until the proxy's FIN or RST. With hold it then keeps the connection open
// until the test ends (a broker that never closes); without, it closes at
// once (its own FIN).
func newRecordingBroker(t *testing.T, hold bool) (*fakeBroker, <-chan received) {
	t.Helper()
	got := make(chan received, 1)
	release := make(chan struct{})
	f := newFakeBroker(t, func(c *net.TCPConn) error {
		var r received
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			r.bytes = append(r.bytes, buf[:n]...)
			if err != nil {
				r.err = err
				break
			}
		}
		got <- r
		if hold {
			<-release
		}
		return nil
	})
	t.Cleanup(func() { close(release) }) // runs before the broker's own cleanup waits
	return f, got
}

// A page that sends packets and closes at once: every byte the proxy got
// reaches the broker before the proxy's FIN, the trace shows exactly the
// packets that were written, and the proxy waits (bounded) for the broker's
// FIN before it tears the session down.
func TestPageClosesRightAfterSending(t *testing.T) {
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	puback := []byte{0x40, 0x02, 0x00, 0x07}
	disconnect := []byte{0xe0, 0x00}
	packets := [][]byte{connect, puback, disconnect}
	want := bytes.Join(packets, nil)

	// oneWrite sends the frames and what follows them in a single TCP
	// write, so the proxy finds them all buffered at once (coder writes
	// each message on its own: the frames go on the connection under it).
	oneWrite := func(tail []byte) func(ws *wstest.Client) error {
		return func(ws *wstest.Client) error {
			var b []byte
			for _, p := range packets {
				b = append(b, wstest.ClientFrame(wstest.OpBinary, p)...)
			}
			b = append(b, tail...)
			if _, err := ws.TCP.Write(b); err != nil {
				return err
			}
			return ws.CloseNow()
		}
	}
	tests := []struct {
		name      string
		send      func(ws *wstest.Client) error
		hold      bool // the broker never closes
		brokerFIN bool // the trace shows the broker's FIN
	}{
		{"close frame in the same write", oneWrite(wstest.ClientFrame(wstest.OpClose, closePayload(1000))), false, true},
		{"no close frame", oneWrite(nil), false, true},
		{"messages then close", func(ws *wstest.Client) error {
			for _, p := range packets {
				if err := ws.Send(websocket.MessageBinary, p); err != nil {
					return err
				}
			}
			// A close frame and at once the end of the connection, not
			// coder's Close, which waits for the proxy's close frame.
			ws.TCP.Write(wstest.ClientFrame(wstest.OpClose, closePayload(1000)))
			return ws.CloseNow()
		}, false, true},
		{"broker never closes", oneWrite(wstest.ClientFrame(wstest.OpClose, closePayload(1000))), true, false},
	}
	const closeWait = 300 * time.Millisecond
	e := privateEnv(t, func(c *proxy.Config) { c.CloseWait = closeWait })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, got := newRecordingBroker(t, tt.hold)
			tc := e.openTrace(t)
			ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
			start := time.Now()
			if err := tt.send(ws); err != nil {
				t.Fatal(err)
			}
			var r received
			select {
			case r = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("the broker saw no end of stream within 5 s")
			}
			if !bytes.Equal(r.bytes, want) {
				t.Errorf("the broker received % x\nwant                  % x", r.bytes, want)
			}
			if !errors.Is(r.err, io.EOF) {
				t.Errorf("the broker's read ended with %v, want EOF (the proxy's FIN)", r.err)
			}

			all := tc.waitFor(t, "ws.close from the proxy", func(en trace.Entry) bool {
				return en.Kind == trace.KindWSClose && en.From == "proxy"
			})
			if tt.hold {
				if took := time.Since(start); took < closeWait {
					t.Errorf("the session ended after %v, before the %v wait for the broker's FIN", took, closeWait)
				}
			}
			var sent [][]byte
			finAt, brokerFinAt, closeAt := -1, -1, -1
			for i, en := range all {
				switch {
				case en.Leg == trace.LegProxyBroker && en.From == "proxy" && en.Kind == trace.KindTCPFin:
					finAt = i
				case en.Leg == trace.LegProxyBroker && en.From == "broker" && en.Kind == trace.KindTCPFin:
					brokerFinAt = i
				case en.Kind == trace.KindWSClose && en.From == "proxy":
					closeAt = i
				case en.Leg == trace.LegProxyBroker && en.From == "proxy" && strings.HasPrefix(en.Kind, "mqtt."):
					if finAt >= 0 {
						t.Errorf("%s after the proxy's FIN", en.Kind)
					}
					sent = append(sent, en.Bytes)
				}
			}
			if !bytes.Equal(bytes.Join(sent, nil), want) || len(sent) != len(packets) {
				t.Errorf("the trace shows %d packets to the broker (% x), want %d (% x)\n%s", len(sent), sent, len(packets), packets, dump(all))
			}
			if finAt < 0 {
				t.Errorf("no tcp.fin from the proxy in the trace:\n%s", dump(all))
			}
			if tt.brokerFIN && !(finAt < brokerFinAt && brokerFinAt < closeAt) {
				t.Errorf("want the proxy's FIN, then the broker's, then the page's close; got:\n%s", dump(all))
			}
			if !tt.brokerFIN && brokerFinAt >= 0 {
				t.Errorf("the trace shows a FIN from a broker that never sent one:\n%s", dump(all))
			}
		})
	}
}

// A broker that closes as soon as it reads a DISCONNECT (as mosquitto does):
// the DISCONNECT's entry comes before the broker's FIN and the session's
// ws.close on the trace channel, although the FIN may be read before the
// writer has recorded its write. Several rounds, as the scheduler decides.
func TestDisconnectRecordedBeforeBrokerFIN(t *testing.T) {
	f := newFakeBroker(t, func(c *net.TCPConn) error {
		b := make([]byte, 64)
		for {
			n, err := c.Read(b)
			if err != nil {
				return err
			}
			if bytes.IndexByte(b[:n], 0xe0) >= 0 {
				return nil // close at once: the deferred Close sends the FIN
			}
		}
	})
	e := privateEnv(t, nil)
	tc := e.openTrace(t)
	for round := range 10 {
		conn := "c" + strconv.Itoa(round+1)
		ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
		if err := ws.Send(websocket.MessageBinary, []byte{0xe0, 0x00}); err != nil {
			t.Fatal(err)
		}
		got := tc.waitFor(t, "ws.close of "+conn, func(en trace.Entry) bool {
			return en.Conn == conn && en.Kind == trace.KindWSClose
		})
		checkOrderOf(t, got, conn, "mqtt.DISCONNECT", trace.KindTCPFin, trace.KindWSClose)
		ws.CloseNow()
	}
}

// checkOrderOf checks that conn's entries of the kinds want appear in that
// order (by seq), each present.
func checkOrderOf(t *testing.T, got []trace.Entry, conn string, want ...string) {
	t.Helper()
	i := 0
	for _, en := range got {
		if en.Conn == conn && i < len(want) && en.Kind == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("trace of %s: %s missing or out of order (want %v); got:\n%s", conn, want[i], want, dump(got))
	}
}
