package vcc

import "golang.org/x/time/rate"

// SetRateLimit changes the request rate of each API to perSecond (0 means
// no limit), with a burst of one second's worth: a worker that shares an
// account's budget with others sets its share (see package fleet).
func (c *Client) SetRateLimit(perSecond float64) {
	lim, burst := rate.Inf, 1
	if perSecond > 0 {
		lim, burst = rate.Limit(perSecond), max(1, int(perSecond))
	}
	for _, l := range c.limit {
		l.SetLimit(lim)
		l.SetBurst(burst)
	}
}
