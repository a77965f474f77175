package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// A trace channel holds at most traceQueueBytes (as its messages' JSON
// will take, roughly: entryJSON for an entry's fields beyond its bytes) or
// traceQueueLen messages unsent; entries beyond are dropped, and counted in
// the queue where they were lost, rather than slowing the proxy. The queue
// is a slice that grows as entries come, so an idle channel holds none.
const (
	traceQueueBytes = 4 << 20
	traceQueueLen   = 4096
	entryJSON       = 256
)

// hub holds the open trace channels by token.
type hub struct {
	mu       sync.Mutex
	channels map[string]*traceChannel
	// bySession holds the channels by the page's session id (see
	// sessionid.go); ended the ids of closed ones, to refuse their reuse.
	bySession map[string]*traceChannel
	ended     map[string]time.Time
}

// traceChannel is one /trace WebSocket: the page that opened it reads the
// entries of every /mqtt session started with its token.
type traceChannel struct {
	token     string
	sessionID string // the page's session id, "" if it sent none
	start     time.Time
	ws        *websocket.Conn

	mu       sync.Mutex
	seq      int
	conns    int
	used     map[string]bool     // every conn id this trace has had
	sessions map[string]*session // the open /mqtt sessions of this trace, by conn
	queued   int                 // bytes in q, as traceQueueBytes counts them
	closed   bool
	away     bool        // closed by Shutdown: a close frame 1001 follows the queue
	q        []traceItem // what writeLoop has not taken yet, in order
	wake     chan struct{}
	// bc is the connection writeLoop writes its frames to (see
	// batchConn).
	bc *batchConn
	// batch: the frame type of the batches the reader asked for
	// (/trace?batch=1: text, batch=2 and 3: binary, see batchForm), 0 for
	// none; compact: batch=3's records (pagejson.Compact) rather than
	// lines. Set before writeLoop starts.
	batch   int
	compact bool
	// spare is the slice of the last batch sent, emptied, for q to be
	// next: kept while entries keep coming, given back to queuePool once
	// the channel has been idle for spareIdle.
	spare []traceItem
}

// queuePool holds the slices trace channels queue messages in: a channel
// takes one when a message comes and its writer gives it back once sent
// and the channel has been idle for spareIdle, so an idle channel holds
// none. While entries keep coming a channel reuses its own two slices: taken
// from the pool for every batch, the queue was often a new slice grown
// entry by entry (the pool is per processor, and the relay's goroutine is
// rarely on the writer's).
var queuePool = sync.Pool{New: func() any { return new([]traceItem) }}

const spareIdle = time.Second

// traceItem is one message queued on a trace channel: an entry, which
// writeLoop describes (see describe) and encodes, or a message already
// encoded (msg), or a note that dropped entries were lost at this point of
// the queue.
type traceItem struct {
	e       trace.Entry
	msg     []byte
	dropped int
}

func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b[:])
}

func (h *hub) add(ws *websocket.Conn, bc *batchConn) *traceChannel {
	tc := &traceChannel{token: newToken(), start: time.Now(), ws: ws, bc: bc, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.channels == nil {
		h.channels = map[string]*traceChannel{}
	}
	h.channels[tc.token] = tc
	h.mu.Unlock()
	return tc
}

func (h *hub) get(token string) *traceChannel {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.channels[token]
}

func (h *hub) remove(tc *traceChannel) {
	h.mu.Lock()
	delete(h.channels, tc.token)
	h.releaseSession(tc)
	h.mu.Unlock()
	tc.mu.Lock()
	tc.closed = true
	tc.mu.Unlock()
	tc.signal()
}

// signal wakes writeLoop.
func (tc *traceChannel) signal() {
	select {
	case tc.wake <- struct{}{}:
	default:
	}
}

// goAway ends tc as the server shuts down: the messages already queued are
// sent, then a close frame 1001 (going away).
func (h *hub) goAway(tc *traceChannel) {
	tc.mu.Lock()
	tc.away = true
	tc.mu.Unlock()
	h.remove(tc)
}

func (h *hub) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.channels)
}

