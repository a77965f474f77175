// Package netclient drives the sans-IO MQTT client (package client) over a
// net.Conn: it dials when the client asks, writes what it sends, feeds it
// what arrives, and runs its timers on an injectable Clock. The CLI and the
// native tests use it; the browser has its own driver in wasm/.
//
// A Client runs one loop goroutine (Run) that owns the state machine, one
// goroutine per dial and one reader per connection; all of them end when
// Run returns.
package netclient

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
)

// Clock tells time and makes timers. Real() is the wall clock; tests use a
// simulated one so keepalive and backoff run without waiting.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, and a stop
	// function.
	After(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

func (realClock) Now() time.Time { return time.Now() }
func (realClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Dialer opens a transport to the broker (TCP, TLS, …).
type Dialer func(ctx context.Context) (net.Conn, error)

// Options configure a Client beyond the MQTT Config.
type Options struct {
	Clock Clock // default Real()
	// OnEvent receives every event of the state machine, in order, on the
	// loop goroutine; it must not call the Client's methods.
	OnEvent func(client.Event)
	// WriteTimeout bounds each write (default 10s of wall time).
	WriteTimeout time.Duration
}

// ErrClosed is returned by commands after Run has returned.
var ErrClosed = errors.New("netclient: not running")

// Client is an MQTT client over net.Conn.
type Client struct {
	core  *client.Client
	dial  Dialer
	opt   Options
	cmds  chan func(now time.Time)
	reads chan readMsg
	dials chan dialMsg
	done  chan struct{}
	wg    sync.WaitGroup

	// owned by the loop
	conn net.Conn
	gen  int // transport generation; messages of older ones are stale
	ctx  context.Context
}

type readMsg struct {
	gen int
	b   []byte
	err error
}

type dialMsg struct {
	gen  int
	conn net.Conn
	err  error
}

// New returns a Client; call Run to start it.
func New(cfg client.Config, dial Dialer, opt Options) *Client {
	if opt.Clock == nil {
		opt.Clock = Real()
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	return &Client{core: client.New(cfg), dial: dial, opt: opt,
		cmds: make(chan func(time.Time)), reads: make(chan readMsg), dials: make(chan dialMsg), done: make(chan struct{})}
}

// Run runs the client until ctx is done; it then closes the connection
// without DISCONNECT (call Disconnect first for a clean end) and waits for
// its goroutines.
func (c *Client) Run(ctx context.Context) error {
	c.ctx = ctx
	defer c.wg.Wait()
	defer close(c.done)
	defer c.closeConn()
	var timer <-chan time.Time
	stop := func() {}
	defer func() { stop() }()
	for {
		stop()
		timer, stop = nil, func() {}
		if d := c.core.Deadline(); !d.IsZero() {
			timer, stop = c.opt.Clock.After(d.Sub(c.opt.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case f := <-c.cmds:
			f(c.opt.Clock.Now())
		case <-timer:
			c.core.Tick(c.opt.Clock.Now())
		case m := <-c.dials:
			now := c.opt.Clock.Now()
			switch {
			case m.gen != c.gen:
				if m.conn != nil {
					m.conn.Close()
				}
				continue
			case m.err != nil:
				c.core.DialFailed(now, m.err)
			default:
				c.conn = m.conn
				c.startReader(m.conn, c.gen)
				c.core.Dialed(now)
			}
		case m := <-c.reads:
			if m.gen != c.gen || c.conn == nil {
				continue
			}
			now := c.opt.Clock.Now()
			if len(m.b) > 0 {
				c.core.Receive(now, m.b)
			}
			if m.err != nil && m.gen == c.gen && c.conn != nil {
				err := m.err
				if errors.Is(err, net.ErrClosed) || err.Error() == "EOF" {
					err = nil
				}
				c.closeConn()
				c.core.Closed(now, err)
			}
		}
		c.pump()
	}
}

// pump drains the state machine's events and carries out its instructions.
func (c *Client) pump() {
	for {
		ev, ok := c.core.Next()
		if !ok {
			return
		}
		if c.opt.OnEvent != nil {
			c.opt.OnEvent(ev)
		}
		switch ev.Type {
		case client.EventDial:
			c.closeConn()
			c.gen++
			gen := c.gen
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				conn, err := c.dial(c.ctx)
				select {
				case c.dials <- dialMsg{gen, conn, err}:
				case <-c.done:
					if conn != nil {
						conn.Close()
					}
				}
			}()
		case client.EventSend:
			if c.conn == nil {
				continue
			}
			c.conn.SetWriteDeadline(time.Now().Add(c.opt.WriteTimeout))
			if _, err := c.conn.Write(ev.Bytes); err != nil {
				c.closeConn()
				c.core.Closed(c.opt.Clock.Now(), err)
			}
		case client.EventClose:
			c.closeConn()
		}
	}
}

func (c *Client) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
		c.gen++
	}
}

func (c *Client) startReader(conn net.Conn, gen int) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := conn.Read(buf)
			m := readMsg{gen: gen, b: append([]byte(nil), buf[:n]...), err: err}
			select {
			case c.reads <- m:
			case <-c.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
}

// do runs f on the loop goroutine and waits for it.
func (c *Client) do(f func(core *client.Client, now time.Time)) error {
	fin := make(chan struct{})
	select {
	case c.cmds <- func(now time.Time) { f(c.core, now); close(fin) }:
	case <-c.done:
		return ErrClosed
	}
	<-fin
	return nil
}

// Connect starts connecting (see client.Client.Connect).
func (c *Client) Connect() (err error) {
	if e := c.do(func(cc *client.Client, now time.Time) { err = cc.Connect(now) }); e != nil {
		return e
	}
	return err
}

// Publish queues a message and returns its packet id.
func (c *Client) Publish(m client.Message) (id uint16, err error) {
	if e := c.do(func(cc *client.Client, now time.Time) { id, err = cc.Publish(now, m) }); e != nil {
		return 0, e
	}
	return id, err
}

// Subscribe sends SUBSCRIBE and returns its packet id.
func (c *Client) Subscribe(subs []codec.Subscription, props codec.Properties) (id uint16, err error) {
	if e := c.do(func(cc *client.Client, now time.Time) { id, err = cc.Subscribe(now, subs, props) }); e != nil {
		return 0, e
	}
	return id, err
}

// Unsubscribe sends UNSUBSCRIBE and returns its packet id.
func (c *Client) Unsubscribe(filters []string, props codec.Properties) (id uint16, err error) {
	if e := c.do(func(cc *client.Client, now time.Time) { id, err = cc.Unsubscribe(now, filters, props) }); e != nil {
		return 0, e
	}
	return id, err
}

// Ping sends PINGREQ.
func (c *Client) Ping() (err error) {
	if e := c.do(func(cc *client.Client, now time.Time) { err = cc.Ping(now) }); e != nil {
		return e
	}
	return err
}

// Disconnect sends DISCONNECT (reason and props in MQTT 5.0) and closes.
func (c *Client) Disconnect(reason codec.ReasonCode, props codec.Properties) (err error) {
	if e := c.do(func(cc *client.Client, now time.Time) { err = cc.Disconnect(now, reason, props) }); e != nil {
		return e
	}
	return err
}

// State returns the state machine's state.
func (c *Client) State() (s client.State) {
	if c.do(func(cc *client.Client, _ time.Time) { s = cc.State() }) != nil {
		return client.StateDisconnected
	}
	return s
}
