package proxy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// TestTraceBurstSlowReader sends a burst of numbered PUBLISH packets through
// a traced session whose /trace reader has a small receive buffer and reads
// nothing until the burst is echoed back: the relay must not wait for it,
// and the trace must then hold every packet's entry in order (each
// direction's packets by their numbers, seq rising) with its bytes and
// summary — or, where entries were dropped, a "dropped" note at the gap
// whose count is exactly the seq numbers missing there.
//
// It runs with the trace read one message per WebSocket message, in batch
// form (/trace?batch=1: several a line each) and in the page's compact form
// (batch=3, read with pagejson.Compact: a packet's entry carries no
// summary there).
func TestTraceBurstSlowReader(t *testing.T) {
	for _, query := range []string{"", "?batch=1", "?batch=3"} {
		t.Run("trace"+query, func(t *testing.T) { traceBurstSlowReader(t, query) })
	}
}

func traceBurstSlowReader(t *testing.T, query string) {
	host, echo := echoProxy(t)
	tr, token := openTraceQuery(t, host, query)
	defer tr.CloseNow()
	// A small receive buffer, but above loopback's MSS: a window smaller
	// than one segment would stall the stream on zero-window probes.
	tr.TCP.(*net.TCPConn).SetReadBuffer(256 << 10)
	ws, _, err := wstest.Dial("ws://"+host+"/mqtt?broker="+echo+"&trace="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	const n, size = 4000, 1000
	pkt := make([]byte, size) // PUBLISH QoS 0, topic "burst", payload: its number, then zeros
	pkt[0], pkt[1], pkt[2] = 0x30, byte((size-3)&0x7f|0x80), byte((size-3)>>7)
	pkt[4] = 5
	copy(pkt[5:], "burst")
	const numAt = 10
	go func() {
		for i := range n {
			binary.BigEndian.PutUint32(pkt[numAt:], uint32(i))
			if ws.Write(ctx, websocket.MessageBinary, pkt) != nil {
				return
			}
		}
	}()
	for got := 0; got < n*size; {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			t.Fatalf("echo after %d of %d bytes: %v", got, n*size, err)
		}
		k, err := io.Copy(io.Discard, r)
		if err != nil {
			t.Fatal(err)
		}
		got += int(k)
	}

	// Now read the trace, until every packet's entry is in it or counted
	// dropped.
	var next [2]uint32 // the number each direction's next entry must carry
	lastSeq, pending, entries, dropped := 0, 0, 0, 0
	type message struct {
		Type  string       `json:"type"`
		Count int          `json:"count"`
		Entry *trace.Entry `json:"entry"`
	}
	compact := query == "?batch=3"
	var rd pagejson.Compact
	var lines []message // the messages of the last batch not read yet
	for entries+dropped < 2*n {
		if len(lines) == 0 {
			_, b, err := tr.Read(ctx)
			if err != nil {
				t.Fatalf("trace after %d entries, %d dropped: %v", entries, dropped, err)
			}
			parse := func(b []byte) {
				var m message
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatalf("trace message %q: %v", b, err)
				}
				lines = append(lines, m)
			}
			switch {
			case compact:
				err := rd.Read(b, parse, func(e trace.Entry) { lines = append(lines, message{Type: "entry", Entry: &e}) })
				if err != nil {
					t.Fatal(err)
				}
			case query != "":
				for _, l := range bytes.Split(b, []byte("\n")) {
					parse(l)
				}
			default:
				parse(b)
			}
		}
		m := lines[0]
		lines = lines[1:]
		b, _ := json.Marshal(m)
		switch m.Type {
		case "dropped":
			if m.Count <= 0 || pending != 0 {
				t.Fatalf("dropped note %s after another with no entry between (pending %d)", b, pending)
			}
			pending = m.Count
			dropped += m.Count
			continue
		case "entry":
		default:
			continue
		}
		e := m.Entry
		if gap := e.Seq - lastSeq - 1; gap != pending {
			t.Fatalf("entry seq %d after %d: %d missing, but the dropped note said %d", e.Seq, lastSeq, gap, pending)
		}
		lastSeq, pending = e.Seq, 0
		if e.Kind != trace.KindMQTT("PUBLISH") {
			continue
		}
		entries++
		dir := 0
		if e.From == "broker" {
			dir = 1
		}
		if len(e.Bytes) != size || (e.Summary == "") != compact || e.Error != "" || e.Leg != trace.LegProxyBroker {
			t.Fatalf("entry %d: %d bytes, summary %q, error %q; want %d bytes, a summary (none in compact form), no error", e.Seq, len(e.Bytes), e.Summary, e.Error, size)
		}
		num := binary.BigEndian.Uint32(e.Bytes[numAt:])
		if num < next[dir] {
			t.Fatalf("entry %d %s->%s carries packet %d after packet %d: out of order", e.Seq, e.From, e.To, num, next[dir]-1)
		}
		if dropped == 0 && num != next[dir] {
			t.Fatalf("entry %d %s->%s carries packet %d, want %d (nothing was dropped)", e.Seq, e.From, e.To, num, next[dir])
		}
		next[dir] = num + 1
	}
	t.Logf("%d packet entries in order, %d dropped and reported", entries, dropped)
}

// TestTraceBatchFormRefused checks that /trace refuses a batch parameter it
// does not know, in words.
func TestTraceBatchFormRefused(t *testing.T) {
	host, _ := echoProxy(t)
	for _, bad := range []string{"batch=4", "batch=yes", "batch="} {
		tr, _, err := wstest.Dial("ws://"+host+"/trace?"+bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = tr.Receive()
		tr.CloseNow()
		if code, why := wstest.CloseOf(err); code != websocket.StatusPolicyViolation || !strings.Contains(why, "batch: want 1") {
			t.Errorf("/trace?%s: %v (close %d %q), want 1008 saying batch: want 1", bad, err, code, why)
		}
	}
}
