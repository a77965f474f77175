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
type Clock struct {
	best  Sample
	count int
}

// ClockInfo says how the two clocks were aligned, for the page to show.
type ClockInfo struct {
	Aligned     bool    `json:"aligned"`     // at least one sample
	Offset      float64 `json:"offset"`      // server ms minus page ms
	Uncertainty float64 `json:"uncertainty"` // ± ms
	Samples     int     `json:"samples"`
}

// Add records a sample and reports whether it changed the estimate.
// Samples that ran backwards are ignored.
func (c *Clock) Add(s Sample) bool {
	if s.Received < s.Sent {
		return false
	}
	c.count++
	if c.count == 1 || s.Received-s.Sent < c.best.Received-c.best.Sent {
		c.best = s
		return true
	}
	return false
}

// Info returns the current estimate.
func (c *Clock) Info() ClockInfo {
	if c.count == 0 {
		return ClockInfo{}
	}
	return ClockInfo{
		Aligned:     true,
		Offset:      c.best.Server - (c.best.Sent+c.best.Received)/2,
		Uncertainty: (c.best.Received - c.best.Sent) / 2,
		Samples:     c.count,
	}
}

// ToPage converts a server time to the page's clock (unchanged while no
// sample has been taken).
func (c *Clock) ToPage(server float64) float64 {
	return server - c.Info().Offset
}
