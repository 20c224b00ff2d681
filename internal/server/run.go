package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// TenantSyncArgs asks for one scheduled sync of a tenant.
type TenantSyncArgs struct {
	Tenant string `json:"tenant" river:"unique"`
}

// Kind implements river.JobArgs.
func (TenantSyncArgs) Kind() string { return "vccingest.tenant_sync" }

// InsertOpts implements river.JobArgsWithInsertOpts. A run still going (or
// backing off) absorbs the next tick of the schedule.
func (TenantSyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueSchedule, MaxAttempts: 100, UniqueOpts: jobqueue.UniqueWhileActive()}
}

type tenantSyncWorker struct {
	river.WorkerDefaults[TenantSyncArgs]
	s *Scheduler
}

func (w *tenantSyncWorker) Timeout(*river.Job[TenantSyncArgs]) time.Duration {
	return w.s.jobTimeout
}

// NextRetry backs off a failing tenant exponentially, with jitter: at the
// time Work chose and the status shows.
func (w *tenantSyncWorker) NextRetry(job *river.Job[TenantSyncArgs]) time.Time {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if h := w.s.health[job.Args.Tenant]; h != nil && !h.nextAttempt.IsZero() {
		return h.nextAttempt
	}
	return w.s.cfg.Now().Add(w.s.backoff(job.Attempt))
}

func (s *Scheduler) backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase << min(max(attempt-1, 0), 16)
	d = min(d, s.cfg.RetryMax)
	return d - d/10 + time.Duration(rand.Int64N(int64(d)/5+1))
}

func (w *tenantSyncWorker) Work(ctx context.Context, job *river.Job[TenantSyncArgs]) error {
	s := w.s
	id := job.Args.Tenant
	spec, ok := s.spec(id)
	if !ok && !s.configured.Load() {
		// This process works the queue before its first Apply has set up
		// its tenants (another process of a shared catalog queued the job).
		return river.JobSnooze(time.Second)
	}
	if !ok {
		return river.JobCancel(fmt.Errorf("tenant %q is no longer configured", id))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s.update(id, func(h *health) { h.running, h.stop = true, stop })
	// Leave a margin under the job's timeout to record the run.
	deadline := time.Now().Add(s.jobTimeout * 9 / 10)
	err := s.syncTenant(ctx, spec, deadline)
	s.update(id, func(h *health) { h.running, h.stop = false, nil })
	if _, still := s.spec(id); !still {
		return river.JobCancel(fmt.Errorf("tenant %q was removed during its sync", id))
	}
	now := s.cfg.Now()
	if err != nil {
		next := s.backoff(job.Attempt)
		s.update(id, func(h *health) { h.nextAttempt = now.Add(next) })
		s.cfg.Logger.Error("tenant sync failed; retrying with backoff", "tenant", id, "attempt", job.Attempt, "retry_in", next.Round(time.Second), "error", err)
		return err
	}
	s.update(id, func(h *health) { h.nextAttempt = time.Time{} })
	return nil
}

// syncTenant is one scheduled run: plan, preflight, queue the windows on
// the tenant's own queues, wait for them until deadline, advance the
// watermark. The run is recorded in the catalog from its start, with its
// error if it fails, so every process of a shared catalog shows the same
// tenant health.
func (s *Scheduler) syncTenant(ctx context.Context, spec TenantSpec, deadline time.Time) error {
	t := spec.Tenant
	cat := s.cfg.Catalog
	wm, err := cat.Watermark(ctx, t.ID)
	if err != nil {
		return err
	}
	r := ingest.PlanRange(wm, s.cfg.Now(), spec.Lookback, spec.Settle, spec.Window)
	windows, err := ingest.Windows(r.From, r.To, spec.Window)
	if err != nil {
		return err
	}
	before, err := cat.Totals(ctx, t.ID)
	if err != nil {
		return err
	}
	runID, err := cat.StartRun(ctx, t.ID, r.From, r.To)
	if err != nil {
		return err
	}
	if err := s.runWindows(ctx, spec, runID, before, windows, deadline); err != nil {
		status, msg := "failed", err.Error()
		if ctx.Err() != nil {
			status, msg = "interrupted", "the service stopped"
		}
		if aerr := cat.AbortRun(context.WithoutCancel(ctx), runID, status, msg); aerr != nil {
			s.cfg.Logger.Error("record the end of a run", "tenant", t.ID, "error", aerr)
		}
		return err
	}
	return s.refreshCoverage(ctx, spec)
}

func (s *Scheduler) runWindows(ctx context.Context, spec TenantSpec, runID int64, before catalog.Totals, windows []ingest.Window, deadline time.Time) error {
	t := spec.Tenant
	cat := s.cfg.Catalog
	warnings, err := s.pipe.Prepare(ctx, t)
	if err != nil {
		return err
	}
	s.update(t.ID, func(h *health) { h.warnings = warnings })
	for _, w := range warnings {
		s.cfg.Logger.Warn(w, "tenant", t.ID)
	}
	client := s.client
	if err := s.pipe.QueueWindows(ctx, client, t, windows); err != nil {
		return err
	}

	status := "done"
	waitErr := s.waitTenantIdle(ctx, client, spec, deadline)
	switch {
	case ctx.Err() != nil:
		status = "interrupted"
	case waitErr != nil:
		status = "partial" // the next run goes on where this one stopped
		s.cfg.Logger.Warn("tenant run ended with work still queued; the next run continues it", "tenant", t.ID, "reason", waitErr)
	}
	finish := context.WithoutCancel(ctx)
	if _, err := s.pipe.AdvanceWatermark(finish, t, windows); err != nil {
		return err
	}
	after, err := cat.Totals(finish, t.ID)
	if err != nil {
		return err
	}
	var unlisted []catalog.UnlistedWindow
	if status == "done" && len(windows) > 0 {
		if unlisted, err = cat.UnlistedWindows(finish, t.ID, windows[0].Start, windows[len(windows)-1].End); err != nil {
			return err
		}
	}
	switch {
	case status == "done" && len(unlisted) > 0:
		status = "failed" // it did not do its whole job
	case status == "done" && after.Failed > before.Failed:
		status = "failures"
	}
	msg := ingest.UnlistedError(unlisted)
	if err := cat.FinishRun(finish, runID, status, after.Stored-before.Stored, after.Failed-before.Failed, after.Bytes-before.Bytes, msg); err != nil {
		return err
	}
	if msg != "" {
		// A failed run: the tenant's health and the status page show it,
		// and the next run lists the windows again.
		return errors.New(msg)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// waitTenantIdle returns when none of the tenant's discover or download jobs
// is left to run, or with an error at deadline.
func (s *Scheduler) waitTenantIdle(ctx context.Context, client *jobqueue.Queue, spec TenantSpec, deadline time.Time) error {
	return ingest.WaitJobs(ctx, s.cfg.Logger, client, river.NewJobListParams().Queues(spec.queues.discover, spec.queues.download), deadline)
}

// refreshCoverage recomputes the coverage the status page and metrics show.
func (s *Scheduler) refreshCoverage(ctx context.Context, spec TenantSpec) error {
	to := s.cfg.Now()
	from := to.Add(-s.cfg.CoverageSpan)
	rep, err := coverage.FromCatalog(ctx, s.cfg.Catalog, spec.Tenant.ID, from, to, "direction", spec.Lookback)
	if err != nil {
		return err
	}
	s.update(spec.Tenant.ID, func(h *health) { h.coverage, h.covFrom, h.covTo = &rep, from, to })
	return nil
}
