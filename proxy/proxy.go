package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/netrec"
)

// Config configures a Server. Zero durations and sizes take the defaults
// noted beside them.
type Config struct {
	Policy        Policy
	DefaultBroker string // host:port used when /mqtt has no broker parameter

	// Hosts lists the Host header values accepted (the listen address and
	// its loopback spellings); Origins the Origin values accepted from
	// browsers ("http://host:port"). Requests without Origin (non-browser
	// clients) pass the Origin check; the Host check applies to all.
	Hosts   []string
	Origins []string

	MaxConns      int // WebSockets at once, /mqtt and /trace together (default 1024)
	MaxConnsPerIP int // from one client address (default 64)
	MaxMessage    int // largest WebSocket message and MQTT packet accepted from the page (default 1 MiB)

	DialTimeout  time.Duration // DNS + TCP + TLS (default 10 s)
	IdleTimeout  time.Duration // nothing from the page for this long ends a session (default 5 min)
	WriteTimeout time.Duration // a peer that reads nothing for this long ends a session (default 30 s)
	CloseWait    time.Duration // after the page closes and the proxy's FIN is sent, how long to wait for the broker's (default 2 s)
	// PartialTimeout ends a session whose broker has sent part of a packet
	// and then nothing more for this long (default 30 s): the page's own
	// pings keep the session from being idle, and would hold it forever.
	PartialTimeout time.Duration

	// LabBytes bounds the bytes the lab bench holds or delays for one
	// session, both directions together (default 8 × MaxMessage).
	LabBytes int

	// Resolver settings passed to netrec.Dialer.
	Zone, ZoneServer, Nameserver string
	TLSConfig                    *tls.Config

	// Broker, when set, is the embedded broker: sessions to it carry its
	// reports of the messages it dropped for their client (broker.drop).
	Broker BrokerWatcher

	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 1024
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 64
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 1 << 20
	}
	if c.LabBytes <= 0 {
		c.LabBytes = 8 * c.MaxMessage
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.CloseWait <= 0 {
		c.CloseWait = 2 * time.Second
	}
	if c.PartialTimeout <= 0 {
		c.PartialTimeout = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Server serves /mqtt and /trace. Create it with New; stop it with Shutdown.
type Server struct {
	cfg      Config
	hub      hub
	upgrader websocket.Upgrader

	mu       sync.Mutex
	closing  bool
	total    int
	perIP    map[netip.Addr]int
	sessions map[*session]struct{}
	ended    flow // the bytes and packets of the ended sessions
	wg       sync.WaitGroup

	metrics *metrics // nil without Register
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, perIP: map[netip.Addr]int{}, sessions: map[*session]struct{}{}}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.DialTimeout,
		WriteBufferPool:  &sync.Pool{},
		WriteBufferSize:  16 << 10,
		Subprotocols:     []string{"mqtt", "mqttv3.1"},
		CheckOrigin:      s.originOK,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return s
}

// CheckRequest applies the Host and Origin checks of the WebSocket
// endpoints; other handlers (the capture import, say) can use it too.
func (s *Server) CheckRequest(r *http.Request) error {
	if err := s.CheckHost(r); err != nil {
		return err
	}
	if !s.originOK(r) {
		return errors.New("Origin " + r.Header.Get("Origin") + " is not allowed (see -origins)")
	}
	return nil
}

// CheckHost applies the Host check of the WebSocket endpoints (the listen
// address and the -origins hosts), which stops DNS rebinding against the
// server itself; every other handler uses it too.
func (s *Server) CheckHost(r *http.Request) error {
	if !s.hostOK(r.Host) {
		return errors.New("Host " + r.Host + " is not served here (see -origins)")
	}
	return nil
}

func (s *Server) hostOK(host string) bool {
	for _, h := range s.cfg.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

func (s *Server) originOK(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: browsers always send Origin on WebSockets
	}
	for _, o := range s.cfg.Origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// The reasons acquire gives that admit tells apart.
const (
	refusedShuttingDown = "server shutting down"
	refusedPerIP        = "too many connections from your address"
)

// acquire takes a connection slot for ip, or says why not.
func (s *Server) acquire(ip netip.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return refusedShuttingDown
	case s.total >= s.cfg.MaxConns:
		return "too many connections to this server"
	case s.perIP[ip] >= s.cfg.MaxConnsPerIP:
		return refusedPerIP
	}
	s.total++
	s.perIP[ip]++
	s.wg.Add(1)
	return ""
}

func (s *Server) release(ip netip.Addr) {
	s.mu.Lock()
	s.total--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
	s.wg.Done()
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// upgrade checks a /trace request, takes a connection slot and upgrades,
// the connection's writes gathered through bc (see batchConn). When it
// returns a nil conn it has answered the request.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (ws *websocket.Conn, bc *batchConn, ip netip.Addr) {
	ip, ok := s.admit(w, r, false)
	if !ok {
		return nil, nil, ip
	}
	h := &hijacker{ResponseWriter: w, batch: true}
	if ws = s.upgradeWith(h, r); ws == nil {
		s.release(ip)
	}
	return ws, h.bc, ip
}

// admit makes every check of the request that can refuse it — the Host,
// then gorilla's (method, upgrade headers, Origin), then with mqtt the
// subprotocol — and takes a connection slot. When it returns false it has
// answered the request: 400, 403 or 405 with the reason, or, for the
// connection limits and shutting down, a WebSocket closed at once with the
// reason (a page can read that, not an HTTP status).
func (s *Server) admit(w http.ResponseWriter, r *http.Request, mqtt bool) (ip netip.Addr, ok bool) {
	status, reason := 0, ""
	if err := s.CheckHost(r); err != nil {
		status, reason = http.StatusForbidden, err.Error()
	}
	kind := RefusedHost
	if status == 0 {
		status, reason = s.checkUpgrade(r)
		kind = RefusedUpgrade
	}
	if status == 0 && mqtt {
		status, reason = s.checkSubprotocol(r)
		kind = RefusedSubprotocol
	}
	if status != 0 {
		s.metrics.refused(kind)
		http.Error(w, reason, status)
		s.cfg.Log.Warn("refused request", "path", r.URL.Path, "host", r.Host, "origin", r.Header.Get("Origin"),
			"remote", r.RemoteAddr, "status", status, "reason", reason)
		return ip, false
	}
	ip = remoteIP(r)
	refused := s.acquire(ip)
	if refused == "" {
		return ip, true
	}
	// Upgrade only to say why, in the close frame a page can read.
	h := &hijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(h, r, nil)
	if err != nil {
		s.cfg.Log.Info("upgrade failed", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		return ip, false
	}
	code, kind := websocket.CloseTryAgainLater, RefusedMaxConns
	switch refused {
	case refusedShuttingDown:
		code, kind = websocket.CloseGoingAway, RefusedShuttingDown
	case refusedPerIP:
		kind = RefusedMaxConnsPerIP
	}
	s.refused(kind, r, refused)
	closeNow(ws, code, refused)
	return ip, false
}

// closeNow sends a close frame and drops the connection.
func closeNow(ws *websocket.Conn, code int, reason string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, clip(reason)), time.Now().Add(time.Second))
	ws.Close()
}

