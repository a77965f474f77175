package proxy

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// This file holds everything of the proxy that reaches under gorilla's
// API, and so depends on how gorilla/websocket works inside; it is written
// for the version in gorillaVersion, which go.mod must name (a test checks,
// and TestGorillaAssumptions checks each assumption on that version):
//
//   - Upgrade reuses the bufio.Reader net/http hands over with the hijacked
//     connection as the connection's read buffer (Upgrader.ReadBufferSize 0,
//     and net/http's reader is 4 KiB, above gorilla's 256-byte minimum), and
//     reads the page only through it; so the proxy can Peek at the frames
//     already buffered (frameBuffered) and swap the reader under it for a
//     pageReader, which reads more at once.
//   - Upgrade reads nothing from the connection, so the reader is empty
//     when it returns; NetConn returns the *net.TCPConn net/http hijacked.
//   - Every control frame (WriteControl: a pong, a close) is written with
//     one call of the hijacked connection's Write, so a batchConn handed to
//     it as that connection sees each whole, and a trace channel can write
//     its own data frames between them (TestGorillaControlFramesThroughBatchConn).
//   - Upgrade makes its checks (checkUpgrade repeats them, in its order and
//     with its statuses) before it hijacks, so that they can all be made
//     before the broker is dialed.
//
// The frames themselves are RFC 6455's, not gorilla's.

// gorillaVersion is the github.com/gorilla/websocket version this file is
// written for.
const gorillaVersion = "v1.5.3"

// hijacker hands gorilla a buffered reader of our own making, so the session
// can see how many bytes the page has already sent (see frameBuffered).
// With batch it hands gorilla the connection as a batchConn (bc).
type hijacker struct {
	http.ResponseWriter
	br    *bufio.Reader
	batch bool
	bc    *batchConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil {
		h.br = brw.Reader // gorilla reuses it as the connection's read buffer
		if h.batch {
			h.bc = &batchConn{Conn: c}
			c = h.bc
		}
	}
	return c, brw, err
}

// upgradeWith upgrades an admitted request through h; on failure it has
// answered the request and returns nil (the caller still holds the slot).
func (s *Server) upgradeWith(h *hijacker, r *http.Request) *websocket.Conn {
	ws, err := s.upgrader.Upgrade(h, r, nil)
	if err != nil {
		s.cfg.Log.Info("upgrade failed", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	}
	return ws
}

// accept upgrades an admitted /mqtt request; on failure it has answered the
// request and returns a nil conn (the caller still holds the slot).
func (s *Server) accept(w http.ResponseWriter, r *http.Request) (ws *websocket.Conn, in pageInput) {
	h := &hijacker{ResponseWriter: w}
	if ws = s.upgradeWith(h, r); ws == nil {
		return nil, in
	}
	in.br = h.br
	// Nothing has been read since the hijack: the reader under the buffer
	// can be swapped for one that reads more at once while data flows.
	if in.br != nil && in.br.Buffered() == 0 {
		if in.pr = newPageReader(ws.NetConn()); in.pr != nil {
			in.br.Reset(in.pr)
		}
	}
	return ws, in
}

// batchConn is a trace channel's connection. Its write loop frames the
// channel's messages itself (appendFrame) and sends a batch of them in one
// write (writeFrames), so that a burst of entries costs one system call and
// no gorilla writer per entry; gorilla writes only its control frames
// (pong, close) through Write. The lock keeps each write whole, so a frame
// of one never lands inside the other's; and once gorilla has sent a close
// frame no data frame follows it (RFC 6455, 5.5.1), as gorilla's own
// writers refuse with websocket.ErrCloseSent.
type batchConn struct {
	net.Conn
	mu        sync.Mutex
	closeSent bool
}

// Write is gorilla's: the upgrade's response, then one whole control frame
// per call (TestGorillaControlFramesThroughBatchConn).
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) > 0 && p[0] == finBit|websocket.CloseMessage {
		c.closeSent = true
	}
	return c.Conn.Write(p)
}

