package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// TenantSpec is how a Scheduler runs one tenant.
type TenantSpec struct {
	// Tenant needs ID, Region, APIBase, VCC and Bucket.
	Tenant *ingest.Tenant
	// Interval is how often the tenant syncs (a River periodic job).
	Interval time.Duration
	// Window, Lookback, Settle and Rescan plan each run as for `vccingest
	// sync`.
	Window, Lookback, Settle time.Duration
	Rescan                   []time.Duration
	// Downloads is the tenant's download concurrency: its own River queue
	// has this many workers, so one tenant's backlog never delays another.
	// On a shared (PostgreSQL) catalog it is the tenant's across every
	// process that works it, as RequestsPerMinute is (package fleet).
	Downloads int
	// RequestsPerMinute is the tenant's VCC budget across all its APIs
	// (0: none); the tenant's VCC client starts with it.
	RequestsPerMinute float64
	// Fingerprint identifies the tenant's configuration: Apply replaces a
	// tenant whose fingerprint changed and leaves the others alone.
	Fingerprint string

	queues tenantQueues // the tenant's own River queues
}

// tenantQueues names a tenant's own River queues.
type tenantQueues struct{ discover, backfill, download, events string }

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
	// CoverageSpan is how far back the coverage shown after each run reaches,
	// by day (default 14 days: the status page's chart).
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
	retryIn     time.Duration      // and how long from the failure that is
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
		cfg.CoverageSpan = 14 * 24 * time.Hour
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
	s.pipe.UseQueue(client)
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
		if err := s.cfg.Catalog.ReleaseOutboxClaims(ctx, ""); err != nil {
			return err
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
	s.pipe.StopEvents() // a lingering drain would hold Stop up
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
		spec.queues.backfill, spec.queues.events = spec.Tenant.BackfillQueue(), spec.Tenant.EventsQueue()
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
		s.client.PeriodicJobs().RemoveByID(eventsPeriodicID(id))
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
		for _, q := range []string{old.queues.discover, old.queues.backfill, old.queues.download, old.queues.events} {
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
			if err := s.client.Queues().Add(q.backfill, river.QueueConfig{MaxWorkers: 2}); err != nil {
				return fmt.Errorf("tenant %s: add its backfill queue: %w", id, err)
			}
			if err := s.client.Queues().Add(q.download, river.QueueConfig{MaxWorkers: spec.Downloads}); err != nil {
				return fmt.Errorf("tenant %s: add its download queue: %w", id, err)
			}
			if err := s.client.Queues().Add(q.events, ingest.EventsQueueConfig()); err != nil {
				return fmt.Errorf("tenant %s: add its events queue: %w", id, err)
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
		s.client.PeriodicJobs().RemoveByID(eventsPeriodicID(id))
		if len(spec.Tenant.Events) > 0 {
			if _, err := s.client.PeriodicJobs().AddSafely(ingest.DrainPeriodically(spec.Tenant, ingest.DrainEvery, &river.PeriodicJobOpts{ID: eventsPeriodicID(id), RunOnStart: true})); err != nil {
				return fmt.Errorf("tenant %s: schedule its events: %w", id, err)
			}
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

func periodicID(tenant string) string { return "tenant-sync-" + tenant }

// eventsPeriodicID names the periodic job that queues the tenant's drain
// job each minute.
func eventsPeriodicID(tenant string) string { return "tenant-events-" + tenant }

// Spec returns the tenant's spec as the scheduler runs it.
func (s *Scheduler) Spec(id string) (TenantSpec, bool) { return s.spec(id) }

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