// clip shortens a close reason to the 123 bytes a close frame can carry.
func clip(s string) string {
	if len(s) <= 123 {
		return s
	}
	cut := s[:120]
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		return strings.TrimRight(cut[:i], ",;:(") + "..." // after a whole word; the trace has all of it
	}
	for len(cut) > 0 && cut[len(cut)-1]&0xc0 == 0x80 { // do not cut a UTF-8 sequence
		cut = cut[:len(cut)-1]
	}
	if len(cut) > 0 && cut[len(cut)-1] >= 0xc0 {
		cut = cut[:len(cut)-1]
	}
	return cut + "..."
}

// pong answers a page's clock ping on the trace channel.
type pong struct {
	Type       string  `json:"type"`
	T          float64 `json:"t"`
	ServerTime float64 `json:"serverTime"`
}

// ServeTrace serves GET /trace: the trace side channel (its messages are
// in the package documentation and docs/trace.md).
func (s *Server) ServeTrace(w http.ResponseWriter, r *http.Request) {
	ws, bc, ip := s.upgrade(w, r)
	if ws == nil {
		return
	}
	defer s.release(ip)
	batch, compact, err := batchForm(r.URL.Query())
	if err != nil {
		s.refused(RefusedTraceForm, r, err.Error())
		closeNow(ws, websocket.ClosePolicyViolation, err.Error())
		return
	}
	tc := s.hub.add(ws, bc)
	tc.batch, tc.compact = batch, compact
	log := s.cfg.Log.With("trace", tc.token[:8], "remote", r.RemoteAddr)
	hello := map[string]any{"type": "hello", "token": tc.token, "serverTime": tc.since(time.Now())}
	if q := r.URL.Query(); q.Has("session") {
		id := q.Get("session")
		if err := s.hub.claimSession(tc, id); err != nil {
			s.hub.remove(tc)
			s.refused(RefusedSessionID, r, err.Error())
			closeNow(ws, websocket.ClosePolicyViolation, err.Error())
			return
		}
		hello["session"] = id
		log = log.With("session", id)
	}
	s.metrics.traceOpened()
	log.Info("trace channel opened")
	tc.send(hello)
	done := make(chan struct{})
	go func() {
		tc.writeLoop(s.cfg.WriteTimeout)
		close(done)
	}()
	ws.SetReadLimit(4096)
	for {
		ws.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout + time.Minute))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			break
		}
		var m struct {
			Type string  `json:"type"`
			T    float64 `json:"t"`
			Conn string  `json:"conn"`
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		switch m.Type {
		case "ping":
			// A struct, not a map: the type first, as doc.go has it
			// (json.Marshal sorts a map's keys).
			tc.send(pong{Type: "pong", T: m.T, ServerTime: tc.since(time.Now())})
		case "cut":
			log.Info("cut requested", "conn", m.Conn)
			tc.cut(m.Conn)
		case "lab":
			tc.lab(msg)
		}
	}
	s.hub.remove(tc)
	<-done
	ws.Close()
	log.Info("trace channel closed")
}

