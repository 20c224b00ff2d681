package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/fleet"
	"github.com/vccingest/vccingest/internal/jobqueue"
	"github.com/vccingest/vccingest/internal/vcc"
)

// Tenant is one VCC account being synced.
type Tenant struct {
	ID      string
	Region  string // for provenance
	APIBase string // for provenance
	VCC     VCC

	// Bucket receives the tenant's recordings and sidecars. Engine sets it
	// from Config.Bucket when nil.
	Bucket *blobstore.Bucket

	// Attempts is how many times each recording's download is tried before
	// it is failed for good; 0 means FetchArgs' default. The process that
	// lists a window sets it for the window's recordings.
	Attempts int

	// AgentRefreshTimeout bounds the reading of the tenant's users and
	// their groups before a run lists its first window; 0 means
	// DefaultAgentRefreshTimeout.
	AgentRefreshTimeout time.Duration

	// Events are the sinks that hear of each recording stored or failed
	// for good (see events.go); none: no events.
	Events []*events.Sink

	// slots, in a fleet, are this process's share of the tenant's
	// downloads (JoinFleet); nil means River's queue size is the limit.
	slots atomic.Pointer[fleet.Slots]
}

// riverName is the form River accepts for a queue name.
var riverName = regexp.MustCompile(`^(?:[a-z0-9])+(?:[_|\-]?[a-z0-9]+)*$`)

// Queues names the tenant's own River queues, the same in every process
// and every runner (sync, worker, serve): a process works and waits on the
// queues of the tenants it serves only, so it never takes, let alone
// cancels, another tenant's jobs, and one tenant's backlog never delays
// another's. They come from the tenant id when River accepts it as a
// name, else from its hash.
func (t *Tenant) Queues() (discover, download string) {
	base := t.ID
	if !riverName.MatchString(base) {
		sum := sha256.Sum256([]byte(t.ID))
		base = hex.EncodeToString(sum[:8])
	}
	return "t_" + base + "_discover", "t_" + base + "_download"
}

// Config wires a pipeline to its catalog, bucket and tenant.
type Config struct {
	Tenant    *Tenant
	Catalog   *catalog.Catalog
	Bucket    *blobstore.Bucket
	Downloads int           // concurrent downloads (default 8), of the tenant across workers
	Window    time.Duration // default 1h
	Lookback  time.Duration // default 24h
	Settle    time.Duration // default 15m
	// Rescan is when a window is listed again for late content after it
	// became due (ScanOffsets); nil: DefaultRescan, empty: at the lookback
	// only.
	Rescan   []time.Duration
	Logger   *slog.Logger
	Progress *Progress // optional; read it for a progress display
	Now      func() time.Time
	Version  string
	// RescueAfter is how long a job of a worker that died stays running
	// on a shared (PostgreSQL) queue before River hands it to another
	// (default 10 min; keep it above the slowest download).
	RescueAfter time.Duration
	// EventsWait is how long Sync waits, after its run, for the run's
	// events to be delivered; what is left is sent by the next run.
	EventsWait time.Duration
	// Grace is how long Sync lets running downloads finish once ctx is
	// cancelled (Ctrl-C, SIGTERM) before it cancels them; 0 means 30 s.
	Grace time.Duration
	// PlanOnly makes Sync queue the work and wait for other processes
	// (vccingest worker, on a PostgreSQL catalog) to do it.
	PlanOnly bool

	// RequestsPerMinute is the tenant's VCC budget across all APIs and
	// workers (0: none).
	RequestsPerMinute float64
}

// pipeline is what the workers share.
type pipeline struct {
	cat      *catalog.Catalog
	log      *slog.Logger
	progress *Progress
	now      func() time.Time
	version  string
	// jobTimeout bounds one attempt of a job. On a shared queue it is the
	// rescue interval too: River only rescues a job whose timeout passed.
	jobTimeout time.Duration

	mu      sync.RWMutex
	tenants map[string]*Tenant

	// The delivery of events (drain.go): each tenant's drainer, the job
	// queue that queues drain jobs, closed when the process stops.
	drainMu  sync.Mutex
	drainers map[string]*drainer
	queue    *jobqueue.Queue
	stopping chan struct{}
	linger   time.Duration // how long an idle drain stays; 0: drainLinger

	finished finishedJobs // jobs that ended here, until River records them
}

