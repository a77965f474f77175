// Package wstest starts, for tests, the servers MQTT over WebSocket is
// checked against: Debian's mosquitto with a WebSocket listener (plain or
// TLS), a gorilla bridge that is picky about its path and
// subprotocol or closes idle connections (like a proxy on the way), raw
// servers whose answers a test writes byte by byte (faults), and
// certificates made with crypto/x509. Everything listens on 127.0.0.1:0 and
// is stopped by t.Cleanup. It also has the coder/websocket client tests
// open as a browser would (Client, with the TCP connection under it for
// frames coder does not write).
//
// It is imported by tests only.
package wstest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// listen opens a loopback listener closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Handler answers one raw connection whose HTTP request has been read.
type Handler func(c net.Conn, br *bufio.Reader, req *http.Request)

// Raw serves each connection with h and returns host:port. With cert, the
// connections are TLS.
func Raw(t testing.TB, cert *tls.Certificate, h Handler) string {
	t.Helper()
	ln := listen(t)
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				h(c, br, req)
			}()
		}
	}()
	return ln.Addr().String()
}

// Accept writes a 101 answer to req choosing proto ("" for none).
func Accept(c net.Conn, req *http.Request, proto string) {
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n"
	if proto != "" {
		s += "Sec-WebSocket-Protocol: " + proto + "\r\n"
	}
	io.WriteString(c, s+"\r\n")
}

// Status answers every request with code and a short body.
func Status(code int) Handler {
	return func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
		body := http.StatusText(code) + "\n"
		io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(code)+" "+http.StatusText(code)+"\r\nContent-Type: text/plain\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	}
}

// Frame is a server frame (unmasked) with FIN set.
func Frame(op byte, payload []byte) []byte { return frame(op, 0, payload) }

// frame is a frame with FIN set; mask is 0x80 for a client's frame, whose
// key is then 0.
func frame(op, mask byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mask|byte(n))
	case n <= 0xffff:
		b = append(b, mask|126, byte(n>>8), byte(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if mask != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return append(b, payload...)
}

// CloseFrame is a close frame with code and reason.
func CloseFrame(code int, reason string) []byte {
	return Frame(0x8, append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...))
}

// Then upgrades choosing proto and writes the frames, then answers the
// client's close frame with its own and ends.
func Then(proto string, frames ...[]byte) Handler {
	return func(c net.Conn, br *bufio.Reader, req *http.Request) {
		Accept(c, req, proto)
		for _, f := range frames {
			c.Write(f)
		}
		for {
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			n := int64(h[1] & 0x7f)
			switch n {
			case 126:
				var l [2]byte
				io.ReadFull(br, l[:])
				n = int64(binary.BigEndian.Uint16(l[:]))
			case 127:
				var l [8]byte
				io.ReadFull(br, l[:])
				n = int64(binary.BigEndian.Uint64(l[:]) & (1<<62 - 1))
			}
			if h[1]&0x80 != 0 {
				n += 4
			}
			if _, err := io.CopyN(io.Discard, br, n); err != nil {
				return
			}
			if h[0]&0x0f == 0x8 {
				c.Write(CloseFrame(1000, ""))
				return
			}
		}
	}
}

// BridgeOptions make a bridge picky.
type BridgeOptions struct {
	Path     string        // the only path upgraded (others: 404)
	Protocol string        // the only subprotocol accepted (others: 400)
	Idle     time.Duration // close a connection idle this long (0: never)
}

