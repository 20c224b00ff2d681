package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/plural"
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
	// Degraded says, for a tenant whose syncs succeed, what still keeps
	// recordings from it: calls hidden by a permission, recordings failed
	// for good, windows VCC refused to list. Empty when there is none.
	Degraded []string
	// Progress is the running run's, nil when none runs.
	Progress *RunProgress
	// NextRun is when the next run is due (the retry after a failure).
	NextRun time.Time
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
	// EventSinks are the tenant's event sinks and how each keeps up.
	EventSinks []ingest.SinkStatus
	// VCC is the tenant's client, for its request counters.
	VCC ingest.VCC
}

// RunProgress is how far a running run got.
type RunProgress struct {
	Started           time.Time
	WindowsListed     int // of WindowsPlanned
	WindowsPlanned    int
	RecordingsPending int64 // of the tenant, still to download
	// ETA is how long the pending work takes: with a budget, its
	// requests (the pending downloads and the listings of the windows
	// still to list) at the rate in force (ingest.BudgetETA); without
	// one, the time to list the run's windows at the pace so far. 0 if
	// unknown.
	ETA time.Duration
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
	if err := s.progress(ctx, &st); err != nil {
		return st, true, err
	}
	// Outbox events are timed on the wall clock, as runs are.
	if st.EventSinks, err = ingest.SinkStatuses(ctx, s.cfg.Catalog, spec.Tenant, time.Now()); err != nil {
		return st, true, err
	}
	st.Degraded = degraded(st)
	return st, true, nil
}

// progress fills in the running run's progress and when the next run is
// due.
func (s *Scheduler) progress(ctx context.Context, st *TenantStatus) error {
	var open, last *catalog.Run
	for i := range st.RecentRuns {
		r := &st.RecentRuns[i]
		switch {
		case r.Finished.IsZero() && i == 0 && st.Running:
			open = r
		case !r.Finished.IsZero() && last == nil:
			last = r
		}
	}
	switch {
	case st.Running:
	case !st.NextAttempt.IsZero():
		st.NextRun = st.NextAttempt
	case last != nil:
		st.NextRun = last.Started.Add(st.Interval)
	}
	if open == nil {
		return nil
	}
	c, err := s.cfg.Catalog.CountWindows(ctx, st.ID, open.From, open.To)
	if err != nil {
		return err
	}
	t, err := s.cfg.Catalog.Totals(ctx, st.ID)
	if err != nil {
		return err
	}
	p := &RunProgress{Started: open.Started, WindowsListed: c.Listed, WindowsPlanned: c.Planned, RecordingsPending: t.Pending}
	var unlisted time.Duration
	if c.Planned > 0 {
		// The run's windows are of one size: its range over their count.
		unlisted = open.To.Sub(open.From) / time.Duration(c.Planned) * time.Duration(c.Planned-c.Listed)
	}
	p.ETA = ingest.BudgetETA(t.Pending, unlisted, ingest.CostOf(st.VCC).PerMinute)
	// Without a budget the pace so far is all there is. Runs are timed on
	// the wall clock (the catalog's), whatever clock the status is shown
	// in.
	if elapsed := time.Since(open.Started); p.ETA == 0 && c.Listed > 0 && c.Listed < c.Planned && elapsed > 0 {
		p.ETA = time.Duration(float64(elapsed) / float64(c.Listed) * float64(c.Planned-c.Listed)).Round(time.Second)
	}
	st.Progress = p
	return nil
}

// degraded lists what keeps recordings from a tenant whose syncs succeed.
func degraded(st TenantStatus) []string {
	if st.Health != "healthy" {
		return nil
	}
	var out []string
	if c := st.Coverage; c != nil {
		if c.Total.Hidden > 0 {
			out = append(out, fmt.Sprintf("%d of %d %s hidden by a permission of the credential's user", c.Total.Hidden, c.Total.Calls, plural.Word(c.Total.Calls, "call", "calls")))
		}
		if c.Total.Failed > 0 {
			out = append(out, plural.Count(c.Total.Failed, "call", "calls")+" with a recording failed for good")
		}
	}
	if st.FailedWindows > 0 {
		out = append(out, plural.Count(st.FailedWindows, "window", "windows")+" could not be listed")
	}
	return out
}

// QueueKey is a tenant's jobs of one kind.
type QueueKey struct{ Tenant, Kind string }

// activeJobs are the River job states of work still to do.
const activeJobs = `state IN ('available', 'scheduled', 'retryable', 'running', 'pending')`

// QueueDepth counts the jobs still to do (available, scheduled, retryable,
// running or pending), by tenant and job kind, with a zero for every kind of
// every configured tenant.
func (s *Scheduler) QueueDepth(ctx context.Context) (map[QueueKey]int64, error) {
	s.mu.Lock()
	byQueue := map[string]string{} // queue name → tenant
	out := map[QueueKey]int64{}
	for id, spec := range s.specs {
		for _, q := range []string{spec.queues.discover, spec.queues.backfill, spec.queues.download, spec.queues.events} {
			byQueue[q] = id
		}
		for _, k := range []string{ingest.DiscoverArgs{}.Kind(), ingest.FetchArgs{}.Kind(), ingest.DrainArgs{}.Kind(), TenantSyncArgs{}.Kind()} {
			out[QueueKey{id, k}] = 0
		}
	}
	s.mu.Unlock()
	db := s.cfg.Catalog.DB()
	rows, err := db.QueryContext(ctx, `SELECT queue, kind, COUNT(*) FROM river_job WHERE `+activeJobs+` AND queue <> '`+queueSchedule+`' GROUP BY queue, kind`)
	if err != nil {
		return nil, fmt.Errorf("count queued jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var queue, kind string
		var n int64
		if err := rows.Scan(&queue, &kind, &n); err != nil {
			return nil, fmt.Errorf("count queued jobs: %w", err)
		}
		out[QueueKey{byQueue[queue], kind}] += n // "" for a tenant this process does not run
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count queued jobs: %w", err)
	}
	// The schedule queue holds at most one sync job per tenant: its tenant
	// is in the job's arguments.
	sched, err := db.QueryContext(ctx, `SELECT args FROM river_job WHERE `+activeJobs+` AND queue = '`+queueSchedule+`'`)
	if err != nil {
		return nil, fmt.Errorf("count queued jobs: %w", err)
	}
	defer sched.Close()
	for sched.Next() {
		var raw []byte
		var args TenantSyncArgs
		if err := sched.Scan(&raw); err != nil {
			return nil, fmt.Errorf("count queued jobs: %w", err)
		}
		_ = json.Unmarshal(raw, &args) // a job that does not decode counts for no tenant
		out[QueueKey{args.Tenant, args.Kind()}]++
	}
	return out, sched.Err()
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
