//go:build js && wasm

package main

import (
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/options"
)

// session drives the sans-IO client (package client) with the browser's
// WebSocket and setTimeout, records every packet as a trace entry on the
// page's leg, and settles the promises of the API calls.
type session struct {
	a     *app
	party string // its lifeline in the diagram: "browser", or a name given in connect (e.g. "device", "app")
	cl    *client.Client
	mode  string // "proxy" or "direct"
	peer  string // the party at the other end of our leg: "proxy" or "broker"
	leg   string
	where string // broker host:port or the WebSocket URL, for people
	tls   bool

	sock     *socket
	conn     string // this connection's id ("c1" …, as the proxy numbers them; "d1" … direct)
	ourClose bool   // we closed the socket (EventClose)
	traced   bool   // the proxy reports ws.* and the broker leg on the trace channel
	timer    *timer
	timerAt  float64 // when timer fires (performance.now)
	at       float64 // page time of the event being handled: entries are stamped with it

	connecting *promise
	connectAt  float64 // page time of the connect() that connecting answers
	refused    string  // the refusing CONNACK's code, in words, if the last CONNACK refused
	closing    *promise
	pubs       map[uint16]*promise
	subs       map[uint16]*subRequest
	lastErr    string
	refusedBy  string // the proxy's refusal of the broker, in words, until the client reports it

	subscriptions []subscription
}

type subRequest struct {
	p       *promise
	filters []string
	qos     []codec.QoS
	unsub   bool
}

type subscription struct {
	filter  string
	qos     codec.QoS
	granted int // granted QoS or reason code; -1 while waiting
}

// message is one received application message, for the message list.
type message struct {
	client  string // the session that received it
	n       int
	t       float64
	topic   string
	payload []byte
	qos     codec.QoS
	retain  bool
	dup     bool
}

const keepMessages = 1000

// messages is the message list's store: every message counted, the newest
// keepMessages kept.
type messages struct {
	total int
	ring  [keepMessages]message
}

func (m *messages) add(msg message) {
	m.total++
	msg.n = m.total
	m.ring[(m.total-1)%keepMessages] = msg
}

// since returns the kept messages numbered above n, oldest first: the
// newest limit of them if limit is not negative (the panel lists a few a
// frame of the thousand a flood brings between two looks).
func (m *messages) since(n, limit int) []message {
	first := max(n+1, m.total-keepMessages+1, 1)
	if limit >= 0 {
		first = max(first, m.total-limit+1)
	}
	if first > m.total {
		return nil
	}
	out := make([]message, 0, m.total-first+1)
	for i := first; i <= m.total; i++ {
		out = append(out, m.ring[(i-1)%keepMessages])
	}
	return out
}

// session returns the session of the client options.client names, or an
// error in words.
func (a *app) session(method, party string) (*session, error) {
	name, err := options.ClientName(party)
	if err != nil {
		return nil, errString(method + ": " + err.Error())
	}
	s := a.sessions[name]
	if s == nil {
		return nil, errString("not connected: connect first (no client named " + name + ")")
	}
	return s, nil
}

// connect is lifeline.connect(options).
func (a *app) connect(args []js.Value) any {
	var o options.Connect
	if err := assign("connect", arg(args, 0), &o); err != nil {
		return rejected(err.Error())
	}
	name, err := options.ClientName(o.Client)
	if err != nil {
		return rejected("connect: " + err.Error())
	}
	if s := a.sessions[name]; s != nil && s.cl.State() != client.StateDisconnected {
		return rejected(name + " is already connected or connecting: disconnect first")
	}
	cfg, err := o.Config()
	if err != nil {
		return rejected("connect: " + err.Error())
	}
	direct, err := o.Direct()
	if err != nil {
		return rejected("connect: " + err.Error())
	}
	// The page reads the packets' bytes, never the decoded packets of a
	// received PUBLISH or of its PUBACK (session.event): the client
	// decodes and encodes those in its own structs, a flood's garbage less.
	cfg.BytesOnly = true
	s := &session{a: a, party: name, cl: client.New(cfg), pubs: map[uint16]*promise{}, subs: map[uint16]*subRequest{}}
	if direct {
		if why := mixedContent(jsGlobal.Get("location").Get("protocol").String(), o.URL); why != "" {
			return rejected(why)
		}
		s.mode, s.peer, s.leg, s.where = "direct", "broker", trace.LegBrowserBroker, o.URL
	} else {
		s.mode, s.peer, s.leg = "proxy", "proxy", trace.LegBrowserProxy
		s.where = strings.TrimSpace(o.Broker)
		if s.where == "" {
			s.where = a.defaultBroker
		}
		s.tls = o.TLS
	}
	if a.sessions[name] == nil {
		a.order = append(a.order, name)
	}
	a.sessions[name] = s
	s.connecting = newPromise()
	s.at = a.now()
	s.connectAt = s.at
	if err := s.cl.Connect(time.Now()); err != nil {
		s.connecting.fail(err.Error())
		return s.connecting.p
	}
	s.drain()
	a.changed()
	return s.connecting.p
}

