// Package simclock is a simulated clock for tests: time moves only when the
// test calls Advance, and timers fire then.
package simclock

import (
	"sync"
	"time"
)

// Clock is a simulated netclient.Clock.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	armed  chan struct{} // signalled whenever a timer is created
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// New returns a clock set to start.
func New(start time.Time) *Clock { return &Clock{now: start, armed: make(chan struct{}, 1)} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives when the simulated time reaches
// now+d.
func (c *Clock) After(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	select {
	case c.armed <- struct{}{}:
	default:
	}
	return t.c, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return
			}
		}
	}
}

// Advance moves the time forward by d and fires the timers due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// Next returns the earliest pending timer's time, or false if none.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	m := c.timers[0].at
	for _, t := range c.timers {
		if t.at.Before(m) {
			m = t.at
		}
	}
	return m, true
}
