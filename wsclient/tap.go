package wsclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// maxHead bounds an HTTP head (request or response) the tap reads.
const maxHead = 64 << 10

// tap records what crosses a WebSocket connection in both directions: the
// HTTP upgrade, then every frame, the MQTT packets in the binary frames,
// and the close. It sees the bytes net/http and coder/websocket read and
// write, and never changes them.
type tap struct {
	net.Conn
	start   time.Time
	emit    func(trace.Entry)
	leg     string
	client  string // the client's lane
	server  string // the server's lane
	conn    string
	limit   uint64 // the largest frame payload accepted from the server
	out, in *stream

	mu       sync.Mutex
	offered  []string // the subprotocols the request offered
	path     string   // the request target
	version  int      // MQTT level of the packets (CONNECT's wins)
	fault    *Error   // the first fault of the server
	upgraded bool
}

// stream is one direction of the connection.
type stream struct {
	t          *tap
	fromClient bool
	head       bool   // still reading the HTTP head
	dead       bool   // nothing more is parsed
	buf        []byte // bytes not yet parsed
	frames     int    // frames seen
	msgOp      Opcode // opcode of a fragmented message in progress (0: none)
	split      *codec.Splitter
	pktFrame   int // the frame the packet being split began in
}

func newTap(c net.Conn, t *tap) *tap {
	t.Conn = c
	t.out = &stream{t: t, fromClient: true, head: true, split: codec.NewSplitter(0)}
	t.in = &stream{t: t, head: true, split: codec.NewSplitter(0)}
	return t
}

func (t *tap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 {
		t.in.feed(p[:n])
	}
	return n, err
}

func (t *tap) Write(p []byte) (int, error) {
	t.out.feed(p)
	return t.Conn.Write(p)
}

// Fault returns the first protocol fault the server committed, or nil.
func (t *tap) Fault() *Error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fault
}

func (t *tap) setFault(e *Error) {
	t.mu.Lock()
	if t.fault == nil {
		t.fault = e
	}
	t.mu.Unlock()
}

func (s *stream) entry(kind, summary string) trace.Entry {
	t := s.t
	e := trace.Entry{T: float64(time.Since(t.start)) / float64(time.Millisecond), Leg: t.leg, From: t.server, To: t.client,
		Kind: kind, Summary: summary, Observed: trace.ObservedWire, Conn: t.conn}
	if s.fromClient {
		e.From, e.To = t.client, t.server
	}
	return e
}

func (s *stream) send(e trace.Entry) {
	if s.t.emit != nil {
		s.t.emit(e)
	}
}

// fail records a fault: an entry with the error and, for the server's
// bytes, the connection's fault; nothing more is parsed in this direction.
func (s *stream) fail(e trace.Entry, step Step, err error, fix string) {
	e.Error = err.Error()
	if fix != "" {
		e.Note = fix
	}
	s.send(e)
	if !s.fromClient {
		s.t.setFault(&Error{Step: step, Err: err, Fix: fix})
	}
	s.dead, s.buf = true, nil
}

func (s *stream) feed(p []byte) {
	if s.dead {
		return
	}
	s.buf = append(s.buf, p...)
	if s.head {
		i := bytes.Index(s.buf, []byte("\r\n\r\n"))
		if i < 0 {
			if len(s.buf) > maxHead {
				s.fail(s.entry(trace.KindWSUpgrade, "HTTP head"), StepUpgrade, errors.New("HTTP head longer than 64 KiB"), "")
			}
			return
		}
		head := s.buf[:i+4]
		s.head = false
		if s.fromClient {
			s.request(head)
		} else if !s.response(head) {
			s.dead, s.buf = true, nil
			return
		}
		s.buf = append([]byte(nil), s.buf[i+4:]...)
	}
	s.frameLoop()
}

