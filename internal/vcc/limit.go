package vcc

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// VCC's fair-usage limit is one budget for the whole account: "If you are
// making requests to multiple Vonage Contact Center APIs, the limit applies
// to all requests" (vcc-api.md, "Rate limits"). So a Client has one limiter
// for the Content, User Admin and Stats APIs together (token requests
// aside), in requests per minute, and adapts it to what VCC answers:
//
//   - A 429 without Retry-After (the documented one) halves the rate
//     (multiplicative decrease), down to a floor of minRequestsPerMinute
//     for the whole tenant. A 429 to a request sent before the last
//     decrease says nothing about the lowered rate and is not counted
//     again, so a burst of 429s to requests already in flight halves once.
//   - Every minute without a 429 gives back a twentieth of the share
//     (additive increase, continuously), up to the share and never above.
//   - A 429 with Retry-After pauses every request of the client until then
//     and leaves the rate alone: VCC said how long.
//
// The rate is share × backoff: share is this client's part of the tenant's
// budget (all of it, or what package fleet gives this process), backoff a
// factor in (0, 1] that only 429s lower. A process publishes its own factor
// with its fleet lease, and applies the lowest factor the tenant's other
// processes published (SetFleetBackoff), so a 429 one of them draws slows
// them all within a heartbeat. A process's own factor never takes in the
// others': if it did, each would pull the other back to its last heartbeat's
// value and the rate would never creep back up.
const (
	// throttleFactor multiplies the backoff on a 429 without Retry-After.
	throttleFactor = 0.5
	// minRequestsPerMinute is the lowest rate a 429 brings the tenant to.
	minRequestsPerMinute = 6.0
	// recoverPerMinute is the part of the share a minute without a 429
	// gives back.
	recoverPerMinute = 1.0 / 20
	// maxPause caps how long one Retry-After holds every request back; the
	// request that got it waits all of it (up to MaxThrottled).
	maxPause = 10 * time.Minute
	// maxReserve is the longest a request holds a place in the limiter's
	// queue; further off, it checks the rate again this often.
	maxReserve = 2 * time.Second
)

// budget is a Client's request budget. It is safe for concurrent use.
type budget struct {
	now func() time.Time // for the backoff; the limiter itself runs on real time
	lim *rate.Limiter
	// turn lets one waiting request at a time take a place of lim, the
	// one of the lowest Priority first.
	turn turns

	mu     sync.Mutex
	total  float64   // the tenant's budget, requests per minute; 0: no limit
	share  float64   // this client's share of total, requests per minute
	own    float64   // the backoff of this client's own 429s, as of ownAt
	ownAt  time.Time // when own was last lowered
	fleet  float64   // the lowest backoff the tenant's other processes published
	paused time.Time // Retry-After: no request before then
	set    float64   // the limit lim has, requests per minute
	count  int64     // 429s seen
}

// newBudget returns the budget of a tenant allowed perMinute requests a
// minute (0: no limit), all of it this client's share.
func newBudget(perMinute float64, now func() time.Time) *budget {
	b := &budget{now: now, lim: rate.NewLimiter(rate.Inf, 1), total: perMinute, share: perMinute, own: 1, fleet: 1}
	b.applyLocked(now())
	return b
}

// setShare makes this client's share perMinute requests a minute of the
// tenant's budget (0: no limit).
func (b *budget) setShare(perMinute float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.share = perMinute
	if b.total == 0 || perMinute > b.total {
		b.total = perMinute
	}
	b.applyLocked(b.now())
}

// setFleet applies the lowest backoff the tenant's other processes
// published (1: none of them is backing off).
func (b *budget) setFleet(f float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !(f > 0) || f > 1 {
		f = 1
	}
	b.fleet = f
	b.applyLocked(b.now())
}

// floor is the lowest backoff: minRequestsPerMinute for the tenant.
func (b *budget) floor() float64 {
	if b.total <= 0 {
		return 1
	}
	return min(1, minRequestsPerMinute/b.total)
}

// ownAtLocked is this client's own backoff at t: what its last 429 left,
// plus what the minutes since gave back.
func (b *budget) ownAtLocked(t time.Time) float64 {
	if b.own >= 1 {
		return 1
	}
	return min(1, b.own+recoverPerMinute*t.Sub(b.ownAt).Minutes())
}

