package proxy

import (
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// This file is the lab bench: controls the page sends on its trace channel
// ({"type":"lab",…}, see doc.go) that hold, step, release, drop, delay and
// silence the MQTT packets of one of its sessions at the proxy.
//
// A session's lab is idle until its first control; from then on (at the
// next packet boundary of each direction) every packet read from one side
// is copied whole and queued here, and one writer goroutine per direction
// forwards the queue in order: a held packet waits for step, release or
// resume, a delayed one for its time; packets that are not held pass the
// held ones of their direction. Queued bytes are bounded (Config.LabBytes):
// at the bound the proxy stops reading that side (backpressure, as a full
// TCP window) and says so; nothing is dropped unless asked.

// Lab directions.
type labDir int

const (
	toBroker labDir = iota // the page's packets, on their way to the broker
	toPage                 // the broker's packets, on their way to the page
)

var dirNames = [2]string{"toBroker", "toPage"}

func (d labDir) String() string { return dirNames[d] }

// dest is the party a packet of this direction goes to, as in trace entries.
func (d labDir) dest() string {
	if d == toBroker {
		return "broker"
	}
	return "browser"
}

// leg is the leg a packet of this direction leaves the proxy on.
func (d labDir) leg() string {
	if d == toBroker {
		return trace.LegProxyBroker
	}
	return trace.LegBrowserProxy
}

// parseDirs reads a direction: "toBroker", "toPage", or "" for both.
func parseDirs(s string) ([]labDir, error) {
	switch s {
	case "toBroker":
		return []labDir{toBroker}, nil
	case "toPage":
		return []labDir{toPage}, nil
	case "", "both":
		return []labDir{toBroker, toPage}, nil
	}
	return nil, errors.New(`unknown direction "` + s + `": want "toBroker", "toPage" or "both"`)
}

// MaxLabDelay is the largest extra latency the lab adds to a direction.
const MaxLabDelay = 5 * time.Second

// packetFilter selects packets by type and, for PUBLISH, by topic.
type packetFilter struct {
	types uint16 // bit t set: packet type t matches
	topic string // a topic filter (+ and # allowed) a PUBLISH's topic must match; "" for any
}

const allTypes = 0xfffe // types 1 to 15

// parseFilter reads packet type names ("PUBACK", or "*" for all) and an
// optional topic filter.
func parseFilter(types []string, topic string) (packetFilter, error) {
	var f packetFilter
	if len(types) == 0 {
		return f, errors.New(`no packet types: name one or more (e.g. "PUBACK"), or "*" for all`)
	}
	for _, name := range types {
		if name == "*" {
			f.types = allTypes
			continue
		}
		t := packetTypeByName(name)
		if t == 0 {
			return f, errors.New(`unknown packet type "` + name + `": want an MQTT packet type such as PUBLISH, PUBACK, PUBREC, PINGREQ, or "*"`)
		}
		f.types |= 1 << t
	}
	if topic != "" {
		if err := checkTopicFilter(topic); err != nil {
			return f, err
		}
		if f.types&(1<<codec.TypePublish) == 0 {
			return f, errors.New("a topic selects PUBLISH packets only: include PUBLISH in the types")
		}
	}
	f.topic = topic
	return f, nil
}

// packetTypeByName returns the packet type named name (any case), or 0.
func packetTypeByName(name string) codec.PacketType {
	for t := codec.PacketType(1); t < 16; t++ {
		if strings.EqualFold(t.String(), name) {
			return t
		}
	}
	return 0
}

// match reports whether the packet (first byte and, when kept, its bytes)
// is selected. With a topic only PUBLISH packets whose topic matches are.
func (f packetFilter) match(first byte, pkt []byte) bool {
	if f.types&(1<<(first>>4)) == 0 {
		return false
	}
	if f.topic == "" {
		return true
	}
	if first>>4 != byte(codec.TypePublish) {
		return false
	}
	topic, ok := publishTopic(pkt)
	return ok && topicMatch(f.topic, topic)
}

func (f packetFilter) String() string {
	var names []string
	if f.types == allTypes {
		names = []string{"every packet"}
	} else {
		for t := codec.PacketType(1); t < 16; t++ {
			if f.types&(1<<t) != 0 {
				names = append(names, t.String())
			}
		}
	}
	s := strings.Join(names, ", ")
	if f.topic != "" {
		s += " on " + f.topic
	}
	return s
}

// dropRule swallows the next left packets its filter selects.
type dropRule struct {
	f    packetFilter
	left int
}

// labPacket is a packet queued by the lab.
type labPacket struct {
	dir    labDir
	ord    int // arrival order over both directions
	first  byte
	b      []byte
	at     time.Time // read from its sender
	due    time.Time // forwarded no earlier (at + the direction's delay)
	held   bool
	heldAt time.Time
	entry  trace.Entry // toBroker: the packet's entry, emitted once written
}

func (p *labPacket) name() string { return typeName(p.first) }

// lab is one session's lab bench.
type lab struct {
	ss    *session
	limit int // queued bytes at most (a single packet larger than it passes alone)

	// on is set by the first control: the readers then hand every packet
	// to the lab, from the next packet boundary on.
	on atomic.Bool

	mu       sync.Mutex
	started  bool // the writers run
	ended    bool
	holds    [2][]packetFilter
	paused   [2]bool
	silenced bool
	delay    [2]time.Duration
	drops    [2][]dropRule
	q        [2][]*labPacket
	bytes    int // queued, both directions
	ord      int
	space    chan struct{} // closed (and replaced) when queued bytes shrink
	wake     [2]chan struct{}
	busy     [2]bool       // the writer of a direction is forwarding a packet
	done     chan struct{} // closed when the session ends
	wg       sync.WaitGroup
}

func newLab(ss *session, limit int) *lab {
	return &lab{ss: ss, limit: limit, space: make(chan struct{}),
		wake: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}, done: make(chan struct{})}
}