// writeFrames writes whole frames made by appendFrame, by deadline.
func (c *batchConn) writeFrames(p []byte, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return websocket.ErrCloseSent
	}
	c.Conn.SetWriteDeadline(deadline)
	_, err := c.Conn.Write(p)
	return err
}

// finBit marks the last frame of a message (RFC 6455, 5.2).
const finBit = 0x80

// appendFrame appends payload as one unmasked (server to client), final
// frame of type op (websocket.TextMessage, ...): RFC 6455, 5.2.
func appendFrame(b []byte, op int, payload []byte) []byte {
	b = appendFrameHeader(b, op, len(payload))
	return append(b, payload...)
}

// appendFrameHeader appends the header of an unmasked final frame of type
// op carrying n bytes.
func appendFrameHeader(b []byte, op, n int) []byte {
	b = append(b, finBit|byte(op))
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	}
	return append(b, 127, byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// frameHeaderLen is the length of appendFrameHeader's header for n bytes.
func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// pageInput is how the page's bytes reach gorilla: its read buffer, and the
// pageReader under it (either may be nil).
type pageInput struct {
	br *bufio.Reader
	pr *pageReader
}

// checkUpgrade makes the checks gorilla's Upgrader.Upgrade makes of a
// request, in its order and with its statuses, so that they can all be made
// before the broker is looked up or dialed; Upgrade, called after the dial,
// then fails only if the connection does. It returns the status and the
// reason of a refusal, or 0. The equivalence is tested on the gorilla
// version in go.mod (TestCheckUpgradeMatchesGorilla).
func (s *Server) checkUpgrade(r *http.Request) (status int, reason string) {
	const notWS = "not a WebSocket upgrade: "
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return http.StatusBadRequest, notWS + "no 'upgrade' token in the Connection header"
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return http.StatusBadRequest, notWS + "no 'websocket' token in the Upgrade header"
	case r.Method != http.MethodGet:
		return http.StatusMethodNotAllowed, notWS + "the method is " + r.Method + ", not GET"
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		return http.StatusBadRequest, notWS + "Sec-WebSocket-Version is not 13"
	case !s.originOK(r):
		return http.StatusForbidden, "Origin " + r.Header.Get("Origin") + " is not allowed (see -origins)"
	case !validKey(r.Header.Get("Sec-Websocket-Key")):
		return http.StatusBadRequest, notWS + "Sec-WebSocket-Key is not 16 bytes in base64"
	}
	return 0, ""
}

// checkSubprotocol refuses a request that offers subprotocols of which the
// upgrader accepts none (gorilla would answer 101 without one). A request
// that offers none passes: MQTT clients outside browsers may not name it.
func (s *Server) checkSubprotocol(r *http.Request) (status int, reason string) {
	offered := websocket.Subprotocols(r)
	if len(offered) == 0 {
		return 0, ""
	}
	for _, p := range offered {
		for _, ours := range s.upgrader.Subprotocols {
			if p == ours {
				return 0, ""
			}
		}
	}
	return http.StatusBadRequest, "subprotocol " + strings.Join(offered, ", ") + " is not MQTT: ask for " +
		strings.Join(s.upgrader.Subprotocols, " or ")
}

// headerHasToken reports whether a comma-separated list in header name
// holds token value (ASCII case-insensitive). As gorilla's own check, a
// header value stops being read at the first element that is not a token.
func headerHasToken(h http.Header, name, value string) bool {
	for _, s := range h[http.CanonicalHeaderKey(name)] {
		for {
			s = strings.TrimLeft(s, " \t")
			i := 0
			for i < len(s) && isTokenOctet(s[i]) {
				i++
			}
			t := s[:i]
			s = strings.TrimLeft(s[i:], " \t")
			if t == "" || (s != "" && s[0] != ',') {
				break
			}
			if asciiEqualFold(t, value) {
				return true
			}
			if s == "" {
				break
			}
			s = s[1:]
		}
	}
	return false
}