// request records the upgrade request.
func (s *stream) request(head []byte) {
	e := s.entry(trace.KindWSUpgrade, "")
	e.Bytes = slices.Clone(head)
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		e.Summary, e.Error = "HTTP request", err.Error()
		s.send(e)
		return
	}
	offered := splitTokens(req.Header.Values("Sec-WebSocket-Protocol"))
	s.t.mu.Lock()
	s.t.offered, s.t.path = offered, req.RequestURI
	s.t.mu.Unlock()
	var b strings.Builder
	b.WriteString("GET " + req.RequestURI + " " + req.Proto + ", Host " + req.Host)
	if o := req.Header.Get("Origin"); o != "" {
		b.WriteString(", Origin " + o)
	} else {
		b.WriteString(", no Origin")
	}
	if len(offered) > 0 {
		b.WriteString(", offers subprotocol " + strings.Join(offered, ", "))
	} else {
		b.WriteString(", offers no subprotocol")
	}
	e.Summary = b.String()
	s.send(e)
}

// response records the answer to the upgrade and reports whether frames
// follow (a 101 that chose an offered subprotocol, or none).
func (s *stream) response(head []byte) bool {
	e := s.entry(trace.KindWSAccept, "")
	e.Bytes = slices.Clone(head)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		e.Summary = "an answer that is not HTTP"
		s.fail(e, StepUpgrade, fmt.Errorf("the answer is not HTTP: %w", err), "this port does not speak HTTP: is it the broker's MQTT (TCP) port? Use mqtt:// for it, or the WebSocket listener's port")
		return false
	}
	s.t.mu.Lock()
	offered, path := s.t.offered, s.t.path
	s.t.mu.Unlock()
	chosen := resp.Header.Get("Sec-WebSocket-Protocol")
	var b strings.Builder
	b.WriteString(resp.Status)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if chosen != "" {
			b.WriteString(", chose subprotocol " + chosen)
		} else {
			b.WriteString(", chose no subprotocol")
		}
	}
	for _, h := range []string{"Server", "Location", "Sec-WebSocket-Extensions", "Content-Type", "Connection", "Upgrade"} {
		if v := resp.Header.Get(h); v != "" && (resp.StatusCode != 101 || h == "Server" || h == "Sec-WebSocket-Extensions") {
			b.WriteString(", " + h + ": " + v)
		}
	}
	e.Summary = b.String()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		st := statusError(resp, path)
		s.fail(e, StepUpgrade, st.Err, st.Fix)
		s.t.mu.Lock()
		s.t.fault.Status = resp.StatusCode
		s.t.mu.Unlock()
		return false
	}
	if err := checkChosen(offered, chosen); err != nil {
		s.fail(e, StepSubprotocol, err.Err, err.Fix)
		return false
	}
	s.t.mu.Lock()
	s.t.upgraded = true
	s.t.mu.Unlock()
	s.send(e)
	return true
}

// checkChosen checks the server's subprotocol against the offer.
func checkChosen(offered []string, chosen string) *Error {
	switch {
	case chosen == "" && len(offered) > 0:
		return &Error{Step: StepSubprotocol, Err: fmt.Errorf("the server upgraded without choosing a subprotocol (offered %s)", strings.Join(offered, ", ")),
			Fix: "MQTT requires the server to answer Sec-WebSocket-Protocol: mqtt [MQTT-6.0.0-4]; browsers close such a connection at once: configure the broker or the proxy in front of it to pass the subprotocol"}
	case chosen != "" && !slices.ContainsFunc(offered, func(o string) bool { return strings.EqualFold(o, chosen) }):
		return &Error{Step: StepSubprotocol, Err: fmt.Errorf("the server chose subprotocol %q, which was not offered (offered %s)", chosen, orNone(strings.Join(offered, ", "))),
			Fix: "a client must fail such a connection [RFC 6455, 4.1]: the server or a proxy rewrites the subprotocol; offer what it expects or fix its configuration"}
	}
	return nil
}

