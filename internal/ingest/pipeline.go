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

// Register adds the discover, fetch and drain workers to workers.
func (p *Pipeline) Register(workers *river.Workers) {
	river.AddWorker(workers, &discoverWorker{p: p.p})
	river.AddWorker(workers, &fetchWorker{p: p.p})
	river.AddWorker(workers, &drainWorker{p: p.p})
}

// UseQueue is the River client that runs the pipeline's jobs: drain jobs
// are queued through it once events are stored. Call it before the
// client starts.
func (p *Pipeline) UseQueue(q *jobqueue.Queue) {
	p.p.setQueue(q)
	p.p.resumeEvents()
}

// StopEvents ends the drains of this process, their deliveries in flight
// cut short (the events stay queued): call it before stopping the River
// client, which otherwise waits for lingering drains.
func (p *Pipeline) StopEvents() { p.p.stopEvents() }

// Middleware is the River middleware the jobs expect: a job that finds a
// PostgreSQL catalog unavailable is put back without spending an attempt,
// and a run knows its jobs that ended before River records them.
func (p *Pipeline) Middleware() []rivertype.Middleware { return p.p.middleware() }

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
// bucket, refresh the agents if the run lists windows (listing is what
// meets agents; a run with nothing due spends no User Admin request), and
// write again the sidecars an agent's change made stale.
func (p *pipeline) ready(ctx context.Context, t *Tenant, listing bool) error {
	// The sweep removes only what processes that have ended left, so other
	// workers sharing the bucket may be writing meanwhile. What it cannot
	// remove only takes space (it is never an object): not a reason to stop.
	if n, err := t.Bucket.SweepTemp(ctx); err != nil {
		p.log.Warn("partial downloads left by a stopped process could not all be removed", "tenant", t.ID, "removed", n, "error", err)
	} else if n > 0 {
		p.log.Info("removed partial downloads left by a stopped process", "tenant", t.ID, "objects", n)
	}
	if listing {
		if err := p.refreshAgents(ctx, t); err != nil {
			return err
		}
	}
	return p.rewriteStaleSidecars(ctx, t)
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

// queueWindows records windows as planned and queues their listing: one
// discover job per span of consecutive windows of one class (Spans,
// windowClass: the span's class is its priority and queue), listed again at
// offsets after their end (ScanOffsets). rescan marks the windows listed
// before, alone those to list on their own.
func (p *pipeline) queueWindows(ctx context.Context, q *jobqueue.Queue, t *Tenant, windows []Window, rescan, alone map[time.Time]bool, backfill bool, size, lookback time.Duration, offsets []time.Duration) error {
	if len(windows) == 0 {
		return nil
	}
	now := p.now()
	classOf := func(w Window) int { return windowClass(w, backfill, rescan[w.Start], now, lookback) }
	return p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		for _, w := range windows {
			if err := tx.UpsertWindow(ctx, t.ID, w.Start, w.End); err != nil {
				return err
			}
		}
		planned := make(map[Window]bool, len(windows))
		for _, w := range windows {
			planned[w] = true
		}
		// Backfill windows make spans of their own (their own queue, so a
		// long backfill never holds today's listings); a span of fresh and
		// re-scanned windows goes at the higher priority of fresh.
		isBackfill := func(w Window) bool { return classOf(w) == classBackfill }
		for from := 0; from < len(windows); {
			to := from + 1
			for to < len(windows) && isBackfill(windows[to]) == isBackfill(windows[from]) {
				to++
			}
			for _, span := range Spans(windows[from:to], size, MaxSpan, func(w Window) bool { return alone[w.Start] }) {
				args := DiscoverArgs{Tenant: t.ID, Start: span.Start, End: span.End, Scans: offsets}
				if !planned[span] {
					args.Window = size // a span of several windows (a planned window is listed as it is)
				}
				class := classBackfill
				for _, w := range span.Split(args.Window) {
					class = min(class, classOf(w))
				}
				if _, err := q.InsertTx(ctx, tx, args, t.discoverOpts(class)); err != nil {
					return fmt.Errorf("queue windows %s: %w", span, err)
				}
			}
			from = to
		}
		return nil
	})
}