// isTokenOctet reports whether c may appear in an HTTP token (RFC 9110, 5.6.2).
func isTokenOctet(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// validKey reports whether a Sec-WebSocket-Key is 16 bytes in base64
// (RFC 6455, 4.1).
func validKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

// pageReader sits under the WebSocket's 4 KiB read buffer (net/http's,
// which gorilla reuses after the hijack) and reads the page's TCP
// connection. While the page is sending it reads up to bigBuf bytes at once
// into a pooled buffer, so that a batch of frames larger than 4 KiB that has
// already arrived is seen whole (frameWaiting) and goes to the broker in one
// write; once every byte is handed on the buffer goes back to the pool. While
// it waits for the page it holds no buffer, so an idle session costs what it
// did without it.
type pageReader struct {
	conn *net.TCPConn
	rc   syscall.RawConn
	buf  *[]byte // nil when empty
	r, w int     // (*buf)[r:w] is read from the socket, not yet handed on
}

// newPageReader returns a pageReader for c, or nil when c is not a TCP
// connection (the WebSocket then reads c through its buffer alone).
func newPageReader(c net.Conn) *pageReader {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &pageReader{conn: tc, rc: rc}
}

// Read hands on bytes already read, or waits for the socket to be readable
// (honouring its read deadline) and then reads what is there.
func (p *pageReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if p.buf == nil {
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, (*p.buf)[p.r:p.w])
	p.r += n
	if p.r == p.w {
		p.release()
	}
	return n, nil
}

// fill waits for bytes and reads them into a buffer from the pool, taken only
// once the socket is readable.
func (p *pageReader) fill() error {
	var n int
	var rerr error
	err := p.rc.Read(func(fd uintptr) bool {
		if p.buf == nil {
			p.buf = bigPool.Get().(*[]byte)
		}
		n, rerr = syscall.Read(int(fd), *p.buf)
		if rerr == syscall.EAGAIN || rerr == syscall.EINTR {
			p.release() // wait for the socket without a buffer
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	switch {
	case err != nil:
		p.release()
		return p.opError(err)
	case n <= 0:
		p.release()
		return io.EOF
	}
	p.r, p.w = 0, n
	return nil
}

// buffered returns the bytes read from the socket and not yet handed on.
func (p *pageReader) buffered() []byte {
	if p == nil || p.buf == nil {
		return nil
	}
	return (*p.buf)[p.r:p.w]
}

func (p *pageReader) release() {
	if p.buf != nil {
		bigPool.Put(p.buf)
		p.buf = nil
	}
	p.r, p.w = 0, 0
}

// opError makes an error look like the one net.TCPConn.Read returns, so
// that timeouts and closed connections are recognised as such.
func (p *pageReader) opError(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = os.NewSyscallError("read", errno)
	}
	return &net.OpError{Op: "read", Net: "tcp", Source: p.conn.LocalAddr(), Addr: p.conn.RemoteAddr(), Err: err}
}

// frameBuffered reports whether b, followed by more (the bytes buffered from
// the browser: gorilla's read buffer, then the pageReader's), holds at least
// one whole WebSocket frame (RFC 6455, 5.2). The proxy keeps gathering
// frames into one TCP write while this holds, and writes as soon as it does
// not, so batching never delays a byte that is not followed by more.
func frameBuffered(b, more []byte) bool {
	var hdr [14]byte // the longest frame header: 2 + 8 (length) + 4 (mask)
	h := hdr[:copy(hdr[:], b)]
	h = h[:len(h)+copy(hdr[len(h):], more)]
	total := uint64(len(b)) + uint64(len(more))
	if len(h) < 2 {
		return false
	}
	n := 2
	plen := uint64(h[1] & 0x7f)
	switch plen {
	case 126:
		if len(h) < 4 {
			return false
		}
		plen = uint64(h[2])<<8 | uint64(h[3])
		n = 4
	case 127:
		if len(h) < 10 {
			return false
		}
		plen = 0
		for _, c := range h[2:10] {
			plen = plen<<8 | uint64(c)
		}
		n = 10
	}
	if h[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return total >= uint64(n) && plen <= total-uint64(n)
}