// labRequest is a control from the page.
type labRequest struct {
	Type  string   `json:"type"`
	ID    any      `json:"id,omitempty"`
	Conn  string   `json:"conn"`
	Op    string   `json:"op"`
	Dir   string   `json:"dir,omitempty"`
	Types []string `json:"types,omitempty"`
	Topic string   `json:"topic,omitempty"`
	Count int      `json:"count,omitempty"`
	Ms    *float64 `json:"ms,omitempty"`
}

// LabState is what the lab of a session is doing, sent with every answer.
type LabState struct {
	Held      map[string]int      `json:"held"`   // packets held, by direction
	Queued    map[string]int      `json:"queued"` // held or waiting for their delay
	Bytes     int                 `json:"bytes"`  // queued bytes, both directions
	Limit     int                 `json:"limit"`  // the bound on Bytes
	Holds     map[string][]string `json:"holds"`  // the hold filters, in words
	Paused    map[string]bool     `json:"paused"`
	Silenced  bool                `json:"silenced"`
	DelayMs   map[string]float64  `json:"delayMs"`
	Drops     map[string][]string `json:"drops"` // "next 2 × PUBACK"
	Active    bool                `json:"active"`
	SessionOK bool                `json:"open"` // the session is open
}

// errLabEnded is the answer to a control of a session that has ended.
var errLabEnded = errors.New("the connection has already ended: nothing was changed")

