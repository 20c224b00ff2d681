// Package fleet splits a tenant's VCC budget, requests per minute across
// all VCC APIs and concurrent downloads, among the worker processes that
// share a PostgreSQL catalog: VCC limits an account, not a process.
//
// Every process that works a tenant's jobs holds a lease in the catalog
// (table workers), renewed every Period and valid for three periods by the
// database's clock. At each renewal it reads the tenant's live leases and
// takes an equal share of the budget: requests/n requests per minute (the
// VCC client's limiter is re-set) and downloads/n concurrent downloads (the
// remainder goes to the first ids in order, and each worker gets at least
// one). So the shares add up to the budget, and the budget holds however
// many workers run on however many hosts:
//
//   - a worker that stops drops its lease, and the others take its share at
//     their next renewal;
//   - a worker that dies (kill -9, a lost host) keeps its lease until it
//     expires, three periods at most, while the others run below the budget;
//   - a worker that joins renews once, then waits Join's settle time (one
//     and a half periods) before it takes work, by when every other worker
//     has renewed and lowered its share.
//
// A 429 slows the whole tenant, not just the process that drew it. Each
// process's VCC client keeps a backoff factor in (0, 1] that its own 429s
// lower and that creeps back to 1 while none come (package vcc). The lease
// publishes it (column backoff) at every renewal, and every process runs at
// its share times the lowest factor of the tenant's live leases: a 429 one
// of them sees reaches the others at their next renewal after its own. A
// process applies the others' factors without taking them into its own, so
// that they all creep back up together once the 429s stop.
//
// The budget is exceeded only when there are more workers than downloads
// (each still downloads one at a time), or for a moment when the catalog is
// unreachable and the workers cannot learn of one that joins. A planner
// (sync --work=false) holds no lease: its few requests (one listing of the
// users per run) are not counted.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// Budget is a tenant's VCC budget, or one worker's share of it.
type Budget struct {
	RequestsPerMinute float64 // across all VCC APIs; 0 means no limit
	Downloads         int     // concurrent downloads
}

// Split is the share of b of worker self among the live workers (ids in
// any order; self is counted even if the list lacks it).
func Split(b Budget, live []string, self string) Budget {
	ids := slices.Clone(live)
	if !slices.Contains(ids, self) {
		ids = append(ids, self)
	}
	slices.Sort(ids)
	n := len(ids)
	rank := slices.Index(ids, self)
	share := Budget{RequestsPerMinute: b.RequestsPerMinute / float64(n), Downloads: b.Downloads / n}
	if rank < b.Downloads%n {
		share.Downloads++
	}
	share.Downloads = max(share.Downloads, 1)
	return share
}

// OthersBackoff is the lowest backoff the leases other than self's
// published: 1 if none is backing off, and a factor out of (0, 1] (a lease
// of an older version, a corrupt row) counts as 1.
func OthersBackoff(leases []Lease, self string) float64 {
	f := 1.0
	for _, l := range leases {
		if l.ID != self && l.Backoff > 0 && l.Backoff < f {
			f = l.Backoff
		}
	}
	return f
}

// Store keeps the leases: the catalog.
type Store interface {
	// Heartbeat renews the lease of worker id for ttl, recording its share
	// and backoff, and returns the tenant's live leases.
	Heartbeat(ctx context.Context, tenant, id string, ttl time.Duration, share Share) ([]Lease, error)
	// Leave drops the lease of worker id.
	Leave(ctx context.Context, tenant, id string) error
}

// Share is a worker's share as its lease records it.
type Share struct {
	Workers int // live workers it counted
	Budget
	// Backoff is the factor in (0, 1] the worker's own 429s hold its
	// request rate to (1: none lately).
	Backoff float64
}

// Lease is a live worker as the catalog knows it.
type Lease struct {
	ID      string
	Backoff float64 // as it last published it
}

