package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

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
	Queued    int   // events queued in the outbox (one per recording and sink)
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
	exclusive := cfg.Catalog.Dialect() == "sqlite"
	if exclusive {
		if _, err := jobqueue.RescueOrphans(ctx, cfg.Catalog); err != nil {
			return ReplayReport{}, err
		}
	}
	progress := &Progress{}
	p := &pipeline{cat: cfg.Catalog, log: cfg.Logger, progress: progress, now: time.Now, jobTimeout: time.Minute, tenants: map[string]*Tenant{t.ID: t}}
	workers := river.NewWorkers()
	river.AddWorker(workers, &drainWorker{p: p})
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
	p.setQueue(client)
	p.resumeEvents()

	var rep ReplayReport
	sinks := len(t.Events)
	now := time.Now()
	for _, typ := range types {
		recs, err := cfg.Catalog.RecordingsWithStatus(ctx, t.ID, status[typ], cfg.From, cfg.To)
		if err != nil {
			return rep, err
		}
		for len(recs) > 0 {
			batch := recs[:min(len(recs), 500)]
			recs = recs[len(batch):]
			queued := 0
			err := cfg.Catalog.InTx(ctx, func(tx *catalog.Tx) error {
				queued = 0
				for _, r := range batch {
					d, err := tx.Detail(ctx, t.ID, r.GUID)
					if err != nil {
						return err
					}
					n, err := announceRecording(ctx, tx, t, typ, d, r.ContentKey, now)
					if errors.Is(err, errNotAnnounced) {
						continue // changed since it was listed
					}
					if err != nil {
						return err
					}
					queued += n
				}
				return nil
			})
			if err != nil {
				return rep, err
			}
			rep.Queued += queued
			rep.Duplicate += len(batch)*sinks - queued
		}
	}

	if exclusive {
		if err := p.releaseClaims(ctx, t); err != nil {
			return rep, err
		}
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return rep, fmt.Errorf("start job queue: %w", err)
	}
	if err := p.kickBacklog(ctx, t); err != nil {
		return rep, err
	}
	_, waitErr := p.waitEvents(ctx, t, time.Now().Add(cfg.Wait))
	p.stopEvents()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		_ = client.StopAndCancel(stopCtx)
	}
	rep.Published = progress.EventsPublished.Load()
	if waitErr != nil {
		return rep, waitErr
	}
	rep.Pending, _, err = p.pendingEvents(context.WithoutCancel(ctx), t)
	return rep, err
}