// dial opens the WebSocket the client asked for.
func (s *session) dial() {
	open := func(url string) {
		s.ourClose = false
		sock, err := dial(url, []string{"mqtt"}, socketHandlers{
			urgent: true,
			open: func(at float64) {
				s.at = at - s.a.origin
				s.a.changed()
				if !s.traced {
					s.record(trace.KindWSAccept, s.peer, s.party, "101 Switching Protocols, subprotocol "+s.sock.protocol(), nil, trace.ObservedKernel)
				}
				s.cl.Dialed(time.Now())
				s.drain()
			},
			message: func(at float64, b []byte, text string, isText bool) {
				s.at = at - s.a.origin
				if isText {
					b = []byte(text) // MQTT is binary; the client will call it malformed
				}
				// b is this message's part of the batch's buffer, made for
				// the batch (see dial): the client keeps views of it.
				s.cl.ReceiveOwned(time.Now(), b)
				s.obey() // each packet's arrow at its own time; the rest once a batch
			},
			batched: func(at float64) {
				s.a.lq.batch(at)
				s.drain()
			},
			close: func(at float64, code int, reason string) {
				s.at = at - s.a.origin
				s.sock = nil
				// A proxy instance that does not hold the page's session
				// has no trace of it to report the close on.
				if !s.traced || code == closeSessionElsewhere {
					s.record(trace.KindWSClose, s.peer, s.party, "close "+closeText(code, reason), nil, trace.ObservedKernel)
				}
				if s.ourClose {
					s.settleClosing()
					return
				}
				err := errString(s.closeWords(code, reason))
				if code == 1008 || code == 1014 || code == closeBadTarget {
					s.refusedBy = string(err) // not a lost connection: there never was one
				}
				if s.cl.State() == client.StateConnecting || s.cl.State() == client.StateConnected {
					s.cl.Closed(time.Now(), err)
				} else {
					s.cl.DialFailed(time.Now(), err)
				}
				s.drain()
			},
		})
		if err != nil {
			s.cl.DialFailed(time.Now(), err)
			s.drain()
			return
		}
		s.sock = sock
		if !s.traced {
			s.record(trace.KindWSUpgrade, s.party, s.peer, "GET "+url+" Upgrade: websocket, subprotocol mqtt", nil, trace.ObservedKernel)
		}
	}
	if s.mode == "direct" {
		s.a.directConns++
		s.conn = "d" + strconv.Itoa(s.a.directConns)
		s.traced = false
		open(s.where)
		return
	}
	s.a.tc.withToken(s.a.wsURL("/trace"), func(token string) {
		if s.cl.State() != client.StateDialing || s.a.sessions[s.party] != s {
			return // disconnected (or replaced) while the trace channel opened
		}
		s.at = s.a.now()
		q := "/mqtt?broker=" + js.Global().Call("encodeURIComponent", s.where).String()
		if s.tls {
			q += "&tls=1"
		}
		s.traced = token != ""
		if s.traced {
			// The page names the connection; the proxy labels its entries
			// with the name (or refuses it in words).
			s.a.tc.conns++
			s.conn = "c" + strconv.Itoa(s.a.tc.conns)
			s.a.tc.parties[s.conn] = s.party
			q += "&trace=" + token + "&session=" + s.a.tc.session + "&conn=" + s.conn
		} else {
			s.a.untracedConns++
			s.conn = "u" + strconv.Itoa(s.a.untracedConns)
		}
		open(s.a.wsURL(q))
	})
}

