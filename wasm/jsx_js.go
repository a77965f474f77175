//go:build js && wasm

package main

// The typed layer: every raw syscall/js call of the client lives in this
// file and socket_js.go. The rest of the package sees Go types: strings,
// numbers, byte slices, options structs, and JSON text that the page parses.

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"syscall/js"
	"unsafe"

	"github.com/lifeline-mqtt/lifeline/wasm/options"
)

var (
	jsGlobal     = js.Global()
	jsJSON       = jsGlobal.Get("JSON")
	jsUint8Array = jsGlobal.Get("Uint8Array")
	jsArrayBuf   = jsGlobal.Get("ArrayBuffer")
	jsPromise    = jsGlobal.Get("Promise")
	jsError      = jsGlobal.Get("Error")
	jsPerf       = jsGlobal.Get("performance")
	jsArray      = jsGlobal.Get("Array")
	jsObject     = jsGlobal.Get("Object")
)

// Small JavaScript functions that do in one crossing into JavaScript what
// would take one per property: the per-message paths call them.
var (
	jsPublishOpts = jsFunc("o", `if (o == null) return 0;
if (typeof o !== "object" || Array.isArray(o)) return -1;
for (const k of Object.keys(o)) if (k !== "qos" && k !== "retain") return -1;
const q = o.qos == null ? 0 : o.qos, r = o.retain;
if ((q !== 0 && q !== 1 && q !== 2) || (r != null && typeof r !== "boolean")) return -1;
return q + (r ? 4 : 0);`)
	// jsListeners calls the page's listeners: call(fn, v) one, messages
	// the on("message") ones with a batch (messageBatch). One that throws
	// is reported, as an uncaught error would be, without unwinding into
	// Go, and the others are still called.
	jsListeners = jsFunc(`const report = globalThis.reportError || ((e) => setTimeout(() => { throw e; }));
const call = (fn, v) => { try { fn(v); } catch (e) { report(e); } };
const text = new TextDecoder();
const u32 = (b, i) => (b[i] << 24 | b[i + 1] << 16 | b[i + 2] << 8 | b[i + 3]) >>> 0;
const messages = (ls, b, n) => {
  let client = '', topic = '';
  for (let i = 0, o = 0; i < n; i++) {
    const f = b[o], tl = u32(b, o + 1), pl = u32(b, o + 5);
    o += 9;
    if (f & 16) { const cl = u32(b, o); client = text.decode(b.subarray(o + 4, o + 4 + cl)); o += 4 + cl; }
    if (!(f & 32)) topic = text.decode(b.subarray(o, o + tl));
    const m = {client, topic, payload: b.slice(o + tl, o + tl + pl), qos: f & 3, retain: (f & 4) !== 0, dup: (f & 8) !== 0};
    o += tl + pl;
    for (const fn of ls) call(fn, m);
  }
};
return {call, messages};`).Invoke()
	jsCall            = jsListeners.Get("call")
	jsDeliverMessages = jsListeners.Get("messages")
)

func jsFunc(params ...any) js.Value { return jsGlobal.Get("Function").New(params...) }

// Messages for on("message") listeners cross into JavaScript together:
// those a drain of the client's events found, in one call that makes each
// listener's object (client, topic, payload, qos, retain, dup) and calls
// the listeners in order. A call per message, and an object per message
// that Go must hold and let go (a finalizer each), cost more than the
// message. A listener that throws is reported (reportError) and the rest
// still get the message. A topic the same as the last message's is not
// written again, nor decoded again (a flood's messages share a few
// topics; decoding each was a microsecond of the page's time a message).
type messageBatch struct {
	b      []byte // per message: flags, topic and payload lengths, [client], [topic], payload
	n      int
	client string   // the client of the last message written
	topic  string   // the topic of the last message written
	ls     js.Value // the listeners, a JavaScript array made anew when they change
}

// add writes one message for the listeners.
func (mb *messageBatch) add(client, topic string, payload []byte, qos int, retain, dup bool) {
	f := byte(qos & 3)
	if retain {
		f |= 4
	}
	if dup {
		f |= 8
	}
	named := mb.n == 0 || client != mb.client
	if named {
		f |= 16
		mb.client = client
	}
	written := topic
	if mb.n > 0 && topic == mb.topic {
		f |= 32
		written = ""
	} else {
		mb.topic = topic
	}
	mb.b = append(mb.b, f)
	mb.b = appendBE32(appendBE32(mb.b, len(written)), len(payload))
	if named {
		mb.b = append(appendBE32(mb.b, len(client)), client...)
	}
	mb.b = append(append(mb.b, written...), payload...)
	mb.n++
}

