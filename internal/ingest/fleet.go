package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/fleet"
)

// budgeted is a VCC client whose request rate can change: a worker sets it
// to its share of the tenant's budget, publishes the backoff its own 429s
// hold it to, and applies the lowest backoff of the tenant's other workers.
type budgeted interface {
	SetShare(perMinute float64)
	Backoff() float64
	SetFleetBackoff(float64)
}

// JoinFleet takes this process's share of t's VCC budget among the
// processes that work t's jobs on a shared (PostgreSQL) catalog, whether
// `vccingest worker`, `sync` or `serve`: t's VCC client runs at its share of
// budget.RequestsPerMinute (slowed, with the others, by any worker's 429s)
// and t's fetch jobs wait for one of its share of
// budget.Downloads, until leave. It returns once the others have had time
// to make room (package fleet says how).
func JoinFleet(ctx context.Context, cat *catalog.Catalog, t *Tenant, budget fleet.Budget, log *slog.Logger) (leave func(), err error) {
	slots := fleet.NewSlots(budget.Downloads)
	cfg := fleet.Config{
		Store:  leases{cat},
		Tenant: t.ID,
		Budget: budget,
		Apply: func(b fleet.Budget) {
			if c, ok := t.VCC.(budgeted); ok {
				c.SetShare(b.RequestsPerMinute)
			}
			slots.SetSize(b.Downloads)
		},
		Logger: log,
	}
	if c, ok := t.VCC.(budgeted); ok {
		cfg.Backoff, cfg.ApplyBackoff = c.Backoff, c.SetFleetBackoff
	}
	m, err := fleet.Join(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.slots.Store(slots)
	return func() {
		t.slots.CompareAndSwap(slots, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Leave(ctx); err != nil {
			log.Warn("could not drop this process's lease; the others take its share when it expires", "tenant", t.ID, "error", err)
		}
	}, nil
}

// joinFleet joins the Engine's tenant to its fleet; with the embedded
// catalog one process has the whole budget.
func (e *Engine) joinFleet(ctx context.Context) (leave func(), err error) {
	if e.exclusive() {
		return func() {}, nil
	}
	leave, err = JoinFleet(ctx, e.cfg.Catalog, e.cfg.Tenant, fleet.Budget{RequestsPerMinute: e.cfg.RequestsPerMinute, Downloads: e.cfg.Downloads}, e.cfg.Logger)
	if err != nil && ctx.Err() != nil {
		return func() {}, nil // stopped while joining: there is no work to share
	}
	return leave, err
}

// leases keeps worker leases in the catalog.
type leases struct{ cat *catalog.Catalog }

func (l leases) Heartbeat(ctx context.Context, tenant, id string, ttl time.Duration, s fleet.Share) ([]fleet.Lease, error) {
	live, err := l.cat.Heartbeat(ctx, tenant, id, ttl, catalog.WorkerShare{Workers: s.Workers, RequestsPerMinute: s.RequestsPerMinute, Downloads: s.Downloads, Backoff: s.Backoff})
	if err != nil {
		return nil, err
	}
	out := make([]fleet.Lease, len(live))
	for i, w := range live {
		out[i] = fleet.Lease{ID: w.ID, Backoff: w.Backoff}
	}
	return out, nil
}

func (l leases) Leave(ctx context.Context, tenant, id string) error {
	return l.cat.Leave(ctx, tenant, id)
}

// slotWait is the longest a fetch job waits for one of this worker's
// download slots before it goes back to the queue.
const slotWait = 30 * time.Second

// downloadSlot waits for one of this process's download slots of t (its
// share of the tenant's downloads, when it is in a fleet) and returns its
// release. A job that waits too long goes back to the queue, where a
// process with a free slot can take it, without spending an attempt.
func (p *pipeline) downloadSlot(ctx context.Context, t *Tenant) (release func(), err error) {
	slots := t.slots.Load()
	if slots == nil {
		return func() {}, nil
	}
	wait, cancel := context.WithTimeout(ctx, min(slotWait, p.jobTimeout/4))
	err = slots.Acquire(wait)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, river.JobSnooze(0)
	}
	return slots.Release, nil
}
