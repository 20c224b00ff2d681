package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// PublishArgs asks for the event of one recording to be delivered to one
// sink, or to every sink of the tenant (Sink empty: the one job a stored
// recording queues, whatever the number of sinks). It names what the event
// is about, not its content: the worker builds the event from the catalog,
// which holds the recording for good once it is stored, so a replay queues
// the same job.
type PublishArgs struct {
	Tenant     string `json:"tenant" river:"unique"`
	Sink       string `json:"sink,omitempty" river:"unique"` // events.SinkID (the URL may hold a password); "" every sink
	Type       string `json:"type" river:"unique"`
	GUID       string `json:"guid" river:"unique"`
	ContentKey string `json:"content_key" river:"unique"`
	// Rev is the interaction's revision a recording.updated announces.
	Rev int64 `json:"rev,omitempty" river:"unique"`
	// Run is the run whose end a tenant.health announces.
	Run int64 `json:"run,omitempty" river:"unique"`
	// Permission is the one a tenant.coverage_gap is about (with its Rev).
	Permission string `json:"permission,omitempty" river:"unique"`
}

// Kind implements river.JobArgs.
func (PublishArgs) Kind() string { return "vccingest.publish" }

// publishAttempts, with publishBackoff, keep an event for about two days
// of a sink that is down before River discards the job (loudly: see
// publishWorker.Work).
const publishAttempts = 200

// InsertOpts implements river.JobArgsWithInsertOpts.
func (PublishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: publishAttempts, UniqueOpts: jobqueue.UniqueWhileActive()}
}

// EventWorkers is how many events of a tenant are delivered at once (one
// River worker each): a delivery is one round trip, so more of them
// overlap than downloads need.
const EventWorkers = 16

// EventsQueueConfig is how a runner works a tenant's EventsQueue.
func EventsQueueConfig() river.QueueConfig {
	return river.QueueConfig{MaxWorkers: EventWorkers}
}

// EventsQueue is the tenant's own queue of publish jobs, apart from its
// downloads so that a sink that hangs never takes a download's place. A
// runner works it beside Queues.
func (t *Tenant) EventsQueue() string {
	discover, _ := t.Queues()
	return strings.TrimSuffix(discover, "_discover") + "_events"
}

// revChanged is the revision before of an interaction whose revision the
// caller bumped itself (announceUpdated).
const revChanged = -1

// insertFunc is how a job is queued in a catalog transaction: through the
// running job's client (jobqueue.InsertFromJob) or a Queue's InsertTx.
type insertFunc func(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)

// announce queues, in tx, the event a names for every sink of the tenant:
// the outbox. The event is delivered if and only if tx commits.
func announce(ctx context.Context, tx *catalog.Tx, insert insertFunc, t *Tenant, a PublishArgs) error {
	if len(t.Events) == 0 {
		return nil
	}
	a.Tenant = t.ID
	if _, err := insert(ctx, tx, a, &river.InsertOpts{Queue: t.EventsQueue()}); err != nil {
		return fmt.Errorf("queue event %s of tenant %s (%s/%s): %w", a.Type, t.ID, a.GUID, a.ContentKey, err)
	}
	return nil
}

// announceUpdated queues, in tx, a recording.updated event for each stored
// recording of interaction guid if its revision (which the catalog bumps
// on every change its sidecar shows) is no longer rev: call it in the
// transaction that changed the interaction, with its rev from before.
//
// revChanged as rev says the caller knows the revision moved.
func announceUpdated(ctx context.Context, tx *catalog.Tx, insert insertFunc, t *Tenant, guid string, rev int64) error {
	it, err := tx.Interaction(ctx, t.ID, guid)
	if err != nil || it.Rev == rev {
		return err
	}
	recs, err := tx.RecordingsOf(ctx, t.ID, guid)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Status != catalog.StatusStored {
			continue
		}
		if err := announce(ctx, tx, insert, t, PublishArgs{Type: events.TypeRecordingUpdated, GUID: guid, ContentKey: r.ContentKey, Rev: it.Rev}); err != nil {
			return err
		}
	}
	return nil
}