// flush calls the listeners with the messages written. They may call
// back into Go, which may write and flush more: those go in a batch of
// their own, after this one.
func (mb *messageBatch) flush() {
	if mb.n == 0 {
		return
	}
	b, n := bytesToJS(mb.b), mb.n
	mb.n, mb.topic = 0, "" // the topic may be a view of a socket's buffer: not kept
	if cap(mb.b) > 1<<20 {
		mb.b = nil // one flood's worth: not kept
	} else {
		mb.b = mb.b[:0]
	}
	jsDeliverMessages.Invoke(mb.ls, b, n)
}

func appendBE32(b []byte, v int) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

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
// The text is not copied into a Go string: JavaScript copies it during the
// call, and b is not written meanwhile.
func parseJSON(b []byte) js.Value {
	if len(b) == 0 {
		return jsJSON.Call("parse", "")
	}
	return jsJSON.Call("parse", unsafe.String(&b[0], len(b)))
}

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

// promise is a JavaScript Promise, kept in a table in JavaScript with its
// settle functions (jsPromises) under its key: making one is one crossing
// (not a Go function for its executor, called back from JavaScript), and
// settling it one more. The keys Go makes are negative; the batched
// publish makes the positive ones (jsPublishBatch).
type promise struct {
	p   js.Value
	key int
}

var (
	jsPromises = jsFunc(`const pend = new Map(), early = new Map();
let inBatch = 0; // batches running: a listener may run another inside one
return {
  batch(on) { inBatch += on ? 1 : -1; if (!inBatch) early.clear(); },
  make(k) { return new Promise((res, rej) => pend.set(k, [res, rej])); },
  // wait keeps a batched publish's settle functions under its key, once
  // its batch is back from Go; what Go settled while the batch ran (a
  // disconnect in it) is settled now.
  wait(k, res, rej) {
    pend.set(k, [res, rej]);
    const e = early.get(k);
    if (e) { early.delete(k); this.settle(k, ...e); }
  },
  settle(k, how, v, r) {
    const f = pend.get(k);
    if (!f) { if (k > 0 && inBatch) early.set(k, [how, v, r]); return; }
    pend.delete(k);
    if (how === 0) f[1](new Error(v));
    else f[0](how === 1 ? v : r === undefined ? {packetId: v} : {packetId: v, reason: r});
  },
  acked(u8) { // key, packet id, reason: three float64 each
    const f = new Float64Array(u8.buffer, u8.byteOffset, u8.length / 8);
    for (let i = 0; i < f.length; i += 3) this.settle(f[i], 2, f[i + 1], f[i + 2]);
  },
};`).Invoke()
	jsSettle   = jsPromises.Get("settle")
	promiseKey int
)

// newPromise returns a pending Promise; settle it exactly once.
func newPromise() *promise {
	promiseKey--
	return &promise{p: jsPromises.Call("make", promiseKey), key: promiseKey}
}

func (p *promise) resolve(v any) { jsSettle.Invoke(p.key, 1, v) }

// acked resolves a publish's promise with {packetId, reason}, at the end
// of the task with the others acknowledged in it (settleAcked): a crossing
// into JavaScript for each PUBACK cost more than the rest of taking it.
func (p *promise) acked(id, reason int) {
	if len(acked) == 0 {
		atTaskEnd()
	}
	acked = append(acked, float64(p.key), float64(id), float64(reason))
}

// acked holds the promises acknowledged in this task: key, id, reason.
var acked []float64

// settleAcked settles the promises acked in this task, in order, in one
// crossing.
func settleAcked() {
	if len(acked) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&acked[0])), 8*len(acked))
	u8 := jsUint8Array.New(len(b)) // new: offset 0, aligned for Float64Array
	js.CopyBytesToJS(u8, b)
	jsPromises.Call("acked", u8)
	acked = acked[:0]
}

func (p *promise) fail(msg string) { jsSettle.Invoke(p.key, 0, msg) }

func rejected(msg string) js.Value { return jsPromise.Call("reject", jsErr(msg)) }
func resolved(v any) js.Value      { return jsPromise.Call("resolve", v) }

// dataOf converts a string (UTF-8) or a Uint8Array/ArrayBuffer to bytes.
func dataOf(v js.Value) ([]byte, bool) {
	if v.Type() == js.TypeString {
		return []byte(v.String()), true
	}
	return bytesFromJS(v)
}

// assign reads the options object v of a method into dst, a pointer to one
// of package options' structs, as package options' doc says each type is
// read: it names the field of a wrong type, a number out of its type's range,
// or a property the struct does not declare. Left out (undefined or null), v
// leaves dst as it is; so does a field left out. On an error dst may be
// partly set: callers drop it.
func assign(method string, v js.Value, dst any) error {
	if err := read(method, "options", v, reflect.ValueOf(dst).Elem()); err != nil {
		return errString(method + ": " + err.Error())
	}
	return nil
}