// control applies one control and returns the state after it. An error
// changes nothing.
func (l *lab) control(r labRequest) (LabState, error) {
	dirs, err := parseDirs(r.Dir)
	if err != nil {
		return l.state(), err
	}
	var f packetFilter
	switch r.Op {
	case "hold", "drop":
		if r.Dir == "" || r.Dir == "both" {
			return l.state(), errors.New(r.Op + ` needs a direction: "toBroker" or "toPage"`)
		}
		if f, err = parseFilter(r.Types, r.Topic); err != nil {
			return l.state(), err
		}
	case "delay":
		if r.Ms == nil {
			return l.state(), errors.New("delay needs ms: the extra latency in milliseconds, 0 to 5000")
		}
		if *r.Ms < 0 || *r.Ms > float64(MaxLabDelay/time.Millisecond) || *r.Ms != *r.Ms {
			return l.state(), errors.New("delay " + strconv.FormatFloat(*r.Ms, 'f', -1, 64) + " ms is out of range: 0 to 5000 ms")
		}
	case "state", "step", "release", "pause", "resume", "silence":
	default:
		return l.state(), errors.New(`unknown lab operation "` + r.Op + `": want hold, step, release, pause, resume, drop, delay, silence or state`)
	}
	count := r.Count
	if r.Op == "drop" {
		if count == 0 {
			count = 1
		}
		if count < 0 || count > 1000 {
			return l.state(), errors.New("drop count " + strconv.Itoa(count) + " is out of range: 1 to 1000")
		}
	}
	if r.Op == "state" {
		return l.state(), nil
	}

	now := time.Now()
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return l.state(), errLabEnded
	}
	var what string
	kind := "lab." + r.Op
	switch r.Op {
	case "hold":
		d := dirs[0]
		l.holds[d] = append(l.holds[d], f)
		what = "hold " + f.String() + " " + d.words()
	case "pause":
		for _, d := range dirs {
			l.paused[d] = true
			l.holdQueued(d, now, "paused")
		}
		kind, what = trace.KindLabHold, "pause "+dirsWords(dirs)+": hold every packet"
	case "silence":
		l.silenced = true
		l.holdQueued(toBroker, now, "silenced")
		l.holdQueued(toPage, now, "silenced")
		what = "silence: nothing forwarded either way, both TCP connections left open"
	case "resume":
		wasSilent := l.silenced
		if wasSilent {
			// Silence held both ways: ending it lets both go.
			dirs = []labDir{toBroker, toPage}
		}
		n := 0
		for _, d := range dirs {
			l.holds[d], l.paused[d] = nil, false
			n += l.releaseAll(d, now)
		}
		l.silenced = false
		kind, what = trace.KindLabRelease, "resume "+dirsWords(dirs)+": holds cleared, "+plural(n, "held packet")+" released in order"
		if wasSilent {
			kind, what = trace.KindLabSilence, "silence ended: "+plural(n, "held packet")+" released in order"
		}
	case "step":
		p := l.oldestHeld(dirs)
		if p == nil {
			l.mu.Unlock()
			return l.state(), errors.New("nothing is held " + dirsWords(dirs) + ": nothing to step")
		}
		l.releaseOne(p, now)
		kind, what = trace.KindLabRelease, "step: "+p.name()+" released "+p.dir.words()
	case "release":
		n := 0
		for _, d := range dirs {
			n += l.releaseAll(d, now)
		}
		what = "release " + dirsWords(dirs) + ": " + plural(n, "held packet") + " in order"
	case "drop":
		d := dirs[0]
		l.drops[d] = append(l.drops[d], dropRule{f: f, left: count})
		what = "drop the next " + plural(count, f.String()+" packet") + " " + d.words()
	case "delay":
		dur := time.Duration(*r.Ms * float64(time.Millisecond))
		for _, d := range dirs {
			l.delay[d] = dur
		}
		what = "delay " + dirsWords(dirs) + " by " + dur.String()
	}
	l.start()
	e := l.ss.entry(now, trace.LegBrowserProxy, "browser", "proxy", kind, what)
	e.Note = "a lab control from the page, on its trace channel"
	l.ss.emit(e)
	l.mu.Unlock()
	return l.state(), nil
}

func (d labDir) words() string {
	if d == toBroker {
		return "toward the broker"
	}
	return "toward the page"
}

