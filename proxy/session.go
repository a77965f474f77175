package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// bigBuf is the size of the pooled buffers bytes flow through. A session that
// is idle holds none: only the WebSocket's 4 KiB read buffer.
const (
	bigBuf = 32 << 10
)

var bigPool = sync.Pool{New: func() any { b := make([]byte, bigBuf); return &b }}

// session is one /mqtt WebSocket and its broker connection.
type session struct {
	srv   *Server
	ws    *websocket.Conn
	br    *bufio.Reader // the WebSocket's read buffer, nil if unknown
	pr    *pageReader   // the reader under br, nil if none
	tc    *traceChannel // nil without a trace token
	conn  string
	start time.Time
	log   *slog.Logger
	debug bool // log every entry

	// pageEnds and brokerEnds are the browser's and the proxy's addresses
	// on the WebSocket, and the proxy's and the broker's on the broker's
	// connection, for the entries' Src and Dst ("" where unknown); set
	// before the session's goroutines start.
	pageEnds, brokerEnds [2]string

	mu         sync.Mutex // guards broker and cancelDial against finish
	broker     *netrec.Conn
	cancelDial context.CancelFunc
	lab        *lab // the lab bench, nil without a trace channel (see lab.go)
	version    atomic.Int32

	up, down stream // page→broker, broker→page
	// readAt is when brokerToPage read the bytes it feeds to down: the
	// time of their packets' entries (brokerToPage's goroutine only).
	readAt time.Time

	bytesUp, bytesDown     atomic.Int64
	packetsUp, packetsDown atomic.Int64 // MQTT packets, whole or too large to keep

	// upq holds the entries of packets from the page that are not yet
	// written to the broker; an entry is emitted only once its last byte
	// is written (pageToBroker's goroutine only).
	upq []queuedEntry
	// writes orders the entries of packets written to the broker before
	// those of the broker's answer (see beginWrite).
	writes writeOrder

	// pageGone is set once the page has closed its WebSocket (close frame
	// or lost connection): the broker's bytes are still read and traced,
	// but no longer sent.
	pageGone  atomic.Bool
	pageCode  int // the page's close code (1006 for a lost connection)
	once      sync.Once
	ended     atomic.Bool
	closeCode int
	closeText string
	closeNote string // set before finish: a note for the final ws.close entry

	// The embedded broker's reports about this session's client
	// (brokerdrops.go): toEmbedded is set before the streams start.
	toEmbedded bool
	dropsMu    sync.Mutex
	stopDrops  func()
	dropsEnded bool
}

// queuedEntry is a traced packet waiting for its bytes to be written: end is
// the offset just past its last byte in the pending write buffer.
type queuedEntry struct {
	e   trace.Entry
	end int
}