// middleware is the River middleware the pipeline's jobs expect.
func (p *pipeline) middleware() []rivertype.Middleware {
	return []rivertype.Middleware{&snoozeWhileUnavailable{log: p.log}, &recordFinished{f: &p.finished}}
}

func (p *pipeline) tenant(id string) (*Tenant, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	t, ok := p.tenants[id]
	if !ok {
		return nil, fmt.Errorf("tenant %q is not configured in this process", id)
	}
	return t, nil
}

// Engine runs syncs for one tenant on the embedded (SQLite) catalog.
type Engine struct {
	cfg Config
	p   *pipeline
}

// New checks cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Tenant == nil || cfg.Tenant.VCC == nil || cfg.Catalog == nil || cfg.Bucket == nil {
		return nil, errors.New("ingest: Tenant (with VCC), Catalog and Bucket are required")
	}
	if cfg.PlanOnly && cfg.Catalog.Dialect() == "sqlite" {
		return nil, errors.New("ingest: an SQLite catalog is worked by the process that syncs it; planning only needs a PostgreSQL catalog and vccingest worker processes")
	}
	if cfg.Tenant.Bucket == nil {
		cfg.Tenant.Bucket = cfg.Bucket
	}
	if cfg.Downloads <= 0 {
		cfg.Downloads = 8
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Hour
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 10 * time.Minute
	}

	if cfg.Lookback < 0 || cfg.Settle < 0 {
		return nil, errors.New("ingest: Lookback and Settle must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{cfg: cfg, p: &pipeline{
		cat:      cfg.Catalog,
		log:      cfg.Logger,
		progress: cfg.Progress,
		now:      cfg.Now,
		version:  cfg.Version,
		jobTimeout: func() time.Duration {
			if cfg.Catalog.Dialect() == "sqlite" {
				return 2 * time.Hour
			}
			return jobqueue.AttemptTimeout(cfg.RescueAfter)
		}(),
		tenants: map[string]*Tenant{cfg.Tenant.ID: cfg.Tenant},
	}}, nil
}

// ErrScope reports a scope the run cannot do without; the message says which
// scope and how to grant it.
var ErrScope = errors.New("missing scope")

// Preflight requests a token for each scope a sync needs before any work is
// queued. Content and Users are required; Stats is optional (direction is
// then "unknown", and the returned warning says why).
func (e *Engine) Preflight(ctx context.Context) (warnings []string, err error) {
	return preflight(ctx, e.cfg.Tenant)
}

func preflight(ctx context.Context, t *Tenant) (warnings []string, err error) {
	for _, scope := range []string{vcc.ScopeContent, vcc.ScopeUsers} {
		if err := t.VCC.CheckScope(ctx, scope); err != nil {
			return nil, err
		}
	}
	granted, err := t.statsGranted(ctx)
	switch {
	case err != nil:
		return nil, err
	case !granted:
		warnings = append(warnings, "the credential lacks the stats scope, so call direction is recorded as \"unknown\" and coverage cannot compare with what happened: "+t.VCC.CheckScope(ctx, vcc.ScopeStats).Error())
	}
	return warnings, nil
}

// statsGranted asks the VCC client whether the credential holds the stats
// scope; without it recordings are still ingested, with direction
// "unknown". The client remembers the answer (a token, or the refusal for a
// while), so any process that runs a job knows it without a preflight of
// its own and without a request per job.
func (t *Tenant) statsGranted(ctx context.Context) (bool, error) {
	err := t.VCC.CheckScope(ctx, vcc.ScopeStats)
	var se *vcc.ScopeError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &se):
		return false, nil
	}
	return false, err
}