func dirsWords(dirs []labDir) string {
	if len(dirs) == 1 {
		return dirs[0].words()
	}
	return "both ways"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// start engages the lab: the readers hand it their packets and the writers
// run until the session ends. l.mu is held.
func (l *lab) start() {
	if l.started {
		return
	}
	l.started = true
	l.wg.Add(2)
	go l.writer(toBroker)
	go l.writer(toPage)
	l.on.Store(true)
}

// holdQueued marks the queued packets of d as held (pause, silence).
func (l *lab) holdQueued(d labDir, now time.Time, why string) {
	for _, p := range l.q[d] {
		if !p.held {
			p.held, p.heldAt = true, now
			l.emitPacket(p, now, trace.KindLabHold, "held at the proxy ("+why+")", "")
		}
	}
}

// oldestHeld is the held packet of dirs that arrived first, or nil.
func (l *lab) oldestHeld(dirs []labDir) *labPacket {
	var oldest *labPacket
	for _, d := range dirs {
		for _, p := range l.q[d] {
			if p.held && (oldest == nil || p.ord < oldest.ord) {
				oldest = p
			}
		}
	}
	return oldest
}

func (l *lab) releaseOne(p *labPacket, now time.Time) {
	p.held = false
	if p.due.Before(now) {
		p.due = now
	}
	l.emitPacket(p, now, trace.KindLabRelease, "released after "+ms(now.Sub(p.heldAt))+" held", "")
	l.signal(p.dir)
}

func (l *lab) releaseAll(d labDir, now time.Time) int {
	n := 0
	for _, p := range l.q[d] {
		if p.held {
			l.releaseOne(p, now)
			n++
		}
	}
	return n
}

func (l *lab) signal(d labDir) {
	select {
	case l.wake[d] <- struct{}{}:
	default:
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
}

// emitPacket emits an entry about a queued packet at the proxy.
func (l *lab) emitPacket(p *labPacket, at time.Time, kind, what, errText string) {
	e := l.ss.entry(at, p.dir.leg(), "proxy", "proxy", kind, p.name()+" "+what)
	e.Bytes = p.b
	e.Version = int(l.ss.version.Load())
	e.Error = errText
	l.ss.emit(e)
}

// state is a snapshot of the lab.
func (l *lab) state() LabState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LabState{Held: map[string]int{}, Queued: map[string]int{}, Bytes: l.bytes, Limit: l.limit,
		Holds: map[string][]string{}, Paused: map[string]bool{}, Silenced: l.silenced,
		DelayMs: map[string]float64{}, Drops: map[string][]string{}, Active: l.started, SessionOK: !l.ended}
	for d := range labDir(2) {
		name := d.String()
		for _, p := range l.q[d] {
			if p.held {
				st.Held[name]++
			}
		}
		st.Queued[name] = len(l.q[d])
		st.Holds[name] = []string{}
		for _, f := range l.holds[d] {
			st.Holds[name] = append(st.Holds[name], f.String())
		}
		st.Paused[name] = l.paused[d]
		st.DelayMs[name] = float64(l.delay[d]) / float64(time.Millisecond)
		st.Drops[name] = []string{}
		for _, r := range l.drops[d] {
			st.Drops[name] = append(st.Drops[name], "next "+strconv.Itoa(r.left)+" × "+r.f.String())
		}
	}
	return st
}

// submit takes a packet read from one side (its bytes are copied) and
// queues, holds or drops it. At the bound it waits for room, and reports
// the wait once. It returns false when the session has ended.
func (l *lab) submit(d labDir, first byte, pkt []byte, e trace.Entry) bool {
	at := time.Now()
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return false
	}
	for i := range l.drops[d] {
		r := &l.drops[d][i]
		if !r.f.match(first, pkt) {
			continue
		}
		r.left--
		if r.left == 0 {
			l.drops[d] = append(l.drops[d][:i], l.drops[d][i+1:]...)
		}
		p := &labPacket{dir: d, first: first, b: append([]byte(nil), pkt...)}
		l.emitPacket(p, at, trace.KindLabDrop, "dropped at the proxy, never forwarded", "")
		l.mu.Unlock()
		return true
	}
	warned := false
	var idle *time.Timer // a side kept waiting this long ends the session (IdleTimeout)
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for l.bytes > 0 && l.bytes+len(pkt) > l.limit {
		if !warned {
			warned = true
			e := l.ss.entry(at, d.leg(), "proxy", d.dest(), trace.KindLabHold,
				"refused to hold more: "+strconv.Itoa(l.bytes)+" bytes queued, the bound is "+strconv.Itoa(l.limit)+
					"; the proxy stops reading "+d.source()+" until packets are released")
			e.Error = "lab bound reached (-lab-bytes)"
			l.ss.emit(e)
		}
		space := l.space
		l.mu.Unlock()
		if idle == nil {
			idle = time.NewTimer(l.ss.srv.cfg.IdleTimeout)
		}
		select {
		case <-space:
		case <-l.done:
			return false
		case <-idle.C:
			// Nobody released anything for the idle timeout: while the
			// proxy is not reading it cannot see the page go, so the
			// session ends here rather than being pinned.
			l.ss.finish(websocket.CloseGoingAway, "the lab held this session at its bound for "+
				l.ss.srv.cfg.IdleTimeout.String()+" with nothing released", errors.New("lab bound: idle"))
			return false
		}
		l.mu.Lock()
		if l.ended {
			l.mu.Unlock()
			return false
		}
	}
	l.ord++
	p := &labPacket{dir: d, ord: l.ord, first: first, b: append([]byte(nil), pkt...), at: at,
		due: at.Add(l.delay[d]), entry: e}
	if n := len(l.q[d]); n > 0 && p.due.Before(l.q[d][n-1].due) {
		p.due = l.q[d][n-1].due // never overtake: a shorter delay waits for the longer one before it
	}
	switch {
	case l.silenced:
		p.held = true
	case l.paused[d]:
		p.held = true
	default:
		for _, f := range l.holds[d] {
			if f.match(first, pkt) {
				p.held = true
				break
			}
		}
	}
	l.q[d] = append(l.q[d], p)
	l.bytes += len(p.b)
	if p.held {
		p.heldAt = at
		why := "matches a hold"
		switch {
		case l.silenced:
			why = "silenced"
		case l.paused[d]:
			why = "paused"
		}
		l.emitPacket(p, at, trace.KindLabHold, "held at the proxy ("+why+"), "+plural(l.heldCount(d), "packet")+" held "+d.words(), "")
	}
	l.signal(d)
	l.mu.Unlock()
	return true
}