func (h *hub) all() []*traceChannel {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*traceChannel, 0, len(h.channels))
	for _, tc := range h.channels {
		out = append(out, tc)
	}
	return out
}

// since is t in milliseconds of this trace session.
func (tc *traceChannel) since(t time.Time) float64 { return msSince(tc.start, t) }

func msSince(start, t time.Time) float64 { return float64(t.Sub(start)) / float64(time.Millisecond) }

// maxConnID is the longest connection id a page may choose.
const maxConnID = 32

// checkConnID says in words what is wrong with a connection id a page
// chose (&conn= on /mqtt): 1 to maxConnID letters, digits, '-', '_' or
// '.'; "" if nothing is.
func checkConnID(id string) string {
	if id == "" || len(id) > maxConnID {
		return "conn: want 1 to " + itoa(maxConnID) + " characters, got " + itoa(len(id))
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return "conn: only letters, digits, '-', '_' and '.' (character " + itoa(i+1) + " is not)"
		}
	}
	return ""
}

// claimConn registers ss under the connection id the page chose (&conn=),
// which labels the session's entries: the page then knows its
// connections' ids without predicting them from the order its requests
// arrive in. An id is used once per trace. Without one the proxy numbers
// the connection (c1, c2, … skipping ids already used), for clients other
// than the page. refused says in words why an id is not taken.
func (tc *traceChannel) claimConn(id string, ss *session) (conn, refused string) {
	if id != "" {
		if why := checkConnID(id); why != "" {
			return "", why
		}
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.used == nil {
		tc.used = map[string]bool{}
		tc.sessions = map[string]*session{}
	}
	if id == "" {
		for id == "" || tc.used[id] {
			tc.conns++
			id = "c" + itoa(tc.conns)
		}
	} else if tc.used[id] {
		return "", "conn " + id + " is already used in this trace: choose a new id for each connection"
	}
	tc.used[id] = true
	tc.sessions[id] = ss
	return id, ""
}

// forget unregisters an ended session.
func (tc *traceChannel) forget(conn string) {
	tc.mu.Lock()
	delete(tc.sessions, conn)
	tc.mu.Unlock()
}

// session returns this trace's open session conn, or nil.
func (tc *traceChannel) session(conn string) *session {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.sessions[conn]
}

// cut aborts the broker connection of this trace's session conn and tells
// the page whether it did: {"type":"cut","conn":…,"ok":true} or with
// "ok":false and an "error".
func (tc *traceChannel) cut(conn string) {
	reply := map[string]any{"type": "cut", "conn": conn, "ok": true}
	ss := tc.session(conn)
	var err error
	if ss == nil {
		err = errNoSuchConn
	} else {
		err = ss.cut()
	}
	if err != nil {
		reply["ok"] = false
		reply["error"] = err.Error()
	}
	tc.send(reply)
}

// emit numbers e and queues it; it never blocks. Encoding it, and
// describing a packet's (see describe), is writeLoop's work, off the relay's
// path.
func (tc *traceChannel) emit(e trace.Entry) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.closed {
		return
	}
	tc.seq++
	e.Seq = tc.seq
	tc.push(traceItem{e: e}, entryJSON+len(e.Bytes)*4/3+len(e.Summary)+len(e.Note)+len(e.Error))
}

// push queues one message of about size bytes, or counts it dropped where
// it was lost; the caller holds tc.mu.
func (tc *traceChannel) push(it traceItem, size int) {
	n := len(tc.q)
	if tc.q == nil {
		if tc.q, tc.spare = tc.spare, nil; tc.q == nil {
			tc.q = (*queuePool.Get().(*[]traceItem))[:0]
		}
	}
	switch {
	case tc.queued+size <= traceQueueBytes && n < traceQueueLen:
		tc.q = append(tc.q, it)
		tc.queued += size
	case n > 0 && tc.q[n-1].dropped > 0:
		tc.q[n-1].dropped++
		return
	default:
		// One note per run of losses: there are never more notes than
		// messages, so the queue stays bounded.
		tc.q = append(tc.q, traceItem{dropped: 1})
	}
	if n == 0 { // writeLoop may be waiting
		tc.signal()
	}
}

