// Package fakebroker is a scripted, fault-injecting MQTT broker for tests:
// the test accepts each connection and says packet by packet what to
// expect and what to answer, including malformed bytes, early closes and
// silence. It records every byte the client sent.
package fakebroker

import (
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// Broker listens on 127.0.0.1:0.
type Broker struct {
	t     testing.TB
	ln    net.Listener
	conns chan net.Conn
}

// Start starts a Broker closed by t.Cleanup.
func Start(t testing.TB) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{t: t, ln: ln, conns: make(chan net.Conn, 8)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for {
			select {
			case c := <-b.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return b
}

// Addr returns host:port.
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// Accept waits (up to 5s) for the next connection.
func (b *Broker) Accept(v codec.Version) *Conn {
	b.t.Helper()
	select {
	case c := <-b.conns:
		cc := &Conn{t: b.t, c: c, v: v, split: codec.NewSplitter(0)}
		b.t.Cleanup(func() { c.Close() })
		return cc
	case <-time.After(5 * time.Second):
		b.t.Fatal("fakebroker: no connection within 5s")
	}
	return nil
}

// Conn is one scripted connection.
type Conn struct {
	t     testing.TB
	c     net.Conn
	v     codec.Version
	split *codec.Splitter
	Got   [][]byte // every packet received, raw
}

// Next reads the next whole packet (waiting up to 5s); it returns nil, nil
// at EOF.
func (c *Conn) Next() (codec.Packet, []byte, error) {
	buf := make([]byte, 4096)
	for {
		raw, ok, err := c.split.Next()
		if err != nil {
			return nil, nil, err
		}
		if ok {
			raw = append([]byte(nil), raw...)
			c.Got = append(c.Got, raw)
			p, err := codec.Decode(raw, c.v)
			return p, raw, err
		}
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.c.Read(buf)
		c.split.Write(buf[:n])
		if err != nil && n == 0 {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				return nil, nil, nil
			}
			return nil, nil, err
		}
	}
}

// Expect reads the next packet and fails the test unless its summary
// (codec.Summary) is want. It returns the packet.
func (c *Conn) Expect(want string) codec.Packet {
	c.t.Helper()
	p, raw, err := c.Next()
	if err != nil {
		c.t.Fatalf("fakebroker: reading, want %q: %v (%x)", want, err, raw)
	}
	if p == nil {
		c.t.Fatalf("fakebroker: connection closed, want %q", want)
	}
	if got := codec.Summary(p); got != want {
		c.t.Fatalf("fakebroker: got %q (%x), want %q", got, raw, want)
	}
	return p
}

// ExpectEOF fails the test unless the client closes the connection next.
func (c *Conn) ExpectEOF() {
	c.t.Helper()
	p, raw, err := c.Next()
	if p != nil || err != nil {
		c.t.Fatalf("fakebroker: want the connection closed, got %s %x %v", codec.Summary(p), raw, err)
	}
}

// Send writes packets.
func (c *Conn) Send(ps ...codec.Packet) {
	c.t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = codec.AppendPacket(b, p, c.v); err != nil {
			c.t.Fatalf("fakebroker: encode %s: %v", codec.Summary(p), err)
		}
	}
	c.Write(b)
}

// SendHex writes raw bytes given in hex (spaces allowed).
func (c *Conn) SendHex(h string) {
	c.t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	if err != nil {
		c.t.Fatal(err)
	}
	c.Write(b)
}

// Write writes raw bytes.
func (c *Conn) Write(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("fakebroker: write: %v", err)
	}
}

// Close closes the connection (the broker "drops" it).
func (c *Conn) Close() { c.c.Close() }
