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

// NextRetry backs off a failing tenant exponentially, with jitter: after
// the wait Work chose and the status shows. River schedules on the wall
// clock, whatever clock the status is shown in.
func (w *tenantSyncWorker) NextRetry(job *river.Job[TenantSyncArgs]) time.Time {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if h := w.s.health[job.Args.Tenant]; h != nil && h.retryIn > 0 {
		return time.Now().Add(h.retryIn)
	}
	return time.Now().Add(w.s.backoff(job.Attempt))
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
	if err != nil && ctx.Err() != nil {
		// Shutting down (or the tenant's run was stopped): not a failure
		// of the tenant. The run is recorded interrupted; the job runs
		// again at the next start without spending an attempt.
		s.cfg.Logger.Info("tenant sync interrupted; it goes on at the next start", "tenant", id)
		return river.JobSnooze(0)
	}
	if err != nil {
		next := s.backoff(job.Attempt)
		s.update(id, func(h *health) { h.nextAttempt, h.retryIn = now.Add(next), next })
		s.cfg.Logger.Error("tenant sync failed; retrying with backoff", "tenant", id, "attempt", job.Attempt, "retry_in", next.Round(time.Second), "error", err)
		return err
	}
	s.update(id, func(h *health) { h.nextAttempt, h.retryIn = time.Time{}, 0 })
	return nil
}

// syncTenant is one scheduled run: the one runner (ingest.Pipeline.Run),
// incremental, on the tenant's own queues, which this process's River
// client already works, until deadline. A run that did not do its whole job
// is an error, so the tenant is retried with backoff and shows unhealthy.
func (s *Scheduler) syncTenant(ctx context.Context, spec TenantSpec, deadline time.Time) error {
	rep, err := s.pipe.Run(ctx, s.client, spec.Tenant, ingest.RunSpec{
		Window: spec.Window, Lookback: spec.Lookback, Settle: spec.Settle, Rescan: spec.Rescan, Deadline: deadline,
	})
	if rep != nil {
		s.update(spec.Tenant.ID, func(h *health) { h.warnings = rep.Warnings })
	}
	switch {
	case err != nil:
		return err
	case rep.Status == catalog.RunFailed:
		return errors.New(rep.Error())
	}
	return s.refreshCoverage(ctx, spec)
}

// refreshCoverage recomputes the coverage the status page and metrics show.
func (s *Scheduler) refreshCoverage(ctx context.Context, spec TenantSpec) error {
	// Whole days, today's included, so the chart shows one bar per day.
	to := s.cfg.Now()
	from := to.UTC().Truncate(24 * time.Hour).Add(24*time.Hour - s.cfg.CoverageSpan)
	rep, err := coverage.FromCatalog(ctx, s.cfg.Catalog, spec.Tenant.ID, from, to, "day", spec.Lookback)
	if err != nil {
		return err
	}
	s.update(spec.Tenant.ID, func(h *health) { h.coverage, h.covFrom, h.covTo = &rep, from, to })
	return nil
}