func (tc *traceChannel) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if !tc.closed {
		tc.push(traceItem{msg: b}, len(b))
	}
}

// traceGather is how long a trace channel's writer waits, once woken, for
// more entries before it sends what is queued. The entries carry their own
// times, so the page draws them the same; under load (an entry or more per
// round trip) it makes one write of many entries rather than a wake-up and
// a write for each, which on a busy machine slowed the relay itself.
const traceGather = time.Millisecond

// writeLoop sends the queued messages until the channel is closed and its
// queue empty. It takes everything queued at once (after traceGather) and
// sends it in one write, so that the sessions never wait for it. After a
// batch it looks again traceGather later rather than wait to be woken:
// while entries keep coming the sessions' relays never wake it, which costs
// a wake-up (a system call) on the relay's path; it waits to be woken once
// a look finds nothing.
func (tc *traceChannel) writeLoop(writeTimeout time.Duration) {
	var enc traceEncoder
	idle := time.NewTimer(spareIdle)
	idle.Stop()
	defer tc.releaseSpare()
	busy := false // the last look found messages
	for {
		tc.mu.Lock()
		for !busy && len(tc.q) == 0 && !tc.closed {
			spare := tc.spare != nil
			tc.mu.Unlock()
			if !spare {
				<-tc.wake
			} else {
				idle.Reset(spareIdle)
				select {
				case <-tc.wake:
					idle.Stop()
				case <-idle.C:
					tc.releaseSpare()
					enc.shapes = shapes{}
				}
			}
			tc.mu.Lock()
		}
		tc.mu.Unlock()
		// Let more entries come, for one write: the sessions relay
		// meanwhile without this goroutine competing for the CPU.
		time.Sleep(traceGather)
		tc.mu.Lock()
		batch, closed := tc.q, tc.closed
		tc.q, tc.queued = nil, 0
		tc.mu.Unlock()
		if busy = len(batch) > 0; !busy {
			if closed {
				break // everything sent
			}
			continue
		}
		err := tc.writeBatch(batch, &enc, writeTimeout)
		clear(batch)
		tc.mu.Lock()
		if tc.spare == nil {
			tc.spare, batch = batch[:0], nil
		}
		tc.mu.Unlock()
		if batch != nil {
			batch = batch[:0]
			queuePool.Put(&batch)
		}
		if err != nil {
			// The reader is gone: nothing more is queued.
			tc.mu.Lock()
			tc.closed = true
			tc.mu.Unlock()
			break
		}
	}
	tc.mu.Lock()
	away := tc.away
	tc.mu.Unlock()
	if away {
		_ = tc.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
	}
	tc.ws.Close() // ends the read loop, which removes the channel
}

// releaseSpare gives the channel's spare queue back to queuePool.
func (tc *traceChannel) releaseSpare() {
	tc.mu.Lock()
	spare := tc.spare
	tc.spare = nil
	tc.mu.Unlock()
	if spare != nil {
		queuePool.Put(&spare)
	}
}

// batchForm reads the form a /trace reader asks for: batch=1, messages
// gathered into text messages of one or more lines (see writeBatch);
// batch=2, the same lines in binary messages (UTF-8, as the text would
// be: a browser hands them over as bytes, neither decoded into a string
// nor encoded again for WebAssembly); batch=3, binary messages of records
// in which a packet's entry is its bytes, raw (pagejson.Compact, the
// page's); by default, or batch=0, one message per WebSocket message. It
// returns the frame type of a batch, 0 for none, and whether it is
// batch=3's.
func batchForm(q url.Values) (frame int, compact bool, err error) {
	if !q.Has("batch") {
		return 0, false, nil
	}
	switch v := q.Get("batch"); v {
	case "0":
		return 0, false, nil
	case "1":
		return websocket.TextMessage, false, nil
	case "2":
		return websocket.BinaryMessage, false, nil
	case "3":
		return websocket.BinaryMessage, true, nil
	default:
		return 0, false, errors.New("batch: want 1 (messages a line each, gathered in text messages), 2 (the same in binary messages), 3 (binary records, packets raw) or 0, got " + strconv.Quote(v))
	}
}