// applyLocked sets the limiter to the rate in force at t.
func (b *budget) applyLocked(t time.Time) {
	perMinute := math.Inf(1)
	if b.share > 0 {
		perMinute = b.share * min(b.ownAtLocked(t), b.fleet)
	}
	if perMinute == b.set {
		return
	}
	b.set = perMinute
	if math.IsInf(perMinute, 1) {
		b.lim.SetLimit(rate.Inf)
		return
	}
	b.lim.SetLimit(rate.Limit(perMinute / 60))
}

// wait blocks until a request may be sent, and returns when it may. When
// requests wait, the one of the lowest priority (WithPriority) goes first.
func (b *budget) wait(ctx context.Context) (time.Time, error) {
	for {
		b.mu.Lock()
		now := b.now()
		b.applyLocked(now)
		pause := b.paused.Sub(now)
		b.mu.Unlock()
		if pause <= 0 {
			break
		}
		if err := sleep(ctx, pause); err != nil {
			return time.Time{}, err
		}
	}
	b.mu.Lock()
	unlimited := b.share <= 0
	b.mu.Unlock()
	if unlimited {
		return b.now(), nil
	}
	// One place of the limiter is promised at a time, to the waiting
	// request of the lowest priority: a place promised is kept, so the
	// turn is given back only once the request may go.
	if err := b.turn.take(ctx, PriorityOf(ctx)); err != nil {
		return time.Time{}, err
	}
	defer b.turn.done()
	// Reserve and sleep rather than Wait: Wait refuses at once a wait past
	// ctx's deadline, which would fail a job's request that could have
	// gone out before it. A reservation further off than maxReserve is
	// given back and asked for again later: one made at the floor after a
	// 429 would otherwise keep its far-off time while the rate creeps back.
	for {
		b.mu.Lock()
		b.applyLocked(b.now())
		b.mu.Unlock()
		r := b.lim.Reserve()
		d := r.Delay()
		if d <= maxReserve {
			if err := sleep(ctx, d); err != nil {
				r.Cancel()
				return time.Time{}, err
			}
			return b.now(), nil
		}
		r.Cancel()
		if err := sleep(ctx, maxReserve); err != nil {
			return time.Time{}, err
		}
	}
}

// throttled notes a 429 to a request sent at sentAt. With a Retry-After
// (after > 0) every request waits that long; without, the rate comes down.
func (b *budget) throttled(sentAt time.Time, after time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count++
	now := b.now()
	if after > 0 {
		if until := now.Add(min(after, maxPause)); until.After(b.paused) {
			b.paused = until
		}
		return
	}
	if b.share <= 0 || sentAt.Before(b.ownAt) {
		return
	}
	b.own = max(b.floor(), min(b.ownAtLocked(now), b.fleet)*throttleFactor)
	b.ownAt = now
	b.applyLocked(now)
}

// backoff is this client's own backoff factor, to publish to the others.
func (b *budget) backoff() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ownAtLocked(b.now())
}

// perMinute is the rate in force: requests per minute (+Inf: no limit).
func (b *budget) perMinute() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applyLocked(b.now())
	return b.set
}

func (b *budget) throttles() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}

// SetShare makes this client's share of its tenant's budget perMinute
// requests a minute across all VCC APIs (0: no limit): a process that
// shares the budget with others sets its part (see package fleet). A 429
// lowers the rate below the share for a while.
func (c *Client) SetShare(perMinute float64) { c.budget.setShare(perMinute) }

// Backoff is the factor in (0, 1] this client's own 429s hold its rate to
// (1: none lately), for the tenant's other processes to apply.
func (c *Client) Backoff() float64 { return c.budget.backoff() }

// SetFleetBackoff applies the lowest backoff the tenant's other processes
// published (1: none), so that they all slow down when one draws a 429.
func (c *Client) SetFleetBackoff(f float64) { c.budget.setFleet(f) }

// RequestsPerMinute is the request rate in force, across all VCC APIs:
// the share, lowered by recent 429s (+Inf: no limit). For metrics.
func (c *Client) RequestsPerMinute() float64 { return c.budget.perMinute() }

// Throttled counts the 429 Too Many Requests answers, for metrics.
func (c *Client) Throttled() int64 { return c.budget.throttles() }