// ServeMQTT serves GET /mqtt?broker=HOST:PORT[&tls=1][&trace=TOKEN[&conn=ID]][&session=ID].
// The conn ID names the connection in the trace's entries (see claimConn).
//
// Every check that can refuse the request — Host, method, upgrade headers,
// Origin, subprotocol, connection limits, trace token, the broker's syntax
// and the allowlist's verdict on its name — is made before any DNS query or
// dial, so a request that is not a valid upgrade makes the proxy reach
// nothing. The proxy then resolves and connects to the broker before it
// answers the upgrade, so the page's WebSocket opens only once the broker's
// TCP (or TLS) connection is up — as a device's connect() returns only
// after the handshake — and the diagram reads DNS, TCP, then CONNECT. A
// refused or failed dial still completes the upgrade, only to close it at
// once with a code and a reason the page can read. The session then runs on
// a goroutine of its own so that net/http's per-request buffers are
// released.
func (s *Server) ServeMQTT(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := sessionRequest{
		path:      r.URL.Path,
		remote:    r.RemoteAddr,
		origin:    r.Header.Get("Origin"),
		protocols: r.Header.Get("Sec-WebSocket-Protocol"),
		broker:    q.Get("broker"),
		tls:       q.Get("tls"),
		token:     q.Get("trace"),
		session:   q.Get("session"),
	}
	ip, ok := s.admit(w, r, true)
	if !ok {
		return
	}
	ss := &session{srv: s, start: time.Now(), pageEnds: pageEnds(r)}
	if req.token != "" || req.session != "" {
		tc, code, why, kind := s.hub.sessionChannel(req.session, req.token)
		if tc == nil {
			s.refused(kind, r, why)
			if ws, _ := s.accept(w, r); ws != nil {
				closeNow(ws, code, why)
			}
			s.release(ip)
			return
		}
		ss.tc = tc
		var refused string
		if ss.conn, refused = ss.tc.claimConn(q.Get("conn"), ss); refused != "" {
			s.refused(RefusedConnID, r, refused)
			if ws, _ := s.accept(w, r); ws != nil {
				closeNow(ws, websocket.ClosePolicyViolation, refused)
			}
			s.release(ip)
			return
		}
		ss.start = ss.tc.start
	}
	ss.log = s.cfg.Log.With("remote", req.remote)
	if ss.conn != "" {
		ss.log = ss.log.With("conn", ss.conn, "trace", req.token[:min(8, len(req.token))])
	}
	ss.debug = ss.log.Enabled(context.Background(), slog.LevelDebug)

	e := ss.entry(time.Now(), trace.LegBrowserProxy, "browser", "proxy", trace.KindWSUpgrade, "GET "+req.path+" Upgrade: websocket")
	e.Note = "Origin " + req.origin + ", protocols " + req.protocols + "; the head as the proxy's HTTP server parsed it (headers in Go's order)"
	e.Bytes = requestHead(r)
	ss.emit(e)
	d := ss.dial(req)
	s.metrics.dialed(d)

	ws, in := s.accept(w, r)
	if ws == nil {
		if d.bc != nil {
			d.bc.Close()
		}
		ss.stopLab("the upgrade failed")
		if ss.tc != nil {
			ss.tc.forget(ss.conn)
		}
		s.release(ip)
		return
	}
	ss.ws, ss.br, ss.pr = ws, in.br, in.pr
	e = ss.entry(time.Now(), trace.LegBrowserProxy, "proxy", "browser", trace.KindWSAccept, "101 Switching Protocols, subprotocol "+ws.Subprotocol())
	e.Bytes = responseHead(r, ws)
	if d.err == nil {
		e.Note = "sent once the broker's connection was up"
	}
	ss.emit(e)
	go s.serveSession(ss, ip, d)
}

// sessionRequest is what a session keeps of its upgrade request.
type sessionRequest struct {
	path, remote, origin, protocols string
	broker, tls, token, session     string
}

// dialResult is the broker connection a session starts with, or why there
// is none (code and reason for the page's close frame).
type dialResult struct {
	bc     *netrec.Conn
	res    *netrec.Result
	target string
	code   int
	reason string
	err    error
}

// dial checks the target against the policy and connects to it, recording
// DNS, the TCP handshake and TLS on the session's trace.
func (ss *session) dial(req sessionRequest) dialResult {
	s := ss.srv
	target := req.broker
	if target == "" {
		target = s.cfg.DefaultBroker
	}
	host, port, err := parseTarget(target)
	if err != nil {
		return dialResult{target: target, code: CloseBadTarget, reason: err.Error()}
	}
	useTLS := req.tls == "1" || req.tls == "true" || port == 8883
	if err := s.cfg.Policy.CheckName(host, port); err != nil {
		return dialResult{target: target, code: websocket.ClosePolicyViolation, reason: err.Error(), err: err}
	}
	d := s.dialer()
	d.Start, d.Conn, d.Emit = ss.start, ss.conn, ss.emit
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DialTimeout)
	ss.mu.Lock()
	ss.cancelDial = cancel
	ss.mu.Unlock()
	bc, res, err := d.Dial(ctx, target, useTLS)
	cancel()
	if err != nil {
		code := 1014 // bad gateway
		if IsRefusal(err) {
			code = websocket.ClosePolicyViolation
		}
		return dialResult{target: target, code: code, reason: err.Error(), err: err}
	}
	ss.brokerEnds = [2]string{res.Local.String(), res.Addr.String()}
	// The page may send lab controls as soon as its WebSocket opens.
	ss.mu.Lock()
	ss.broker = bc
	if ss.tc != nil {
		ss.lab = newLab(ss, s.cfg.LabBytes)
	}
	ss.mu.Unlock()
	return dialResult{bc: bc, res: res, target: target}
}

func (s *Server) serveSession(ss *session, ip netip.Addr, d dialResult) {
	defer s.release(ip)
	defer ss.stopLab("the session ended")
	if ss.tc != nil {
		defer ss.tc.forget(ss.conn)
	}
	s.mu.Lock()
	closing := s.closing
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	s.metrics.sessionStarted()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.ended.add(ss.counted())
		s.mu.Unlock()
	}()
	if closing {
		if d.bc != nil {
			d.bc.Close()
		}
		closeNow(ss.ws, websocket.CloseGoingAway, "server shutting down")
		return
	}
	ss.run(d)
}