// statusError explains an answer other than 101 Switching Protocols.
func statusError(resp *http.Response, path string) *Error {
	code := resp.StatusCode
	e := &Error{Step: StepUpgrade, Status: code, Err: fmt.Errorf("the server answered %s instead of 101 Switching Protocols", resp.Status)}
	switch {
	case code == http.StatusOK:
		e.Fix = "it answered like a web server and did not upgrade: this is a page or an API, not a WebSocket endpoint, or a proxy on the way drops the Upgrade header (nginx needs proxy_http_version 1.1 and proxy_set_header Upgrade $http_upgrade and Connection \"upgrade\")"
	case code == http.StatusNotFound:
		e.Fix = "no WebSocket endpoint at " + path + " on this port: brokers commonly use /mqtt (EMQX, HiveMQ, Lifeline), / (mosquitto) or /ws; `lifeline doctor` tries each"
	case code >= 300 && code < 400:
		e.Fix = "the server redirects to " + orNone(resp.Header.Get("Location")) + ": use that URL (ws:// for http://, wss:// for https://)"
	case code == http.StatusBadRequest:
		e.Fix = "the server refused the upgrade request: it may want another subprotocol (mqtt or mqttv3.1), another path, or it is not a WebSocket endpoint"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Fix = "refused: the server wants credentials or does not allow this Origin (a broker's or proxy's allowed origins)"
	case code == http.StatusUpgradeRequired:
		e.Fix = "the server wants another WebSocket version or protocol: check Sec-WebSocket-Version and the subprotocol"
	case code == http.StatusBadGateway || code == http.StatusGatewayTimeout:
		e.Fix = "a proxy on the way could not reach the broker behind it: check the broker and the proxy's upstream"
	case code == http.StatusServiceUnavailable:
		e.Fix = "the server is unavailable or overloaded: try again later, or check its connection limits"
	default:
		e.Fix = "the server did not upgrade to WebSocket on " + path
	}
	return e
}

// frameLoop parses the whole frames in s.buf.
func (s *stream) frameLoop() {
	for !s.dead {
		h, ok, err := ParseFrameHeader(s.buf)
		if err != nil {
			s.fail(s.entry(trace.KindWSFrame, "frame "+strconv.Itoa(s.frames+1)), StepFrames, err,
				"the other end does not speak WebSocket correctly (RFC 6455): a broken proxy or client library")
			return
		}
		if !ok {
			return
		}
		if !s.fromClient && s.t.limit > 0 && h.Length > s.t.limit {
			s.frames++
			s.fail(s.entry(trace.KindWSFrame, fmt.Sprintf("%s frame %d, %d B", h.Opcode, s.frames, h.Length)), StepFrames,
				fmt.Errorf("a frame of %d bytes is larger than the limit of %d bytes", h.Length, s.t.limit),
				"raise the limit (-max-frame) if such messages are expected, or check what the broker sends")
			return
		}
		total := uint64(h.Size) + h.Length
		if uint64(len(s.buf)) < total {
			return
		}
		payload := slices.Clone(s.buf[h.Size:total])
		if h.Masked {
			Unmask(payload, h.Mask, 0)
		}
		s.buf = s.buf[total:]
		s.frames++
		s.frame(h, payload)
	}
}

// frameNote describes a frame: "binary frame 3: FIN, 25 B, masked".
func (s *stream) frameNote(h FrameHeader, n int) string {
	note := h.Opcode.String() + " frame " + strconv.Itoa(n) + ": "
	if h.Fin {
		note += "FIN, "
	} else {
		note += "more follow, "
	}
	note += strconv.FormatUint(h.Length, 10) + " B"
	if h.Masked {
		note += ", masked"
	}
	return note
}