// writeBatch sends the messages of batch as frames of its own making
// (appendFrame), gathered into writes of about batchWrite bytes, each given
// writeTimeout (as each message was when they were written one by one).
// Each message is a frame of its own; for a channel in batch form
// (tc.batch) the messages of a write share one frame (text or binary)
// instead, a message a line: JSON never holds a raw newline, so '\n'
// separates them.
func (tc *traceChannel) writeBatch(batch []traceItem, enc *traceEncoder, writeTimeout time.Duration) error {
	buf := batchPool.Get().(*[]byte)
	out := (*buf)[:0]
	var err error
	frame := -1 // where the open frame of a batch form starts in out
	for i := range batch {
		last := i == len(batch)-1
		if tc.batch == 0 {
			out = enc.appendFramed(out, &batch[i])
		} else {
			if frame < 0 {
				out, frame = openFrame(out)
			}
			if tc.compact {
				out = enc.appendRecord(out, &batch[i])
			} else {
				out = enc.appendLine(out, &batch[i], len(out) > frame+frameGuess)
			}
			if len(out) < batchWrite && !last {
				continue // the frame stays open
			}
			out, frame = closeFrame(out, frame, tc.batch), -1
		}
		if len(out) >= batchWrite || (last && len(out) > 0) {
			if err = tc.bc.writeFrames(out, time.Now().Add(writeTimeout)); err != nil {
				break
			}
			out = out[:0]
		}
	}
	if cap(out) <= maxBatchBuf {
		*buf = out[:0]
		batchPool.Put(buf)
	}
	return err
}

// batchWrite is about the most a trace channel writes at once; batchPool
// holds the buffers its batches are framed in (one larger than maxBatchBuf,
// for a large entry, is let go).
const (
	batchWrite  = 64 << 10
	maxBatchBuf = 256 << 10
)

var batchPool = sync.Pool{New: func() any { return new([]byte) }}

// traceEncoder encodes the trace channel's messages. It keeps a PUBLISH
// to decode packets into (describe), reused from one to the next, and the
// shapes of the entries it writes (until the channel is idle); in the
// compact form, the ids of the shapes it has defined for the reader (for
// the channel's life, up to pagejson.MaxCompactShapes, then anew).
type traceEncoder struct {
	pub     codec.Publish
	shapes  shapes
	ids     map[shapeKey]int
	scratch []byte
}

// appendRecord appends it as a record of the compact form (batch=3): an
// MQTT packet's entry as its bytes and the id of its shape, defined first
// if new (its summary is neither made nor sent: a reader labels it from
// its bytes; the packet is decoded only to find one the codec cannot
// read, which goes as a line with the codec's error, as in the others);
// anything else (a lab.hold's packet, whose summary says more) as its
// JSON in a line record. Nothing for an entry that cannot be encoded.
func (te *traceEncoder) appendRecord(b []byte, it *traceItem) []byte {
	if it.msg != nil {
		return pagejson.AppendCompactLine(b, it.msg)
	}
	if it.dropped == 0 {
		e := &it.e
		if e.Summary == "" && e.Leg == trace.LegProxyBroker && len(e.Bytes) > 0 && decodeWith(e.Bytes, e.Version, &te.pub, nil) != nil {
			describeWith(e, &te.pub) // the codec's error, in a line
		}
		if k, ok := shapeOf(e); ok && strings.HasPrefix(e.Kind, "mqtt.") {
			id, ok := te.ids[k]
			if !ok {
				if te.ids == nil || len(te.ids) >= pagejson.MaxCompactShapes {
					te.ids = map[shapeKey]int{}
				}
				id = len(te.ids)
				te.ids[k] = id
				b = pagejson.AppendCompactShape(b, id, e)
			}
			return pagejson.AppendCompactPacket(b, id, e)
		}
	}
	msg, ok := te.appendMsg(te.scratch[:0], it)
	te.scratch = msg[:0]
	if cap(te.scratch) > maxBatchBuf {
		te.scratch = nil
	}
	if !ok {
		return b
	}
	return pagejson.AppendCompactLine(b, msg)
}

