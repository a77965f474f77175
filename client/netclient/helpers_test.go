package netclient_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/client/netclient"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// running is a netclient.Client under test with its events.
type running struct {
	t *testing.T
	*netclient.Client
	mu     sync.Mutex
	evs    []client.Event
	cursor int
	signal chan struct{}
}

// start runs a client dialing addr; it stops with the test.
func start(t *testing.T, cfg client.Config, addr string, clock netclient.Clock) *running {
	t.Helper()
	r := &running{t: t, signal: make(chan struct{}, 1)}
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	r.Client = netclient.New(cfg, dial, netclient.Options{Clock: clock, OnEvent: func(ev client.Event) {
		r.mu.Lock()
		r.evs = append(r.evs, ev)
		r.mu.Unlock()
		select {
		case r.signal <- struct{}{}:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// waitFor returns the next event (after the previous waitFor's) that
// matches, waiting up to 5s of wall time.
func (r *running) waitFor(what string, match func(client.Event) bool) client.Event {
	r.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		for ; r.cursor < len(r.evs); r.cursor++ {
			if ev := r.evs[r.cursor]; match(ev) {
				r.cursor++
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline:
			r.t.Fatalf("no %s within 5s; events:\n%s", what, strings.Join(r.lines(), "\n"))
		}
	}
}

func (r *running) waitState(s client.State) client.Event {
	r.t.Helper()
	return r.waitFor("state "+s.String(), func(ev client.Event) bool { return ev.Type == client.EventState && ev.State == s })
}

func (r *running) waitType(t client.EventType) client.Event {
	r.t.Helper()
	return r.waitFor(t.String(), func(ev client.Event) bool { return ev.Type == t })
}

// lines renders all events so far, one a line, without times.
func (r *running) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		out = append(out, line(ev))
	}
	return out
}

func line(ev client.Event) string {
	switch ev.Type {
	case client.EventSend:
		return "> " + codec.Summary(ev.Packet)
	case client.EventReceive:
		if ev.Packet == nil {
			return "< invalid"
		}
		return "< " + codec.Summary(ev.Packet)
	case client.EventState:
		return "state " + ev.State.String()
	case client.EventError:
		return "error " + ev.Err.Error()
	case client.EventMessage:
		return "message " + ev.Message.Topic + " " + string(ev.Message.Payload) + " qos=" + strconv.Itoa(int(ev.Message.QoS))
	case client.EventPublished, client.EventSubscribed, client.EventUnsubscribed:
		s := ev.Type.String() + " id=" + strconv.Itoa(int(ev.ID))
		if ev.Err != nil {
			s += " " + ev.Err.Error()
		}
		return s
	}
	return ev.Type.String()
}

// newMosquitto starts Debian's mosquitto on a free loopback port.
func newMosquitto(t *testing.T) string {
	t.Helper()
	return testenv.StartMosquitto(t, testenv.MosquittoOptions{}).Addr
}