// Sync runs one sync of r to completion on this process's own River
// client: the one runner (see Pipeline.Run) with the workers started once
// the run's work is queued, and stopped when it is done. A zero r is an
// incremental sync (PlanRange).
func (e *Engine) Sync(ctx context.Context, r Range) (_ *Report, err error) {
	start := time.Now()
	t := e.cfg.Tenant
	if err := jobqueue.Migrate(ctx, e.cfg.Catalog); err != nil {
		return nil, err
	}
	if e.exclusive() {
		if n, err := jobqueue.RescueOrphans(ctx, e.cfg.Catalog); err != nil {
			return nil, err
		} else if n > 0 {
			e.cfg.Logger.Info("resumed jobs left running by a stopped process", "tenant", t.ID, "jobs", n)
		}
	}
	client, err := e.newClient(!e.cfg.PlanOnly)
	if err != nil {
		return nil, err
	}
	started := false
	leave := func() {}
	defer func() { leave() }()
	spec := RunSpec{Range: r, Window: e.cfg.Window, Lookback: e.cfg.Lookback, Settle: e.cfg.Settle, Rescan: e.cfg.Rescan}
	if !e.cfg.PlanOnly {
		spec.Start = func(ctx context.Context) error {
			if leave, err = e.joinFleet(ctx); err != nil {
				return err
			}
			// The workers outlive ctx for a moment: Stop below lets
			// running downloads finish before it cancels them.
			e.p.resumeEvents()
			if e.exclusive() {
				if err := e.p.releaseClaims(ctx, t); err != nil {
					return err
				}
			}
			if err := client.Start(context.WithoutCancel(ctx)); err != nil {
				return fmt.Errorf("start job queue: %w", err)
			}
			started = true
			return e.p.kickBacklog(ctx, t)
		}
	}
	rep, err := e.p.run(ctx, client, t, spec)
	if started && err == nil {
		rep.EventsPending = e.drainEvents(ctx)
	}
	if started {
		e.p.stopEvents() // what is not delivered stays in the outbox
		stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Grace)
		defer cancelStop()
		if serr := client.Stop(stopCtx); serr != nil {
			// Running jobs did not finish in time (interrupted): cancel
			// them; River retries them on the next run.
			if ctx.Err() != nil {
				e.cfg.Logger.Info("downloads still running at the end of the grace period; cancelling them (the next run resumes them)", "grace", e.cfg.Grace)
			}
			hard, cancelHard := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancelHard()
			_ = client.StopAndCancel(hard)
			if err == nil && ctx.Err() == nil {
				err = fmt.Errorf("stop job queue: %w", serr)
			}
		}
	}
	if rep == nil {
		return nil, err
	}
	rep.Progress = e.p.progress.Snapshot()
	fin := context.WithoutCancel(ctx)
	var cerr error
	if rep.judged != nil {
		rep.Coverage = *rep.judged // the same range, computed once all was stored
	} else {
		rep.Coverage, cerr = retryUnavailable(fin, e.cfg.Logger, "report coverage", func(ctx context.Context) (coverage.Report, error) {
			return coverage.FromCatalog(ctx, e.cfg.Catalog, t.ID, rep.Range.From, rep.Range.To, "direction", e.cfg.Lookback)
		})
	}
	rep.Elapsed = time.Since(start)
	return rep, errors.Join(err, cerr)
}

// exclusive reports whether this process is the only one working the queue:
// true on SQLite, whose data-dir lock makes it so.
func (e *Engine) exclusive() bool { return e.cfg.Catalog.Dialect() == "sqlite" }

// newClient is the River client: with work, it runs the discover and fetch
// workers; without, it only inserts and lists.
func (e *Engine) newClient(work bool) (*jobqueue.Queue, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &discoverWorker{p: e.p})
	river.AddWorker(workers, &fetchWorker{p: e.p})
	river.AddWorker(workers, &drainWorker{p: e.p})
	cfg := &river.Config{
		Logger:            jobqueue.Logger(e.cfg.Logger),
		Workers:           workers,
		RetryPolicy:       jobqueue.RetryPolicy{},
		FetchPollInterval: 50 * time.Millisecond,
		FetchCooldown:     2 * time.Millisecond,
		JobTimeout:        -1,
		Middleware:        e.p.middleware(),
	}
	if work {
		discover, download := e.cfg.Tenant.Queues()
		cfg.Queues = map[string]river.QueueConfig{discover: {MaxWorkers: 4}, e.cfg.Tenant.BackfillQueue(): {MaxWorkers: 4}, download: {MaxWorkers: e.cfg.Downloads}, e.cfg.Tenant.EventsQueue(): EventsQueueConfig()}
		if !e.exclusive() && len(e.cfg.Tenant.Events) > 0 {
			// Events of other processes, and those whose backoff ended
			// while no drain ran, are delivered within a minute.
			cfg.PeriodicJobs = []*river.PeriodicJob{DrainPeriodically(e.cfg.Tenant, DrainEvery, nil)}
		}
	}
	if !e.exclusive() {
		// Shared queue: a job whose worker died is rescued by River after
		// this long (the exclusive mode rescues at start instead). River
		// never rescues a job without a timeout, so every job has one.
		cfg.RescueStuckJobsAfter = e.cfg.RescueAfter
		cfg.JobTimeout = e.p.jobTimeout
	}
	q, err := jobqueue.New(e.cfg.Catalog, cfg)
	if err != nil {
		return nil, err
	}
	e.p.setQueue(q)
	return q, nil
}

