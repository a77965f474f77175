//go:build js && wasm

package main

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestLaterQueue checks the queue of arrows to place: nothing placed until
// a read (but a drawn one), every one placed in order by one, and the
// oldest placed as new ones come once laterMax wait.
func TestLaterQueue(t *testing.T) {
	a, api := newTestApp(t)
	e := func(i int) trace.Entry {
		return trace.Entry{T: float64(i), Leg: trace.LegBrowserProxy, From: "browser", To: "proxy", Kind: "mqtt.PINGREQ", Bytes: []byte{0xc0, 0}, Observed: "wire"}
	}
	for i := 0; i < 3; i++ {
		a.add(e(i), diagram.Local)
	}
	if n := a.model.Len(); n != 0 {
		t.Fatalf("%d placed before any read", n)
	}
	if n := api.Call("_total", true).Int(); n != 0 {
		t.Fatalf("_total(true) = %d: a drawn read placed the queue", n)
	}
	if n := api.Call("_total").Int(); n != 3 {
		t.Fatalf("_total() = %d, want 3", n)
	}
	const over = 100
	for i := 3; i < laterMax+3+over; i++ {
		a.add(e(i), diagram.Local)
	}
	if n, q := a.model.Len(), a.lq.len(); n != 3+over || q != laterMax {
		t.Fatalf("%d placed and %d waiting, want %d and %d", n, q, 3+over, laterMax)
	}
	// The diagram keeps the newest 20,000 or so; it counts those it paged
	// out (laterMax is more: a burst's arrows, both legs, wait whole).
	es := a.entries()
	paged := a.model.PagedOut().Count
	if paged+len(es) != laterMax+3+over || a.lq.len() != 0 {
		t.Fatalf("%d placed and %d paged out, %d waiting after a read", len(es), paged, a.lq.len())
	}
	for i, e := range es {
		if e.T != float64(paged+i) {
			t.Fatalf("entry %d at %v: out of order", i, e.T)
		}
	}
}

// TestFloodHold: while a client's socket brings a flood, the queue's task
// holds its arrows, for floodHoldMax at most; then it places what came,
// and the next hold starts anew. The task is called here at chosen
// moments of a flood (the browser's timers are too coarse under load to
// make one): BenchmarkPageClients measures a burst's hold.
func TestFloodHold(t *testing.T) {
	a, _ := newTestApp(t)
	q := &a.lq
	e := trace.Entry{Leg: trace.LegBrowserProxy, From: "proxy", To: "browser", Kind: "mqtt.PINGRESP", Bytes: []byte{0xd0, 0}, Observed: "wire"}
	add := func(n int) {
		for range n {
			e.T = a.now()
			a.add(e, diagram.Local)
		}
	}
	add(10)
	q.batch(now() - 5)
	q.batch(now()) // 5 ms apart: a flood
	a.laterTask()
	if n := a.model.Len(); n != 0 || q.holdFrom == 0 {
		t.Fatalf("in a flood: %d placed (hold from %v), want none, held", n, q.holdFrom)
	}
	q.batch(now())
	a.laterTask()
	if n := a.model.Len(); n != 0 {
		t.Fatalf("in a flood, held %v ms: %d placed, want none", now()-q.holdFrom, n)
	}
	q.holdFrom = now() - floodHoldMax - 1
	q.batch(now())
	a.laterTask()
	if n := a.model.Len(); n != 10 || q.holdFrom != 0 {
		t.Fatalf("in a flood held floodHoldMax: %d placed (hold from %v), want 10, and the hold ended", n, q.holdFrom)
	}
	add(5)
	q.batch(now())
	a.laterTask()
	if n := a.model.Len(); n != 10 || q.holdFrom == 0 {
		t.Fatalf("in the same flood after placing: %d placed (hold from %v), want 10, held anew", n, q.holdFrom)
	}
	q.floodAt = now() - floodQuiet - 1 // the flood paused
	a.laterTask()
	if n := a.model.Len(); n != 15 || q.holdFrom != 0 {
		t.Fatalf("after the flood: %d placed (hold from %v), want 15, not held", n, q.holdFrom)
	}
}

// TestTraceMessageOrder: which trace channel messages wait in the queue in
// their place, and which are read at once with or without the queue
// placed first, whatever the order of their keys.
func TestTraceMessageOrder(t *testing.T) {
	for _, c := range []struct {
		msg                   string
		wait, placeFirstIfNot bool
	}{
		{`{"type":"entry","entry":{"seq":1}}`, true, false},
		{`{"type":"pong","t":1.5,"serverTime":2}`, true, false},
		{`{"serverTime":2,"t":1.5,"type":"pong"}`, true, false}, // a map's sorted keys
		{`{"type":"dropped","count":3}`, true, false},
		{`{"count":3,"type":"dropped"}`, true, false},
		{`{"type":"hello","token":"x","serverTime":1}`, false, true},
		{`{"serverTime":1,"token":"x","type":"hello"}`, false, true},
		{`{"conn":"c1","id":2,"ok":true,"op":"state","state":{"type":"pong"},"type":"lab"}`, false, false},
		{`{"type":"cut","conn":"c1","ok":true}`, false, false},
		{`{"conn":"c1","error":"no open connection c1","ok":false,"type":"cut"}`, false, false},
		{`{"type":"later"}`, false, true}, // a type this page does not know
		{`not json`, false, true},
		{``, false, true},
	} {
		typ := messageType(c.msg)
		if got := canWait(typ); got != c.wait {
			t.Errorf("canWait(%s) = %v, want %v", c.msg, got, c.wait)
		}
		if c.wait {
			continue
		}
		if got := placesFirst(typ); got != c.placeFirstIfNot {
			t.Errorf("placesFirst(%s) = %v, want %v", c.msg, got, c.placeFirstIfNot)
		}
	}
}