// appendFramed appends it as the channel sends it: one text frame holding
// its JSON. It appends nothing for an entry that cannot be encoded
// (nothing the page could read).
func (te *traceEncoder) appendFramed(b []byte, it *traceItem) []byte {
	if it.msg != nil {
		return appendFrame(b, websocket.TextMessage, it.msg)
	}
	b, start := openFrame(b)
	var ok bool
	if b, ok = te.appendMsg(b, it); !ok {
		return b[:start]
	}
	return closeFrame(b, start, websocket.TextMessage)
}

// appendLine appends it as a line of a frame in batch form, after a
// newline if it is not the frame's first; nothing for an entry that cannot
// be encoded.
func (te *traceEncoder) appendLine(b []byte, it *traceItem, more bool) []byte {
	start := len(b)
	if more {
		b = append(b, '\n')
	}
	if it.msg != nil {
		return append(b, it.msg...)
	}
	b, ok := te.appendMsg(b, it)
	if !ok {
		return b[:start]
	}
	return b
}

// openFrame starts a text frame at the end of b: its payload is appended
// after room for the usual header (frameGuess bytes, for 126 to 65535
// bytes), which closeFrame writes in front of it once its size is known.
// It returns b and where the frame starts.
func openFrame(b []byte) ([]byte, int) {
	return append(b, make([]byte, frameGuess)...), len(b)
}

const frameGuess = 4

// closeFrame writes the header of the frame of type op openFrame started
// at start, moving the payload for a header of another size; a frame with
// no payload is taken out.
func closeFrame(b []byte, start, op int) []byte {
	n := len(b) - start - frameGuess
	if n == 0 {
		return b[:start]
	}
	switch h := frameHeaderLen(n); {
	case h < frameGuess:
		copy(b[start+h:], b[start+frameGuess:])
		b = b[:start+h+n]
	case h > frameGuess:
		b = append(b, make([]byte, h-frameGuess)...)
		copy(b[start+h:], b[start+frameGuess:start+frameGuess+n])
	}
	appendFrameHeader(b[start:start], op, n)
	return b
}

// appendMsg appends the JSON of a dropped note or an entry; ok is false for
// an entry that cannot be encoded.
func (te *traceEncoder) appendMsg(b []byte, it *traceItem) (_ []byte, ok bool) {
	if it.dropped > 0 {
		b = append(b, `{"type":"dropped","count":`...)
		return append(strconv.AppendInt(b, int64(it.dropped), 10), '}'), true
	}
	describeWith(&it.e, &te.pub)
	return te.shapes.appendEntryMsg(b, &it.e)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// pageEnds returns the browser's and the proxy's addresses of r's
// connection, as trace.Entry's Src and Dst write them.
func pageEnds(r *http.Request) [2]string {
	var ends [2]string
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ends[0] = unmapped(ap)
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		ends[1] = unmapped(a.AddrPort())
	}
	return ends
}

func unmapped(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// entryEnds is the Src and Dst of an entry of a session from party from on
// leg: page holds the browser's and the proxy's addresses, broker the
// proxy's and the broker's.
func entryEnds(leg, from string, page, broker [2]string) (src, dst string) {
	ends, first := broker, "proxy"
	if leg == trace.LegBrowserProxy {
		ends, first = page, "browser"
	}
	if from == first {
		return ends[0], ends[1]
	}
	return ends[1], ends[0]
}