func (ss *session) run(d dialResult) {
	s := ss.srv
	if d.target != "" {
		ss.log = ss.log.With("broker", d.target)
	}
	if d.bc == nil {
		ss.refuse(d.code, d.reason, d.err)
		return
	}
	bc, res := d.bc, d.res
	ss.mu.Lock()
	ss.broker = bc
	ended := ss.ended.Load()
	ss.mu.Unlock()
	if ended { // shut down while dialing
		bc.Close()
		ss.ws.Close()
		return
	}
	ss.log.Info("session started", "addr", res.Addr.String(), "resolved", res.Resolved,
		"connect_ms", float64(res.Connect.Microseconds())/1000, "tls", res.TLS != nil)

	ss.toEmbedded = s.cfg.Broker != nil && reaches(s.cfg.Broker.Addr(), res.Addr)
	defer ss.unwatchDrops()
	ss.up = stream{max: s.cfg.MaxMessage, keep: true} // the first packet (CONNECT) is always kept
	ss.down = stream{keep: ss.tracing(), keepMax: s.cfg.MaxMessage}
	// No gorilla read limit: its close for it carries no reason, so
	// pageToBroker counts each message's bytes against MaxMessage itself.
	// The page's close frame is answered by finish, once the broker leg is
	// closed, not at once by gorilla's default handler.
	ss.ws.SetCloseHandler(func(int, string) error { return nil })

	done := make(chan struct{})
	go func() {
		defer close(done)
		ss.brokerToPage()
	}()
	if ss.pageToBroker() {
		ss.drain(done)
	} else {
		ss.awaitPageClose()
	}
	<-done
	ss.stopLab("the session ended")
	ss.ws.Close()
	ss.log.Info("session ended", "code", ss.closeCode, "reason", ss.closeText,
		"bytes_up", ss.bytesUp.Load(), "bytes_down", ss.bytesDown.Load(),
		"duration_ms", time.Since(ss.start).Milliseconds())
}

// tracing reports whether packets must be copied for a reader.
func (ss *session) tracing() bool { return ss.tc != nil || ss.debug }

// refuse ends a session that never reached the broker.
func (ss *session) refuse(code int, reason string, err error) {
	level := slog.LevelInfo
	if code == websocket.ClosePolicyViolation {
		level = slog.LevelWarn
	}
	ss.log.Log(context.Background(), level, "refused", "code", code, "reason", reason)
	ss.finish(code, reason, errorOr(err, reason))
	ss.ws.Close()
}

func errorOr(err error, s string) error {
	if err != nil {
		return err
	}
	return errors.New(s)
}

// drain ends a session the page closed, once everything it sent is written
// to the broker: the proxy half-closes (its FIN tells the broker nothing more
// is coming), waits up to CloseWait for the broker to close its side (done:
// brokerToPage has seen the FIN, or an error), and then finishes.
func (ss *session) drain(done <-chan struct{}) {
	reason := "closed by the page"
	if ss.pageCode == websocket.CloseAbnormalClosure {
		reason = "the page's connection was lost"
	}
	if ss.lab != nil && ss.lab.pageClosed(ss.srv.cfg.IdleTimeout, done) {
		ss.finish(ss.pageCode, reason+" while silenced", nil)
		return
	}
	if err := ss.broker.CloseWrite(); err == nil {
		wait := ss.srv.cfg.CloseWait
		t := time.NewTimer(wait)
		select {
		case <-done:
		case <-t.C:
			ss.closeNote = "the broker had not closed its side " + wait.String() +
				" after the proxy's FIN; the proxy closed the connection"
			ss.log.Info("broker did not close after the proxy's FIN", "waited", wait.String())
		}
		t.Stop()
	}
	ss.finish(ss.pageCode, reason, nil)
}

// CloseCut is the WebSocket close code sent to the page when its trace
// channel asked the proxy to cut the broker connection (4000–4999 are for
// applications, RFC 6455 7.4.2); CutReason is the close reason.
const (
	CloseCut  = 4000
	CutReason = "cut by request: abrupt close, no DISCONNECT"
)