// closeSessionElsewhere is the proxy's close code for a /mqtt whose
// session another instance holds (proxy.CloseSessionElsewhere).
const closeSessionElsewhere = 4001

// closeBadTarget is the proxy's close code for a broker that is not
// HOST:PORT, most often one without its port (proxy.CloseBadTarget).
const closeBadTarget = 4002

// closeWords says in words why the socket closed, for someone new to it.
func (s *session) closeWords(code int, reason string) string {
	what := "the WebSocket to " + s.where
	if s.mode == "proxy" {
		what = "the Lifeline proxy"
	}
	// The proxy's reason repeats its kind ("policy: …", "dns: …"); the
	// code's meaning says it once.
	why := strings.TrimSpace(strings.TrimPrefix(reason, "policy: "))
	switch code {
	case 1008:
		return what + " refused to connect to " + s.where + ": " + why + " (WebSocket close code 1008, refused by policy)"
	case 1014:
		return what + " could not reach the broker " + s.where + ": " + why + ". Is the name right and the broker running? (WebSocket close code 1014, bad gateway)"
	case 1001:
		if s.mode == "proxy" {
			return "the Lifeline proxy went away (" + closeText(code, reason) + "). Connect again: behind a load balancer another instance takes the page"
		}
	case closeBadTarget:
		return what + " did not try " + s.where + ": " + why + " (WebSocket close code 4002, the broker is not HOST:PORT)"
	case closeSessionElsewhere:
		return what + " instance that answered does not hold this page's session: " + why + ". A load balancer in front of several proxies must route /trace and /mqtt by their session parameter (WebSocket close code 4001)"
	case 1006:
		if s.sock == nil && s.cl.State() == client.StateDialing {
			if s.mode == "direct" {
				return directOpenFailed(s.where, code, reason)
			}
			return "could not open " + what + ": refused or unreachable (" + closeText(code, reason) + ")"
		}
	}
	return what + " closed the connection (" + closeText(code, reason) + ")"
}

// record adds one of our leg's entries.
func (s *session) record(kind, from, to, summary string, b []byte, observed string) {
	e := trace.Entry{T: s.at, Leg: s.leg, From: from, To: to, Kind: kind, Summary: summary,
		Bytes: b, Observed: observed, Conn: s.conn}
	if b != nil {
		e.Version = int(s.cl.Version())
	}
	s.a.add(e, diagram.Local)
}

// obey obeys and records the client's events.
func (s *session) obey() {
	for ev, ok := s.cl.Next(); ok; ev, ok = s.cl.Next() {
		s.event(ev)
	}
}

// drain obeys and records the client's events, hands the messages among
// them to the page's listeners, then sets its timer. A batch of the
// socket's messages is drained once, at its end (a flood's packets come a
// few to a message, and the listeners' call and the timer's check are
// crossings into JavaScript).
func (s *session) drain() {
	s.obey()
	s.a.mb.flush()
	// A timer due no later than the deadline is kept: one that fires early
	// ticks for nothing and sets the next. Not a setTimeout and a
	// clearTimeout per packet (each a crossing into JavaScript), when every
	// packet sent moves the keep-alive deadline.
	if d := s.cl.Deadline(); d.IsZero() {
		s.timer.stop()
		s.timer = nil
	} else if ms := max(float64(time.Until(d))/float64(time.Millisecond), 0); s.timer == nil || s.timerAt > now()+ms {
		s.timer.stop()
		s.timerAt = now() + ms
		s.timer = afterFunc(ms, func() {
			s.timer = nil
			s.at = s.a.now()
			s.cl.Tick(time.Now())
			s.drain()
		})
	}
	s.a.changed()
}

