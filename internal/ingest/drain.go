package ingest

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// DrainArgs asks for a tenant's outbox to be delivered: the one River job
// that publishes the tenant's events. It claims the events due for the
// sinks of the process that runs it, a batch at a time, delivers each to
// its sink (the sinks apart: one that is down holds up only its own
// events), deletes what each sink acknowledged, and backs off what it
// refused. It lingers while events keep coming, so a busy tenant has one
// drain job at a time, not one job per event. Stores in this process kick
// it (pipeline.kick); a process with no drain running queues one.
type DrainArgs struct {
	Tenant string `json:"tenant"`
}

// Kind implements river.JobArgs.
func (DrainArgs) Kind() string { return "vccingest.events_drain" }

// InsertOpts implements river.JobArgsWithInsertOpts. Drain jobs are not
// unique: a drain job cannot queue its successor while it runs, so a job
// queued while another drains turns into a wake-up of that one (in its
// process) or drains beside it (in another: the claims keep them apart).
func (DrainArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// publishAttempts, with publishBackoff, keep an event for about two days
// of a sink that is down before it is discarded (loudly: EVENT NOT
// DELIVERED).
const publishAttempts = 200

// publishBackoff is how long an event waits after its attempt-th refused
// delivery: from 2 s to 15 min, so a sink down for hours is tried four
// times an hour, and its events wait in the outbox meanwhile.
func publishBackoff(attempt int) time.Duration {
	d := min(2*time.Second<<min(max(attempt-1, 0), 10), 15*time.Minute)
	return d - d/10 + time.Duration(rand.Int64N(int64(d)/5))
}

// EventWorkers is how many deliveries to one sink are in flight at once: a
// delivery is one round trip.
const EventWorkers = 16

// EventsQueueConfig is how a runner works a tenant's EventsQueue: a drain
// job, and room for a second that turns into a wake-up of the first. The
// queue is polled once a second, not as often as the download queues: a
// drain job is queued by a kick, and River fetches a job its own client
// queued at once (and on PostgreSQL those of other clients too, by
// LISTEN/NOTIFY), so the poll only finds retries; each poll is a query
// the catalog parses afresh, which with every queue polled at 50 ms was
// about a tenth of a sync's CPU.
func EventsQueueConfig() river.QueueConfig {
	return river.QueueConfig{MaxWorkers: 2, FetchPollInterval: time.Second}
}

// EventsQueue is the tenant's own queue of drain jobs, apart from its
// downloads so that a sink that hangs never takes a download's place. A
// runner works it beside Queues.
func (t *Tenant) EventsQueue() string {
	discover, _ := t.Queues()
	return strings.TrimSuffix(discover, "_discover") + "_events"
}

const (
	// drainGather is the least time between two claims while events
	// trickle in: each claim and each batch's end is a write, so events
	// are gathered into batches, not written one by one.
	drainGather = 500 * time.Millisecond
	// drainPoll is how often a lingering drain looks for events other
	// processes queued or whose backoff ended.
	drainPoll = time.Second
	// drainLinger is how long a drain stays without anything to deliver
	// before its job ends.
	drainLinger = 5 * time.Second
	// drainMaxRun bounds one drain job; its successor is queued at once.
	drainMaxRun = 2 * time.Minute
	// drainLease is how long a claimed event is this drainer's: longer
	// than its delivery can take (the sink's timeout).
	drainLease = 5 * time.Minute
)

// drainer is what this process knows of a tenant's drain.
type drainer struct {
	mu       sync.Mutex
	running  bool          // a drain job of the tenant runs in this process
	gen      uint64        // bumped by every kick
	wake     chan struct{} // closed (and replaced) by every kick
	flush    bool          // a kick asked for the events at once (no gathering)
	queuedAt time.Time     // when this process last queued a drain job
	progress chan struct{} // closed (and replaced) after each batch
}

func (p *pipeline) drainerOf(tenant string) *drainer {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	if p.drainers == nil {
		p.drainers = map[string]*drainer{}
	}
	d := p.drainers[tenant]
	if d == nil {
		d = &drainer{wake: make(chan struct{}), progress: make(chan struct{})}
		p.drainers[tenant] = d
	}
	return d
}

// setQueue is the River client this process queues drain jobs with.
func (p *pipeline) setQueue(q *jobqueue.Queue) {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	p.queue = q
}

// stopEvents ends the drains of this process once their deliveries in
// flight are cut short (the events stay queued); resumeEvents lets drains
// run again.
func (p *pipeline) stopEvents() {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	if p.stopping == nil {
		p.stopping = make(chan struct{})
	}
	select {
	case <-p.stopping:
	default:
		close(p.stopping)
	}
}

func (p *pipeline) resumeEvents() {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	if p.stopping != nil {
		select {
		case <-p.stopping:
			p.stopping = nil
		default:
		}
	}
	if p.stopping == nil {
		p.stopping = make(chan struct{})
	}
}

func (p *pipeline) eventsStopping() <-chan struct{} {
	p.drainMu.Lock()
	defer p.drainMu.Unlock()
	if p.stopping == nil {
		p.stopping = make(chan struct{})
	}
	return p.stopping
}

// kick tells the tenant's drainer that events were queued (call it once
// their transaction committed): a drain running in this process claims
// them (after gathering for drainGather, unless now); otherwise a drain
// job is queued, at most one a second.
func (p *pipeline) kick(ctx context.Context, t *Tenant, now bool) {
	if len(t.Events) == 0 {
		return
	}
	d := p.drainerOf(t.ID)
	d.mu.Lock()
	d.gen++
	close(d.wake)
	d.wake = make(chan struct{})
	if now {
		d.flush = true
	}
	if d.running || !now && time.Since(d.queuedAt) < time.Second {
		d.mu.Unlock()
		return
	}
	d.queuedAt = time.Now()
	d.mu.Unlock()
	p.drainMu.Lock()
	q := p.queue
	p.drainMu.Unlock()
	if q == nil {
		return // no job queue in this process (a test): nothing drains here
	}
	if _, err := q.Insert(context.WithoutCancel(ctx), DrainArgs{Tenant: t.ID}, &river.InsertOpts{Queue: t.EventsQueue()}); err != nil {
		p.log.Warn("queue the delivery of events; the next run or store queues it again", "tenant", t.ID, "error", err)
	}
}

// releaseClaims gives back the claims on t's events of a process that was
// killed mid-delivery. Only an SQLite catalog's lock holder may (no other
// process drains them), and only before its runner starts: a drain job an
// earlier run left queued would otherwise claim events whose claims are
// then given back under it, and deliver them twice.
func (p *pipeline) releaseClaims(ctx context.Context, t *Tenant) error {
	if len(t.Events) == 0 {
		return nil
	}
	return p.cat.ReleaseOutboxClaims(ctx, t.ID)
}

// kickBacklog kicks the tenant's drainer if events wait in its outbox (left
// by an earlier run, or a sink that was down), making those that wait for
// a retry due now.
func (p *pipeline) kickBacklog(ctx context.Context, t *Tenant) error {
	if err := p.warnOrphanedEvents(ctx, t); err != nil {
		return err
	}
	if len(t.Events) == 0 {
		return nil
	}
	if err := p.cat.OutboxDueNow(ctx, t.ID); err != nil {
		return err
	}
	n, _, err := p.pendingEvents(ctx, t)
	if err != nil || n == 0 {
		return err
	}
	p.kick(ctx, t, true)
	return nil
}

// warnOrphanedEvents says, once a run, how many events wait in t's outbox
// for a sink t no longer has (taken out of the configuration, or its URL
// changed): nothing delivers them, and nothing else would show them.
func (p *pipeline) warnOrphanedEvents(ctx context.Context, t *Tenant) error {
	backlog, err := p.cat.OutboxBacklogs(ctx, t.ID)
	if err != nil {
		return err
	}
	for id, b := range backlog {
		if b.Events == 0 || slices.ContainsFunc(t.Events, func(s *events.Sink) bool { return s.ID() == id }) {
			continue
		}
		p.log.Warn("events wait in the outbox for a sink this tenant no longer has, so nothing delivers them; configure that sink again to deliver them (the sink id is the first 12 hex digits of the sha256 of its URL)",
			"tenant", t.ID, "sink_id", id, "events", b.Events, "oldest", b.Oldest.UTC().Format(time.RFC3339))
	}
	return nil
}

// pendingEvents counts the events waiting for t's sinks and returns the
// drainer's progress signal as it was before counting.
func (p *pipeline) pendingEvents(ctx context.Context, t *Tenant) (int64, <-chan struct{}, error) {
	d := p.drainerOf(t.ID)
	d.mu.Lock()
	progress := d.progress
	d.mu.Unlock()
	backlog, err := p.cat.OutboxBacklogs(ctx, t.ID)
	if err != nil {
		return 0, progress, err
	}
	var n int64
	for _, s := range t.Events {
		n += backlog[s.ID()].Events
	}
	return n, progress, nil
}

// waitEvents kicks t's drainer to deliver at once and waits until no event
// waits for t's sinks, or deadline; it returns how many still wait.
func (p *pipeline) waitEvents(ctx context.Context, t *Tenant, deadline time.Time) (int64, error) {
	p.kick(ctx, t, true)
	for {
		n, progress, err := p.pendingEvents(context.WithoutCancel(ctx), t)
		if err != nil || n == 0 || !time.Now().Before(deadline) {
			return n, err
		}
		wait := time.NewTimer(min(250*time.Millisecond, time.Until(deadline)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return n, ctx.Err()
		case <-progress:
		case <-wait.C:
			p.kick(ctx, t, false) // a drain that ended meanwhile (at most one a second)
		}
		wait.Stop()
	}
}

// drainWorker runs a tenant's drain.
type drainWorker struct {
	river.WorkerDefaults[DrainArgs]
	p *pipeline
}

// Timeout bounds one drain job: it ends by itself within drainMaxRun and
// its deliveries in flight within their sink's timeout.
func (w *drainWorker) Timeout(*river.Job[DrainArgs]) time.Duration {
	return drainMaxRun + 2*time.Minute
}

func (w *drainWorker) Work(ctx context.Context, job *river.Job[DrainArgs]) error {
	t, err := w.p.tenant(job.Args.Tenant)
	if err != nil {
		return river.JobCancel(err)
	}
	if len(t.Events) == 0 {
		return nil
	}
	d := w.p.drainerOf(t.ID)
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return nil // the drain running here takes the events that queued this job
	}
	d.running = true
	d.mu.Unlock()
	again, err := w.p.drain(ctx, t, d)
	if again {
		w.p.kick(ctx, t, true) // drainMaxRun: the successor
	}
	return err
}

// deliverOne publishes one outbox event to its sink, as it was encoded
// when it was queued (announce).
func (p *pipeline) deliverOne(ctx context.Context, s *events.Sink, row catalog.OutboxEvent) delivery {
	r := delivery{row: row, sink: s}
	r.err = s.PublishEncoded(ctx, row.EventID, row.Type, row.Payload)
	r.cut = r.err != nil && ctx.Err() != nil
	return r
}

// finish records, in tx, what deliveries did: an acknowledged event leaves
// the outbox, a refused one backs off (or, its attempts spent, is
// discarded), one cut short is given back as it was.
func (p *pipeline) finish(ctx context.Context, tx *catalog.Tx, done []delivery) error {
	now := time.Now()
	var acked []int64
	for _, r := range done {
		var err error
		switch attempt := r.row.Attempts + 1; {
		case r.cut: // before the error: a claim given back has none
			err = tx.ReleaseOutbox(ctx, r.row.ID)
		case r.err == nil:
			acked = append(acked, r.row.ID)
		case attempt >= publishAttempts:
			err = tx.DiscardOutbox(ctx, r.row.ID, r.err.Error())
		default:
			err = tx.RetryOutbox(ctx, r.row.ID, now.Add(publishBackoff(attempt)), r.err.Error())
		}
		if err != nil {
			return err
		}
	}
	return tx.DeleteOutbox(ctx, acked)
}

// report counts and logs what a batch of deliveries did, once its end is
// recorded: each event lost at error level, the refusals once per sink.
func (p *pipeline) report(log *slog.Logger, done []delivery) {
	type refusals struct {
		n     int
		first delivery
	}
	refused := map[*events.Sink]*refusals{}
	for _, r := range done {
		attempt := r.row.Attempts + 1
		switch {
		case r.cut:
		case r.err == nil:
			p.progress.EventsPublished.Add(1)
		case attempt >= publishAttempts:
			p.progress.EventsFailed.Add(1)
			log.Error("EVENT NOT DELIVERED: the sink refused it at every attempt; it is kept in the outbox as discarded; run vccingest events replay for this range once the sink works",
				"event", r.row.EventID, "type", r.row.Type, "sink", r.sink.String(), "attempts", attempt, "error", r.err)
		default:
			if refused[r.sink] == nil {
				refused[r.sink] = &refusals{first: r}
			}
			refused[r.sink].n++
		}
	}
	for s, f := range refused {
		attempt := f.first.row.Attempts + 1
		if attempt == 1 || attempt%20 == 0 {
			log.Warn("events not delivered yet; will retry (ingestion goes on)", "sink", s.String(), "events", f.n, "attempt", attempt,
				"next_in", publishBackoff(attempt).Round(time.Second), "error", f.first.err)
		} else {
			log.Debug("events not delivered yet; will retry", "sink", s.String(), "events", f.n, "attempt", attempt, "error", f.first.err)
		}
	}
}
