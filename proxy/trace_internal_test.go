package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	coderws "github.com/coder/websocket"
	"github.com/gorilla/websocket"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestTraceQueueBound fills a trace channel that nobody drains: the queue
// stops at its bounds (messages or bytes), and every entry beyond is
// counted in a dropped note where it was lost, one note per run of losses,
// so that the seq numbers queued and the counts add up to every entry.
func TestTraceQueueBound(t *testing.T) {
	tests := []struct {
		name     string
		bytes    int // of each entry
		n        int
		wantKept int
	}{
		{"under both bounds", 10, 1000, 1000},
		{"message bound", 10, 10000, traceQueueLen},
		{"byte bound", 3000, 2000, traceQueueBytes / (entryJSON + 3000*4/3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := &traceChannel{wake: make(chan struct{}, 1)}
			for range tt.n {
				tc.emit(trace.Entry{Kind: "k", Bytes: make([]byte, tt.bytes)})
			}
			kept, dropped, notes := 0, 0, 0
			for i, it := range tc.q {
				if it.dropped > 0 {
					notes++
					dropped += it.dropped
					if i > 0 && tc.q[i-1].dropped > 0 {
						t.Errorf("two dropped notes in a row at %d", i)
					}
					continue
				}
				kept++
				if want := kept + dropped; it.e.Seq != want {
					t.Fatalf("queued entry %d has seq %d, want %d", i, it.e.Seq, want)
				}
			}
			if kept != tt.wantKept || kept+dropped != tt.n {
				t.Errorf("kept %d, dropped %d (in %d notes); want %d kept of %d", kept, dropped, notes, tt.wantKept, tt.n)
			}
			if tc.queued > traceQueueBytes {
				t.Errorf("queued %d bytes, over the bound %d", tc.queued, traceQueueBytes)
			}
		})
	}
}

// TestTraceChannelIdleHoldsNoQueue checks that a channel holds no queue
// until something is emitted (the queue once took 4096 slots up front).
func TestTraceChannelIdleHoldsNoQueue(t *testing.T) {
	var h hub
	tc := h.add(nil, nil)
	if tc.q != nil {
		t.Fatalf("a new trace channel holds a queue of %d slots", cap(tc.q))
	}
}

// TestTraceFramesReadByClients runs a trace channel's writer over a real
// /trace upgrade and reads what it frames with coder/websocket (as the
// native clients do) and with gorilla's client: entries whose JSON needs
// each of the frame header's three lengths (a packet of 0 to 1 MiB), a
// dropped note (a frame under 126 bytes), a message already encoded, and a
// batch larger than one write; every message arrives whole, in order, and
// as encoding/json writes it, and the channel's close follows them.
func TestTraceFramesReadByClients(t *testing.T) {
	sizes := []int{0, 1, 60, 200, 48 << 10, 49 << 10, 200 << 10, 1 << 20}
	var entries []trace.Entry
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i + j)
		}
		entries = append(entries, trace.Entry{T: float64(i), Leg: trace.LegBrowserProxy, From: "proxy", To: "browser",
			Kind: trace.KindWSClose, Summary: "entry " + itoa(i), Bytes: b, Observed: trace.ObservedWire, Conn: "c1"})
	}
	// An entry that cannot be encoded (T not a number) is left out of
	// either form, with the newline before it in batch form.
	const unencodable = 3
	entries = append(entries[:unencodable:unencodable], append([]trace.Entry{{T: math.NaN(), Kind: trace.KindWSClose}}, entries[unencodable:]...)...)
	for _, tt := range []struct {
		client string
		batch  int // the frame type of batch form, 0 for none
	}{{"coder", 0}, {"gorilla", 0}, {"coder", websocket.TextMessage}, {"gorilla", websocket.TextMessage},
		{"coder", websocket.BinaryMessage}, {"gorilla", websocket.BinaryMessage}} {
		name := tt.client
		switch tt.batch {
		case websocket.TextMessage:
			name += " batch form"
		case websocket.BinaryMessage:
			name += " binary batch form"
		}
		t.Run(name, func(t *testing.T) {
			client := tt.client
			served := make(chan struct{})
			url := serveUpgraded(t, func(s *Server, ws *websocket.Conn, bc *batchConn) {
				defer close(served)
				tc := s.hub.add(ws, bc)
				tc.batch = tt.batch
				tc.send(map[string]string{"type": "hello"})
				for i, e := range entries {
					tc.emit(e)
					if i == 1 {
						tc.mu.Lock()
						tc.push(traceItem{dropped: 3}, 0)
						tc.mu.Unlock()
					}
				}
				tc.away = true
				s.hub.remove(tc)
				tc.writeLoop(10 * time.Second)
			})
			// Text messages, but binary in binary batch form.
			wantType := func(mt int, err error) error {
				if want := max(tt.batch, websocket.TextMessage); err == nil && mt != want {
					return fmt.Errorf("a message of type %d, want %d", mt, want)
				}
				return err
			}
			var read func() ([]byte, error)
			if client == "coder" {
				c, _, err := wstest.Dial(url, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				read = func() ([]byte, error) { mt, b, err := c.Receive(); return b, wantType(int(mt), err) }
			} else {
				c, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				read = func() ([]byte, error) { mt, b, err := c.ReadMessage(); return b, wantType(mt, err) }
			}
			if tt.batch != 0 { // a message a line, several to a WebSocket message
				readMsg, lines, frames := read, []string(nil), 0
				read = func() ([]byte, error) {
					for len(lines) == 0 {
						b, err := readMsg()
						if err != nil {
							return nil, err
						}
						frames++
						lines = strings.Split(string(b), "\n")
					}
					line := lines[0]
					lines = lines[1:]
					return []byte(line), nil
				}
				defer func() {
					if frames >= len(entries) {
						t.Errorf("batch form: %d WebSocket messages for %d entries, a hello and a note", frames, len(entries))
					}
				}()
			}
			want := []string{`{"type":"hello"}`}
			for i := range entries {
				if i == unencodable {
					continue
				}
				e := entries[i]
				e.Seq = i + 1
				b, err := json.Marshal(entryMsg{Type: "entry", Entry: &e})
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, string(b))
				if i == 1 {
					want = append(want, `{"type":"dropped","count":3}`)
				}
			}
			for i, w := range want {
				got, err := read()
				if err != nil {
					t.Fatalf("message %d of %d: %v", i+1, len(want), err)
				}
				if string(got) != w {
					t.Fatalf("message %d (%d bytes): %.80s…, want %d bytes: %.80s…", i+1, len(got), got, len(w), w)
				}
			}
			_, err := read()
			if code := closeCode(err); code != websocket.CloseGoingAway {
				t.Errorf("after the messages: %v, want the close 1001", err)
			}
			<-served
		})
	}
}

