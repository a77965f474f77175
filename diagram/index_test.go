package diagram

import (
	"math/rand"
	"strconv"
	"testing"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestIndexFindsWhatItHolds drives the seq index through the cases a
// model meets (seqs given in order and paged out from the oldest, arrows
// paged out in time order, not seq order; an opened trace's sparse seqs;
// one arrow kept long after those around it; seqs below the slice's
// start; a slice emptied and started again) and checks every lookup and
// its count against a map.
func TestIndexFindsWhatItHolds(t *testing.T) {
	type op struct {
		del bool
		k   int
	}
	puts := func(from, to int) (ops []op) {
		for k := from; k < to; k++ {
			ops = append(ops, op{false, k})
		}
		return ops
	}
	dels := func(from, to int) (ops []op) {
		for k := from; k < to; k++ {
			ops = append(ops, op{true, k})
		}
		return ops
	}
	cat := func(parts ...[]op) (ops []op) {
		for _, p := range parts {
			ops = append(ops, p...)
		}
		return ops
	}
	tests := []struct {
		name      string
		ops       []op
		maxSparse int // seqs the map may hold at the end
	}{
		{"in order, paged out from the oldest", cat(puts(1, 5000), dels(1, 4000), puts(5000, 9000), dels(4000, 8500)), 0},
		{"paged out out of seq order", cat(puts(1, 100), []op{{true, 50}, {true, 1}, {true, 99}, {true, 2}}, dels(3, 50), puts(100, 120)), 0},
		{"sparse imported seqs", cat([]op{{false, 7}, {false, 3}, {false, 1_000_000}, {false, 12}, {false, 5000}, {false, 1}}, []op{{true, 1_000_000}, {true, 3}}, puts(1_000_001, 1_000_010)), 12},
		{"one kept long after those around it", cat(puts(1, 3000), dels(2, 3000), puts(3000, 20000), dels(3000, 19000)), 1},
		{"emptied and started again far off", cat(puts(1, 10), dels(1, 10), puts(1_000_000, 1_000_100), dels(1_000_000, 1_000_050)), 0},
		{"a seq below the slice's start", cat(puts(100, 200), []op{{false, 5}, {true, 100}, {false, 50}}, dels(101, 200)), 2},
		{"a gap just within reach and just beyond", cat(puts(1, 10), []op{{false, 10 + indexGap}, {false, 20 + 3*indexGap}}), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var x index
			want := map[int]*item{}
			lo, hi := 0, 0
			for i, o := range tt.ops {
				if o.del {
					x.del(o.k)
					delete(want, o.k)
				} else {
					it := &item{}
					it.e.Seq = o.k
					x.put(o.k, it)
					want[o.k] = it
				}
				if i == 0 || o.k < lo {
					lo = o.k
				}
				hi = max(hi, o.k)
				if i%97 == 0 || i == len(tt.ops)-1 {
					for k := lo - 2; k <= hi+2; k++ {
						if k-lo > 5000 && hi-k > 5000 && want[k] == nil {
							continue // the far gap of sparse seqs
						}
						if got := x.get(k); got != want[k] {
							t.Fatalf("after op %d (%+v): get(%d) = %v, want %v", i, o, k, got, want[k])
						}
					}
					if x.len() != len(want) {
						t.Fatalf("after op %d: len %d, want %d", i, x.len(), len(want))
					}
				}
			}
			if len(x.sparse) > tt.maxSparse {
				t.Fatalf("%d seqs in the map, want at most %d", len(x.sparse), tt.maxSparse)
			}
			if len(x.dense) > 2*x.n+indexGap {
				t.Fatalf("slice of %d for %d seqs", len(x.dense), x.n)
			}
		})
	}
}

