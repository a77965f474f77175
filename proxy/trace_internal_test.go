package proxy

import (
	"testing"

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
