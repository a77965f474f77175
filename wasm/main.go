//go:build js && wasm

// Command wasm is Lifeline's MQTT client for the browser: it runs the client
// state machine and the codec in WebAssembly, talks to the browser's own
// WebSocket through syscall/js, and exposes window.lifeline to the page.
package main

import (
	"runtime"
	"syscall/js"
)

func main() {
	lifeline := js.Global().Get("lifeline")
	lifeline.Call("_boot", map[string]any{"goVersion": runtime.Version()})
	select {}
}
