package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

// session is one MQTT connection spoken by hand, a packet at a time.
type session struct {
	c    net.Conn
	head []byte // the first bytes received, to recognise an HTTP answer
	v    codec.Version
	sp   *codec.Splitter
	// A reader goroutine hands on what arrives: a read deadline would end
	// a WebSocket (coder/websocket closes a connection whose read is
	// cancelled), and the idle check must wait without ending anything.
	chunks chan chunk
	err    error // the read error that ended the stream
	done   chan struct{}
	ended  chan struct{}
}

type chunk struct {
	b   []byte
	err error
}

func newSession(c net.Conn, v codec.Version) *session {
	s := &session{c: c, v: v, sp: codec.NewSplitter(1 << 20), chunks: make(chan chunk), done: make(chan struct{}), ended: make(chan struct{})}
	go s.read()
	return s
}

func (s *session) read() {
	defer close(s.ended)
	buf := make([]byte, 4096)
	for {
		n, err := s.c.Read(buf)
		select {
		case s.chunks <- chunk{append([]byte(nil), buf[:n]...), err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// open connects to the endpoint the way that worked (path, subprotocol);
// emit, if set, receives the connection's trace entries.
func (r *run) open(ctx context.Context, v codec.Version, emit func(trace.Entry)) (*session, error) {
	d := r.dialer(emit)
	var c net.Conn
	if r.t.WebSocket() {
		offer := r.offer
		if offer == nil {
			offer = []string{}
		}
		wc, _, err := wsclient.Dial(ctx, r.t.WithPath(r.path), wsclient.Options{Dialer: d, Subprotocols: offer, Origin: r.opt.Origin, Version: int(v)})
		if err != nil {
			return nil, err
		}
		c = wc
	} else {
		nc, _, err := d.Dial(ctx, r.t.HostPort(), r.t.TLS())
		if err != nil {
			return nil, wsclient.ExplainDial(err, r.t.HostPort())
		}
		c = nc
	}
	return newSession(c, v), nil
}

func (s *session) close() {
	close(s.done)
	if wc, ok := s.c.(*wsclient.Conn); ok {
		closeQuietly(wc)
	} else {
		s.c.Close()
	}
	<-s.ended
}

func (s *session) send(p codec.Packet, deadline time.Time) error {
	b, err := codec.AppendPacket(nil, p, s.v)
	if err != nil {
		return err
	}
	s.c.SetWriteDeadline(deadline)
	_, err = s.c.Write(b)
	return err
}

// recv returns the next packet, or an error at the deadline or the end.
func (s *session) recv(deadline time.Time) (codec.Packet, error) {
	for {
		if s.err != nil {
			return nil, s.err
		}
		pkt, ok, err := s.sp.Next()
		if err != nil {
			return nil, err
		}
		if ok {
			return codec.Decode(append([]byte(nil), pkt...), s.v)
		}
		t := time.NewTimer(time.Until(deadline))
		var ch chunk
		select {
		case ch = <-s.chunks:
			t.Stop()
		case <-t.C:
			return nil, os.ErrDeadlineExceeded
		}
		if len(s.head) < 5 {
			s.head = append(s.head, ch.b[:min(len(ch.b), 5-len(s.head))]...)
		}
		s.sp.Write(ch.b)
		if ch.err != nil && len(ch.b) == 0 {
			s.err = ch.err
			return nil, ch.err
		}
	}
}

// connect opens a session and exchanges CONNECT and CONNACK.
func (r *run) connect(ctx context.Context, v codec.Version, keepAlive uint16, emit func(trace.Entry)) (*session, *codec.Connack, error) {
	s, err := r.open(ctx, v, emit)
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	// A client id of its own per connection: a broker may still be ending
	// the previous connection's session when the next one arrives.
	r.conns++
	p := &codec.Connect{Version: v, CleanStart: true, KeepAlive: keepAlive, ClientID: "lifeline-doctor-" + r.nonce + "-" + strconv.Itoa(r.conns)}
	if r.opt.Username != "" {
		p.UsernameFlag, p.Username = true, r.opt.Username
	}
	if r.opt.Password != "" {
		p.PasswordFlag, p.Password = true, []byte(r.opt.Password)
	}
	if err := s.send(p, deadline); err != nil {
		s.close()
		return nil, nil, err
	}
	pkt, err := s.recv(deadline)
	if err != nil {
		s.close()
		if string(s.head) == "HTTP/" {
			return nil, nil, &wsclient.Error{Step: wsclient.StepURL, Err: errors.New("the answer to CONNECT is HTTP"),
				Fix: "this port speaks HTTP, likely a WebSocket listener: use ws://" + r.t.HostPort() + "/ (or wss://)"}
		}
		return nil, nil, err
	}
	ack, ok := pkt.(*codec.Connack)
	if !ok {
		s.close()
		return nil, nil, fmt.Errorf("the broker answered CONNECT with %s, not CONNACK", pkt.Type())
	}
	return s, ack, nil
}

// connects checks CONNECT/CONNACK in 3.1.1 and 5.0; it returns the
// versions accepted as a bit set (1<<4, 1<<5).
func (r *run) connects(ctx context.Context) int {
	var checks [2]Check
	works := 0
	for i, v := range []codec.Version{codec.V311, codec.V5} {
		checks[i] = r.timed(ctx, func(ctx context.Context) Check {
			c := Check{Step: "connect " + v.String(), Title: "MQTT " + v.String() + " CONNECT/CONNACK", Verdict: OK}
			s, ack, err := r.connect(ctx, v, 30, nil)
			if err != nil {
				c.Verdict, c.Detail, c.Fix = Fail, errText(err), connectErrFix(err, r.opt.Timeout)
				return c
			}
			defer s.close()
			deadline, _ := ctx.Deadline()
			c.Detail = fmt.Sprintf("CONNACK 0x%02x %s", byte(ack.ReasonCode), ack.ReasonCode.Name(codec.TypeConnack, v))
			if ack.ReasonCode != 0 {
				c.Verdict, c.Fix = Fail, reasonFix(ack.ReasonCode, v)
				return c
			}
			s.send(&codec.Disconnect{}, deadline)
			works |= 1 << v
			return c
		})
	}
	for i := range checks {
		if checks[i].Verdict == Fail && works != 0 {
			checks[i].Verdict = Warn
			other := "5.0"
			if works&(1<<codec.V311) != 0 {
				other = "3.1.1"
			}
			checks[i].Fix = "the endpoint works in MQTT " + other + ": configure clients for it (" + checks[i].Fix + ")"
		}
		r.add(checks[i])
	}
	return works
}

// best is the newest version that connected.
func best(works int) codec.Version {
	if works&(1<<codec.V5) != 0 {
		return codec.V5
	}
	return codec.V311
}

func errText(err error) string {
	var we *wsclient.Error
	if errors.As(err, &we) {
		return string(we.Step) + ": " + we.Err.Error()
	}
	return err.Error()
}

// connectErrFix explains a CONNECT that got no CONNACK.
func connectErrFix(err error, timeout time.Duration) string {
	var we *wsclient.Error
	switch {
	case errors.As(err, &we):
		return we.Fix
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), strings.Contains(err.Error(), "reset"), strings.Contains(err.Error(), "StatusCode"):
		return "the broker closed the connection without a CONNACK: it may not speak this MQTT version, may refuse the client silently (credentials, client id), or may want another subprotocol"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no CONNACK within %v: is this an MQTT endpoint? Check the port and, over WebSocket, the path", timeout)
	}
	return "the answer to CONNECT is not MQTT: check that this is an MQTT endpoint"
}

// reasonFix says what to do about a refused CONNECT.
func reasonFix(rc codec.ReasonCode, v codec.Version) string {
	if v != codec.V5 { // MQTT 3.1.1 return codes [3.2.2.3]
		switch rc {
		case 1:
			return "the broker does not speak MQTT 3.1.1"
		case 2:
			return "the broker rejects the client id: use one it accepts (its length or characters)"
		case 3:
			return "the broker is unavailable: check its state and logs"
		case 4:
			return "the broker wants a user name and password: pass -u and -P"
		case 5:
			return "the broker refuses this client: check its ACL or authentication (a certificate?)"
		}
		return "a reserved return code: the broker is broken"
	}
	switch rc {
	case codec.ReasonCode(0x84):
		return "the broker does not speak MQTT 5.0"
	case codec.ReasonCode(0x85):
		return "the broker rejects the client id: use one it accepts"
	case codec.ReasonCode(0x86):
		return "the broker wants a user name and password: pass -u and -P"
	case codec.ReasonCode(0x87):
		return "the broker refuses this client: check its ACL or authentication"
	case codec.ReasonCode(0x88), codec.ReasonCode(0x89):
		return "the broker is unavailable or busy: try again later, check its logs"
	case codec.ReasonCode(0x8A):
		return "this client is banned by the broker"
	case codec.ReasonCode(0x9C), codec.ReasonCode(0x9D):
		return "the broker sends clients to another server: see its Server Reference"
	case codec.ReasonCode(0x9F):
		return "the broker limits the connection rate: wait and try again"
	}
	return "the broker refused the connection: see the reason code"
}

// roundTrip subscribes to a private topic at QoS 1, publishes at QoS 1
// and waits for the PUBACK and the message.
func (r *run) roundTrip(ctx context.Context, works int) Check {
	v := best(works)
	topic := "lifeline/doctor/" + r.nonce
	c := Check{Step: "roundtrip", Title: "QoS 1 round trip on " + topic + " (MQTT " + v.String() + ")", Verdict: Fail}
	s, ack, err := r.connect(ctx, v, 30, nil)
	if err != nil || ack.ReasonCode != 0 {
		c.Detail = "could not connect again"
		if err != nil {
			c.Detail += ": " + errText(err)
		}
		return c
	}
	defer s.close()
	deadline, _ := ctx.Deadline()
	start := time.Now()
	if err := s.send(&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: topic, QoS: 1}}}, deadline); err != nil {
		c.Detail = "SUBSCRIBE: " + errText(err)
		return c
	}
	payload := []byte("lifeline doctor " + r.nonce)
	var steps []string
	subscribed, acked, back := false, false, false
	for !(subscribed && acked && back) {
		pkt, err := s.recv(deadline)
		if err != nil {
			c.Detail = strings.Join(append(steps, "then: "+errText(err)), "; ")
			switch {
			case !subscribed:
				c.Fix = "no SUBACK: the broker dropped the subscription request"
			case !acked:
				c.Fix = "no PUBACK: the broker does not acknowledge QoS 1 publishes"
			default:
				c.Fix = "the message did not come back: the broker's ACL may allow publishing to " + topic + " but not receiving it, or something drops deliveries"
			}
			return c
		}
		now := time.Since(start)
		switch p := pkt.(type) {
		case *codec.Suback:
			if len(p.ReasonCodes) != 1 || p.ReasonCodes[0] >= 0x80 {
				c.Detail = "SUBACK refused the subscription: " + codec.Summary(p)
				c.Fix = "the broker's ACL does not allow subscribing to " + topic
				return c
			}
			subscribed = true
			steps = append(steps, fmt.Sprintf("SUBACK granted QoS %d in %s", p.ReasonCodes[0], fmtMs(now)))
			if err := s.send(&codec.Publish{QoS: 1, PacketID: 2, Topic: topic, Payload: payload}, deadline); err != nil {
				c.Detail = "PUBLISH: " + errText(err)
				return c
			}
			start = time.Now()
		case *codec.Puback:
			if p.ReasonCode >= 0x80 {
				c.Detail = "PUBACK refused the message: " + p.ReasonCode.Name(codec.TypePuback, v)
				c.Fix = "the broker's ACL does not allow publishing to " + topic
				return c
			}
			acked = true
			steps = append(steps, "PUBACK in "+fmtMs(now))
		case *codec.Publish:
			if p.Topic == topic && string(p.Payload) == string(payload) {
				back = true
				steps = append(steps, fmt.Sprintf("the message came back at QoS %d in %s", p.QoS, fmtMs(now)))
			}
			if p.QoS == 1 {
				s.send(&codec.Puback{PacketID: p.PacketID}, deadline)
			}
		case *codec.Disconnect:
			c.Detail = strings.Join(append(steps, "then the broker sent "+codec.Summary(p)), "; ")
			return c
		}
	}
	s.send(&codec.Disconnect{}, deadline)
	c.Verdict, c.Detail = OK, strings.Join(steps, "; ")
	return c
}