func (d labDir) source() string {
	if d == toBroker {
		return "the page"
	}
	return "the broker"
}

func (l *lab) heldCount(d labDir) int {
	n := 0
	for _, p := range l.q[d] {
		if p.held {
			n++
		}
	}
	return n
}

// next removes and returns the first packet of d that is not held once it
// is due; it returns nil when the session has ended.
func (l *lab) next(d labDir) *labPacket {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		l.mu.Lock()
		if l.ended {
			l.mu.Unlock()
			return nil
		}
		var p *labPacket
		i := 0
		for j, c := range l.q[d] {
			if !c.held {
				p, i = c, j
				break
			}
		}
		var wait time.Duration
		if p != nil {
			if wait = time.Until(p.due); wait <= 0 {
				l.q[d] = append(l.q[d][:i], l.q[d][i+1:]...)
				l.bytes -= len(p.b)
				l.busy[d] = true
				l.freed()
				l.mu.Unlock()
				return p
			}
		}
		l.mu.Unlock()
		var tc <-chan time.Time
		if p != nil {
			if t == nil {
				t = time.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			tc = t.C
		}
		select {
		case <-l.wake[d]:
		case <-tc:
		case <-l.done:
		}
	}
}

// writer forwards the packets of d in order until the session ends.
func (l *lab) writer(d labDir) {
	defer l.wg.Done()
	var lastDeadline time.Time
	for {
		p := l.next(d)
		if p == nil {
			return
		}
		if d == toBroker {
			lastDeadline = l.toBroker(p, lastDeadline)
		} else {
			lastDeadline = l.toPage(p, lastDeadline)
		}
		l.mu.Lock()
		l.busy[d] = false
		l.freed()
		l.mu.Unlock()
	}
}

// freed wakes whoever waits for queued bytes to shrink or a write to end;
// l.mu is held.
func (l *lab) freed() {
	close(l.space)
	l.space = make(chan struct{})
}

