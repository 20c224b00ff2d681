package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
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

// insertFunc is how a job is queued in a catalog transaction: through the
// running job's client (jobqueue.InsertFromJob) or a Queue's InsertTx.
type insertFunc func(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)

// announce queues, in tx, the event typ of a recording for every sink of
// the tenant: the outbox. The event is delivered if and only if tx
// commits.
func announce(ctx context.Context, tx *catalog.Tx, insert insertFunc, t *Tenant, typ, guid, contentKey string) error {
	if len(t.Events) == 0 {
		return nil
	}
	args := PublishArgs{Tenant: t.ID, Type: typ, GUID: guid, ContentKey: contentKey}
	if _, err := insert(ctx, tx, args, &river.InsertOpts{Queue: t.EventsQueue()}); err != nil {
		return fmt.Errorf("queue event %s of %s/%s: %w", typ, guid, contentKey, err)
	}
	return nil
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
	return true, announce(ctx, tx, insert, t, events.TypeRecordingStored, guid, contentKey)
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
		return announce(ctx, tx, jobqueue.InsertFromJob, t, events.TypeRecordingFailed, guid, contentKey)
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
	call := callOf(d)
	src := events.Source(t.ID)
	switch a.Type {
	case events.TypeRecordingStored:
		if rec.Status != catalog.StatusStored {
			return events.Event{}, fmt.Errorf("%w: %s/%s is %s", errNotAnnounced, a.GUID, a.ContentKey, rec.Status)
		}
		sidecar, err := blobstore.SidecarKey(t.ID, d.Start, a.GUID)
		if err != nil {
			return events.Event{}, err
		}
		r := recordingOf(*rec)
		return events.New(a.Type, events.RecordingID(t.ID, a.GUID, a.ContentKey, "stored", 0), src, r.BlobKey, rec.StoredAt, events.RecordingStored{
			Tenant: t.ID, InteractionID: a.GUID, ContentKey: r.ContentKey, ContentType: r.Type, MediaType: r.MediaType,
			Bytes: r.Bytes, SHA256: r.SHA256, BlobKey: r.BlobKey, BlobURL: t.Bucket.ObjectURL(r.BlobKey), SidecarKey: sidecar,
			AudioSeconds: r.DurationSeconds, StoredAt: rec.StoredAt.UTC(), Call: call,
		})
	case events.TypeRecordingFailed:
		if rec.Status != catalog.StatusFailed {
			return events.Event{}, fmt.Errorf("%w: %s/%s is %s", errNotAnnounced, a.GUID, a.ContentKey, rec.Status)
		}
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