// closeCode is the close code in a read's error from either client, or 0.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return int(coderws.CloseStatus(err))
}

// TestTraceChannelSpareQueue checks that a trace channel's writer keeps the
// slice of the batch it sent for the next queue while entries come, and
// gives it back once the channel has been idle for spareIdle: an idle
// channel holds no queue.
func TestTraceChannelSpareQueue(t *testing.T) {
	errc := make(chan error, 1)
	url := serveUpgraded(t, func(s *Server, ws *websocket.Conn, bc *batchConn) {
		tc := s.hub.add(ws, bc)
		done := make(chan struct{})
		go func() {
			tc.writeLoop(10 * time.Second)
			close(done)
		}()
		// until is whether cond holds (under tc.mu) within 20 s.
		until := func(cond func() bool) bool {
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				tc.mu.Lock()
				ok := cond()
				tc.mu.Unlock()
				if ok {
					return true
				}
			}
			return false
		}
		var err error
		for range 10 {
			tc.emit(trace.Entry{Kind: "k"})
		}
		switch {
		case !until(func() bool { return len(tc.q) == 0 && tc.spare != nil }):
			err = errors.New("the batch was not kept as the spare queue")
		case !until(func() bool { return tc.spare == nil }):
			err = errors.New("the spare queue was not given back when the channel went idle")
		}
		tc.emit(trace.Entry{Kind: "last"})
		s.hub.remove(tc)
		<-done
		errc <- err
	})
	c, _, err := wstest.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := 1; i <= 11; i++ {
		var m entryMsg
		if err := c.ReceiveJSON(&m); err != nil || m.Entry == nil || m.Entry.Seq != i {
			t.Fatalf("message %d: %+v, %v; want entry %d", i, m, err, i)
		}
	}
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

// TestBatchForm checks how /trace's batch parameter is read: absent, 0, 1
// or 2; anything else is refused, in words.
func TestBatchForm(t *testing.T) {
	const want = `batch: want 1 (messages a line each, gathered in text messages), 2 (the same in binary messages), 3 (binary records, packets raw) or 0, got `
	tests := []struct {
		query   string
		want    int
		compact bool
		wantErr string
	}{
		{"", 0, false, ""},
		{"session=x", 0, false, ""},
		{"batch=1", websocket.TextMessage, false, ""},
		{"batch=2", websocket.BinaryMessage, false, ""},
		{"batch=3", websocket.BinaryMessage, true, ""},
		{"batch=0", 0, false, ""},
		{"batch=1&session=x", websocket.TextMessage, false, ""},
		{"batch=", 0, false, want + `""`},
		{"batch=true", 0, false, want + `"true"`},
		{"batch=4", 0, false, want + `"4"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, compact, err := batchForm(q)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || compact != tt.compact || gotErr != tt.wantErr {
				t.Errorf("batchForm(%q) = %v, %v, %q; want %v, %v, %q", tt.query, got, compact, gotErr, tt.want, tt.compact, tt.wantErr)
			}
		})
	}
}

func FuzzBatchForm(f *testing.F) {
	for _, v := range []string{"1", "0", "2", "3", "", "true", "1 ", "\x00"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, compact, err := batchForm(url.Values{"batch": {v}})
		want := map[string]int{"0": 0, "1": websocket.TextMessage, "2": websocket.BinaryMessage, "3": websocket.BinaryMessage}
		switch op, ok := want[v]; {
		case ok:
			if err != nil || got != op || compact != (v == "3") {
				t.Fatalf("batchForm(%q) = %v, %v, %v", v, got, compact, err)
			}
		case err == nil || got != 0 || !strings.HasSuffix(err.Error(), strconv.Quote(v)):
			t.Fatalf("batchForm(%q) = %v, %v; want an error quoting it", v, got, err)
		}
	})
}
