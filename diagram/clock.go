package diagram

// A Sample is one clock comparison between the page and the server: the page
// sent a ping at Sent and got the pong at Received (both page ms), and the
// server stamped it Server (server ms). The server's stamp was taken
// somewhere between the two, so the offset is known to within half the
// round trip.
type Sample struct {
	Sent, Received, Server float64
}

// Clock estimates the offset between the server's trace clock and the
// page's, NTP-style: from the sample with the shortest round trip,
// offset = Server - (Sent+Received)/2, with an uncertainty of half that
// round trip.
//
// Causality narrows it further: a packet the page sent must reach the proxy
// after it left the page, and a packet the proxy read from the broker must
// reach the page after that. Each such pair bounds the offset from one side
// (Before, After); the estimate is kept within the bounds, so that on
// loopback, where a hop takes less than the pings' uncertainty, no arrow
// is drawn before its cause.
type Clock struct {
	_      noEq // see noEq
	best   Sample
	count  int
	lo, hi float64 // bounds on the offset from causality
	hasLo  bool
	hasHi  bool
	pairs  int
	offset float64 // the estimate and its uncertainty, when known (Info)
	uncert float64
	known  bool
}

// ClockInfo says how the two clocks were aligned, for the page to show.
type ClockInfo struct {
	Aligned     bool    `json:"aligned"`     // at least one sample
	Offset      float64 `json:"offset"`      // server ms minus page ms
	Uncertainty float64 `json:"uncertainty"` // ± ms
	Samples     int     `json:"samples"`
	Pairs       int     `json:"pairs"` // packet pairs that bounded the offset
}

// causalGap keeps an effect a microsecond after its cause when the bounds
// would put them at the same time.
const causalGap = 0.001

// Add records a sample and reports whether it changed the estimate.
// Samples that ran backwards are ignored.
func (c *Clock) Add(s Sample) bool {
	if s.Received < s.Sent {
		return false
	}
	c.count++
	if c.count == 1 || s.Received-s.Sent < c.best.Received-c.best.Sent {
		before := c.Info().Offset
		c.best, c.known = s, false
		return c.Info().Offset != before || c.count == 1
	}
	return false
}

// Before records that something the page did at page time p happened
// before the server saw it at server time s; it reports whether the
// estimate changed.
func (c *Clock) Before(p, s float64) bool {
	before := c.Info().Offset
	if b := s - p - causalGap; !c.hasHi || b < c.hi {
		c.hi, c.hasHi, c.known = b, true, false
	}
	c.pairs++
	return c.Info().Offset != before
}

// After records that something the server saw at server time s happened
// before the page saw it at page time p.
func (c *Clock) After(p, s float64) bool {
	before := c.Info().Offset
	if b := s - p + causalGap; !c.hasLo || b > c.lo {
		c.lo, c.hasLo, c.known = b, true, false
	}
	c.pairs++
	return c.Info().Offset != before
}

// Info returns the current estimate, computed once per change (each
// remote arrow's time is converted with it).
func (c *Clock) Info() ClockInfo {
	if c.count == 0 {
		return ClockInfo{}
	}
	if !c.known {
		c.estimate()
	}
	return ClockInfo{Aligned: true, Offset: c.offset, Uncertainty: c.uncert, Samples: c.count, Pairs: c.pairs}
}

func (c *Clock) estimate() {
	off := c.best.Server - (c.best.Sent+c.best.Received)/2
	unc := (c.best.Received - c.best.Sent) / 2
	lo, hi := off-unc, off+unc
	if c.hasLo && c.lo > lo {
		lo = c.lo
	}
	if c.hasHi && c.hi < hi {
		hi = c.hi
	}
	if lo <= hi {
		off = min(max(off, lo), hi)
		unc = max(hi-off, off-lo)
	} else {
		// The bounds disagree (the page's timer is coarse): split the
		// difference.
		off = (lo + hi) / 2
		unc = (lo - hi) / 2
	}
	c.offset, c.uncert, c.known = off, unc, true
}

// ToPage converts a server time to the page's clock (unchanged while no
// sample has been taken).
func (c *Clock) ToPage(server float64) float64 {
	return server - c.Info().Offset
}