// Stats is a snapshot of a Server's load (for /healthz).
type Stats struct {
	Sessions     int  `json:"sessions"`     // /mqtt sessions open
	Traces       int  `json:"traces"`       // /trace channels open
	WebSockets   int  `json:"websockets"`   // both kinds, counted against MaxConns
	MaxConns     int  `json:"maxConns"`     // Config.MaxConns
	ShuttingDown bool `json:"shuttingDown"` // Shutdown was called
}

// Stats returns the Server's current load.
func (s *Server) Stats() Stats {
	traces := s.hub.len()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Sessions: len(s.sessions), Traces: traces, WebSockets: s.total, MaxConns: s.cfg.MaxConns, ShuttingDown: s.closing}
}

// Shutdown closes every session with 1001 (going away) and waits for them to
// end, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.finish(websocket.CloseGoingAway, "server shutting down", nil)
	}
	// The trace channels close once the sessions' last entries (their
	// close, the broker's FIN) are queued, and after sending them: the page
	// then reads why its sessions ended.
	s.sessionsEnded(ctx, 2*time.Second)
	for _, tc := range s.hub.all() {
		s.hub.goAway(tc)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sessionsEnded waits until no session is open, for at most wait or ctx.
func (s *Server) sessionsEnded(ctx context.Context, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		n := len(s.sessions)
		s.mu.Unlock()
		if n == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialer returns a netrec.Dialer for one session.
func (s *Server) dialer() *netrec.Dialer {
	return &netrec.Dialer{
		Zone:       s.cfg.Zone,
		ZoneServer: s.cfg.ZoneServer,
		Nameserver: s.cfg.Nameserver,
		Timeout:    s.cfg.DialTimeout,
		TLSConfig:  s.cfg.TLSConfig,
		Check:      s.cfg.Policy.CheckAddr,
		// The proxy–broker leg shows the kernel's view of the socket.
		KernelState: true,
	}
}
