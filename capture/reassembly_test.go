package capture

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	reClient = netip.MustParseAddrPort("127.0.0.1:40000")
	reServer = netip.MustParseAddrPort("127.0.0.3:1883")
)

// reassemble feeds n segments of one MQTT connection, one 2-byte PINGREQ
// each, in the order order gives (a permutation of 0..n-1), with sequence
// numbers that wrap past 2^32 halfway, and returns the PINGREQs delivered
// and the scanner.
func reassemble(tb testing.TB, opts Options, n int, order []int) (int, *scanner) {
	tb.Helper()
	got := 0
	s := newScanner(opts, func(it Item) error {
		if it.Entry.Kind == "mqtt.PINGREQ" {
			got++
		}
		return nil
	})
	c := s.newConn(reClient, reServer, true) // port 1883: MQTT from the start
	d := &c.dirs[0]
	base := uint32(0) - uint32(n) // seq n/2's bytes cross 2^32
	d.started, d.isn, d.next = true, base-1, base
	pkt := []byte{0xc0, 0}
	for _, i := range order {
		s.frame++
		s.tcpData(c, 0, base+uint32(2*i), pkt, 0)
	}
	return got, s
}

// reversed is the order that made insertion into a sorted slice
// quadratic: every segment lands before all those held, and the first
// arrives last.
func reversed(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = n - 1 - i
	}
	return o
}

func benchmarkReassembly(b *testing.B, n int) {
	order := reversed(n)
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := reassemble(b, Options{}, n, order); got != n {
			b.Fatalf("%d packets delivered, want %d", got, n)
		}
	}
}

// BenchmarkReassembly50k, 200k and 800k reassemble N, 4N and 16N segments
// that arrive in reverse order; ns/op should grow about 4× a step, not 16×.
func BenchmarkReassembly50k(b *testing.B)  { benchmarkReassembly(b, 50_000) }
func BenchmarkReassembly200k(b *testing.B) { benchmarkReassembly(b, 200_000) }
func BenchmarkReassembly800k(b *testing.B) { benchmarkReassembly(b, 800_000) }

// threadCPU is the CPU time the calling thread has used in user mode:
// unlike the wall clock, it does not count the time other jobs on a loaded
// machine take, nor the kernel's page faults as the heap grows.
func threadCPU(t *testing.T) time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano())
}

// TestReassemblyGrowth asserts only on the growth measured in this run:
// reassembling 4× the out-of-order segments takes at most 8× the time.
// Time is this thread's user CPU time, after a first run of the larger size (so that neither size
// pays for the heap's first growth); each size is measured right after the
// other, three times, and the least ratio of a pair is taken (a pair
// shares the machine's state of the moment; a superlinear reassembly
// loses in every pair, and a quadratic one, about 16×, is failed at once).
func TestReassemblyGrowth(t *testing.T) {
	const n = 200_000
	small, large := reversed(n), reversed(4*n)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	measure := func(order []int) time.Duration {
		runtime.GC()
		start := threadCPU(t)
		if got, _ := reassemble(t, Options{}, len(order), order); got != len(order) {
			t.Fatalf("%d packets delivered, want %d", got, len(order))
		}
		return threadCPU(t) - start
	}
	measure(large)
	best := 0.0
	for i := range 3 {
		a, b := measure(small), measure(large)
		ratio := float64(b) / float64(a)
		t.Logf("%d segments: %v; %d segments: %v (CPU); ratio %.2f", n, a, 4*n, b, ratio)
		if i == 0 || ratio < best {
			best = ratio
		}
		// The best of up to three: a quadratic hold is 16× every time,
		// while a pause of a shared machine lengthens one measure.
		if best <= 8 {
			break
		}
	}
	// n log n predicts 4.45× (4 × log 800k / log 200k), a quadratic hold
	// 16×: the bar sits between, with room for cache effects and a loaded
	// machine (4.58 was seen under load with the O(n log n) code).
	if best > 8 {
		t.Errorf("4× the segments took at least %.2f× the time, want at most 8× (n log n: 4.45×, quadratic: 16×)", best)
	}
}

// TestReassemblyOrders delivers every packet, in order, whatever order
// the segments come in, across the 2^32 wrap, and holds nothing after.
func TestReassemblyOrders(t *testing.T) {
	const n = 2000
	shuffled := rand.New(rand.NewPCG(1, 2)).Perm(n)
	inOrder := make([]int, n)
	for i := range inOrder {
		inOrder[i] = i
	}
	dup := append(append([]int{}, reversed(n)...), reversed(n)...) // every segment twice
	for name, order := range map[string][]int{"in order": inOrder, "reversed": reversed(n), "shuffled": shuffled, "duplicated": dup} {
		t.Run(name, func(t *testing.T) {
			got, s := reassemble(t, Options{}, n, order)
			if got != n {
				t.Errorf("%d packets delivered, want %d", got, n)
			}
			if len(s.problems) > 0 {
				t.Errorf("problems: %v", s.problems)
			}
			if s.held != 0 {
				t.Errorf("%d bytes still counted as held", s.held)
			}
		})
	}
}

// TestReassemblyLimits: over the per-direction or the per-capture bound,
// the gap is given up on and said with its frame number, and the packets
// after it are still read.
func TestReassemblyLimits(t *testing.T) {
	const n = 1000
	cost := 2 + segOverhead
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"per direction", Options{MaxBuffer: 100 * cost}, "the limit for one direction"},
		{"per capture", Options{MaxHeld: 100 * cost}, "of out-of-order TCP segments, its limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Segment 0 never comes: the rest arrive in order, all held.
			order := make([]int, 0, n-1)
			for i := 1; i < n; i++ {
				order = append(order, i)
			}
			got, s := reassemble(t, c.opts, n, order)
			if got != n-1 {
				t.Errorf("%d packets delivered, want %d (all but the lost one)", got, n-1)
			}
			if len(s.problems) != 1 {
				t.Fatalf("problems %v, want one", s.problems)
			}
			p := s.problems[0]
			if p.Frame != 101 || !strings.Contains(p.Reason, "2 bytes") || !strings.Contains(p.Reason, c.want) {
				t.Errorf("problem %v, want frame 101 saying 2 bytes were not captured and %q", p, c.want)
			}
			if s.held > 100*cost {
				t.Errorf("%d bytes held, over the limit", s.held)
			}
		})
	}
}
