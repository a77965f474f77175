package client

import "time"

// Backoff computes reconnect delays: exponential growth from Min to Max with
// "equal jitter" (half the delay fixed, half random), so that many clients
// dropped at once do not reconnect in lockstep, and a client never retries in
// a tight loop. The zero value uses 1s, 2 minutes and factor 2.
type Backoff struct {
	Min    time.Duration // first delay before jitter (default 1s)
	Max    time.Duration // cap before jitter (default 2m)
	Factor float64       // growth per attempt (default 2)
}

// Delay returns the wait before reconnect attempt n (n >= 1 is the number of
// consecutive failed or lost connections so far). r is a random value in
// [0, 1); the result lies in [d/2, d) where d = min(Max, Min*Factor^(n-1)).
func (b Backoff) Delay(n int, r float64) time.Duration {
	lo, hi, f := b.Min, b.Max, b.Factor
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 2 * time.Minute
	}
	if hi < lo {
		hi = lo
	}
	if f < 1 {
		f = 2
	}
	d := float64(lo)
	for i := 1; i < n && d < float64(hi); i++ {
		d *= f
	}
	if d > float64(hi) {
		d = float64(hi)
	}
	if r < 0 || r >= 1 {
		r = 0
	}
	return time.Duration(d/2 + r*d/2)
}

// rng is a small splitmix64 generator: the core reads no clock and no OS
// randomness of its own, so the driver seeds it (Config.Seed).
type rng struct{ s uint64 }

func (g *rng) next() uint64 {
	g.s += 0x9e3779b97f4a7c15
	z := g.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a value in [0, 1).
func (g *rng) float() float64 { return float64(g.next()>>11) / (1 << 53) }