var (
	errNoSuchConn   = errors.New("no open connection of that name on this trace channel")
	errNotConnected = errors.New("the connection has not reached the broker yet")
	errEnded        = errors.New("the connection has already ended")
)

// cut aborts the broker connection as a device losing power would: an RST
// (SO_LINGER 0), no DISCONNECT, whatever is unsent dropped; then the page's
// WebSocket is closed with CloseCut. The broker publishes the will, if the
// CONNECT set one.
func (ss *session) cut() error {
	ss.mu.Lock()
	broker, ended := ss.broker, ss.ended.Load()
	ss.mu.Unlock()
	switch {
	case ended:
		return errEnded
	case broker == nil:
		return errNotConnected
	}
	ss.finishWith(CloseCut, CutReason, nil, true)
	return nil
}

// finish ends the session once: the broker connection is closed (its FIN
// recorded), then the page gets a close frame with code and reason, and the
// page's side is given a second to answer before it is dropped.
func (ss *session) finish(code int, reason string, err error) {
	ss.finishWith(code, reason, err, false)
}

// finishWith is finish; with abort the broker connection is reset (RST)
// rather than closed.
func (ss *session) finishWith(code int, reason string, err error, abort bool) {
	ss.once.Do(func() {
		ss.mu.Lock()
		ss.ended.Store(true)
		broker, cancel, lab := ss.broker, ss.cancelDial, ss.lab
		ss.mu.Unlock()
		ss.closeCode, ss.closeText = code, reason
		if cancel != nil {
			cancel()
		}
		if lab != nil {
			lab.end("the session ended (" + reason + ")")
		}
		switch {
		case broker != nil && abort:
			broker.Abort("the proxy cut the connection on the page's request, without DISCONNECT")
		case broker != nil:
			broker.Close()
		}
		e := ss.entry(time.Now(), trace.LegBrowserProxy, "proxy", "browser", trace.KindWSClose,
			"Close "+strconv.Itoa(code)+" "+reason)
		e.Note = ss.closeNote
		if err != nil && code != websocket.CloseNormalClosure && code != websocket.CloseGoingAway {
			e.Error = err.Error()
		}
		if code == websocket.CloseAbnormalClosure {
			// 1006 is never sent: the page's connection is gone.
			e.Summary = "connection dropped (1006): " + reason
			e.Observed = trace.ObservedKernel // no close frame was sent
			ss.emit(e)
			ss.ws.Close()
			return
		}
		ss.emit(e)
		deadline := time.Now().Add(pageCloseWait)
		_ = ss.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, clip(reason)), deadline)
		_ = ss.ws.SetReadDeadline(deadline)
	})
}

// pageCloseWait is how long the page is given to answer the proxy's close
// frame.
const pageCloseWait = time.Second

// awaitPageClose reads and drops what the page still sends after the proxy
// closed the session, until the page's close frame answers the proxy's (or
// pageCloseWait passes, or its connection is gone); run closes the TCP
// connection only then. Over TCP, a client that writes after the broker
// closed (mqtt.js writes its PUBCOMP after its DISCONNECT when it ends
// inside a QoS 2 message's handler) has those bytes taken by its kernel; a
// proxy that closed the page's connection under such writes would answer
// them with an RST, which the page sees as EPIPE.
func (ss *session) awaitPageClose() {
	if ss.pageGone.Load() {
		return
	}
	_ = ss.ws.SetReadDeadline(time.Now().Add(pageCloseWait))
	for {
		if _, _, err := ss.ws.NextReader(); err != nil {
			return
		}
	}
}

