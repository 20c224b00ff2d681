package server

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
)

// TenantStatus is what the service knows of one tenant.
type TenantStatus struct {
	ID       string
	Region   string
	Interval time.Duration
	// Health is "starting" before the first run ends, then "healthy" or,
	// after a failed run until a run succeeds, "unhealthy".
	Health  string
	Running bool
	Runs    int // finished runs among RecentRuns
	// RecentRuns are the tenant's latest runs (at most 20), newest first.
	RecentRuns          []catalog.Run
	ConsecutiveFailures int
	LastError           string
	LastErrorAt         time.Time
	// FailedWindows counts windows whose listing failed for good (VCC
	// refused it): they hold the watermark back until a run lists them.
	FailedWindows int
	NextAttempt   time.Time // after a failure: when it is retried
	LastSuccess   time.Time
	Warnings      []string
	Watermark     time.Time
	Lag           time.Duration // now − watermark; 0 before any window synced
	// Coverage of [CoverageFrom, CoverageTo), by direction; nil before the
	// first successful run.
	Coverage                 *coverage.Report
	CoverageFrom, CoverageTo time.Time
	// VCC is the tenant's client, for its request counters.
	VCC ingest.VCC
}

// Tenants reports every configured tenant, sorted by id.
func (s *Scheduler) Tenants(ctx context.Context) ([]TenantStatus, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.specs))
	for id := range s.specs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	out := make([]TenantStatus, 0, len(ids))
	for _, id := range ids {
		st, found, err := s.Tenant(ctx, id)
		if err != nil {
			return nil, err
		}
		if found { // else removed meanwhile
			out = append(out, st)
		}
	}
	return out, nil
}

// recentRuns is how many of a tenant's latest runs its status reads.
const recentRuns = 20

// coverageMaxAge is how old the coverage shown may get before a status
// request recomputes it (a run refreshes it too).
const coverageMaxAge = 5 * time.Minute

// Tenant reports one tenant: health, failures and runs from the catalog's
// run records (so every process of a shared catalog agrees), watermark and
// lag, and the coverage diagnosis.
func (s *Scheduler) Tenant(ctx context.Context, id string) (TenantStatus, bool, error) {
	s.mu.Lock()
	spec, ok := s.specs[id]
	var h health
	if ok {
		h = *s.health[id]
	}
	s.mu.Unlock()
	if !ok {
		return TenantStatus{}, false, nil
	}
	st := TenantStatus{
		ID: id, Region: spec.Tenant.Region, Interval: spec.Interval, Health: "starting",
		Running: h.running, NextAttempt: h.nextAttempt, Warnings: h.warnings, VCC: spec.Tenant.VCC,
	}
	runs, err := s.cfg.Catalog.Runs(ctx, id, recentRuns)
	if err != nil {
		return st, true, err
	}
	st.RecentRuns = runs
	succeeded := false
	for i, r := range runs {
		if r.Finished.IsZero() {
			// Open: running now, unless a process died in it long ago.
			st.Running = st.Running || (i == 0 && s.cfg.Now().Sub(r.Started) < s.jobTimeout)
			continue
		}
		st.Runs++
		switch {
		case succeeded:
		case r.Status == "failed":
			st.ConsecutiveFailures++
			if st.LastError == "" {
				st.LastError, st.LastErrorAt = r.Error, r.Finished
			}
		default:
			succeeded, st.LastSuccess = true, r.Finished
		}
	}
	switch {
	case st.ConsecutiveFailures > 0:
		st.Health = "unhealthy"
	case succeeded:
		st.Health = "healthy"
	}
	if st.FailedWindows, err = s.cfg.Catalog.CountFailedWindows(ctx, id); err != nil {
		return st, true, err
	}
	if st.Watermark, err = s.cfg.Catalog.Watermark(ctx, id); err != nil {
		return st, true, err
	}
	if !st.Watermark.IsZero() {
		st.Lag = max(s.cfg.Now().Sub(st.Watermark), 0)
	}
	if succeeded && (h.coverage == nil || s.cfg.Now().Sub(h.covTo) > coverageMaxAge) {
		if err := s.refreshCoverage(ctx, spec); err != nil {
			return st, true, err
		}
		s.mu.Lock()
		if cur := s.health[id]; cur != nil {
			h = *cur
		}
		s.mu.Unlock()
	}
	st.Coverage, st.CoverageFrom, st.CoverageTo = h.coverage, h.covFrom, h.covTo
	return st, true, nil
}

// QueueDepth counts the jobs still to do (available, scheduled, retryable,
// running or pending), by job kind.
func (s *Scheduler) QueueDepth(ctx context.Context) (map[string]int64, error) {
	rows, err := s.cfg.Catalog.DB().QueryContext(ctx, `SELECT kind, COUNT(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("count queued jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for _, k := range []string{ingest.DiscoverArgs{}.Kind(), ingest.FetchArgs{}.Kind(), TenantSyncArgs{}.Kind()} {
		out[k] = 0
	}
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, fmt.Errorf("count queued jobs: %w", err)
		}
		out[kind] = n
	}
	return out, rows.Err()
}

// Ping checks that the catalog, and so the job queue in it, answers.
func (s *Scheduler) Ping(ctx context.Context) error {
	if err := s.cfg.Catalog.DB().PingContext(ctx); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if _, err := s.QueueDepth(ctx); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	return nil
}
