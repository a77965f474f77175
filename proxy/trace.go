package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// traceQueueBytes bounds what one trace channel may hold unsent; entries
// beyond it are dropped (and counted) rather than slowing the proxy.
const traceQueueBytes = 4 << 20

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
	sessions map[string]*session // the open /mqtt sessions of this trace, by conn
	queued   int                 // bytes in q
	dropped  int
	closed   bool
	away     bool // closed by Shutdown: a close frame 1001 follows the queue
	q        chan []byte
	wake     chan struct{}
}

func newToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b[:])
}

func (h *hub) add(ws *websocket.Conn) *traceChannel {
	tc := &traceChannel{token: newToken(), start: time.Now(), ws: ws,
		q: make(chan []byte, 4096), wake: make(chan struct{}, 1)}
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
	if !tc.closed {
		tc.closed = true
		close(tc.q)
	}
	tc.mu.Unlock()
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

// nextConn names the next /mqtt connection of this trace (c1, c2, …) and
// registers its session, for commands from the page (see cut).
func (tc *traceChannel) nextConn(ss *session) string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.conns++
	conn := "c" + itoa(tc.conns)
	if tc.sessions == nil {
		tc.sessions = map[string]*session{}
	}
	tc.sessions[conn] = ss
	return conn
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

type entryMsg struct {
	Type  string       `json:"type"`
	Entry *trace.Entry `json:"entry"`
}

// emit numbers e and queues it; it never blocks.
func (tc *traceChannel) emit(e trace.Entry) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.closed {
		return
	}
	tc.seq++
	e.Seq = tc.seq
	b, err := json.Marshal(entryMsg{Type: "entry", Entry: &e})
	if err != nil {
		return
	}
	tc.push(b)
}

// push queues one message; the caller holds tc.mu.
func (tc *traceChannel) push(b []byte) {
	if tc.queued+len(b) > traceQueueBytes {
		tc.dropped++
		return
	}
	select {
	case tc.q <- b:
		tc.queued += len(b)
	default:
		tc.dropped++
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
		tc.push(b)
	}
}

// writeLoop sends the queued messages until the queue is closed.
func (tc *traceChannel) writeLoop(writeTimeout time.Duration) {
	for b := range tc.q {
		tc.mu.Lock()
		tc.queued -= len(b)
		dropped := tc.dropped
		tc.dropped = 0
		tc.mu.Unlock()
		tc.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if dropped > 0 {
			note, _ := json.Marshal(map[string]any{"type": "dropped", "count": dropped})
			if tc.ws.WriteMessage(websocket.TextMessage, note) != nil {
				break
			}
		}
		if tc.ws.WriteMessage(websocket.TextMessage, b) != nil {
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
	// Drain so emitters never see a full queue of a dead channel.
	for range tc.q {
	}
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
