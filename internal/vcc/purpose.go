package vcc

import (
	"container/heap"
	"context"
	"sync"
)

// Purpose says why a request was sent, for cost accounting: Counters, and
// so the metrics, count requests by API and purpose, and a run's summary
// adds them up.
type Purpose string

// The purposes. A call names its own (a listing of Content is
// PurposeList, of Stats PurposeStats, …); WithPurpose overrides it for
// every call made with the context, to mark a re-scan, say. A request sent
// again after a failed attempt (a 429, a 5xx, a network error, a broken
// body) and a download resumed after a broken transfer count as
// PurposeRetry whatever the purpose of the first.
const (
	PurposeList     Purpose = "list"     // Content listings and lookups of windows listed the first time
	PurposeRescan   Purpose = "rescan"   // listings of a window listed before, for late content
	PurposeUsers    Purpose = "users"    // User Admin users
	PurposeGroups   Purpose = "groups"   // User Admin groups of a user
	PurposeStats    Purpose = "stats"    // Stats listings and lookups
	PurposeDownload Purpose = "download" // recordings' content
	PurposeRetry    Purpose = "retry"    // a request sent again
)

// Purposes are every purpose, in the order summaries show them.
var Purposes = []Purpose{PurposeList, PurposeRescan, PurposeStats, PurposeUsers, PurposeGroups, PurposeDownload, PurposeRetry}

type purposeKey struct{}

// WithPurpose returns a context whose requests count as p.
func WithPurpose(ctx context.Context, p Purpose) context.Context {
	return context.WithValue(ctx, purposeKey{}, p)
}

type resendKey struct{}

// PurposeOf is the purpose a request made with ctx counts as; def is the
// call's own.
func PurposeOf(ctx context.Context, def Purpose) Purpose {
	if ctx.Value(resendKey{}) != nil {
		return PurposeRetry
	}
	if p, ok := ctx.Value(purposeKey{}).(Purpose); ok && p != "" {
		return p
	}
	return def
}

// asResend marks ctx's requests as sent again (PurposeRetry).
func asResend(ctx context.Context) context.Context {
	if ctx.Value(resendKey{}) != nil {
		return ctx
	}
	return context.WithValue(ctx, resendKey{}, true)
}

// Priority orders the requests that wait for the account's budget: when
// the budget is what holds work back, a request of a lower Priority goes
// before every waiting request of a higher one, and requests of one
// Priority go in the order they came. Without WithPriority a request has
// priority 0.
type Priority int

type priorityKey struct{}

// WithPriority returns a context whose requests wait for the budget with
// priority p.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf is the priority ctx's requests wait for the budget with.
func PriorityOf(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}

// turns hands out, one request at a time, the turn to take the limiter's
// next place: the waiting request of the lowest priority first (then the
// one that came first). A rate.Limiter alone queues requests by arrival,
// places handed out are promised; with one place promised at a time, a
// request of today's recordings waits for at most one place behind a
// backfill, not for the backfill's whole queue.
type turns struct {
	mu      sync.Mutex
	busy    bool
	seq     uint64
	waiting waiters
}

type waiter struct {
	prio  Priority
	seq   uint64
	ready chan struct{}
	index int // in the heap; -1 once given the turn
}

// take waits for the turn; the caller must give it back with done.
func (t *turns) take(ctx context.Context, p Priority) error {
	t.mu.Lock()
	if !t.busy && len(t.waiting) == 0 {
		t.busy = true
		t.mu.Unlock()
		return nil
	}
	t.seq++
	w := &waiter{prio: p, seq: t.seq, ready: make(chan struct{})}
	heap.Push(&t.waiting, w)
	t.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		given := w.index < 0
		if !given {
			heap.Remove(&t.waiting, w.index)
		}
		t.mu.Unlock()
		if given {
			t.done() // handed the turn as ctx ended: pass it on
		}
		return ctx.Err()
	}
}

// done gives the turn to the next waiting request.
func (t *turns) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.waiting) == 0 {
		t.busy = false
		return
	}
	w := heap.Pop(&t.waiting).(*waiter)
	w.index = -1
	close(w.ready)
}

// waiters is a heap of waiting requests, by priority then arrival.
type waiters []*waiter

func (h waiters) Len() int { return len(h) }
func (h waiters) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio < h[j].prio
	}
	return h[i].seq < h[j].seq
}
func (h waiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