// pageToBroker forwards the page's binary messages to the broker. Frames that
// are already buffered are gathered into one TCP write. When the page closes
// (a close frame, or its connection lost) every byte received from it is
// written to the broker first, and pageToBroker returns true for run to
// drain the broker leg; otherwise the session has been finished.
func (ss *session) pageToBroker() (pageClosed bool) {
	w := &upWriter{ss: ss}
	defer w.release()
	w.waitNext()
	for {
		mt, r, err := ss.ws.NextReader()
		if err != nil {
			return w.readFailed(err)
		}
		if mt != websocket.BinaryMessage {
			ss.finish(websocket.CloseUnsupportedData, "text frames are not MQTT: send binary frames", errors.New("text frame from the page"))
			return false
		}
		if w.buf == nil {
			w.buf = bigPool.Get().(*[]byte)
		}
		size, start := 0, w.pending // the message's bytes so far; where they start in buf
		for {
			if !w.gated && !ss.up.partial() && ss.lab != nil && ss.lab.on.Load() {
				// The lab is on: from this packet boundary on, every
				// packet goes through it, after what is pending.
				if err := w.flush(); err != nil {
					ss.brokerWriteFailed(err)
					return false
				}
				w.gated = true
			}
			if w.pending == len(*w.buf) {
				if err := w.flush(); err != nil {
					ss.brokerWriteFailed(err)
					return false
				}
				start = 0
			}
			n, err := r.Read((*w.buf)[w.pending:])
			if size += n; size > ss.srv.cfg.MaxMessage {
				w.pending = start // what the page sent before is written, not this message
				ok := w.readFailed(websocket.ErrReadLimit)
				ss.discardPage(r)
				return ok
			}
			if n > 0 {
				if ferr := w.feed(n); ferr != nil {
					if errors.Is(ferr, codec.ErrPacketTooLarge) {
						// The proxy's own bound, in any MQTT version: no
						// clause of the protocol, and not malformed.
						why := ss.tooLarge("MQTT packet")
						ss.finish(websocket.CloseMessageTooBig, why, errors.New(why))
						ss.discardPage(r)
						return false
					}
					ss.finish(websocket.CloseProtocolError, "malformed MQTT from the page: "+ferr.Error(), ferr)
					return false
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return w.readFailed(err)
			}
		}
		if !ss.frameWaiting() {
			if err := w.flush(); err != nil {
				ss.brokerWriteFailed(err)
				return false
			}
			w.release()
			w.waitNext()
		}
	}
}

// upWriter is pageToBroker's state: the pooled buffer the page's bytes
// gather in (pending bytes of it) until one write to the broker, and when
// the read and write deadlines were last moved.
type upWriter struct {
	ss      *session
	buf     *[]byte
	pending int
	gated   bool // packets go through the lab (see lab.go), pending stays 0

	lastDeadline      time.Time // of the page's read
	lastWriteDeadline time.Time // of the broker's write
}

// feed follows the packet boundaries of the n bytes just read after the
// pending ones, and counts them as pending.
func (w *upWriter) feed(n int) error {
	ss := w.ss
	if w.gated {
		return ss.up.feed((*w.buf)[:n], ss.labUp)
	}
	err := ss.up.feed((*w.buf)[w.pending:w.pending+n], func(first byte, size int, pkt []byte, end int) {
		ss.packetUp(first, size, pkt, w.pending+end)
	})
	if err != nil {
		return err
	}
	w.pending += n
	return nil
}

// flush writes the pending bytes to the broker, recording the packets whose
// last byte they hold.
func (w *upWriter) flush() error {
	if w.pending == 0 {
		return nil
	}
	ss := w.ss
	w.lastWriteDeadline = refreshDeadline(ss.broker.SetWriteDeadline, w.lastWriteDeadline, ss.srv.cfg.WriteTimeout)
	traced := len(ss.upq) > 0
	var at time.Time // the bytes are handed to the kernel now
	if traced {
		ss.beginWrite()
		at = time.Now()
	}
	n, err := ss.broker.Write((*w.buf)[:w.pending])
	ss.bytesUp.Add(int64(n))
	if traced {
		ss.endWrite(func() { ss.written(n, at) })
	}
	w.pending = 0
	return err
}

// release returns the buffer to the pool.
func (w *upWriter) release() {
	if w.buf != nil {
		bigPool.Put(w.buf)
		w.buf = nil
	}
}

// readFailed ends the loop on an error from the page, after writing what
// the page sent before it.
func (w *upWriter) readFailed(err error) bool {
	if ferr := w.flush(); ferr != nil {
		w.ss.brokerWriteFailed(ferr)
		return false
	}
	return w.ss.pageReadFailed(err)
}

// waitNext moves the page's idle deadline before a read that may wait for
// the page (no whole frame buffered), at most once a second: reading the
// clock for every frame costs a fifth of this loop under load.
func (w *upWriter) waitNext() {
	if now := time.Now(); now.Sub(w.lastDeadline) > time.Second && !w.ss.ended.Load() {
		w.lastDeadline = now
		w.ss.ws.SetReadDeadline(now.Add(w.ss.srv.cfg.IdleTimeout))
	}
}

// written emits the entries of the queued packets whose bytes are now all
// written (the first n bytes of the pending buffer, written at at) and
// forgets the rest, which never reached the broker.
func (ss *session) written(n int, at time.Time) {
	for i := range ss.upq {
		q := &ss.upq[i]
		if q.end > n {
			ss.log.Info("packets from the page not written to the broker", "count", len(ss.upq)-i)
			break
		}
		q.e.T = msSince(ss.start, at)
		ss.emitNow(q.e)
	}
	clear(ss.upq)
	ss.upq = ss.upq[:0]
}

// frameWaiting reports whether a whole WebSocket frame from the page is
// already buffered, so that writing to the broker can wait for it.
func (ss *session) frameWaiting() bool {
	if ss.br == nil {
		return false
	}
	b, _ := ss.br.Peek(ss.br.Buffered())
	return frameBuffered(b, ss.pr.buffered())
}

// packetUp queues the entry of a packet from the page, which ends at offset
// end of the pending write buffer, until it is written.
func (ss *session) packetUp(first byte, n int, pkt []byte, end int) {
	ss.packetsUp.Add(1)
	if pkt != nil && ss.version.Load() == 0 {
		if v := connectVersion(pkt); v != 0 {
			ss.version.Store(int32(v))
			ss.dropsUp(pkt, v)
		}
	}
	if !ss.tracing() {
		ss.up.keep = false
		return
	}
	// Stamped once written (see written).
	ss.upq = append(ss.upq, queuedEntry{ss.packet(time.Time{}, "proxy", "broker", first, n, pkt), end})
}

// packetDown emits the entry of a packet read from the broker.
func (ss *session) packetDown(first byte, n int, pkt []byte, _ int) {
	ss.packetsDown.Add(1)
	if !ss.tracing() {
		return
	}
	ss.dropsDown(pkt)
	e := ss.packet(ss.readAt, "broker", "proxy", first, n, pkt)
	if ss.pageGone.Load() {
		e.Note = "not sent on: the page had closed its WebSocket"
	}
	ss.emit(e)
}

// writeOrder holds the entries that come while traced packets are being
// written to the broker: on loopback the broker's answer (a packet, its
// FIN, the session's end) can be read before the writer has recorded what
// it wrote, and its entries must come after theirs. Nobody waits: the
// reader of the broker hands its entries over and goes on relaying.
type writeOrder struct {
	mu      sync.Mutex
	writing bool
	held    []trace.Entry
}

// maxHeldEntries bounds writeOrder.held: a write blocked by a broker that
// does not read must not make the other side's entries pile up. Beyond it
// they are emitted at once (before the blocked write's, as they come).
const maxHeldEntries = 256

// beginWrite marks a write of traced packets to the broker in progress.
func (ss *session) beginWrite() {
	ss.writes.mu.Lock()
	ss.writes.writing = true
	ss.writes.mu.Unlock()
}

// endWrite records the write (recordWrite emits its packets' entries, with
// emitNow), then emits the entries held meanwhile, in the order they came.
func (ss *session) endWrite(recordWrite func()) {
	w := &ss.writes
	w.mu.Lock()
	defer w.mu.Unlock()
	recordWrite()
	ss.emitHeld()
	w.writing = false
}

// emitHeld emits the held entries; the caller holds ss.writes.mu.
func (ss *session) emitHeld() {
	w := &ss.writes
	for _, e := range w.held {
		ss.emitNow(e)
	}
	clear(w.held)
	w.held = w.held[:0]
}

// emit sends e to the session's trace channel, or to the debug log: once
// a write of traced packets to the broker in progress is recorded (holding
// it until then), or at once if none is. The recording dialer's entries
// come here too: the broker's FIN or RST may answer what was just written
// (mosquitto closes at once after a DISCONNECT).
func (ss *session) emit(e trace.Entry) {
	w := &ss.writes
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.writing {
		ss.emitNow(e)
		return
	}
	w.held = append(w.held, e)
	if len(w.held) >= maxHeldEntries {
		ss.emitHeld()
	}
}

// packet is the entry of an MQTT packet on the broker's leg, at at. It
// holds a copy of the packet's bytes and leaves the summary to describe,
// which the trace channel's writer calls off the relay's path.
func (ss *session) packet(at time.Time, from, to string, first byte, n int, pkt []byte) trace.Entry {
	e := ss.entry(at, trace.LegProxyBroker, from, to, packetKinds[first>>4], "")
	e.Observed = trace.ObservedWire
	e.Version = int(ss.version.Load())
	if pkt != nil {
		e.Bytes = append([]byte(nil), pkt...)
	} else {
		e.Summary = typeName(first) + " (" + strconv.Itoa(n) + " bytes)"
		e.Note = "packet too large to record"
	}
	return e
}

// tooLarge says why a message or packet from the page was refused for its
// size: one sentence for both, the same on the diagram and in the page's
// close reason.
func (ss *session) tooLarge(what string) string {
	return what + " larger than " + strconv.Itoa(ss.srv.cfg.MaxMessage) + " bytes, the most this proxy takes (-max-message)"
}

// discardPage reads and drops what the page still sends after the proxy's
// close frame (the rest of a message too large), until the page answers the
// close or the close deadline passes: a socket closed with unread bytes is
// reset, and the page would see 1006 instead of the proxy's code and reason.
func (ss *session) discardPage(r io.Reader) {
	for err := error(nil); err == nil; {
		if _, err = io.Copy(io.Discard, r); err == nil {
			_, r, err = ss.ws.NextReader()
		}
	}
}

// describe fills in the summary of a packet's entry that packet left
// empty, decoding its bytes (and says why, if the codec cannot).
func describe(e *trace.Entry) { describeWith(e, nil) }

// describeWith is describe, decoding a PUBLISH into pub (if not nil) rather
// than into a new one: the trace channel's writer describes a packet for
// every entry, most of them PUBLISH.
func describeWith(e *trace.Entry, pub *codec.Publish) {
	if e.Summary != "" || e.Leg != trace.LegProxyBroker || len(e.Bytes) == 0 {
		return
	}
	var err error
	if e.Summary, err = summary(e.Bytes, e.Version, pub); err != nil {
		e.Error = "the codec cannot decode it: " + err.Error()
	}
}

// pageReadFailed ends the session on an error reading the page. It returns
// true when the page closed (a close frame, or the connection lost), for the
// caller to drain the broker leg; otherwise it has finished the session.
func (ss *session) pageReadFailed(err error) bool {
	var ce *websocket.CloseError
	var ne net.Error
	isClose := errors.As(err, &ce)
	lost := (isClose && ce.Code == websocket.CloseAbnormalClosure) ||
		(!isClose && (errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && !isTimeout(err))
	switch {
	case lost:
		e := ss.entry(time.Now(), trace.LegBrowserProxy, "browser", "proxy", trace.KindWSClose,
			"connection closed without a close frame (1006)")
		e.Observed = trace.ObservedKernel
		ss.emit(e)
		ss.pageCode = websocket.CloseAbnormalClosure
	case isClose:
		e := ss.entry(time.Now(), trace.LegBrowserProxy, "browser", "proxy", trace.KindWSClose,
			"Close "+strconv.Itoa(ce.Code)+" "+ce.Text)
		ss.emit(e)
		ss.pageCode = ce.Code
		if ss.pageCode == websocket.CloseNoStatusReceived {
			ss.pageCode = websocket.CloseNormalClosure
		}
	case ss.ended.Load():
		// finish ran and the page did not answer its close in time.
	case errors.Is(err, websocket.ErrReadLimit):
		why := ss.tooLarge("message")
		ss.finish(websocket.CloseMessageTooBig, why, errors.New(why))
	case isTimeout(err):
		ss.finish(websocket.CloseGoingAway, "idle for "+ss.srv.cfg.IdleTimeout.String(), err)
	default: // an invalid frame; gorilla has sent close 1002
		ss.finish(websocket.CloseProtocolError, "invalid WebSocket frame from the page", err)
	}
	if (lost || isClose) && !ss.ended.Load() {
		ss.pageGone.Store(true)
		return true
	}
	return false
}

func (ss *session) brokerWriteFailed(err error) {
	if isTimeout(err) {
		ss.finish(1014, "the broker is not reading", err)
		return
	}
	ss.finish(1014, "writing to the broker failed", err)
}

// brokerToPage forwards the broker's bytes to the page as binary messages.
// While it waits for the broker it holds no buffer (netrec.Conn.ReadPooled).
func (ss *session) brokerToPage() {
	get := func() []byte { return *bigPool.Get().(*[]byte) }
	put := func(b []byte) { bigPool.Put(&b) }
	var lastDeadline, lastPartial time.Time
	gated := false // packets go through the lab (see lab.go)
	for {
		// Time spent writing to a slow page does not count against the broker.
		lastPartial = ss.partialDeadline(lastPartial)
		buf, n, err := ss.broker.ReadPooled(get, put)
		if n > 0 {
			if ss.tracing() {
				ss.readAt = time.Now() // one clock reading for the packets of a read
			}
			if !gated && !ss.down.partial() && ss.lab != nil && ss.lab.on.Load() {
				gated = true
			}
			done := ss.packetDown
			if gated {
				done = ss.labDown
			}
			if ferr := ss.down.feed(buf[:n], done); ferr != nil {
				put(buf)
				ss.finish(1014, "malformed MQTT from the broker: "+ferr.Error(), ferr)
				return
			}
			if !gated && !ss.pageGone.Load() {
				lastDeadline = refreshDeadline(ss.ws.SetWriteDeadline, lastDeadline, ss.srv.cfg.WriteTimeout)
				werr := ss.ws.WriteMessage(websocket.BinaryMessage, buf[:n])
				switch {
				case werr == nil:
					ss.bytesDown.Add(int64(n))
				case isTimeout(werr):
					put(buf)
					ss.finish(websocket.ClosePolicyViolation, "the page is not reading", werr)
					return
				default:
					// The page's connection is gone: pageToBroker will see it
					// too, write what the page sent and drain this leg, so
					// go on reading the broker until it closes.
					ss.pageGone.Store(true)
				}
			}
		}
		put(buf)
		if err != nil {
			ss.brokerReadFailed(err)
			return
		}
	}
}

// partialDeadline gives the broker PartialTimeout to send more while it is
// in the middle of a packet, and no deadline between packets. The deadline
// is moved at most every quarter of the timeout (or second), as last, the
// time of the last move, says; partialDeadline returns it.
func (ss *session) partialDeadline(last time.Time) time.Time {
	switch timeout := ss.srv.cfg.PartialTimeout; {
	case ss.down.partial():
		if now := time.Now(); now.Sub(last) >= min(time.Second, timeout/4) {
			ss.broker.SetReadDeadline(now.Add(timeout))
			return now
		}
		return last
	case !last.IsZero():
		ss.broker.SetReadDeadline(time.Time{})
	}
	return time.Time{}
}

func (ss *session) brokerReadFailed(err error) {
	switch {
	case ss.lab != nil && ss.lab.brokerClosed(err):
		// Silenced: the page is not told; it notices by its keepalive.
	case ss.pageGone.Load():
		// pageToBroker is draining; its wait for this end finishes.
	case isTimeout(err) && ss.down.partial():
		ss.finish(1014, "the broker stopped in the middle of a packet: nothing more for "+
			ss.srv.cfg.PartialTimeout.String(), err)
	case errors.Is(err, io.EOF) && ss.down.partial():
		ss.finish(1014, "the broker closed the connection in the middle of a packet", err)
	case errors.Is(err, io.EOF):
		ss.finish(websocket.CloseNormalClosure, "the broker closed the connection", nil)
	case errors.Is(err, syscall.ECONNRESET):
		ss.finish(1014, "the broker reset the connection", err)
	default:
		// net.ErrClosed: finish already ran.
		ss.finish(1014, "reading from the broker failed", err)
	}
}

func (ss *session) entry(at time.Time, leg, from, to, kind, summary string) trace.Entry {
	e := trace.Entry{T: msSince(ss.start, at), Leg: leg, From: from, To: to, Kind: kind,
		Summary: summary, Observed: trace.ObservedWire, Conn: ss.conn}
	e.Src, e.Dst = entryEnds(leg, from, ss.pageEnds, ss.brokerEnds)
	return e
}

// emitNow sends e to the session's trace channel, or to the debug log.
func (ss *session) emitNow(e trace.Entry) {
	if ss.tc != nil {
		ss.tc.emit(e)
		return
	}
	if ss.debug {
		describe(&e)
		ss.log.Debug("trace", "kind", e.Kind, "from", e.From, "to", e.To, "summary", e.Summary,
			"note", e.Note, "error", e.Error, "t", e.T)
	}
}

// refreshDeadline moves a write deadline to timeout from now, but only when
// the last move (at last) was more than a second ago: resetting a timer for
// every write costs more than the deadline's second of slack. It returns when
// the deadline was last moved.
func refreshDeadline(set func(time.Time) error, last time.Time, timeout time.Duration) time.Time {
	now := time.Now()
	if now.Sub(last) < time.Second {
		return last
	}
	set(now.Add(timeout))
	return now
}

// isTimeout reports whether err is a deadline passing (gorilla hides the
// error chain of timeouts behind its own net.Error).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