func (s *stream) frame(h FrameHeader, payload []byte) {
	op := h.Opcode
	if op == OpContinuation {
		if s.msgOp == 0 {
			s.fail(s.entry(trace.KindWSFrame, s.frameNote(h, s.frames)), StepFrames, errors.New("a continuation frame without a message to continue"),
				"the other end does not speak WebSocket correctly (RFC 6455)")
			return
		}
		op = s.msgOp
	} else if !op.Control() {
		if s.msgOp != 0 {
			s.fail(s.entry(trace.KindWSFrame, s.frameNote(h, s.frames)), StepFrames, errors.New("a new message began before the last one ended"),
				"the other end does not speak WebSocket correctly (RFC 6455)")
			return
		}
	}
	if !op.Control() {
		s.msgOp = op
		if h.Fin {
			s.msgOp = 0
		}
	}
	switch op {
	case OpBinary:
		s.mqtt(h, payload)
	case OpText:
		e := s.entry(trace.KindWSFrame, s.frameNote(h, s.frames)+" "+quoteStart(payload))
		if s.fromClient {
			s.send(e)
			return
		}
		s.fail(e, StepFrames, errors.New("the server sent a text frame: MQTT travels in binary frames only [MQTT-6.0.0-1]"),
			"the other end is not an MQTT broker (an echo or chat server?) or sends text: check the URL and the path")
	case OpClose:
		code, reason, err := ParseClose(payload)
		e := s.entry(trace.KindWSClose, "close "+CloseText(code, reason))
		e.Note = s.frameNote(h, s.frames)
		e.Bytes = payload
		if err != nil {
			if len(payload) >= 2 {
				err = fmt.Errorf("a close with invalid code %d: %w", code, err)
			}
			s.fail(e, StepFrames, err, "the other end violates RFC 6455 7.4 (codes 1004-1006 and 1015 are never sent, 1016-2999 are unassigned)")
			return
		}
		s.send(e)
	default: // ping, pong
		e := s.entry(trace.KindWSFrame, s.frameNote(h, s.frames))
		e.Bytes = payload
		s.send(e)
	}
}

// mqtt splits the binary payload into MQTT packets and records each.
func (s *stream) mqtt(h FrameHeader, payload []byte) {
	if s.split == nil {
		return
	}
	if s.pktFrame == 0 {
		s.pktFrame = s.frames
	}
	s.split.Write(payload)
	for {
		pkt, ok, err := s.split.Next()
		if err != nil {
			e := s.entry(trace.KindWSFrame, s.frameNote(h, s.frames))
			s.split = nil
			e.Error = "the binary frames do not hold MQTT: " + err.Error()
			s.send(e)
			if !s.fromClient {
				s.t.setFault(&Error{Step: StepFrames, Err: errors.New(e.Error), Fix: "the other end is not an MQTT broker: check the URL and the path"})
			}
			return
		}
		if !ok {
			if s.split.Buffered() == 0 {
				s.pktFrame = 0
			}
			return
		}
		s.packet(h, pkt)
		s.pktFrame = s.frames
	}
}

func (s *stream) packet(h FrameHeader, pkt []byte) {
	s.t.mu.Lock()
	if codec.PacketType(pkt[0]>>4) == codec.TypeConnect {
		if v, err := codec.PeekVersion(pkt); err == nil {
			s.t.version = int(v)
		}
	}
	v := s.t.version
	s.t.mu.Unlock()
	e := s.entry(trace.KindMQTT(codec.PacketType(pkt[0]>>4).String()), "")
	e.Bytes, e.Version = slices.Clone(pkt), v
	if p, err := codec.Decode(pkt, codec.Version(v)); err == nil {
		e.Summary = codec.Summary(p)
	} else {
		e.Summary, e.Error = "invalid packet", err.Error()
	}
	e.Note = s.frameNote(h, s.frames)
	if s.pktFrame != s.frames {
		e.Note = "in frames " + strconv.Itoa(s.pktFrame) + " to " + strconv.Itoa(s.frames) + ", last: " + e.Note
	} else {
		e.Note = "in " + e.Note
	}
	s.send(e)
}

// quoteStart quotes the first bytes of a text payload.
func quoteStart(p []byte) string {
	if len(p) > 40 {
		return strconv.Quote(string(p[:40])) + "…"
	}
	return strconv.Quote(string(p))
}

// splitTokens splits comma-separated header values into trimmed tokens.
func splitTokens(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}