// note says what the lab did to a forwarded packet, or "".
func (p *labPacket) note(now time.Time) string {
	var parts []string
	if !p.heldAt.IsZero() {
		parts = append(parts, "held at the proxy")
	}
	if late := now.Sub(p.at); late >= time.Millisecond {
		parts = append(parts, "forwarded "+ms(late)+" after it was read")
	}
	if len(parts) == 0 {
		return ""
	}
	return "lab: " + strings.Join(parts, ", ")
}

// toBroker writes a packet to the broker and emits its entry once written.
func (l *lab) toBroker(p *labPacket, lastDeadline time.Time) time.Time {
	ss := l.ss
	lastDeadline = refreshDeadline(ss.broker.SetWriteDeadline, lastDeadline, ss.srv.cfg.WriteTimeout)
	ss.beginWrite()
	at := time.Now()
	n, err := ss.broker.Write(p.b)
	ss.bytesUp.Add(int64(n))
	ss.endWrite(func() {
		if err != nil {
			return
		}
		e := p.entry
		e.T = msSince(ss.start, at)
		if note := p.note(at); note != "" {
			e.Note = note
		}
		ss.emitNow(e)
	})
	if err != nil {
		l.emitPacket(p, time.Now(), trace.KindLabDrop, "never delivered: writing to the broker failed", err.Error())
		ss.brokerWriteFailed(err)
	}
	return lastDeadline
}

// toPage sends a packet to the page as one binary message.
func (l *lab) toPage(p *labPacket, lastDeadline time.Time) time.Time {
	ss := l.ss
	if ss.pageGone.Load() {
		l.emitPacket(p, time.Now(), trace.KindLabDrop, "never delivered: the page had closed its WebSocket", "")
		return lastDeadline
	}
	lastDeadline = refreshDeadline(ss.ws.SetWriteDeadline, lastDeadline, ss.srv.cfg.WriteTimeout)
	err := ss.ws.WriteMessage(websocket.BinaryMessage, p.b)
	switch {
	case err == nil:
		ss.bytesDown.Add(int64(len(p.b)))
	case isTimeout(err):
		l.emitPacket(p, time.Now(), trace.KindLabDrop, "never delivered: the page is not reading", err.Error())
		ss.finish(websocket.ClosePolicyViolation, "the page is not reading", err)
	default:
		l.emitPacket(p, time.Now(), trace.KindLabDrop, "never delivered: the page's connection is gone", err.Error())
		ss.pageGone.Store(true)
	}
	return lastDeadline
}

// end stops the lab when its session ends: every packet still queued is
// reported as never delivered, and the writers return.
func (l *lab) end(why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	close(l.done)
	now := time.Now()
	for d := range labDir(2) {
		for _, p := range l.q[d] {
			state := "queued"
			if p.held {
				state = "held"
			}
			l.emitPacket(p, now, trace.KindLabDrop, "never delivered: "+state+" at the proxy when "+why, "")
		}
		clear(l.q[d])
		l.q[d] = nil
	}
	l.bytes = 0
}

// wait waits for the writers to return (after end).
func (l *lab) wait() { l.wg.Wait() }

// drainToBroker, when the page has closed, waits for the packets toward the
// broker that are not held to be written (their delay passing), up to
// limit, and reports the held ones as never delivered: after the proxy's
// FIN nothing more can reach the broker.
func (l *lab) drainToBroker(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		waiting := l.busy[toBroker]
		for _, p := range l.q[toBroker] {
			if !p.held {
				waiting = true
			}
		}
		space := l.space
		l.mu.Unlock()
		if !waiting {
			break
		}
		select {
		case <-space:
		case <-l.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, p := range l.q[toBroker] {
		l.bytes -= len(p.b)
		l.emitPacket(p, now, trace.KindLabDrop, "never delivered: the page closed its WebSocket while it was held", "")
	}
	clear(l.q[toBroker])
	l.q[toBroker] = nil
	l.holds[toBroker], l.paused[toBroker] = nil, false
}

// isSilenced reports whether the session is silenced.
func (l *lab) isSilenced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.silenced && !l.ended
}

