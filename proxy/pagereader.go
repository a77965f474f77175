package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

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
