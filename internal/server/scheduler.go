package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/fleet"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// TenantSpec is how a Scheduler runs one tenant.
type TenantSpec struct {
	// Tenant needs ID, Region, APIBase, VCC and Bucket.
	Tenant *ingest.Tenant
	// Interval is how often the tenant syncs (a River periodic job).
	Interval time.Duration
	// Window, Lookback and Settle plan each run as for `vccingest sync`.
	Window, Lookback, Settle time.Duration
	// Downloads is the tenant's download concurrency: its own River queue
	// has this many workers, so one tenant's backlog never delays another.
	// On a shared (PostgreSQL) catalog it is the tenant's across every
	// process that works it, as RateLimit is (package fleet).
	Downloads int
	// RateLimit is the tenant's VCC requests per second per API (0: none);
	// the tenant's VCC client starts with it.
	RateLimit float64
	// Fingerprint identifies the tenant's configuration: Apply replaces a
	// tenant whose fingerprint changed and leaves the others alone.
	Fingerprint string

	queues tenantQueues // the tenant's own River queues
}

// tenantQueues names a tenant's own River queues.
type tenantQueues struct{ discover, download string }

func (s *TenantSpec) defaults() error {
	if s.Tenant == nil || s.Tenant.ID == "" || s.Tenant.VCC == nil || s.Tenant.Bucket == nil {
		return errors.New("server: a tenant needs an ID, a VCC client and a bucket")
	}
	if s.Interval <= 0 {
		return fmt.Errorf("server: tenant %s: the interval must be positive", s.Tenant.ID)
	}
	if s.Window <= 0 {
		s.Window = time.Hour
	}
	if s.Downloads <= 0 {
		s.Downloads = 8
	}
	return nil
}

// SchedulerConfig wires a Scheduler.
type SchedulerConfig struct {
	Catalog *catalog.Catalog
	Logger  *slog.Logger
	Version string
	// RescueAfter is as for ingest.Config (shared PostgreSQL queues).
	RescueAfter time.Duration
	// CoverageSpan is how far back the coverage shown after each run reaches
	// (default 7 days).
	CoverageSpan time.Duration
	// RetryBase is the first backoff of a tenant whose sync failed (default
	// 15 s); it doubles with each failure up to RetryMax (default 30 min).
	RetryBase, RetryMax time.Duration
	Now                 func() time.Time
}

// Scheduler keeps many tenants' recordings flowing: each tenant syncs on its
// own River periodic job, into its own River queues, so a slow or failing
// tenant never delays another. A tenant whose sync fails is marked unhealthy
// and retried with exponential backoff.
type Scheduler struct {
	cfg        SchedulerConfig
	pipe       *ingest.Pipeline
	client     *jobqueue.Queue
	jobTimeout time.Duration // one attempt of a job; a run leaves a margin under it

	applyMu    sync.Mutex  // one Apply at a time; held while River's queues change
	configured atomic.Bool // the first Apply has finished

	mu     sync.Mutex // guards the maps; never held across a call into River
	specs  map[string]TenantSpec
	health map[string]*health
	leases map[string]func() // shared catalog: each tenant's fleet lease, by id; the func leaves
}

// health is what this process remembers of a tenant between runs.
// Health itself is derived from the runs in the catalog, which every
// process of a shared catalog sees alike.
type health struct {
	running     bool
	stop        context.CancelFunc // ends the running sync (tenant removed)
	nextAttempt time.Time          // after a failure here: when River retries
	warnings    []string
	coverage    *coverage.Report
	covFrom     time.Time
	covTo       time.Time
}

const queueSchedule = "schedule"