// Work runs the discover and fetch workers on a shared (PostgreSQL) queue
// until ctx ends, then stops taking jobs and lets running ones finish for
// up to grace before cancelling them (River retries those).
func (e *Engine) Work(ctx context.Context, grace time.Duration) error {
	if e.exclusive() {
		return errors.New("a worker needs a PostgreSQL catalog: an SQLite catalog is worked by the sync that holds its lock")
	}
	if _, err := e.Preflight(ctx); err != nil {
		return err
	}
	if err := jobqueue.Migrate(ctx, e.cfg.Catalog); err != nil {
		return err
	}
	if err := adoptLegacyJobs(ctx, e.p, e.cfg.Tenant); err != nil {
		return err
	}
	client, err := e.newClient(true)
	if err != nil {
		return err
	}
	leave, err := e.joinFleet(ctx)
	if err != nil {
		return err
	}
	defer leave()
	e.p.resumeEvents()
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	if err := e.p.kickBacklog(ctx, e.cfg.Tenant); err != nil {
		e.cfg.Logger.Warn("look for events not delivered yet; the next store delivers them", "tenant", e.cfg.Tenant.ID, "error", err)
	}
	e.cfg.Logger.Info("worker started", "tenant", e.cfg.Tenant.ID, "downloads", e.cfg.Downloads)
	<-ctx.Done()
	e.p.stopEvents()
	stopCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		e.cfg.Logger.Warn("jobs still running at the end of the grace period; cancelling them (they will be retried)", "grace", grace)
		hard, cancelHard := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelHard()
		return client.StopAndCancel(hard)
	}
	return nil
}

// waitJobs returns when no job that params selects is left to run (jobs
// that ended well here count as done before River records them), or with
// errTimeUp at deadline (if not zero). It looks every 100 ms, and when a
// job of this process ends.
func waitJobs(ctx context.Context, log *slog.Logger, client *jobqueue.Queue, done *finishedJobs, params *river.JobListParams, deadline time.Time) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-done.changed():
		}
		left, err := retryUnavailable(ctx, log, "check the job queue", func(ctx context.Context) (bool, error) { return done.jobsLeft(ctx, client.JobList, params) })
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("check job queue: %w", err)
		}
		if !left {
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return errTimeUp
		}
	}
}

// DefaultAgentRefreshTimeout bounds refreshAgents unless the tenant sets
// another bound (Tenant.AgentRefreshTimeout).
const DefaultAgentRefreshTimeout = 15 * time.Minute

// AgentRefreshTimeoutError says the agent refresh ran past its bound
// (Tenant.AgentRefreshTimeout): User Admin did not answer in time.
type AgentRefreshTimeoutError struct{ Limit time.Duration }

func (e *AgentRefreshTimeoutError) Error() string {
	return fmt.Sprintf("reading the users and their groups (User Admin API) took more than %s (agent_refresh_timeout)", e.Limit)
}

// groupsMaxAge is how long an agent's groups are trusted: reading them
// costs one User Admin request per agent, so they are refreshed at most
// daily, not once a run.
const groupsMaxAge = 24 * time.Hour