// Bridge is a gorilla WebSocket server in front of the TCP broker: it
// upgrades only on opt.Path with opt.Protocol and, with opt.Idle, closes a
// connection after that long without a message either way, as a proxy's
// idle timeout does (a TCP close, no close frame). It returns host:port.
func Bridge(t testing.TB, broker string, opt BridgeOptions) string {
	t.Helper()
	ln := listen(t)
	up := websocket.Upgrader{Subprotocols: []string{opt.Protocol}, CheckOrigin: func(*http.Request) bool { return true }}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != opt.Path {
			http.NotFound(w, r)
			return
		}
		if !slices.Contains(websocket.Subprotocols(r), opt.Protocol) {
			http.Error(w, "subprotocol "+opt.Protocol+" required", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		bc, err := net.Dial("tcp", broker)
		if err != nil {
			ws.Close()
			return
		}
		wg.Add(1)
		defer wg.Done()
		pump(ws, bc, opt.Idle)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return ln.Addr().String()
}

// pump copies binary messages to the broker and its bytes back, until one
// side ends or the connection is idle for idle.
func pump(ws *websocket.Conn, bc net.Conn, idle time.Duration) {
	var mu sync.Mutex
	last := time.Now()
	touch := func() { mu.Lock(); last = time.Now(); mu.Unlock() }
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := bc.Read(buf)
			if n > 0 {
				touch()
				if ws.WriteMessage(websocket.BinaryMessage, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	if idle > 0 {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(idle / 10):
				}
				mu.Lock()
				quiet := time.Since(last)
				mu.Unlock()
				if quiet >= idle {
					ws.UnderlyingConn().Close()
					bc.Close()
					return
				}
			}
		}()
	}
	for {
		_, m, err := ws.ReadMessage()
		if err != nil {
			break
		}
		touch()
		if _, err := bc.Write(m); err != nil {
			break
		}
	}
	ws.Close()
	bc.Close()
	<-done
}

// CA is a certificate authority made for a test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	PEM  []byte // the CA certificate in PEM, for -cacert or RootCAs
}

// NewCA makes a CA valid from an hour ago for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Lifeline test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{cert: c, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Leaf is a server certificate for names (DNS names or addresses), valid
// from notBefore to notAfter, signed by ca (or by itself when ca is nil),
// and its key and certificate in PEM.
func Leaf(t testing.TB, ca *CA, names []string, notBefore, notAfter time.Time) (cert tls.Certificate, certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

// Valid is a validity window around now.
func Valid() (time.Time, time.Time) {
	return time.Now().Add(-time.Hour), time.Now().Add(24 * time.Hour)
}

// Mosquitto runs Debian's mosquitto (testenv.StartMosquitto) with a plain
// listener and a WebSocket listener (TLS with certPEM and keyPEM when not
// nil) and returns the WebSocket port. It fails the test when mosquitto is
// missing. The ports are picked free; if another test took one meanwhile
// (mosquitto exits), it tries again with others, three times.
func Mosquitto(t testing.TB, certPEM, keyPEM []byte) int {
	t.Helper()
	o := testenv.MosquittoOptions{Files: map[string][]byte{}}
	var tlsConf string
	if certPEM != nil {
		o.Files["cert.pem"], o.Files["key.pem"] = certPEM, keyPEM
		tlsConf = "certfile {{dir}}/cert.pem\nkeyfile {{dir}}/key.pem\n"
	}
	var err error
	for try := 0; try < 3; try++ {
		ws := testenv.FreePort(t)
		// mosquitto 2.0 starts a WebSocket listener only after a plain
		// one: testenv's comes first.
		o.Extra = "log_type error\nlistener " + strconv.Itoa(ws) + " 127.0.0.1\nprotocol websockets\n" + tlsConf
		o.WaitPorts = []int{ws}
		if _, err = testenv.TryMosquitto(t, o); err == nil {
			return ws
		}
	}
	t.Fatal(err)
	return 0
}

// TLSFront terminates TLS with cert in front of the TCP server at backend
// (an mqtts:// listener for a plain broker) and returns host:port.
func TLSFront(t testing.TB, cert tls.Certificate, backend string) string {
	t.Helper()
	ln := tls.NewListener(listen(t), &tls.Config{Certificates: []tls.Certificate{cert}})
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{})
				go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, b)
				c.Close()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// Blackhole returns a loopback address whose connects time out: a socket
// listening with a backlog of 0 that never accepts, its queue filled, so
// the kernel drops further SYNs (as a firewall that drops packets would).
func Blackhole(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: once a connect hangs, the next ones will too.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("%s accepted 8 connections with a backlog of 0", addr)
	return ""
}
