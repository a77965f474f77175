//go:build js && wasm

package main

import (
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
)

// writeDissection adds the entry's field tree, when it has one. (The MQTT
// dissector arrives with package codec.)
func (a *app) writeDissection(w *jsonw.Writer, e *trace.Entry) {}