// NewScheduler checks cfg and builds the scheduler; Start runs it.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("server: a Scheduler needs a catalog")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 10 * time.Minute
	}
	if cfg.CoverageSpan <= 0 {
		cfg.CoverageSpan = 7 * 24 * time.Hour
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 15 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Minute
	}
	s := &Scheduler{cfg: cfg, specs: map[string]TenantSpec{}, health: map[string]*health{}, leases: map[string]func(){}}
	s.jobTimeout = 2 * time.Hour
	shared := cfg.Catalog.Dialect() != "sqlite"
	if shared {
		s.jobTimeout = jobqueue.AttemptTimeout(cfg.RescueAfter)
	}
	s.pipe = ingest.NewPipeline(ingest.PipelineConfig{Catalog: cfg.Catalog, Logger: cfg.Logger, Version: cfg.Version, Now: cfg.Now, JobTimeout: s.jobTimeout})
	workers := river.NewWorkers()
	s.pipe.Register(workers)
	river.AddWorker(workers, &tenantSyncWorker{s: s})
	rc := &river.Config{
		Logger:            jobqueue.Logger(cfg.Logger),
		Workers:           workers,
		Middleware:        s.pipe.Middleware(),
		RetryPolicy:       jobqueue.RetryPolicy{},
		FetchPollInterval: 100 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		JobTimeout:        -1,
		// A tenant sync waits for its own jobs, so each tenant needs a slot
		// of its own: 100 tenants per process is plenty.
		Queues: map[string]river.QueueConfig{queueSchedule: {MaxWorkers: 100}},
	}
	if shared {
		rc.RescueStuckJobsAfter = cfg.RescueAfter
		rc.JobTimeout = s.jobTimeout
	}
	client, err := jobqueue.New(cfg.Catalog, rc)
	if err != nil {
		return nil, err
	}
	s.client = client
	return s, nil
}

// Start migrates the job queue and starts working it. On an embedded
// (SQLite) catalog it first resumes jobs a stopped process left running.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := jobqueue.Migrate(ctx, s.cfg.Catalog); err != nil {
		return err
	}
	if s.cfg.Catalog.Dialect() == "sqlite" {
		n, err := jobqueue.RescueOrphans(ctx, s.cfg.Catalog)
		if err != nil {
			return err
		}
		if n > 0 {
			s.cfg.Logger.Info("resumed jobs left running by a stopped process", "jobs", n)
		}
	}
	if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	return nil
}

// Stop stops scheduling and taking jobs, lets running ones finish for up to
// grace, then cancels the rest (River retries them at the next start).
func (s *Scheduler) Stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	defer s.leaveAll()
	if err := s.client.Stop(ctx); err != nil {
		s.cfg.Logger.Warn("jobs still running at the end of the grace period; cancelling them (they resume at the next start)", "grace", grace)
		hard, cancelHard := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelHard()
		return s.client.StopAndCancel(hard)
	}
	return nil
}

