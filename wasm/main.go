//go:build js && wasm

// Command wasm is Lifeline's MQTT client for the browser: it runs the client
// state machine and the codec in WebAssembly, talks to the browser's own
// WebSocket through syscall/js, keeps the sequence diagram's model (package
// diagram), and exposes window.lifeline to the page (see docs/api.md).
// The page's scripts only draw what it computes.
package main

import (
	"runtime"
	"syscall/js"

	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

func main() {
	// JavaScript's Number rounds long decimals correctly, with no tables
	// in the wasm.
	jsonw.SlowFloat = func(s string) float64 { return js.Global().Call("Number", s).Float() }
	a := newApp(js.Global().Get("lifeline"))
	a.install()
	a.api.Call("_boot", map[string]any{"goVersion": runtime.Version()})
	<-a.done // the page never stops the client; this keeps it alive
	a.release()
}
