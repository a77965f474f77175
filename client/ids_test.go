package client

import (
	"testing"
	"time"
)

func TestIDSetNeverReusesInFlight(t *testing.T) {
	var s idSet
	inUse := map[uint16]bool{}
	for i := 0; i < 65535; i++ {
		id := s.alloc()
		if id == 0 || inUse[id] {
			t.Fatalf("alloc #%d = %d (in use: %v)", i, id, inUse[id])
		}
		inUse[id] = true
	}
	if id := s.alloc(); id != 0 {
		t.Fatalf("alloc with all ids in use = %d, want 0", id)
	}
	s.free(7)
	s.free(7) // double free is harmless
	if got := s.alloc(); got != 7 {
		t.Fatalf("after freeing 7 alloc = %d", got)
	}
	if s.n != 65535 {
		t.Fatalf("n = %d", s.n)
	}
}

func TestIDSetRoundRobin(t *testing.T) {
	var s idSet
	a := s.alloc()
	s.free(a)
	b := s.alloc()
	if a != 1 || b != 2 {
		t.Fatalf("got %d then %d, want 1 then 2 (a freed id is not reused at once)", a, b)
	}
	s.last = 65535
	if got := s.alloc(); got != 1 {
		t.Fatalf("wrap: got %d want 1 (0 is never an id)", got)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 10 * time.Second}
	tests := []struct {
		name string
		n    int
		r    float64
		want time.Duration
	}{
		{"first attempt no jitter", 1, 0, 500 * time.Millisecond},
		{"first attempt max jitter", 1, 0.999999, 999999 * time.Microsecond},
		{"second doubles", 2, 0, time.Second},
		{"third", 3, 0.5, 3 * time.Second},
		{"capped", 10, 0, 5 * time.Second},
		{"capped huge n", 1 << 30, 0, 5 * time.Second},
		{"bad random clamps", 1, 7, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := b.Delay(tt.n, tt.r)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("Delay(%d, %v) = %v, want %v", tt.n, tt.r, got, tt.want)
			}
		})
	}
	if got := (Backoff{}).Delay(1, 0); got != 500*time.Millisecond {
		t.Fatalf("zero Backoff first delay = %v", got)
	}
}

func TestRNGSpread(t *testing.T) {
	g := rng{s: 1}
	var lo, hi int
	for i := 0; i < 1000; i++ {
		f := g.float()
		if f < 0 || f >= 1 {
			t.Fatalf("float out of range: %v", f)
		}
		if f < 0.5 {
			lo++
		} else {
			hi++
		}
	}
	if lo < 400 || hi < 400 {
		t.Fatalf("poor spread: %d below 0.5, %d above", lo, hi)
	}
}
