//go:build js && wasm

package main

// The typed layer: every raw syscall/js call of the client lives in this
// file and socket_js.go. The rest of the package sees Go types: strings,
// numbers, byte slices, options structs, and JSON text that the page parses.

import (
	"syscall/js"
)

var (
	jsGlobal     = js.Global()
	jsJSON       = jsGlobal.Get("JSON")
	jsUint8Array = jsGlobal.Get("Uint8Array")
	jsArrayBuf   = jsGlobal.Get("ArrayBuffer")
	jsPromise    = jsGlobal.Get("Promise")
	jsError      = jsGlobal.Get("Error")
	jsPerf       = jsGlobal.Get("performance")
)

// now is the page's clock in milliseconds (performance.now).
func now() float64 { return jsPerf.Call("now").Float() }

// funcs holds the js.Funcs the app made, so that they are all released.
type funcs struct{ list []js.Func }

func (f *funcs) add(fn func(this js.Value, args []js.Value) any) js.Func {
	jf := js.FuncOf(fn)
	f.list = append(f.list, jf)
	return jf
}

func (f *funcs) release() {
	for _, jf := range f.list {
		jf.Release()
	}
	f.list = nil
}

// parseJSON turns JSON text written by jsonw into a JavaScript value.
func parseJSON(b []byte) js.Value { return jsJSON.Call("parse", string(b)) }

// stringify turns a JavaScript value into JSON text.
func stringify(v js.Value) string { return jsJSON.Call("stringify", v).String() }

// bytesToJS copies b into a new Uint8Array.
func bytesToJS(b []byte) js.Value {
	a := jsUint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// bytesFromJS copies a Uint8Array or ArrayBuffer; ok is false for anything
// else.
func bytesFromJS(v js.Value) ([]byte, bool) {
	switch {
	case v.InstanceOf(jsUint8Array):
	case v.InstanceOf(jsArrayBuf):
		v = jsUint8Array.New(v)
	default:
		return nil, false
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b, true
}

// jsErr makes a JavaScript Error with a message.
func jsErr(msg string) js.Value { return jsError.New(msg) }

// promise is a JavaScript Promise and its settle functions.
type promise struct {
	p                js.Value
	resolveF, reject js.Value
}

// newPromise returns a pending Promise; settle it exactly once.
func newPromise() *promise {
	pr := &promise{}
	exec := js.FuncOf(func(this js.Value, args []js.Value) any {
		pr.resolveF, pr.reject = args[0], args[1]
		return nil
	})
	pr.p = jsPromise.New(exec) // the executor runs synchronously
	exec.Release()
	return pr
}

func (p *promise) resolve(v any)   { p.resolveF.Invoke(v) }
func (p *promise) fail(msg string) { p.reject.Invoke(jsErr(msg)) }
func rejected(msg string) js.Value { return jsPromise.Call("reject", jsErr(msg)) }
func resolved(v any) js.Value      { return jsPromise.Call("resolve", v) }

// obj reads an options object from JavaScript with defaults for what is
// missing (undefined or null).
type obj struct{ v js.Value }

func (o obj) get(k string) (js.Value, bool) {
	if o.v.Type() != js.TypeObject {
		return js.Value{}, false
	}
	v := o.v.Get(k)
	if v.IsUndefined() || v.IsNull() {
		return js.Value{}, false
	}
	return v, true
}

func (o obj) has(k string) bool { _, ok := o.get(k); return ok }

func (o obj) str(k, def string) string {
	if v, ok := o.get(k); ok {
		if v.Type() == js.TypeString {
			return v.String()
		}
		return jsGlobal.Call("String", v).String()
	}
	return def
}

func (o obj) num(k string, def float64) float64 {
	if v, ok := o.get(k); ok {
		if v.Type() == js.TypeNumber {
			return v.Float()
		}
		if f := jsGlobal.Call("Number", v).Float(); f == f {
			return f
		}
	}
	return def
}

func (o obj) int(k string, def int) int { return int(o.num(k, float64(def))) }

func (o obj) boolean(k string, def bool) bool {
	if v, ok := o.get(k); ok {
		return v.Truthy()
	}
	return def
}

func (o obj) sub(k string) (obj, bool) {
	v, ok := o.get(k)
	if !ok || v.Type() != js.TypeObject {
		return obj{}, false
	}
	return obj{v}, true
}

// data reads a string (as UTF-8) or bytes.
func (o obj) data(k string) ([]byte, bool) {
	v, ok := o.get(k)
	if !ok {
		return nil, false
	}
	return dataOf(v)
}

// dataOf converts a string (UTF-8) or a Uint8Array/ArrayBuffer to bytes.
func dataOf(v js.Value) ([]byte, bool) {
	if v.Type() == js.TypeString {
		return []byte(v.String()), true
	}
	return bytesFromJS(v)
}

// pairs reads user properties given as an array of [key, value] pairs or
// as an object of key: value.
func (o obj) pairs(k string) [][2]string {
	v, ok := o.get(k)
	if !ok || v.Type() != js.TypeObject {
		return nil
	}
	var out [][2]string
	if jsGlobal.Get("Array").Call("isArray", v).Bool() {
		for i := 0; i < v.Length(); i++ {
			p := v.Index(i)
			if p.Type() == js.TypeObject && p.Length() >= 2 {
				out = append(out, [2]string{p.Index(0).String(), p.Index(1).String()})
			}
		}
		return out
	}
	keys := jsGlobal.Get("Object").Call("keys", v)
	for i := 0; i < keys.Length(); i++ {
		key := keys.Index(i).String()
		out = append(out, [2]string{key, jsGlobal.Call("String", v.Get(key)).String()})
	}
	return out
}
