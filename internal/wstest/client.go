package wstest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// Timeout bounds each call a Client makes: the dial, a send, a receive.
const Timeout = 10 * time.Second

// ReadLimit is a Client's read limit: far above coder's default of 32 KiB,
// so a test reads whatever the server sends (a server's limits are tested
// from the other side).
const ReadLimit = 16 << 20

// Client is a coder/websocket client for tests, as a browser would open
// one, with the TCP connection under it at hand.
type Client struct {
	*websocket.Conn
	// TCP is the connection under Conn, for the bytes coder does not send
	// as a test needs them: several frames in one write, a close frame
	// without waiting for the answer, a connection lost without a close.
	// Write it only while Conn is not writing.
	TCP net.Conn
}

// Dial opens a WebSocket to url offering protocols, with header's fields
// in the upgrade (coder sends no Origin of its own: a test that must look
// like a browser sets one). When the server refuses the upgrade the
// response (nil if it sent none) says how.
func Dial(url string, header http.Header, protocols ...string) (*Client, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var tcp net.Conn
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		tcp = c
		return c, err
	}}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: header, Subprotocols: protocols})
	if err != nil {
		tr.CloseIdleConnections()
		return nil, resp, err
	}
	ws.SetReadLimit(ReadLimit)
	return &Client{Conn: ws, TCP: tcp}, resp, nil
}

// Send writes one message of type typ.
func (c *Client) Send(typ websocket.MessageType, p []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return c.Write(ctx, typ, p)
}

// SendJSON writes v as one text message.
func (c *Client) SendJSON(v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return wsjson.Write(ctx, c.Conn, v)
}

// Receive reads the next message. Past the timeout coder closes the
// connection: a test that waits longer reads with its own context.
func (c *Client) Receive() (websocket.MessageType, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return c.Read(ctx)
}

// ReceiveJSON reads the next message into v.
func (c *Client) ReceiveJSON(v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return wsjson.Read(ctx, c.Conn, v)
}

// Closed reads until the connection ends and returns the close code and
// reason the server sent (see CloseOf).
func (c *Client) Closed() (websocket.StatusCode, string) {
	for {
		if _, _, err := c.Receive(); err != nil {
			return CloseOf(err)
		}
	}
}

// CloseOf is the close code and reason in a read's error, or 1006 and the
// error itself when the connection ended without a close frame.
func CloseOf(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return websocket.StatusAbnormalClosure, err.Error()
}

// Opcodes (RFC 6455 5.2) for Frame and ClientFrame.
const (
	OpBinary = 0x2
	OpClose  = 0x8
	OpPing   = 0x9
)

// ClientFrame is a client frame with FIN set, masked with the key 0 (the
// payload reads as it is), for tests that write frames on Client.TCP.
func ClientFrame(op byte, payload []byte) []byte {
	return frame(op, 0x80, payload)
}