func (s *session) event(ev client.Event) {
	a := s.a
	switch ev.Type {
	case client.EventDial:
		s.dial()
	case client.EventSend:
		// What the browser discarded (the proxy's close had arrived) never
		// happened on the wire, and is not drawn.
		if s.sock != nil && s.sock.send(ev.Bytes) {
			s.record(mqttKind(ev.Bytes), s.party, s.peer, "", ev.Bytes, trace.ObservedWire) // labelled when drawn
		}
	case client.EventReceive:
		if ca, ok := ev.Packet.(*codec.Connack); ok {
			s.refused = ""
			if ca.ReasonCode != 0 {
				if s.cl.Version() == codec.V5 {
					s.refused = "reason code 0x" + hex2(byte(ca.ReasonCode)) + " " + ca.ReasonCode.Name(codec.TypeConnack, codec.V5)
				} else {
					s.refused = "return code " + strconv.Itoa(int(ca.ReasonCode)) + ", " + ca.ReasonCode.Name(codec.TypeConnack, codec.V311)
				}
			}
		}
		s.record(mqttKind(ev.Bytes), s.peer, s.party, "", ev.Bytes, trace.ObservedWire)
	case client.EventClose:
		s.ourClose = true
		if s.sock != nil {
			s.sock.close(1000, "")
		} else {
			s.settleClosing()
		}
	case client.EventState:
		switch ev.State {
		case client.StateConnected:
			s.lastErr, s.refused = "", ""
			if s.connecting != nil {
				s.connecting.resolve(map[string]any{"clientId": s.cl.ClientID(), "version": int(s.cl.Version())})
				s.connecting = nil
				a.kick() // the arrows the handshake held
			}
		case client.StateDisconnected, client.StateWaiting:
			if s.connecting != nil && ev.State == client.StateDisconnected {
				msg := s.lastErr
				if msg == "" {
					msg = "the connection ended before CONNACK"
				}
				s.connecting.fail(msg)
				s.connecting = nil
				a.kick()
			}
			if ev.State == client.StateDisconnected {
				for id, p := range s.pubs {
					p.fail("disconnected before the broker acknowledged the message")
					delete(s.pubs, id)
				}
				for id, r := range s.subs {
					r.p.fail("disconnected before the broker answered")
					delete(s.subs, id)
				}
				if s.sock == nil {
					s.settleClosing()
				}
			}
		}
		a.emitState(s)
	case client.EventError:
		s.lastErr = ev.Err.Error()
		if s.refusedBy != "" {
			s.lastErr, s.refusedBy = s.refusedBy, ""
		}
		if s.refused != "" && !strings.Contains(s.lastErr, s.refused) {
			// The client's text repeats the code's name; keep its clause.
			clause := ""
			if i := strings.LastIndexByte(s.lastErr, '['); i > 0 && strings.HasSuffix(s.lastErr, "]") {
				clause = " " + s.lastErr[i:]
			}
			s.lastErr = "the broker refused the connection with CONNACK " + s.refused + clause
		}
		if len(a.listeners["error"]) > 0 {
			a.emit("error", js.ValueOf(map[string]any{"message": s.lastErr, "clause": ev.Err.Clause, "reason": int(ev.Err.Reason), "fatal": ev.Err.Fatal}))
		}
	case client.EventMessage:
		m := ev.Message
		a.msgs.add(message{client: s.party, t: s.at, topic: m.Topic, payload: m.Payload, qos: m.QoS, retain: m.Retain, dup: m.Dup})
		if len(a.listeners["message"]) > 0 {
			a.mb.add(s.party, m.Topic, m.Payload, int(m.QoS), m.Retain, m.Dup)
		}
	case client.EventPublished:
		if p := s.pubs[ev.ID]; p != nil {
			delete(s.pubs, ev.ID)
			if ev.Err != nil {
				p.fail(ev.Err.Error())
			} else if ev.Reason >= 0x80 {
				p.fail("the broker refused the message: reason 0x" + hex2(byte(ev.Reason)) + " " + ev.Reason.Name(codec.TypePuback, codec.V5))
			} else {
				p.acked(int(ev.ID), int(ev.Reason))
			}
		}
	case client.EventSubscribed, client.EventUnsubscribed:
		r := s.subs[ev.ID]
		if r == nil {
			break
		}
		delete(s.subs, ev.ID)
		codes := make([]any, len(ev.Reasons))
		for i, c := range ev.Reasons {
			codes[i] = int(c)
		}
		s.applySubs(r, ev.Reasons)
		r.p.resolve(map[string]any{"packetId": int(ev.ID), "reasons": codes})
	case client.EventPong:
		if len(a.listeners["pong"]) > 0 {
			a.emit("pong", js.ValueOf(map[string]any{"rtt": float64(ev.RTT) / float64(time.Millisecond)}))
		}
	}
}

func (s *session) settleClosing() {
	if s.closing != nil {
		s.closing.resolve(nil)
		s.closing = nil
	}
}