// idle holds a connection idle for opt.Idle and checks it is still open,
// with a PINGREQ at the end.
func (r *run) idle(ctx context.Context, works int) Check {
	v := best(works)
	idle := r.opt.Idle
	c := Check{Step: "idle", Title: "idle for " + idle.String() + " (clients' keepalive " + fmt.Sprint(r.opt.KeepAlive) + " s)", Verdict: Fail}
	start := time.Now()
	defer func() { c.Millis = ms(time.Since(start)) }()
	// A keepalive long enough that the broker itself waits out the idle
	// time (it may close after 1.5 times the keepalive).
	ka := min(int(idle/time.Second)+int(r.opt.Timeout/time.Second)+1, 65535)
	var mu sync.Mutex
	var how []string
	emit := func(e trace.Entry) {
		if e.From == "broker" && (e.Kind == trace.KindWSClose || e.Kind == trace.KindTCPFin || e.Kind == trace.KindTCPRst) {
			mu.Lock()
			how = append(how, e.Kind+" "+e.Summary)
			mu.Unlock()
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	s, ack, err := r.connect(cctx, v, uint16(ka), emit)
	cancel()
	if err != nil || ack.ReasonCode != 0 {
		c.Detail = "could not connect"
		if err != nil {
			c.Detail += ": " + errText(err)
		}
		return c
	}
	defer s.close()
	idleStart := time.Now()
	pkt, err := s.recv(idleStart.Add(idle))
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		after := time.Since(idleStart).Round(100 * time.Millisecond)
		mu.Lock()
		c.Detail = "closed after " + after.String() + " idle"
		if len(how) > 0 {
			c.Detail += " (" + strings.Join(how, "; ") + ")"
		} else if err != nil {
			c.Detail += " (" + errText(err) + ")"
		}
		mu.Unlock()
		if err == nil {
			c.Detail = "the broker sent " + codec.Summary(pkt) + " after " + after.String() + " idle"
		}
		if after < time.Duration(r.opt.KeepAlive)*time.Second {
			c.Fix = fmt.Sprintf("something on the way (a proxy or load balancer: nginx's proxy_read_timeout and many load balancers close after 60 s) closes idle connections after about %v, before a keepalive of %d s would ping: set the clients' keepalive below that (e.g. %d s), or raise the idle timeout on the way", after, r.opt.KeepAlive, max(1, int(after.Seconds()/2)))
		} else {
			c.Verdict = Warn
			c.Fix = fmt.Sprintf("an idle connection is closed after about %v, but a keepalive of %d s pings before that", after, r.opt.KeepAlive)
		}
		return c
	}
	pingStart := time.Now()
	deadline := pingStart.Add(r.opt.Timeout)
	if err := s.send(&codec.Pingreq{}, deadline); err != nil {
		c.Detail = "still open after " + idle.String() + " idle by the look of it, but PINGREQ failed: " + errText(err)
		c.Fix = "something on the way dropped the connection silently: set the clients' keepalive below " + idle.String()
		return c
	}
	for {
		pkt, err := s.recv(deadline)
		if err != nil {
			c.Detail = "still open after " + idle.String() + " idle by the look of it, but PINGREQ got no PINGRESP: " + errText(err)
			c.Fix = "something on the way dropped the connection silently: set the clients' keepalive below " + idle.String()
			return c
		}
		if pkt.Type() == codec.TypePingresp {
			break
		}
	}
	s.send(&codec.Disconnect{}, deadline)
	c.Verdict = OK
	c.Detail = "still open after " + idle.String() + " idle; PINGREQ answered in " + fmtMs(time.Since(pingStart))
	return c
}
