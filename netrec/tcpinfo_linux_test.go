package netrec_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// The kernel's state of the socket, as Linux reports it in TCP_INFO, is
// recorded at each change the dialer's side sees: who closes first decides
// the states the kernel goes through (RFC 9293, 3.3.2).
func TestKernelState(t *testing.T) {
	tests := []struct {
		name   string
		closes func(t *testing.T, c *netrec.Conn, peer net.Conn)
		want   []string // the states recorded, in order
	}{
		{"the peer closes first", func(t *testing.T, c *netrec.Conn, peer net.Conn) {
			peer.Close()
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("read after the peer closed succeeded")
			}
		}, []string{"ESTABLISHED", "CLOSE_WAIT"}},
		{"this side closes first", func(t *testing.T, c *netrec.Conn, peer net.Conn) {
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if _, err := peer.Read(make([]byte, 1)); err == nil {
				t.Fatal("the peer's read after the FIN succeeded")
			}
			peer.Close()
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("read after the peer closed succeeded")
			}
			// Linux hands the connection to a TIME_WAIT mini-socket and
			// reports the socket still held open as CLOSE.
		}, []string{"ESTABLISHED", "FIN_WAIT", "CLOSE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := newListener(t)
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			var rec recorder
			d := &netrec.Dialer{Emit: rec.emit, KernelState: true}
			c, _, err := d.Dial(context.Background(), ln.Addr().String(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			peer := <-accepted
			defer peer.Close()
			tt.closes(t, c, peer)
			var states []string
			for _, e := range rec.es {
				if e.Kind != trace.KindTCPState {
					continue
				}
				if e.Observed != trace.ObservedKernel || e.From != "proxy" || e.To != "proxy" || e.Leg != trace.LegProxyBroker {
					t.Errorf("entry %+v: want a kernel observation at the proxy on the broker leg", e)
				}
				states = append(states, e.Summary)
			}
			if len(states) != len(tt.want) {
				t.Fatalf("states %q, want %q", states, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(states[i], "kernel: "+w) {
					t.Errorf("state %d is %q, want %s", i, states[i], w)
				}
			}
			if !strings.Contains(states[0], "RTT") {
				t.Errorf("%q: want the kernel's RTT", states[0])
			}
		})
	}
}

// Without KernelState nothing of the kind is recorded.
func TestKernelStateOff(t *testing.T) {
	ln := newListener(t)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	var rec recorder
	c, _, err := (&netrec.Dialer{Emit: rec.emit}).Dial(context.Background(), ln.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.Read(make([]byte, 1))
	c.Close()
	if k := rec.kinds(); strings.Contains(k, trace.KindTCPState) {
		t.Errorf("entries %s: want no tcp.state", k)
	}
}