// refreshAgents loads every user into the agent cache, once per run that
// lists windows (one request for up to 5,000 users), and each agent's groups when the cached
// ones are older than groupsMaxAge. A user record that cannot be used is
// recorded and skipped; failing to read one agent's groups keeps the
// cached ones and says so.
func (p *pipeline) refreshAgents(ctx context.Context, t *Tenant) (err error) {
	// Each request is bounded by the client and the listing by its page
	// cap; this bounds the whole, groups included, so a server that
	// answers slowly forever cannot hold a run before its first window.
	limit := DefaultAgentRefreshTimeout
	if t.AgentRefreshTimeout > 0 {
		limit = t.AgentRefreshTimeout
	}
	timedOut := &AgentRefreshTimeoutError{Limit: limit}
	ctx, cancel := context.WithTimeoutCause(ctx, limit, timedOut)
	defer cancel()
	defer func() {
		if err != nil && errors.Is(context.Cause(ctx), timedOut) {
			err = fmt.Errorf("%w: %w", timedOut, err)
		}
	}()
	cached := map[string]catalog.Agent{}
	old, err := p.cat.Agents(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, a := range old {
		cached[a.AgentID] = a
	}
	now := p.now()
	var agents []catalog.Agent
	var bad []catalog.BadRecord
	for u, err := range t.VCC.Users(ctx) {
		if rec, ok := badRecord(err); ok {
			bad = append(bad, rec)
			continue
		}
		if err != nil {
			return fmt.Errorf("list users (agents): %w", err)
		}
		if u.AgentID == "" {
			continue // an admin, supervisor or wallboard: handles no calls
		}
		a := catalog.Agent{Tenant: t.ID, AgentID: u.AgentID, UserID: u.UserID, Name: u.Name, Email: u.Email, AgentCode: u.AgentCode}
		if c, ok := cached[u.AgentID]; ok && c.UserID == u.UserID && now.Sub(c.GroupsRefreshedAt) < groupsMaxAge {
			a.Groups, a.GroupsRefreshedAt = c.Groups, c.GroupsRefreshedAt
		} else {
			groups, err := t.VCC.UserGroups(ctx, u.UserID)
			switch {
			case err == nil:
				for _, g := range groups {
					a.Groups = append(a.Groups, g.Name)
				}
				a.GroupsRefreshedAt = now
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				p.log.Warn("could not read an agent's groups; keeping the cached ones", "tenant", t.ID, "agent", u.AgentID, "error", err)
				if ok {
					a.Groups, a.GroupsRefreshedAt = c.Groups, c.GroupsRefreshedAt
				}
			}
		}
		agents = append(agents, a)
	}
	// The user list is the account's current state, not a time range's:
	// its bad records are kept under one window that each refresh replaces.
	if err := p.noteBad(ctx, t, "users", Window{}, bad); err != nil {
		return err
	}
	// An agent resolved, renamed or regrouped after its calls' recordings
	// were stored changes what their sidecars and events say: they are
	// announced updated in the transaction that records the change, and the
	// sidecars are written again (rewriteStaleSidecars).
	queued := 0
	err = p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		queued = 0 // the transaction may be retried
		changed, err := tx.UpsertAgents(ctx, t.ID, agents, now)
		if err != nil {
			return err
		}
		for _, guid := range changed {
			n, err := announceUpdated(ctx, tx, t, guid, revChanged, now)
			if err != nil {
				return err
			}
			queued += n
		}
		return nil
	})
	if err == nil && queued > 0 {
		p.kick(ctx, t, false)
	}
	return err
}

// staleSidecarsPerRun bounds how many sidecars a run writes again before
// its windows (an agent renamed with years of stored calls): the rest wait
// for the next run.
const staleSidecarsPerRun = 1000

// rewriteStaleSidecars writes again the sidecars that do not show their
// interaction's current state: an agent changed since (refreshAgents), or a
// process stopped between a change and its sidecar.
func (p *pipeline) rewriteStaleSidecars(ctx context.Context, t *Tenant) error {
	guids, err := p.cat.StaleSidecars(ctx, t.ID, staleSidecarsPerRun)
	if err != nil || len(guids) == 0 {
		return err
	}
	for _, guid := range guids {
		if err := p.writeSidecar(ctx, t, guid); err != nil {
			return err
		}
	}
	p.log.Info("wrote again the sidecars of interactions whose agent or call changed after they were stored", "tenant", t.ID, "sidecars", len(guids))
	return nil
}