// applySubs updates the page's list of subscriptions from a SUBACK or an
// UNSUBACK.
func (s *session) applySubs(r *subRequest, codes []codec.ReasonCode) {
	for i, f := range r.filters {
		j := -1
		for k, sub := range s.subscriptions {
			if sub.filter == f {
				j = k
			}
		}
		if r.unsub {
			if j >= 0 {
				s.subscriptions = append(s.subscriptions[:j], s.subscriptions[j+1:]...)
			}
			continue
		}
		granted := -1
		if i < len(codes) {
			granted = int(codes[i])
		}
		if granted >= 0x80 {
			continue // refused: not a subscription
		}
		sub := subscription{filter: f, qos: r.qos[i], granted: granted}
		if j >= 0 {
			s.subscriptions[j] = sub
		} else {
			s.subscriptions = append(s.subscriptions, sub)
		}
	}
}

// subscribe is lifeline.subscribe(filter, options).
func (a *app) subscribe(args []js.Value) any {
	var o options.Subscribe
	if err := assign("subscribe", arg(args, 1), &o); err != nil {
		return rejected(err.Error())
	}
	filters := stringsOf(arg(args, 0))
	if len(filters) == 0 {
		return rejected("subscribe(filter, options): give a topic filter")
	}
	subs, props, err := o.Subscriptions(filters)
	if err != nil {
		return rejected("subscribe: " + err.Error())
	}
	s, err := a.session("subscribe", o.Client)
	if err != nil {
		return rejected(err.Error())
	}
	r := &subRequest{p: newPromise(), filters: filters}
	for range filters {
		r.qos = append(r.qos, codec.QoS(o.QoS))
	}
	s.at = a.now()
	id, err := s.cl.Subscribe(time.Now(), subs, props)
	if err != nil {
		s.drain()
		return rejected(commandError(err))
	}
	s.subs[id] = r
	s.drain()
	return r.p.p
}

// unsubscribe is lifeline.unsubscribe(filter).
func (a *app) unsubscribe(args []js.Value) any {
	var o options.Unsubscribe
	if err := assign("unsubscribe", arg(args, 1), &o); err != nil {
		return rejected(err.Error())
	}
	s, err := a.session("unsubscribe", o.Client)
	if err != nil {
		return rejected(err.Error())
	}
	filters := stringsOf(arg(args, 0))
	props, err := o.Props()
	if err != nil {
		return rejected("unsubscribe: " + err.Error())
	}
	s.at = a.now()
	id, err := s.cl.Unsubscribe(time.Now(), filters, props)
	if err != nil {
		s.drain()
		return rejected(commandError(err))
	}
	r := &subRequest{p: newPromise(), filters: filters, unsub: true}
	s.subs[id] = r
	s.drain()
	return r.p.p
}

// publishSlow is a lifeline.publish call the batch could not write (see
// publish_js.go): other options than qos and retain, or arguments of
// other types. It says how it went as publishMany does; key is its
// Promise's.
func (a *app) publishSlow(topic, payload, opts js.Value, key int) string {
	var o options.Publish
	if err := assign("publish", opts, &o); err != nil {
		return err.Error()
	}
	if topic.Type() != js.TypeString {
		return "publish(topic, payload, options): the topic is a string"
	}
	var data []byte
	if !payload.IsUndefined() && !payload.IsNull() {
		var ok bool
		if data, ok = dataOf(payload); !ok {
			return "publish: the payload is a string, a Uint8Array or an ArrayBuffer"
		}
	}
	m, err := o.Message(topic.String(), data)
	if err != nil {
		return publishError(err)
	}
	s, err := a.session("publish", o.Client)
	if err != nil {
		return err.Error()
	}
	s.at = a.now()
	id, msg := s.publish(m, time.Now())
	s.drain()
	switch {
	case msg != "":
		return msg
	case id != 0:
		s.pubs[id] = &promise{key: key}
		return "+"
	}
	return ""
}