// recordGaps diagnoses the coverage of [from, to) and, in one transaction,
// records the permission gaps it finds and queues a tenant.coverage_gap
// event for each gap newly diagnosed and each diagnosed before that is no
// longer. A range the diagnosis cannot judge (no Stats data, nothing
// visible, no call at all) changes nothing.
func (p *pipeline) recordGaps(ctx context.Context, insert insertFunc, t *Tenant, from, to time.Time, lookback time.Duration) error {
	if len(t.Events) == 0 {
		return nil
	}
	rep, err := coverage.FromCatalog(ctx, p.cat, t.ID, from, to, "direction", lookback)
	if err != nil || rep.Diagnosis.Note != "" || rep.Basis != coverage.BasisStats || rep.Total.Calls == 0 {
		return err // nothing to judge by
	}
	found := map[string]coverage.Gap{}
	for _, g := range rep.Diagnosis.Gaps {
		found[g.Permission] = g
	}
	now := p.now()
	return p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		known, err := tx.CoverageGaps(ctx, t.ID)
		if err != nil {
			return err
		}
		was := map[string]catalog.CoverageGap{}
		for _, g := range known {
			was[g.Permission] = g
		}
		change := func(g catalog.CoverageGap) error {
			g.Rev, g.Changed = was[g.Permission].Rev+1, now
			if err := tx.SetCoverageGap(ctx, g); err != nil {
				return err
			}
			return announce(ctx, tx, insert, t, PublishArgs{Type: events.TypeCoverageGap, Permission: g.Permission, Rev: g.Rev})
		}
		for perm, g := range found {
			if w, ok := was[perm]; ok && !w.Cleared {
				continue // still diagnosed
			}
			if err := change(catalog.CoverageGap{Tenant: t.ID, Permission: perm, Hidden: g.Hidden, Evidence: g.Evidence}); err != nil {
				return err
			}
		}
		for perm, w := range was {
			if _, still := found[perm]; still || w.Cleared {
				continue
			}
			w.Cleared = true
			if err := change(w); err != nil {
				return err
			}
		}
		return nil
	})
}

// endRun records the end of run runID with record and, in the same
// transaction, queues a tenant.health event when the run changes the
// tenant's health: a failed run after one that did not fail (or after
// none), or a run that did not fail after a failed one. An interrupted
// run changes nothing.
func (p *pipeline) endRun(ctx context.Context, insert insertFunc, t *Tenant, runID int64, status string, record func(tx *catalog.Tx) error) error {
	return p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := record(tx); err != nil || len(t.Events) == 0 || status == catalog.RunInterrupted {
			return err
		}
		prev, found, err := tx.PreviousRun(ctx, t.ID, runID)
		if err != nil {
			return err
		}
		if (found && prev.Status == catalog.RunFailed) == (status == catalog.RunFailed) {
			return nil
		}
		return announce(ctx, tx, insert, t, PublishArgs{Type: events.TypeTenantHealth, Run: runID})
	})
}

// markStored marks a recording stored and, in the same transaction, queues
// its recording.stored event: a crash leaves both or neither.
func (p *pipeline) markStored(ctx context.Context, t *Tenant, guid, contentKey string, obj blobstore.Object) (bool, error) {
	if len(t.Events) == 0 {
		return p.cat.MarkStored(ctx, t.ID, guid, contentKey, obj.Size, obj.SHA256, obj.Key, obj.Duration)
	}
	var stored bool
	err := p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		var err error
		stored, err = storeAndAnnounce(ctx, tx, jobqueue.InsertFromJob, t, guid, contentKey, obj)
		return err
	})
	return stored && err == nil, err
}

func storeAndAnnounce(ctx context.Context, tx *catalog.Tx, insert insertFunc, t *Tenant, guid, contentKey string, obj blobstore.Object) (bool, error) {
	stored, err := tx.MarkStored(ctx, t.ID, guid, contentKey, obj.Size, obj.SHA256, obj.Key, obj.Duration)
	if err != nil || !stored {
		return false, err // stored by another job, which announced it
	}
	return true, announce(ctx, tx, insert, t, PublishArgs{Type: events.TypeRecordingStored, GUID: guid, ContentKey: contentKey})
}

