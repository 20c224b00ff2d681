package vccsim

import (
	"sync"
	"time"
)

// accountLimiter is VCC's fair-usage limit: one budget for every resource
// API of the account. It keeps the times of the requests it let through in
// the last minute (a sliding log), so that "more than n in any rolling 60
// seconds" is exact. Refused requests do not use the budget, so a client
// that waits gets through after a short period, as the docs say.
//
// It runs on real time, not the dataset's clock: a test that freezes or
// advances the simulated day does not refill or drain it.
type accountLimiter struct {
	n   int // 0: no limit
	now func() time.Time

	mu   sync.Mutex
	seen []time.Time // oldest first
}

func newAccountLimiter(n int, now func() time.Time) *accountLimiter {
	return &accountLimiter{n: n, now: now}
}

// allow reports whether one more request fits, and if so counts it.
func (l *accountLimiter) allow() bool {
	if l.n <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := 0
	for cut < len(l.seen) && now.Sub(l.seen[cut]) >= time.Minute {
		cut++
	}
	l.seen = l.seen[cut:]
	if len(l.seen) >= l.n {
		return false
	}
	l.seen = append(l.seen, now)
	return true
}