// disconnect is lifeline.disconnect(options): DISCONNECT (in 5.0 with
// options.reasonCode and options.properties), then the close.
func (a *app) disconnect(args []js.Value) any {
	var o options.Disconnect
	if err := assign("disconnect", arg(args, 0), &o); err != nil {
		return rejected(err.Error())
	}
	code, props, err := o.Props()
	if err != nil {
		return rejected("disconnect: " + err.Error())
	}
	name, err := options.ClientName(o.Client)
	if err != nil {
		return rejected("disconnect: " + err.Error())
	}
	s := a.sessions[name]
	if s == nil || s.cl.State() == client.StateDisconnected {
		return resolved(js.Undefined()) // nothing to disconnect
	}
	s.closing = newPromise()
	p := s.closing.p
	s.at = a.now()
	if err := s.cl.Disconnect(time.Now(), code, props); err != nil {
		s.closing = nil
		return rejected(commandError(err))
	}
	s.drain()
	return p
}

// cut is lifeline.cut(options): the proxy aborts the named client's broker
// connection (TCP reset, no DISCONNECT), so the broker publishes its will.
// The promise settles with the proxy's answer; the client then sees its
// WebSocket closed with code 4000.
func (a *app) cut(args []js.Value) any {
	var o options.Cut
	if err := assign("cut", arg(args, 0), &o); err != nil {
		return rejected(err.Error())
	}
	s, err := a.session("cut", o.Client)
	if err != nil {
		return rejected(err.Error())
	}
	if s.mode != "proxy" || !s.traced || s.sock == nil {
		return rejected("cut: " + s.party + " has no open connection through the proxy's trace channel")
	}
	return a.tc.cut(s.conn)
}

// commandError words a refused command.
func commandError(err error) string {
	switch err {
	case client.ErrNotConnected:
		return "not connected: connect first (and wait for CONNACK)"
	}
	return err.Error()
}

// stringsOf reads a string or an array of strings.
func stringsOf(v js.Value) []string {
	if v.Type() == js.TypeString {
		return []string{v.String()}
	}
	var out []string
	if v.Type() == js.TypeObject {
		for i := 0; i < v.Length(); i++ {
			out = append(out, v.Index(i).String())
		}
	}
	return out
}

// mqttKinds are the trace kinds of the packet types, made once.
var mqttKinds = func() (k [16]string) {
	for i := range k {
		k[i] = "mqtt." + codec.PacketType(i).String()
	}
	return k
}()

// mqttKind is the trace kind of a packet, from its first byte.
func mqttKind(b []byte) string {
	if len(b) == 0 {
		return mqttKinds[0]
	}
	return mqttKinds[b[0]>>4]
}

func hex2(b byte) string {
	const d = "0123456789abcdef"
	return string([]byte{d[b>>4], d[b&15]})
}

// mixedContent refuses, before trying, a ws:// target from a page loaded
// over https: (browsers block it as mixed content and say nothing the
// page can read); "" when the target may be tried.
func mixedContent(pageProtocol, url string) string {
	if pageProtocol != "https:" || !strings.HasPrefix(url, "ws://") {
		return ""
	}
	secure := "wss://" + strings.TrimPrefix(url, "ws://")
	return "not tried: this page was loaded over https:, and browsers refuse a plain ws:// WebSocket from such a page (mixed content) without telling the page why. " +
		"Use the broker's TLS listener (" + secure + ", if it has one), or open Lifeline over http://. " +
		"To check the TLS listener from a terminal: lifeline doctor " + secure
}

// directOpenFailed says why a direct WebSocket may have failed to open: the
// browser reports only code 1006, so the likely causes are named, most
// likely first, with the command that tells them apart.
func directOpenFailed(url string, code int, reason string) string {
	causes := []string{
		"nothing listens on that host and port, or a firewall drops the connection",
		"the path is not the broker's WebSocket path (brokers commonly use /mqtt, / or /ws; mosquitto needs `protocol websockets` on its listener)",
		"the broker refused the upgrade or the subprotocol mqtt (some answer 404 or 400, some close silently)",
	}
	if strings.HasPrefix(url, "wss://") {
		causes = append(causes, "the certificate is not trusted by this browser (a test certificate: open https://"+
			strings.TrimPrefix(url, "wss://")+" once and accept it), has expired or names another host, or the port does not speak TLS")
	}
	var b strings.Builder
	b.WriteString("could not open the WebSocket to " + url + " (" + closeText(code, reason) + "); the browser gives no detail. Likely causes, most likely first: ")
	for i, c := range causes {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(strconv.Itoa(i+1) + ") " + c)
	}
	b.WriteString(". To see which, run in a terminal: lifeline doctor " + url)
	return b.String()
}
