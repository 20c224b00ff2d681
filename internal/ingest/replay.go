package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// ReplayConfig says what Replay announces again, and to whom.
type ReplayConfig struct {
	Catalog *catalog.Catalog
	// Tenant needs its Bucket (for blob URLs) and Events; no VCC client.
	Tenant   *Tenant
	From, To time.Time // interaction start in [From, To)
	Types    []string  // event types; none: recording.stored
	// Wait bounds how long Replay delivers before it returns what is left
	// queued (the next run delivers it).
	Wait   time.Duration
	Logger *slog.Logger
}

// ReplayReport is what a replay did.
type ReplayReport struct {
	Queued    int   // publish jobs queued (one per recording and sink)
	Duplicate int   // already queued and not delivered yet: left as they were
	Published int64 // delivered by this process
	Pending   int64 // still queued when Replay returned
}

// Replay queues again the events of what the catalog holds in the range,
// for every sink of the tenant, and delivers them as a run does. The ids
// are those of the first delivery, so a consumer that has them drops them.
// It must be the only process working the tenant's events queue on an
// SQLite catalog (the caller holds its lock).
func Replay(ctx context.Context, cfg ReplayConfig) (ReplayReport, error) {
	t := cfg.Tenant
	if cfg.Catalog == nil || t == nil || t.Bucket == nil {
		return ReplayReport{}, errors.New("ingest: Replay needs a Catalog and a Tenant with its Bucket")
	}
	if len(t.Events) == 0 {
		return ReplayReport{}, errors.New("no event sinks are configured: give --events (or events in the config file)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	types := cfg.Types
	if len(types) == 0 {
		types = []string{events.TypeRecordingStored}
	}
	status := map[string]string{events.TypeRecordingStored: catalog.StatusStored, events.TypeRecordingFailed: catalog.StatusFailed}
	for _, typ := range types {
		if status[typ] == "" {
			return ReplayReport{}, fmt.Errorf("event type %q cannot be replayed; use recording.stored or recording.failed", typ)
		}
	}
	if err := jobqueue.Migrate(ctx, cfg.Catalog); err != nil {
		return ReplayReport{}, err
	}
	if cfg.Catalog.Dialect() == "sqlite" {
		if _, err := jobqueue.RescueOrphans(ctx, cfg.Catalog); err != nil {
			return ReplayReport{}, err
		}
	}
	progress := &Progress{}
	p := &pipeline{cat: cfg.Catalog, log: cfg.Logger, progress: progress, now: time.Now, jobTimeout: time.Minute, tenants: map[string]*Tenant{t.ID: t}}
	workers := river.NewWorkers()
	river.AddWorker(workers, &publishWorker{p: p})
	client, err := jobqueue.New(cfg.Catalog, &river.Config{
		Logger:            jobqueue.Logger(cfg.Logger),
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{t.EventsQueue(): EventsQueueConfig()},
		FetchPollInterval: 50 * time.Millisecond,
		FetchCooldown:     2 * time.Millisecond,
		JobTimeout:        -1,
	})
	if err != nil {
		return ReplayReport{}, err
	}

	var rep ReplayReport
	for _, typ := range types {
		recs, err := cfg.Catalog.RecordingsWithStatus(ctx, t.ID, status[typ], cfg.From, cfg.To)
		if err != nil {
			return rep, err
		}
		for len(recs) > 0 {
			batch := recs[:min(len(recs), 500)]
			recs = recs[len(batch):]
			queued, dup := 0, 0
			err := cfg.Catalog.InTx(ctx, func(tx *catalog.Tx) error {
				queued, dup = 0, 0
				count := func(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
					res, err := client.InsertTx(ctx, tx, args, opts)
					if err == nil && res.UniqueSkippedAsDuplicate {
						dup++
					} else if err == nil {
						queued++
					}
					return res, err
				}
				for _, r := range batch {
					if err := announce(ctx, tx, count, t, PublishArgs{Type: typ, GUID: r.GUID, ContentKey: r.ContentKey}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return rep, err
			}
			rep.Queued += queued
			rep.Duplicate += dup
		}
	}

	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return rep, fmt.Errorf("start job queue: %w", err)
	}
	params := river.NewJobListParams().Queues(t.EventsQueue()).Kinds(PublishArgs{}.Kind())
	waitErr := waitJobs(ctx, cfg.Logger, client, params, time.Now().Add(cfg.Wait))
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		_ = client.StopAndCancel(stopCtx)
	}
	rep.Published = progress.EventsPublished.Load()
	if waitErr != nil && !errors.Is(waitErr, errTimeUp) {
		return rep, waitErr
	}
	rep.Pending, err = jobqueue.Active(context.WithoutCancel(ctx), cfg.Catalog, t.EventsQueue())
	return rep, err
}