// labUp hands a packet from the page to the lab (pageToBroker's goroutine).
func (ss *session) labUp(first byte, n int, pkt []byte, _ int) {
	if pkt != nil && ss.version.Load() == 0 {
		if v := connectVersion(pkt); v != 0 {
			ss.version.Store(int32(v))
		}
	}
	ss.lab.submit(toBroker, first, pkt, ss.packet(time.Now(), "proxy", "broker", first, n, pkt))
}

// labDown records a packet from the broker and hands it to the lab
// (brokerToPage's goroutine).
func (ss *session) labDown(first byte, n int, pkt []byte, end int) {
	ss.packetDown(first, n, pkt, end)
	switch {
	case ss.pageGone.Load():
	case pkt == nil:
		ss.finish(1014, "a packet of "+strconv.Itoa(n)+" bytes from the broker is larger than the lab holds (-max-message)",
			errors.New("packet too large for the lab"))
	default:
		ss.lab.submit(toPage, first, pkt, trace.Entry{})
	}
}

// pageClosed is drain's part once the page has closed. Silenced, the
// broker is not told (no FIN): the proxy waits up to limit for the broker
// to give up by itself (done) and pageClosed returns true. Otherwise the
// packets toward the broker that are not held are written first, the held
// ones are reported never delivered, and it returns false.
func (l *lab) pageClosed(limit time.Duration, done <-chan struct{}) bool {
	if !l.on.Load() {
		return false
	}
	if l.isSilenced() {
		e := l.ss.entry(time.Now(), trace.LegProxyBroker, "proxy", "broker", trace.KindLabSilence,
			"the page closed its WebSocket; silenced, the proxy does not tell the broker: it notices only by its keepalive")
		l.ss.emit(e)
		t := time.NewTimer(limit)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		return true
	}
	l.drainToBroker(MaxLabDelay + l.ss.srv.cfg.WriteTimeout)
	return false
}

// brokerClosed reports whether the broker's close (err from reading it)
// is kept from the page because the session is silenced, and says so.
func (l *lab) brokerClosed(err error) bool {
	if !l.on.Load() || !l.isSilenced() || l.ss.pageGone.Load() || errors.Is(err, net.ErrClosed) {
		return false
	}
	e := l.ss.entry(time.Now(), trace.LegBrowserProxy, "proxy", "browser", trace.KindLabSilence,
		"the broker closed the connection; silenced, the proxy does not tell the page: it notices only by its keepalive")
	e.Note = err.Error()
	l.ss.emit(e)
	return true
}

// lab applies a lab control from the page to one of this trace's sessions
// and answers {"type":"lab","id":…,"conn":…,"op":…,"ok":true,"state":{…}},
// or "ok":false with an "error" (nothing changed).
func (tc *traceChannel) lab(msg []byte) {
	var r labRequest
	err := json.Unmarshal(msg, &r)
	reply := map[string]any{"type": "lab", "id": r.ID, "conn": r.Conn, "op": r.Op, "ok": true}
	var st LabState
	if err == nil {
		st, err = tc.labControl(r)
	} else {
		err = errors.New("a lab control must be a JSON object: " + err.Error())
	}
	if err != nil {
		reply["ok"] = false
		reply["error"] = err.Error()
	}
	if st.Held != nil {
		reply["state"] = st
	}
	tc.send(reply)
}

func (tc *traceChannel) labControl(r labRequest) (LabState, error) {
	ss := tc.session(r.Conn)
	if ss == nil {
		return LabState{}, errNoSuchConn
	}
	ss.mu.Lock()
	l, broker, ended := ss.lab, ss.broker, ss.ended.Load()
	ss.mu.Unlock()
	switch {
	case ended:
		return LabState{}, errEnded
	case broker == nil || l == nil:
		return LabState{}, errNotConnected
	}
	return l.control(r)
}

// stopLab ends the session's lab, if it has one, and waits for its writers.
func (ss *session) stopLab(why string) {
	ss.mu.Lock()
	l := ss.lab
	ss.mu.Unlock()
	if l != nil {
		l.end(why)
		l.wait()
	}
}