// Config configures a Member.
type Config struct {
	Store  Store
	Tenant string
	Budget Budget
	// Apply is called with this worker's share when it changes, and once
	// before Join returns.
	Apply func(Budget)
	// Backoff, if set, reads this worker's own backoff factor, to publish
	// with the lease; ApplyBackoff, if set, is called at every renewal
	// with the lowest factor the tenant's other live workers published (1
	// if none backs off).
	Backoff      func() float64
	ApplyBackoff func(float64)
	Period       time.Duration // lease renewal; default 1 s
	Logger       *slog.Logger
}

// Member is one worker's lease.
type Member struct {
	cfg    Config
	id     string
	cancel context.CancelFunc
	done   chan struct{}
	share  Share
}

// Join takes a lease for this process, applies its share, starts renewing
// it, and returns once the other workers have had time to see it and lower
// their shares.
func Join(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.Period <= 0 {
		cfg.Period = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	m := &Member{cfg: cfg, id: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:])), done: make(chan struct{})}
	if err := m.renew(ctx); err != nil {
		return nil, fmt.Errorf("join the workers of tenant %s: %w", cfg.Tenant, err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	go m.loop(loopCtx)
	// Every other worker renews within a period of our first renewal.
	if err := sleep(ctx, cfg.Period*3/2); err != nil {
		m.Leave(context.WithoutCancel(ctx))
		return nil, err
	}
	return m, nil
}

// ID is the worker's lease id: host/pid/random.
func (m *Member) ID() string { return m.id }

// Leave stops renewing and drops the lease.
func (m *Member) Leave(ctx context.Context) error {
	m.cancel()
	<-m.done
	return m.cfg.Store.Leave(ctx, m.cfg.Tenant, m.id)
}

func (m *Member) loop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.cfg.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.renew(ctx); err != nil && ctx.Err() == nil {
			// Keep the share we have: the others keep theirs too, and our
			// lease outlives a few missed renewals.
			m.cfg.Logger.Warn("cannot renew this worker's lease; keeping its share of the VCC budget", "tenant", m.cfg.Tenant, "error", err)
		}
	}
}

// renew renews the lease and applies the share it gives.
func (m *Member) renew(ctx context.Context) error {
	published := m.share
	published.Backoff = 1
	if m.cfg.Backoff != nil {
		published.Backoff = m.cfg.Backoff()
	}
	leases, err := m.cfg.Store.Heartbeat(ctx, m.cfg.Tenant, m.id, 3*m.cfg.Period, published)
	if err != nil {
		return err
	}
	live := make([]string, len(leases))
	for i, l := range leases {
		live[i] = l.ID
	}
	share := Share{Workers: max(len(live), 1), Budget: Split(m.cfg.Budget, live, m.id)}
	if share.Budget != m.share.Budget || share.Workers != m.share.Workers {
		m.share = share
		m.cfg.Apply(share.Budget)
		m.cfg.Logger.Info("share of the tenant's VCC budget", "tenant", m.cfg.Tenant, "workers", share.Workers, "requests_per_minute", share.RequestsPerMinute, "downloads", share.Downloads)
	}
	if m.cfg.ApplyBackoff != nil {
		m.cfg.ApplyBackoff(OthersBackoff(leases, m.id))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Slots bounds concurrent downloads to a size that may change.
type Slots struct {
	mu   sync.Mutex
	size int
	used int
	wake chan struct{} // closed when a slot may have come free
}

// NewSlots returns n slots.
func NewSlots(n int) *Slots { return &Slots{size: n, wake: make(chan struct{})} }

// Acquire waits for a free slot.
func (s *Slots) Acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.used < s.size {
			s.used++
			s.mu.Unlock()
			return nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// Release frees a slot taken by Acquire.
func (s *Slots) Release() {
	s.mu.Lock()
	s.used--
	s.broadcastLocked()
	s.mu.Unlock()
}

// SetSize changes the number of slots. Downloads past a smaller size go on;
// new ones wait until the count is under it.
func (s *Slots) SetSize(n int) {
	s.mu.Lock()
	s.size = n
	s.broadcastLocked()
	s.mu.Unlock()
}

func (s *Slots) broadcastLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}