// The index against a map under random puts of new seqs (mostly the next,
// some jumps) and deletes (mostly of the oldest).
func TestIndexRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	var x index
	want := map[int]*item{}
	var held []int
	next := 1
	for i := 0; i < 200_000; i++ {
		switch n := r.Intn(100); {
		case n < 55 || len(held) == 0:
			if r.Intn(1000) == 0 {
				next += r.Intn(10 * indexGap)
			}
			it := &item{}
			x.put(next, it)
			want[next] = it
			held = append(held, next)
			next++
		default:
			j := 0
			if r.Intn(10) == 0 {
				j = r.Intn(len(held))
			}
			k := held[j]
			held = append(held[:j], held[j+1:]...)
			x.del(k)
			delete(want, k)
		}
		if i%1000 == 0 {
			for k, v := range want {
				if x.get(k) != v {
					t.Fatalf("step %d: get(%d) wrong", i, k)
				}
			}
			if x.get(next) != nil || x.get(0) != nil || x.len() != len(want) {
				t.Fatalf("step %d: a seq not held found, or len %d != %d", i, x.len(), len(want))
			}
		}
	}
}

// Open exchanges are found by their key's hash and told apart by the key:
// two open keys with one hash each find their own exchange, whichever
// closes first.
func TestOpenExchangesWithOneHash(t *testing.T) {
	key := func(conn string) exKey {
		return exKey{leg: bb, conn: conn, a: "broker", b: "browser", group: keyPID, req: 1, id: 7}
	}
	tests := []struct {
		name  string
		steps string // o: open, c: close, then the exchange's letter
	}{
		{"the first closes first", "oA oB cA oC cB"},
		{"the later closes first", "oA oB cB oC cA"},
		{"three at once", "oA oB oC cB cA cC"},
		{"four at once, closed in turn", "oA oB oC oD cA cB oE cC cD cE"},
		{"one reopened", "oA oB cA oA cB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			xs := map[byte]*Exchange{}
			for i := 0; i < len(tt.steps); i += 3 {
				c := tt.steps[i+1]
				if tt.steps[i] == 'o' {
					xs[c] = &Exchange{ID: i + 1, key: key(string(c)), hash: 42}
					m.openAs(xs[c])
				} else {
					m.closeExchange(xs[c])
				}
				for c, x := range xs {
					k := key(string(c))
					got := m.openExchange(&k, 42)
					if x.open && got != x || !x.open && got != nil {
						t.Fatalf("after %q: exchange %c (open %v) found as %v", tt.steps[:i+2], c, x.open, got)
					}
				}
				k := key("Z")
				if got := m.openExchange(&k, 42); got != nil {
					t.Fatalf("after %q: a key never opened found %v", tt.steps[:i+2], got)
				}
			}
		})
	}
}

// Keys that differ in any part have different hashes (FNV-1a; the last
// word in one step, which cannot collide for equal strings), and each
// part counts: a string's end is marked, so "ab"+"c" is not "a"+"bc".
func TestExchangeKeysHashApart(t *testing.T) {
	base := exKey{leg: bb, conn: "c1", a: "broker", b: "browser", group: keyPID, req: 1, id: 7}
	seen := map[uint64]string{base.sum(): "base"}
	for name, k := range map[string]exKey{
		"leg":   {leg: bp, conn: "c1", a: "broker", b: "browser", group: keyPID, req: 1, id: 7},
		"conn":  {leg: bb, conn: "c2", a: "broker", b: "browser", group: keyPID, req: 1, id: 7},
		"shift": {leg: bb, conn: "c1b", a: "roker", b: "browser", group: keyPID, req: 1, id: 7},
		"group": {leg: bb, conn: "c1", a: "broker", b: "browser", group: keyConnect, req: 1, id: 7},
		"req":   {leg: bb, conn: "c1", a: "broker", b: "browser", group: keyPID, req: 2, id: 7},
		"id":    {leg: bb, conn: "c1", a: "broker", b: "browser", group: keyPID, req: 1, id: 8},
	} {
		if other, ok := seen[k.sum()]; ok {
			t.Errorf("key differing by %s has the hash of %s", name, other)
		}
		seen[k.sum()] = name
	}
}

