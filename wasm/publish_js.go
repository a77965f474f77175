//go:build js && wasm

package main

import (
	"syscall/js"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/wasm/options"
)

// A call from JavaScript into Go costs more than publishing a message
// (see socket_js.go), and a loop of lifeline.publish calls is how a device
// is simulated. So publish is a few lines of JavaScript: a call with the
// common options (qos, retain) and a string or Uint8Array payload is
// written into one buffer (flags, then the topic and the payload as UTF-8,
// each after its length), any other call as one byte with its arguments
// kept aside for Go to read (publishSlow); each is answered with a
// Promise. At the end of the task (a microtask) Go takes the whole batch
// in one crossing and says how each went: "" sent (QoS 0), "+" awaiting
// its acknowledgement (settled later by key), anything else the error, in
// words. Only those awaiting an acknowledgement are kept by key
// (jsPromises.wait); the rest are settled from the batch's own lists.
// Every other method of lifeline (and of lifeline.lab) sends the batch
// first, so that calls keep their order.
var jsPublishBatch = jsFunc("api", "many", "opts", "P", `const enc = new TextEncoder();
let buf = new Uint8Array(1 << 16), n = 0, key = 1, first = 1, extra = [], res = [], rej = [];
const put32 = (i, v) => { buf[i] = v >>> 24; buf[i + 1] = v >>> 16; buf[i + 2] = v >>> 8; buf[i + 3] = v; };
const flush = () => {
  if (key === first) return;
  const k0 = first, count = key - first, b = buf.subarray(0, n), ex = extra, rs = res, rj = rej;
  first = key; n = 0; extra = []; res = []; rej = [];
  let out;
  P.batch(true);
  try {
    try { out = many(b, k0, ex).split('\u0000'); } catch (e) { out = [String(e && e.message || e)]; }
    for (let i = 0; i < count; i++) {
      const o = out[Math.min(i, out.length - 1)];
      if (i >= out.length || (o !== '' && o !== '+')) rj[i](new Error(o));
      else if (o === '') rs[i]({packetId: 0});
      else P.wait(k0 + i, rs[i], rj[i]); // settled by its acknowledgement
    }
  } finally {
    P.batch(false);
  }
};
const executor = (a, b) => { res.push(a); rej.push(b); };
api.publish = function (t, p, o) {
  const f = opts(o), str = typeof p === 'string', u8 = p instanceof Uint8Array;
  const fast = f >= 0 && typeof t === 'string' && (str || u8 || p == null);
  const need = n + 9 + (fast ? 3 * t.length + (str ? 3 * p.length : u8 ? p.length : 0) : 0);
  if (need > buf.length) { const b = new Uint8Array(Math.max(need, 2 * buf.length)); b.set(buf.subarray(0, n)); buf = b; }
  if (fast) {
    buf[n] = f;
    const tl = enc.encodeInto(t, buf.subarray(n + 5)).written, m = n + 5 + tl;
    const pl = str ? enc.encodeInto(p, buf.subarray(m + 4)).written : u8 ? (buf.set(p, m + 4), p.length) : 0;
    put32(n + 1, tl); put32(m, pl); n = m + 4 + pl;
  } else {
    buf[n++] = 128;
    extra.push(t, p, o);
  }
  if (key === first) queueMicrotask(flush);
  key++;
  return new Promise(executor);
};
const wrap = (o) => { for (const k of Object.keys(o)) { const f = o[k]; if (typeof f === 'function' && f !== api.publish) o[k] = function (...a) { flush(); return f.apply(this, a); }; } };
wrap(api);
if (api.lab) wrap(api.lab);`)

// installPublish puts the batching publish in front of Go's (which has
// already been installed as lifeline.publish). A panic fails the batch
// (every call of it), not the page.
func (a *app) installPublish() {
	many := a.funcs.add(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = "publish: " + jsErrorText(r)
			}
		}()
		return a.publishMany(args[0], args[1].Int(), args[2])
	})
	jsPublishBatch.Invoke(a.api, many, jsPublishOpts, jsPromises)
}

// publishMany publishes a batch (see jsPublishBatch) on the page's own
// client: one clock reading, one copy of the bytes, a drain every 64.
func (a *app) publishMany(src js.Value, key int, extra js.Value) string {
	b := make([]byte, src.Get("byteLength").Int())
	js.CopyBytesToGo(b, src)
	s, serr := a.session("publish", "")
	var out []byte
	var topic string
	at, now := a.now(), time.Now()
	for i, j := 0, 0; len(b) > 0; i, key = i+1, key+1 {
		if i > 0 {
			out = append(out, 0)
		}
		if b[0] == 128 { // a call for publishSlow, its arguments in extra
			out = append(out, a.publishSlow(extra.Index(j), extra.Index(j+1), extra.Index(j+2), key)...)
			b, j = b[1:], j+3
			at = a.now() // what it drew was at its own time: no arrow after it before it
			continue
		}
		tl := be32(b[1:]) + 5
		pl := be32(b[tl:]) + tl + 4
		o := options.Publish{QoS: b[0] & 3, Retain: b[0]&4 != 0}
		// A device publishes to few topics: the last one's string is
		// kept. The payload is a slice of b, made for this batch, three
		// indexes so that nothing appends into the next message.
		if string(b[5:tl]) != topic {
			topic = string(b[5:tl])
		}
		payload := b[tl+4 : pl : pl]
		b = b[pl:]
		m, err := o.Message(topic, payload)
		if err == nil {
			err = serr
		}
		if err != nil {
			out = append(out, publishError(err)...)
			continue
		}
		s.at = at
		if i%64 == 63 {
			// The client's events, each holding its packet, would
			// otherwise pile up for the whole batch (thousands, in a
			// growing slice the collector scans): taken every 64.
			s.drain()
		}
		id, msg := s.publish(m, now)
		switch {
		case msg != "":
			out = append(out, msg...)
		case id != 0:
			s.pubs[id] = &promise{key: key}
			out = append(out, '+')
		}
	}
	if serr == nil {
		s.drain()
	}
	return string(out)
}

// publish hands the client a message; msg says why it could not, in words.
func (s *session) publish(m client.Message, now time.Time) (id uint16, msg string) {
	id, err := s.cl.Publish(now, m)
	if err != nil {
		return 0, commandError(err)
	}
	return id, ""
}

// publishError is the words for a message's options or a missing session.
func publishError(err error) string {
	if _, ok := err.(errString); ok {
		return err.Error() // a.session's, already in words
	}
	return "publish: " + err.Error()
}

func be32(b []byte) int { return int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]) }
