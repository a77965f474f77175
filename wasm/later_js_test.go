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