// The same bytes on one connection waiting several times are paired in
// order; past maxRelays the oldest waiting are forgotten, and the rest
// still pair.
func TestRelayHalvesWaitInOrder(t *testing.T) {
	t.Run("same bytes, in order", func(t *testing.T) {
		m := New(Options{})
		pkt := pktPublish(0, 0, "t", "same reading")
		var page []int
		for i := 0; i < 3; i++ {
			page = append(page, m.Add(mq(float64(i), bp, "browser", "proxy", pkt), Local))
		}
		for i := 0; i < 3; i++ {
			srv := m.bySeq.get(m.Add(mq(float64(i)+0.5, pb, "proxy", "broker", pkt), Remote))
			if srv.after == nil || srv.after.e.Seq != page[i] || !srv.after.relayed {
				t.Fatalf("relay %d paired with %v, want the page's send %d", i, srv.after, page[i])
			}
		}
		if len(m.relays) != 0 {
			t.Fatalf("%d keys still waiting", len(m.relays))
		}
	})
	t.Run("past maxRelays", func(t *testing.T) {
		m := New(Options{MaxArrows: 3 * maxRelays})
		const extra = 10
		pkt := func(i int) []byte { return pktPublish(0, 0, "t", strconv.Itoa(i)) }
		var page []int
		for i := 0; i < maxRelays+extra; i++ {
			page = append(page, m.Add(mq(float64(i), bp, "browser", "proxy", pkt(i%(maxRelays/2))), Local))
		}
		for i := extra; i < maxRelays+extra; i++ {
			srv := m.bySeq.get(m.Add(mq(float64(i)+0.5, pb, "proxy", "broker", pkt(i%(maxRelays/2))), Remote))
			if srv.after == nil || srv.after.e.Seq != page[i] {
				t.Fatalf("relay %d paired with %v, want the page's send %d", i, srv.after, page[i])
			}
		}
		for i := 0; i < extra; i++ {
			if it := m.bySeq.get(page[i]); it.relayed {
				t.Fatalf("send %d, forgotten, was paired", i)
			}
		}
		if len(m.relays) != 0 {
			t.Fatalf("%d keys still waiting", len(m.relays))
		}
	})
}

// ExchangeOf and the view's spans name an exchange when asked, as the
// model used to when it made it.
func TestExchangeNames(t *testing.T) {
	m := New(Options{})
	for _, e := range []trace.Entry{
		mq(1, bb, "browser", "broker", pktPublish(2, 513, "a", "1")),
		mq(2, bb, "broker", "browser", pktPubrec(513)),
		mq(3, bb, "browser", "broker", pktPublish(1, 9, "a", "1")),
		ev(4, pd, "proxy", "dns", trace.KindDNSQuery, dnsMsg(0xbeef, false)),
		mq(5, bb, "browser", "broker", pktSubscribe(65535, "x")),
		ev(6, pb, "proxy", "broker", trace.KindTCPSyn, nil),
	} {
		m.Add(e, Local)
	}
	want := []string{"QoS 2 publish, packet id 513", "QoS 2 publish, packet id 513", "QoS 1 publish, packet id 9", "DNS query, id 0xbeef", "subscribe, packet id 65535", "TCP three-way handshake"}
	for i, w := range want {
		x, ok := m.ExchangeOf(i + 1)
		if !ok || x.Name != w {
			t.Errorf("arrow %d: exchange %q (%v), want %q", i+1, x.Name, ok, w)
		}
	}
}

// sortItems sorts stably by insertion when items are nearly in order, and
// by sort.SliceStable past its budget of moves, with the same result.
func TestSortItems(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	tests := []struct {
		name string
		ts   func(i, n int) float64 // the time of item i of n
	}{
		{"in order", func(i, n int) float64 { return float64(i) }},
		{"nearly in order", func(i, n int) float64 { return float64(i) + 3*r.Float64() }},
		{"ties", func(i, n int) float64 { return float64(i / 7) }},
		{"reversed (past the budget)", func(i, n int) float64 { return float64(n - i) }},
		{"random", func(i, n int) float64 { return float64(r.Intn(n / 3)) }},
	}
	for _, tt := range tests {
		for _, n := range []int{0, 1, 2, 50, 3000} {
			s := make([]*item, n)
			for i := range s {
				s[i] = &item{}
				s[i].e.T, s[i].ord = tt.ts(i, max(n, 3)), i
			}
			sortItems(s, func(a, b *item) bool { return a.e.T < b.e.T })
			for i := 1; i < n; i++ {
				if a, b := s[i-1], s[i]; a.e.T > b.e.T || a.e.T == b.e.T && a.ord > b.ord {
					t.Fatalf("%s, %d items: item %d (t %v, came %d) before item %d (t %v, came %d)", tt.name, n, i-1, a.e.T, a.ord, i, b.e.T, b.ord)
				}
			}
		}
	}
}
