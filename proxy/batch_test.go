package proxy_test

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// Frames that arrive together go to the broker in one write, even when they
// are more than the WebSocket's 4 KiB read buffer holds: 100 PUBLISH frames
// of 70 bytes (7 KB) written by the page at once are written to the broker
// at once, which the trace shows as one time for all 100 entries (they are
// stamped when their write is handed to the kernel).
func TestBatchLargerThanReadBufferIsOneBrokerWrite(t *testing.T) {
	e := privateEnv(t, nil)
	f, _ := newRecordingBroker(t, false)
	tc := e.openTrace(t)
	ws := e.dialWS(t, e.mqttURL("broker="+f.addr()+"&trace="+tc.token))
	msg := make([]byte, 64)
	msg[0], msg[1], msg[3] = 0x30, 62, 5
	copy(msg[4:], "bench")
	frame := wstest.ClientFrame(wstest.OpBinary, msg)
	const n = 100
	var batch []byte
	for range n {
		batch = append(batch, frame...)
	}
	if len(batch) <= 4096 {
		t.Fatalf("the batch (%d bytes) must exceed the 4 KiB read buffer", len(batch))
	}
	// All in one TCP write, which coder's Write does not do: the frames
	// are written on the connection under it.
	if _, err := ws.TCP.Write(batch); err != nil {
		t.Fatal(err)
	}
	isPub := func(en trace.Entry) bool { return en.Kind == "mqtt.PUBLISH" && en.From == "proxy" }
	seen := map[int]bool{} // waitFor looks at every entry again on each pass
	got := tc.waitFor(t, "100 PUBLISH written", func(en trace.Entry) bool {
		if isPub(en) {
			seen[en.Seq] = true
		}
		return len(seen) == n
	})
	var times []float64
	for _, en := range got {
		if isPub(en) && (len(times) == 0 || times[len(times)-1] != en.T) {
			times = append(times, en.T)
		}
	}
	if len(times) != 1 {
		t.Errorf("the %d-byte batch took %d writes to the broker (at t = %v ms), want 1", len(batch), len(times), times)
	}
}