// Apply makes specs the set of tenants: new ones are scheduled (and sync at
// once), changed ones are replaced, missing ones stop being scheduled and
// their running sync ends. Other tenants' work goes on untouched. Specs are
// checked before anything changes; an error from the job queue can leave the
// tenants before it applied.
func (s *Scheduler) Apply(ctx context.Context, specs []TenantSpec) error {
	want := map[string]TenantSpec{}
	for _, spec := range specs {
		if err := spec.defaults(); err != nil {
			return err
		}
		if _, dup := want[spec.Tenant.ID]; dup {
			return fmt.Errorf("server: tenant %s is configured twice", spec.Tenant.ID)
		}
		spec.queues.discover, spec.queues.download = spec.Tenant.Queues()
		want[spec.Tenant.ID] = spec
	}

	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	current := maps.Clone(s.specs)
	s.mu.Unlock()

	for id, old := range current {
		if _, keep := want[id]; keep {
			continue
		}
		s.client.PeriodicJobs().RemoveByID(periodicID(id))
		s.pipe.RemoveTenant(id)
		s.mu.Lock()
		if h := s.health[id]; h != nil && h.stop != nil {
			h.stop()
		}
		delete(s.specs, id)
		delete(s.health, id)
		leave := s.leases[id]
		delete(s.leases, id)
		s.mu.Unlock()
		if leave != nil {
			leave()
		}
		// Queued work stays in the database; it resumes if the tenant
		// comes back (and its windows stay below the watermark until then).
		// Removing a queue waits for its running jobs.
		for _, q := range []string{old.queues.discover, old.queues.download} {
			if err := s.client.Queues().Remove(ctx, q); err != nil {
				s.cfg.Logger.Warn("stop a removed tenant's queue", "tenant", id, "queue", q, "error", err)
			}
		}
		s.cfg.Logger.Info("tenant removed; its schedule stopped", "tenant", id)
	}
	var changed []string // new or changed tenants, in order
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if old, had := current[id]; !had || old.Fingerprint != want[id].Fingerprint {
			changed = append(changed, id)
		}
	}
	joined, err := s.joinFleets(ctx, want, changed)
	if err != nil {
		return err
	}
	defer func() { // leases of tenants an error kept from being scheduled
		for _, leave := range joined {
			leave()
		}
	}()
	for _, id := range changed {
		spec := want[id]
		old, had := current[id]
		if err := s.cfg.Catalog.UpsertTenant(ctx, catalog.Tenant{ID: id, Region: spec.Tenant.Region}); err != nil {
			return err
		}
		// Known to the pipeline before its queues run its jobs.
		s.pipe.SetTenant(spec.Tenant)
		q := spec.queues
		switch {
		case !had:
			if err := s.client.Queues().Add(q.discover, river.QueueConfig{MaxWorkers: 2}); err != nil {
				return fmt.Errorf("tenant %s: add its discover queue: %w", id, err)
			}
			if err := s.client.Queues().Add(q.download, river.QueueConfig{MaxWorkers: spec.Downloads}); err != nil {
				return fmt.Errorf("tenant %s: add its download queue: %w", id, err)
			}
		case old.Downloads != spec.Downloads:
			// Waits for this tenant's running downloads; others go on.
			if err := s.client.Queues().Remove(ctx, q.download); err != nil {
				return fmt.Errorf("tenant %s: resize its download queue: %w", id, err)
			}
			if err := s.client.Queues().Add(q.download, river.QueueConfig{MaxWorkers: spec.Downloads}); err != nil {
				return fmt.Errorf("tenant %s: add its download queue: %w", id, err)
			}
		}
		s.mu.Lock()
		leave := s.leases[id]
		if joined[id] != nil {
			s.leases[id] = joined[id]
			delete(joined, id)
		}
		s.specs[id] = spec
		if s.health[id] == nil {
			s.health[id] = &health{}
		}
		s.mu.Unlock()
		if leave != nil {
			leave() // the replaced tenant's lease
		}
		s.client.PeriodicJobs().RemoveByID(periodicID(id))
		if _, err := s.client.PeriodicJobs().AddSafely(river.NewPeriodicJob(
			river.PeriodicInterval(spec.Interval),
			func() (river.JobArgs, *river.InsertOpts) { return TenantSyncArgs{Tenant: id}, nil },
			&river.PeriodicJobOpts{ID: periodicID(id), RunOnStart: true},
		)); err != nil {
			return fmt.Errorf("tenant %s: schedule: %w", id, err)
		}
		verb := "tenant added"
		if had {
			verb = "tenant changed"
		}
		s.cfg.Logger.Info(verb, "tenant", id, "interval", spec.Interval, "downloads", spec.Downloads)
	}
	s.configured.Store(true)
	return nil
}

// joinFleets takes, on a shared catalog, this process's share of the VCC
// budget of each tenant of want named in ids, all at once (each join waits
// for the others to make room), and returns their leaves.
func (s *Scheduler) joinFleets(ctx context.Context, want map[string]TenantSpec, ids []string) (map[string]func(), error) {
	joined := map[string]func(){}
	if s.cfg.Catalog.Dialect() == "sqlite" {
		return joined, nil
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, id := range ids {
		spec := want[id]
		wg.Go(func() {
			leave, err := ingest.JoinFleet(ctx, s.cfg.Catalog, spec.Tenant, fleet.Budget{Rate: spec.RateLimit, Downloads: spec.Downloads}, s.cfg.Logger)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
				return
			}
			joined[id] = leave
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, leave := range joined {
			leave()
		}
		return nil, errors.Join(errs...)
	}
	return joined, nil
}

// leaveAll gives back every tenant's share of its VCC budget.
func (s *Scheduler) leaveAll() {
	s.mu.Lock()
	leases := s.leases
	s.leases = map[string]func(){}
	s.mu.Unlock()
	for _, leave := range leases {
		leave()
	}
}

func periodicID(tenant string) string { return "tenant-sync-" + tenant }

func (s *Scheduler) spec(id string) (TenantSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	spec, ok := s.specs[id]
	return spec, ok
}

func (s *Scheduler) update(id string, fn func(h *health)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.health[id]; h != nil {
		fn(h)
	}
}

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
	NextAttempt         time.Time // after a failure: when it is retried
	LastSuccess         time.Time
	Warnings            []string
	Watermark           time.Time
	Lag                 time.Duration // now − watermark; 0 before any window synced
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
