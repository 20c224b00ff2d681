package ingest

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vcc"
)

// Cost is what a tenant's work spent of its VCC budget: requests by
// purpose (tokens aside), the 429s among them, and the rate in force.
type Cost struct {
	Requests  map[vcc.Purpose]int64
	Throttled int64   // 429 Too Many Requests answers
	PerMinute float64 // the request rate in force (+Inf: no budget)
}

// Total is every request of c.
func (c Cost) Total() int64 {
	var n int64
	for _, v := range c.Requests {
		n += v
	}
	return n
}

// Since is the cost of what was done since before was read.
func (c Cost) Since(before Cost) Cost {
	out := Cost{Requests: map[vcc.Purpose]int64{}, Throttled: max(c.Throttled-before.Throttled, 0), PerMinute: c.PerMinute}
	for p, n := range c.Requests {
		if d := n - before.Requests[p]; d > 0 {
			out.Requests[p] = d
		}
	}
	return out
}

// String is the cost for a summary or a log line:
// "412 requests (list 20, stats 20, users 1, download 362, retry 9), 3 × 429, 120 a minute".
func (c Cost) String() string {
	var parts []string
	for _, p := range vcc.Purposes {
		if n := c.Requests[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p, n))
		}
	}
	s := fmt.Sprintf("%d requests", c.Total())
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	s += fmt.Sprintf(", %d × 429", c.Throttled)
	if rate := c.PerMinute; rate > 0 && !math.IsInf(rate, 1) {
		s += fmt.Sprintf(", %.4g a minute now", rate)
	}
	return s
}

// costed is a VCC client that counts its requests and keeps a budget.
type costed interface {
	Counters() []vcc.CounterValue
	Throttled() int64
	RequestsPerMinute() float64
}

// CostOf reads what c has spent since it started (zero if it does not
// count).
func CostOf(c VCC) Cost {
	out := Cost{Requests: map[vcc.Purpose]int64{}, PerMinute: math.Inf(1)}
	v, ok := c.(costed)
	if !ok {
		return out
	}
	for _, cv := range v.Counters() {
		if cv.API != "token" {
			out.Requests[cv.Purpose] += cv.Count
		}
	}
	out.Throttled, out.PerMinute = v.Throttled(), v.RequestsPerMinute()
	return out
}

// BudgetETA is how long the pending work takes at perMinute requests a
// minute: a request per pending download, and for the time still to list
// (unlisted, the windows not listed yet end to end) what its listing costs
// at the least, in spans as the run lists it (ListingCost of an empty
// span: a request per API's longest window). It is 0 (unknown) without a
// budget (perMinute +Inf or not positive) and when nothing is pending.
func BudgetETA(downloads int64, unlisted time.Duration, perMinute float64) time.Duration {
	requests := max(downloads, 0)
	if unlisted > 0 {
		requests += int64(ListingCost(Window{End: time.Time{}.Add(unlisted)}, 0, 0))
	}
	if requests == 0 || !(perMinute > 0) || math.IsInf(perMinute, 1) {
		return 0
	}
	return time.Duration(float64(requests) / perMinute * float64(time.Minute)).Round(time.Second)
}
