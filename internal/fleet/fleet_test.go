package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSplit(t *testing.T) {
	budget := Budget{RequestsPerMinute: 600, Downloads: 8}
	for _, tc := range []struct {
		live []string
		want map[string]Budget
	}{
		{[]string{"a"}, map[string]Budget{"a": {600, 8}}},
		{[]string{"b", "a"}, map[string]Budget{"a": {300, 4}, "b": {300, 4}}},
		{[]string{"c", "a", "b"}, map[string]Budget{"a": {200, 3}, "b": {200, 3}, "c": {200, 2}}},
		// More workers than downloads: one each, the only way the budget
		// is exceeded.
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, map[string]Budget{"a": {600.0 / 9, 1}, "i": {600.0 / 9, 1}}},
		// A worker missing from the list (its lease was not read back)
		// counts itself.
		{[]string{"a"}, map[string]Budget{"b": {300, 4}}},
	} {
		t.Run(fmt.Sprint(tc.live), func(t *testing.T) {
			for self, want := range tc.want {
				if got := Split(budget, tc.live, self); got != want {
					t.Errorf("%s: %+v, want %+v", self, got, want)
				}
			}
		})
	}
	// The shares add up to the budget.
	live := []string{"w1", "w2", "w3", "w4", "w5"}
	var sum Budget
	for _, id := range live {
		s := Split(Budget{RequestsPerMinute: 7, Downloads: 13}, live, id)
		sum.RequestsPerMinute += s.RequestsPerMinute
		sum.Downloads += s.Downloads
	}
	if sum.Downloads != 13 || sum.RequestsPerMinute < 7-1e-9 || sum.RequestsPerMinute > 7+1e-9 {
		t.Errorf("shares add up to %+v, want the budget {7 13}", sum)
	}
	if got := Split(Budget{}, live, "w1"); got.RequestsPerMinute != 0 {
		t.Errorf("no rate limit split into %v, want none (0)", got.RequestsPerMinute)
	}
}

func TestSlots(t *testing.T) {
	ctx := context.Background()
	s := NewSlots(2)
	for range 2 {
		if err := s.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Acquire(done); err == nil {
		t.Fatal("a third slot of two was granted")
	}

	// A smaller size holds new downloads back until enough have finished.
	s.SetSize(1)
	s.Release()
	if err := s.Acquire(done); err == nil {
		t.Fatal("a slot was granted with one download running and a size of one")
	}
	got := make(chan error, 1)
	go func() { got <- s.Acquire(ctx) }()
	s.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	// A larger size lets a waiting download start at once.
	go func() { got <- s.Acquire(ctx) }()
	s.SetSize(2)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// memStore keeps leases in memory; none expires.
type memStore struct {
	mu     sync.Mutex
	leases map[string]Share // by id, one tenant
}

func (s *memStore) Heartbeat(_ context.Context, _, id string, _ time.Duration, share Share) ([]Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leases[id] = share
	var out []Lease
	for id, sh := range s.leases {
		out = append(out, Lease{ID: id, Backoff: sh.Backoff})
	}
	slices.SortFunc(out, func(a, b Lease) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *memStore) Leave(_ context.Context, _, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leases, id)
	return nil
}

// worker is a Member without its renewal loop: the test renews it.
type worker struct {
	*Member
	own     float64 // the backoff its VCC client reports
	applied float64 // the others' backoff, as last applied
	share   Budget
}

func newWorker(store Store, id string) *worker {
	w := &worker{own: 1, applied: -1}
	w.Member = &Member{id: id, cfg: Config{
		Store: store, Tenant: "acme", Budget: Budget{RequestsPerMinute: 120, Downloads: 4},
		Apply:        func(b Budget) { w.share = b },
		Backoff:      func() float64 { return w.own },
		ApplyBackoff: func(f float64) { w.applied = f },
		Period:       time.Second,
	}}
	w.cfg.Logger = slog.New(slog.DiscardHandler)
	return w
}

// A 429 one worker draws slows the others at their next renewal after its
// own; its own backoff is never fed back to it, and the others follow it
// back up as it recovers.
func TestBackoffReachesTheOtherWorkers(t *testing.T) {
	ctx := context.Background()
	store := &memStore{leases: map[string]Share{}}
	a, b := newWorker(store, "a"), newWorker(store, "b")
	renew := func(ws ...*worker) {
		t.Helper()
		for _, w := range ws {
			if err := w.renew(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	renew(a, b, a)
	if a.share.RequestsPerMinute != 60 || b.share.RequestsPerMinute != 60 {
		t.Fatalf("shares %v and %v of 120 a minute between two workers, want 60 each", a.share, b.share)
	}
	if a.applied != 1 || b.applied != 1 {
		t.Fatalf("no 429 yet, but backoffs %v and %v were applied", a.applied, b.applied)
	}

	a.own = 0.5 // a drew a 429
	renew(b)
	if b.applied != 1 {
		t.Errorf("b applied %v before a published its backoff", b.applied)
	}
	renew(a)
	if a.applied != 1 {
		t.Errorf("a applied its own backoff back to itself: %v", a.applied)
	}
	renew(b)
	if b.applied != 0.5 {
		t.Errorf("b applied %v after a published 0.5", b.applied)
	}

	// The lowest of several wins.
	c := newWorker(store, "c")
	c.own = 0.25
	renew(c, b)
	if b.applied != 0.25 {
		t.Errorf("b applied %v with a at 0.5 and c at 0.25, want 0.25", b.applied)
	}
	if err := c.cfg.Store.Leave(ctx, "acme", "c"); err != nil {
		t.Fatal(err)
	}

	a.own = 0.8 // creeping back
	renew(a, b)
	if b.applied != 0.8 {
		t.Errorf("b applied %v after a recovered to 0.8", b.applied)
	}
	a.own = 1
	renew(a, b)
	if b.applied != 1 {
		t.Errorf("b applied %v after a recovered", b.applied)
	}
}

func TestOthersBackoff(t *testing.T) {
	for _, tc := range []struct {
		leases []Lease
		want   float64
	}{
		{nil, 1},
		{[]Lease{{"self", 0.1}}, 1},
		{[]Lease{{"self", 0.1}, {"x", 0.7}, {"y", 0.4}}, 0.4},
		// An older worker's lease, or a corrupt one, is no backoff.
		{[]Lease{{"x", 0}, {"y", -1}, {"z", 2}}, 1},
	} {
		if got := OthersBackoff(tc.leases, "self"); got != tc.want {
			t.Errorf("OthersBackoff(%v) = %v, want %v", tc.leases, got, tc.want)
		}
	}
}