// read checks the JavaScript value v against dst's Go type and sets dst;
// field is v's path, for errors. A pointer is allocated only for a value
// that is there.
func read(method, field string, v js.Value, dst reflect.Value) error {
	if v.IsUndefined() || v.IsNull() {
		return nil
	}
	t := dst.Type()
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := read(method, field, v, p.Elem()); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	}
	switch k := t.Kind(); k {
	case reflect.String:
		if v.Type() != js.TypeString {
			return want(field, "a string", v)
		}
		dst.SetString(v.String())
	case reflect.Bool:
		if v.Type() != js.TypeBoolean {
			return want(field, "true or false", v)
		}
		dst.SetBool(v.Bool())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Int:
		if v.Type() != js.TypeNumber {
			return want(field, "a number", v)
		}
		hi := 1<<53 - 1.0 // the integers a JavaScript number holds exactly
		lo := -hi
		if k != reflect.Int {
			lo, hi = 0, float64(uint64(1)<<(8*t.Size())-1)
		}
		f := v.Float()
		if f != math.Trunc(f) || f < lo || f > hi {
			return &options.Error{Field: field, Problem: "want an integer from " + num(lo) + " to " + num(hi) + ", got " + num(f)}
		}
		if k == reflect.Int {
			dst.SetInt(int64(f))
		} else {
			dst.SetUint(uint64(f))
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if v.Type() != js.TypeString && !v.InstanceOf(jsUint8Array) {
				return want(field, "a string or a Uint8Array", v)
			}
			b, _ := dataOf(v)
			dst.SetBytes(b)
			return nil
		}
		if !jsArray.Call("isArray", v).Bool() {
			return want(field, "an array", v)
		}
		n := v.Length()
		s := reflect.MakeSlice(t, n, n)
		for i := 0; i < n; i++ {
			if err := read(method, field+"["+strconv.Itoa(i)+"]", v.Index(i), s.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(s)
	case reflect.Struct:
		if v.Type() != js.TypeObject || jsArray.Call("isArray", v).Bool() {
			return want(field, "an object", v)
		}
		return readObject(method, field, v, dst)
	default:
		panic("options: " + field + " has the Go type " + t.String() + ", which read does not read") // a mistake in package options
	}
	return nil
}

// readObject reads each field of the struct dst from v, after checking that
// v has no property dst does not declare.
func readObject(method, field string, v js.Value, dst reflect.Value) error {
	t := dst.Type()
	keys := jsObject.Call("keys", v)
	for i, n := 0, keys.Length(); i < n; i++ {
		key := keys.Index(i).String()
		if declares(t, key) {
			continue
		}
		var names []string
		for j := 0; j < t.NumField(); j++ {
			name := t.Field(j).Tag.Get("js")
			if strings.EqualFold(name, key) {
				return &options.Error{Field: field + "." + key, Problem: "not an option of " + method + "; did you mean " + name + "?"}
			}
			names = append(names, name)
		}
		return &options.Error{Field: field + "." + key, Problem: "not an option of " + method + " (" + field + " has " + strings.Join(names, ", ") + ")"}
	}
	for j := 0; j < t.NumField(); j++ {
		f := t.Field(j)
		name := f.Tag.Get("js")
		if err := read(method, field+"."+name, v.Get(name), dst.Field(j)); err != nil {
			return err
		}
	}
	return nil
}

// declares reports whether struct type t has a field whose js tag is name.
func declares(t reflect.Type, name string) bool {
	for j := 0; j < t.NumField(); j++ {
		if t.Field(j).Tag.Get("js") == name {
			return true
		}
	}
	return false
}

// want is the error for a value of the wrong JavaScript type.
func want(field, what string, v js.Value) error {
	return &options.Error{Field: field, Problem: "want " + what + ", got " + typeName(v)}
}

// typeName names v's type as a person at the console knows it: string,
// number, boolean, array, object, or an object's class (ArrayBuffer …).
func typeName(v js.Value) string {
	if v.Type() != js.TypeObject {
		return v.Type().String()
	}
	if jsArray.Call("isArray", v).Bool() {
		return "array"
	}
	if c := v.Get("constructor"); c.Type() == js.TypeFunction {
		if n := c.Get("name"); n.Type() == js.TypeString && n.String() != "" && n.String() != "Object" {
			return n.String()
		}
	}
	return "object"
}

// num writes a number as JavaScript would.
func num(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
