package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// Pipeline is the discover and fetch jobs for a changing set of tenants,
// for a job runner other than Engine: the scheduler of `vccingest serve`
// registers them on its own River client and works each tenant's own queues
// (Tenant.Queues).
type Pipeline struct{ p *pipeline }

// PipelineConfig wires a Pipeline.
type PipelineConfig struct {
	Catalog *catalog.Catalog
	Logger  *slog.Logger
	Version string
	Now     func() time.Time
	// JobTimeout bounds one attempt of a job (on a shared queue it is also
	// when River rescues the job of a worker that died).
	JobTimeout time.Duration
}

// NewPipeline returns a Pipeline with no tenants.
func NewPipeline(cfg PipelineConfig) *Pipeline {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pipeline{p: &pipeline{
		cat: cfg.Catalog, log: cfg.Logger, progress: &Progress{}, now: cfg.Now,
		version: cfg.Version, jobTimeout: cfg.JobTimeout, tenants: map[string]*Tenant{},
	}}
}

// Register adds the discover, fetch and publish workers to workers.
func (p *Pipeline) Register(workers *river.Workers) {
	river.AddWorker(workers, &discoverWorker{p: p.p})
	river.AddWorker(workers, &fetchWorker{p: p.p})
	river.AddWorker(workers, &publishWorker{p: p.p})
}

// Middleware is the River middleware the jobs expect: a job that finds a
// PostgreSQL catalog unavailable is put back without spending an attempt.
func (p *Pipeline) Middleware() []rivertype.Middleware {
	return []rivertype.Middleware{&snoozeWhileUnavailable{log: p.p.log}}
}

// SetTenant adds or replaces a tenant; jobs that start from now on use it.
func (p *Pipeline) SetTenant(t *Tenant) {
	p.p.mu.Lock()
	defer p.p.mu.Unlock()
	p.p.tenants[t.ID] = t
}

// RemoveTenant forgets a tenant; its jobs that start later are cancelled.
func (p *Pipeline) RemoveTenant(id string) {
	p.p.mu.Lock()
	defer p.p.mu.Unlock()
	delete(p.p.tenants, id)
}

// Run runs one run of t on q, a River client that works t's queues (the
// scheduler's, started before): see RunSpec and Report. It is the runner
// Engine.Sync uses too.
func (p *Pipeline) Run(ctx context.Context, q *jobqueue.Queue, t *Tenant, spec RunSpec) (*Report, error) {
	return p.p.run(ctx, q, t, spec)
}

// ready does what every run of t does before it queues work: sweep the
// bucket and refresh the agents.
func (p *pipeline) ready(ctx context.Context, t *Tenant) error {
	// The sweep removes only what processes that have ended left, so other
	// workers sharing the bucket may be writing meanwhile. What it cannot
	// remove only takes space (it is never an object): not a reason to stop.
	if n, err := t.Bucket.SweepTemp(ctx); err != nil {
		p.log.Warn("partial downloads left by a stopped process could not all be removed", "tenant", t.ID, "removed", n, "error", err)
	} else if n > 0 {
		p.log.Info("removed partial downloads left by a stopped process", "tenant", t.ID, "objects", n)
	}
	return p.refreshAgents(ctx, t)
}

// splitDue separates the windows that end by dueBy from those that end
// later.
func splitDue(windows []Window, dueBy time.Time) (due, notDue []Window) {
	for _, w := range windows {
		if w.End.After(dueBy) {
			notDue = append(notDue, w)
		} else {
			due = append(due, w)
		}
	}
	return due, notDue
}

// planWindows records windows as planned without queueing them.
func planWindows(ctx context.Context, cat *catalog.Catalog, t *Tenant, windows []Window) error {
	if len(windows) == 0 {
		return nil
	}
	return cat.InTx(ctx, func(tx *catalog.Tx) error {
		for _, w := range windows {
			if err := tx.UpsertWindow(ctx, t.ID, w.Start, w.End); err != nil {
				return err
			}
		}
		return nil
	})
}

// queueWindows records windows and queues their discover jobs, each with
// its class (windowClass) as priority.
func (p *pipeline) queueWindows(ctx context.Context, q *jobqueue.Queue, t *Tenant, windows []Window, backfill bool, lookback time.Duration) error {
	if len(windows) == 0 {
		return nil
	}
	listed, err := p.cat.ListedWindows(ctx, t.ID, windows[0].Start, windows[len(windows)-1].End)
	if err != nil {
		return err
	}
	now := p.now()
	return p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		for _, w := range windows {
			if err := tx.UpsertWindow(ctx, t.ID, w.Start, w.End); err != nil {
				return err
			}
			args := DiscoverArgs{Tenant: t.ID, Start: w.Start, End: w.End}
			class := windowClass(w, backfill, listed[w.Start], now, lookback)
			if _, err := q.InsertTx(ctx, tx, args, t.discoverOpts(class)); err != nil {
				return fmt.Errorf("queue window %s: %w", w, err)
			}
		}
		return nil
	})
}
