package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

// proxyTrace reads a lifeline serve's /trace side channel for `lifeline
// trace -proxy`, so the diagram has the proxy's own legs too: its DNS
// lookup and its TCP (or TLS) connection to the broker with the packets on
// it. The proxy's times are moved onto ours with one ping (the midpoint
// of its round trip), as the page does with several.
type proxyTrace struct {
	ws     *websocket.Conn
	token  string
	offset float64 // ms to add to the proxy's times

	mu      sync.Mutex
	entries []trace.Entry
	done    chan struct{}
}

// traceMessage is a message of the /trace channel (see proxy/doc.go).
type traceMessage struct {
	Type       string      `json:"type"`
	Token      string      `json:"token"`
	ServerTime float64     `json:"serverTime"`
	Entry      trace.Entry `json:"entry"`
	Count      int         `json:"count"`
}

// openProxyTrace opens /trace on the proxy of target p and aligns the clocks.
func openProxyTrace(ctx context.Context, p wsclient.Target, start time.Time, origin string) (*proxyTrace, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, _, err := websocket.Dial(ctx, p.WithPath("/trace").String(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(8 << 20)
	var hello traceMessage
	if err := wsjson.Read(ctx, ws, &hello); err != nil || hello.Type != "hello" || hello.Token == "" {
		ws.CloseNow()
		return nil, errors.New("no hello on /trace")
	}
	since := func() float64 { return float64(time.Since(start)) / float64(time.Millisecond) }
	t0 := since()
	if err := wsjson.Write(ctx, ws, map[string]any{"type": "ping", "t": t0}); err != nil {
		ws.CloseNow()
		return nil, err
	}
	for {
		var m traceMessage
		if err := wsjson.Read(ctx, ws, &m); err != nil {
			ws.CloseNow()
			return nil, err
		}
		if m.Type == "pong" {
			pt := &proxyTrace{ws: ws, token: hello.Token, offset: (t0+since())/2 - m.ServerTime, done: make(chan struct{})}
			go pt.read()
			return pt, nil
		}
	}
}

// read keeps the proxy's own legs until the channel ends.
func (pt *proxyTrace) read() {
	defer close(pt.done)
	for {
		var m traceMessage
		if err := wsjson.Read(context.Background(), pt.ws, &m); err != nil {
			return
		}
		e := m.Entry
		switch {
		case m.Type == "dropped":
			e = trace.Entry{From: "proxy", To: "proxy", Kind: "error", Error: "the proxy dropped trace entries (its channel was full)"}
		case m.Type != "entry" || e.Leg != trace.LegProxyDNS && e.Leg != trace.LegProxyBroker:
			continue // the browser leg is ours: we drew it from the wire
		}
		pt.mu.Lock()
		pt.entries = append(pt.entries, e)
		pt.mu.Unlock()
	}
}

// stop waits a moment for the last entries (the broker's FIN) and closes
// the channel; it returns the proxy's entries on our clock, the ping's
// estimate narrowed by causality against ours (see narrow).
func (pt *proxyTrace) stop(linger time.Duration, ours []trace.Entry) []trace.Entry {
	time.Sleep(linger)
	pt.ws.Close(websocket.StatusNormalClosure, "")
	<-pt.done
	pt.mu.Lock()
	defer pt.mu.Unlock()
	off := narrow(pt.offset, ours, pt.entries)
	out := make([]trace.Entry, len(pt.entries))
	for i, e := range pt.entries {
		e.T += off
		out[i] = e
	}
	return out
}

// narrow keeps the clock offset (ms to add to the proxy's times) within
// what causality allows: a packet the client sent reaches the broker leg
// after the client sent it, and one from the broker reaches the client
// after the proxy read it. Packets are matched by kind and bytes, in order.
func narrow(offset float64, ours, theirs []trace.Entry) float64 {
	lo, hi := math.Inf(-1), math.Inf(1)
	used := make([]bool, len(theirs))
	for _, o := range ours {
		if !strings.HasPrefix(o.Kind, "mqtt.") {
			continue
		}
		for j, p := range theirs {
			if used[j] || p.Kind != o.Kind || !bytes.Equal(p.Bytes, o.Bytes) {
				continue
			}
			switch {
			case o.From == "client" && p.From == "proxy":
				lo = max(lo, o.T-p.T)
			case o.To == "client" && p.To == "proxy":
				hi = min(hi, o.T-p.T)
			default:
				continue
			}
			used[j] = true
			break
		}
	}
	if lo <= hi {
		offset = min(max(offset, lo), hi)
	}
	return offset
}
