package ingest

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/fleet"
)

// rateLimited is a VCC client whose request rate can change: a worker sets
// it to its share of the tenant's budget.
type rateLimited interface{ SetRateLimit(perSecond float64) }

// joinFleet takes this process's share of the tenant's VCC budget
// (RateLimit and Downloads) among the processes that work a shared queue;
// leave gives it back. With the embedded catalog one process has it all.
func (e *Engine) joinFleet(ctx context.Context) (leave func(), err error) {
	if e.exclusive() {
		return func() {}, nil
	}
	t := e.cfg.Tenant
	m, err := fleet.Join(ctx, fleet.Config{
		Store:  leases{e.cfg.Catalog},
		Tenant: t.ID,
		Budget: fleet.Budget{Rate: e.cfg.RateLimit, Downloads: e.cfg.Downloads},
		Apply: func(b fleet.Budget) {
			if c, ok := t.VCC.(rateLimited); ok {
				c.SetRateLimit(b.Rate)
			}
			e.p.slots.SetSize(b.Downloads)
		},
		Logger: e.cfg.Logger,
	})
	if err != nil {
		if ctx.Err() != nil {
			return func() {}, nil // stopped while joining: there is no work to share
		}
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Leave(ctx); err != nil {
			e.cfg.Logger.Warn("could not drop this worker's lease; the others take its share when it expires", "error", err)
		}
	}, nil
}

// leases keeps worker leases in the catalog.
type leases struct{ cat *catalog.Catalog }

func (l leases) Heartbeat(ctx context.Context, tenant, id string, ttl time.Duration, s fleet.Share) ([]string, error) {
	return l.cat.Heartbeat(ctx, tenant, id, ttl, catalog.WorkerShare{Workers: s.Workers, Rate: s.Rate, Downloads: s.Downloads})
}

func (l leases) Leave(ctx context.Context, tenant, id string) error {
	return l.cat.Leave(ctx, tenant, id)
}

// slotWait is the longest a fetch job waits for one of this worker's
// download slots before it goes back to the queue.
const slotWait = 30 * time.Second

// downloadSlots is River worker middleware: a fetch job waits for one of
// this worker's download slots (its share of the tenant's downloads). One
// that waits too long goes back to the queue, where a worker with a free
// slot can take it, without spending an attempt.
type downloadSlots struct {
	river.MiddlewareDefaults
	p *pipeline
}

func (m *downloadSlots) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if job.Kind != (FetchArgs{}).Kind() {
		return doInner(ctx)
	}
	wait, cancel := context.WithTimeout(ctx, min(slotWait, m.p.jobTimeout/4))
	err := m.p.slots.Acquire(wait)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return river.JobSnooze(0)
	}
	defer m.p.slots.Release()
	return doInner(ctx)
}