// markFailed records a failed attempt; when it is the last, the
// recording.failed event is queued in the same transaction.
func (p *pipeline) markFailed(ctx context.Context, t *Tenant, guid, contentKey, msg string, last bool) error {
	if !last || len(t.Events) == 0 {
		return p.cat.MarkFailed(ctx, t.ID, guid, contentKey, msg, last)
	}
	return p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := tx.MarkFailed(ctx, t.ID, guid, contentKey, msg, true); err != nil {
			return err
		}
		return announce(ctx, tx, jobqueue.InsertFromJob, t, PublishArgs{Type: events.TypeRecordingFailed, GUID: guid, ContentKey: contentKey})
	})
}

// publishWorker delivers one event to one sink.
type publishWorker struct {
	river.WorkerDefaults[PublishArgs]
	p *pipeline
}

// Timeout bounds one delivery; each sink bounds its own requests too.
func (w *publishWorker) Timeout(*river.Job[PublishArgs]) time.Duration { return time.Minute }

// NextRetry backs off from 2 s to 15 min: a sink down for hours is tried
// four times an hour, and its events wait in the queue meanwhile.
func (w *publishWorker) NextRetry(job *river.Job[PublishArgs]) time.Time {
	return time.Now().Add(publishBackoff(job.Attempt))
}

func publishBackoff(attempt int) time.Duration {
	d := min(2*time.Second<<min(max(attempt-1, 0), 10), 15*time.Minute)
	return d - d/10 + time.Duration(rand.Int64N(int64(d)/5))
}

func (w *publishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	a := job.Args
	log := w.p.log.With("tenant", a.Tenant, "event", a.Type, "interaction", a.GUID, "content", a.ContentKey)
	t, err := w.p.tenant(a.Tenant)
	if err != nil {
		return river.JobCancel(err)
	}
	sinks := t.Events
	if a.Sink != "" {
		s := t.sink(a.Sink)
		if s == nil {
			log.Error("event dropped: its sink is no longer configured; configure it again and run vccingest events replay to send what it missed", "sink", a.Sink)
			return river.JobCancel(fmt.Errorf("sink %s is not configured", a.Sink))
		}
		sinks = []*events.Sink{s}
	}
	ev, err := w.p.buildEvent(ctx, t, a)
	if errors.Is(err, errNotAnnounced) {
		log.Info("event not sent: the recording is no longer in the state it announces", "error", err)
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	failed, err := deliver(ctx, sinks, ev)
	w.p.progress.EventsPublished.Add(int64(len(sinks) - len(failed)))
	if len(failed) > 0 && len(failed) < len(sinks) {
		// Some sinks have it: the others get a job each, so that their
		// retries never send it again to those that have it.
		if serr := w.p.splitFailed(ctx, t, a, failed); serr == nil {
			log.Warn("event delivered to some sinks only; the others are retried on their own", "failed", len(failed), "of", len(sinks), "error", err)
			return nil
		}
	}
	sinkName := "every sink"
	if len(sinks) == 1 {
		sinkName = sinks[0].String()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return river.JobSnooze(0) // shutting down: sent at the next start
	case job.Attempt >= job.MaxAttempts:
		w.p.progress.EventsFailed.Add(int64(len(failed)))
		log.Error("EVENT NOT DELIVERED: the sink refused it at every attempt; River keeps the job as discarded; run vccingest events replay for this range once the sink works",
			"sink", sinkName, "attempts", job.Attempt, "error", err)
	case job.Attempt == 1 || job.Attempt%20 == 0:
		log.Warn("event not delivered yet; will retry (ingestion goes on)", "sink", sinkName, "attempt", job.Attempt, "next_in", publishBackoff(job.Attempt).Round(time.Second), "error", err)
	default:
		log.Debug("event not delivered yet; will retry", "sink", sinkName, "attempt", job.Attempt, "error", err)
	}
	return err
}

// deliver publishes ev to every sink at once and returns those that did
// not take it, with their errors.
func deliver(ctx context.Context, sinks []*events.Sink, ev events.Event) ([]*events.Sink, error) {
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() { errs[i] = s.Publish(ctx, ev) })
	}
	wg.Wait()
	var failed []*events.Sink
	for i, err := range errs {
		if err != nil {
			failed = append(failed, sinks[i])
		}
	}
	return failed, errors.Join(errs...)
}

