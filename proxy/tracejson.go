package proxy

import (
	"math"

	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/jsonw"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// appendEntryMsg appends {"type":"entry","entry":…} for e, byte for byte
// what encoding/json makes of entryMsg (TestAppendEntryMsgMatchesJSON and
// FuzzAppendEntryMsg check), without its reflection: the trace channel
// encodes an entry for every packet. The entry is written by the page's
// own writer (pagejson). It returns ok false for a T that is not a finite
// number, which encoding/json refuses and pagejson writes as 0.
func appendEntryMsg(b []byte, e *trace.Entry) (_ []byte, ok bool) {
	if math.IsNaN(e.T) || math.IsInf(e.T, 0) {
		return b, false
	}
	w := jsonw.Writer{B: b}
	w.Open('{')
	w.KString("type", "entry")
	w.Key("entry")
	pagejson.WriteEntry(&w, e)
	w.Close('}')
	return w.B, true
}
