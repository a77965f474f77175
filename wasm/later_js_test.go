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
	es := a.entries()
	if len(es) != laterMax+3+over || a.lq.len() != 0 {
		t.Fatalf("%d placed, %d waiting after a read", len(es), a.lq.len())
	}
	for i, e := range es {
		if e.T != float64(i) {
			t.Fatalf("entry %d at %v: out of order", i, e.T)
		}
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
		if got := canWait(c.msg); got != c.wait {
			t.Errorf("canWait(%s) = %v, want %v", c.msg, got, c.wait)
		}
		if c.wait {
			continue
		}
		if got := placesFirst(c.msg); got != c.placeFirstIfNot {
			t.Errorf("placesFirst(%s) = %v, want %v", c.msg, got, c.placeFirstIfNot)
		}
	}
}