// splitFailed queues a job of a's event for each sink of failed.
func (p *pipeline) splitFailed(ctx context.Context, t *Tenant, a PublishArgs, failed []*events.Sink) error {
	return p.cat.InTx(context.WithoutCancel(ctx), func(tx *catalog.Tx) error {
		for _, s := range failed {
			one := a
			one.Sink = s.ID()
			if _, err := jobqueue.InsertFromJob(ctx, tx, one, &river.InsertOpts{Queue: t.EventsQueue()}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *Tenant) sink(id string) *events.Sink {
	for _, s := range t.Events {
		if s.ID() == id {
			return s
		}
	}
	return nil
}

// errNotAnnounced: the recording is not (or no longer) what the event says.
var errNotAnnounced = errors.New("recording not in the announced state")

// buildEvent builds the event a job names from the catalog's current state.
func (p *pipeline) buildEvent(ctx context.Context, t *Tenant, a PublishArgs) (events.Event, error) {
	src := events.Source(t.ID)
	if a.Type == events.TypeTenantHealth {
		r, err := p.cat.RunByID(ctx, t.ID, a.Run)
		if errors.Is(err, catalog.ErrNotFound) {
			return events.Event{}, fmt.Errorf("%w: %v", errNotAnnounced, err)
		}
		if err != nil {
			return events.Event{}, err
		}
		h := events.TenantHealth{Tenant: t.ID, Health: "healthy", Run: r.ID, RunStatus: r.Status, At: r.Finished.UTC()}
		if r.Status == catalog.RunFailed {
			h.Health, h.Error = "unhealthy", r.Error
		}
		return events.New(a.Type, events.TenantID(t.ID, "health", r.ID), src, "", r.Finished, h)
	}
	if a.Type == events.TypeCoverageGap {
		g, err := p.cat.CoverageGap(ctx, t.ID, a.Permission)
		if errors.Is(err, catalog.ErrNotFound) {
			return events.Event{}, fmt.Errorf("%w: %v", errNotAnnounced, err)
		}
		if err != nil {
			return events.Event{}, err
		}
		data := events.CoverageGap{Tenant: t.ID, Permission: g.Permission, State: "cleared", Hidden: g.Hidden, Evidence: g.Evidence, At: g.Changed.UTC()}
		if !g.Cleared {
			data.State, data.Advice = "diagnosed", coverage.Gap{Permission: g.Permission}.Advice()
		}
		// The id is of the change the gap is at now: a copy of an older
		// change (delivered late) is the same event as the newest.
		return events.New(a.Type, events.TenantID(t.ID, "coverage_gap/"+url.PathEscape(g.Permission), g.Rev), src, "", g.Changed, data)
	}
	d, err := p.cat.Detail(ctx, t.ID, a.GUID)
	if errors.Is(err, catalog.ErrNotFound) {
		return events.Event{}, fmt.Errorf("%w: %v", errNotAnnounced, err)
	}
	if err != nil {
		return events.Event{}, err
	}
	var rec *catalog.Recording
	for i := range d.Recordings {
		if d.Recordings[i].ContentKey == a.ContentKey {
			rec = &d.Recordings[i]
		}
	}
	if rec == nil {
		return events.Event{}, fmt.Errorf("%w: %s/%s is not in the catalog", errNotAnnounced, a.GUID, a.ContentKey)
	}
	want := catalog.StatusStored
	if a.Type == events.TypeRecordingFailed {
		want = catalog.StatusFailed
	}
	if rec.Status != want {
		return events.Event{}, fmt.Errorf("%w: %s/%s is %s", errNotAnnounced, a.GUID, a.ContentKey, rec.Status)
	}
	call := callOf(d)
	switch a.Type {
	case events.TypeRecordingStored, events.TypeRecordingUpdated:
		sidecar, err := blobstore.SidecarKey(t.ID, d.Start, a.GUID)
		if err != nil {
			return events.Event{}, err
		}
		r := recordingOf(*rec)
		data := events.RecordingStored{
			Tenant: t.ID, InteractionID: a.GUID, ContentKey: r.ContentKey, ContentType: r.Type, MediaType: r.MediaType,
			Bytes: r.Bytes, SHA256: r.SHA256, BlobKey: r.BlobKey, BlobURL: t.Bucket.ObjectURL(r.BlobKey), SidecarKey: sidecar,
			AudioSeconds: r.DurationSeconds, StoredAt: rec.StoredAt.UTC(), Call: call,
		}
		if a.Type == events.TypeRecordingUpdated {
			// The id is of the revision it shows: two updates delivered
			// after both happened are the same event.
			return events.New(a.Type, events.RecordingID(t.ID, a.GUID, a.ContentKey, "updated", d.Rev), src, r.BlobKey, p.now(), data)
		}
		return events.New(a.Type, events.RecordingID(t.ID, a.GUID, a.ContentKey, "stored", 0), src, r.BlobKey, rec.StoredAt, data)
	case events.TypeRecordingFailed:
		// The attempts tell a later failure (after a run retried it) from
		// a copy of this one.
		return events.New(a.Type, events.RecordingID(t.ID, a.GUID, a.ContentKey, "failed", int64(rec.Attempts)), src, "", p.now(), events.RecordingFailed{
			Tenant: t.ID, InteractionID: a.GUID, ContentKey: a.ContentKey, ContentType: rec.Type,
			Attempts: rec.Attempts, Reason: rec.LastError, Call: call,
		})
	}
	return events.Event{}, fmt.Errorf("%w: unknown event type %q", errNotAnnounced, a.Type)
}

// drainEvents gives the run's events up to EventsWait to be delivered,
// then returns how many are still queued: a sink that is down delays its
// events to the next run, never the run itself beyond the wait.
func (e *Engine) drainEvents(ctx context.Context, client *jobqueue.Queue) int64 {
	t := e.cfg.Tenant
	if len(t.Events) == 0 {
		return 0
	}
	params := river.NewJobListParams().Queues(t.EventsQueue()).Kinds(PublishArgs{}.Kind())
	e.retryBacklog(ctx, client, params)
	if e.cfg.EventsWait > 0 {
		if err := waitJobs(ctx, e.cfg.Logger, client, params, time.Now().Add(e.cfg.EventsWait)); err == nil {
			return 0
		}
	}
	n, err := jobqueue.Active(context.WithoutCancel(ctx), e.cfg.Catalog, t.EventsQueue())
	if err != nil {
		e.cfg.Logger.Warn("count the events not delivered yet", "tenant", t.ID, "error", err)
	}
	if n > 0 {
		e.cfg.Logger.Warn("events not delivered yet; they stay queued and the next run sends them", "tenant", t.ID, "events", n)
	}
	return n
}

// retryBacklog makes the events that earlier runs could not deliver due
// now: a sink that came back gets its backlog from the next run, not
// after the backoff of their last attempt (up to 15 min).
func (e *Engine) retryBacklog(ctx context.Context, client *jobqueue.Queue, params *river.JobListParams) {
	res, err := client.JobList(ctx, params.States(rivertype.JobStateRetryable).First(10_000))
	if err != nil {
		e.cfg.Logger.Warn("list the events not delivered yet", "tenant", e.cfg.Tenant.ID, "error", err)
		return
	}
	for _, j := range res.Jobs {
		if _, err := client.JobRetry(ctx, j.ID); err != nil {
			e.cfg.Logger.Warn("retry an event not delivered yet", "tenant", e.cfg.Tenant.ID, "job", j.ID, "error", err)
			return
		}
	}
}
