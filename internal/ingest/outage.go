package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
)

// A PostgreSQL catalog may go away for a moment in the middle of a run (a
// restart, a failover). Nothing is lost when it does: a statement that did
// not reach it was not applied, and a transaction it cut off was rolled
// back. River's own loops (fetching, completing, electing a leader) retry
// on their own; the pipeline's side of it is here.
const (
	// outageLimit is how long a sync waits for its catalog to come back
	// before it gives up (the queued jobs stay for the next run).
	outageLimit = 10 * time.Minute
	// outageSnooze is how long a job that found the catalog unavailable
	// waits before it runs again.
	outageSnooze = 2 * time.Second
)

// retryUnavailable calls fn until it succeeds, fails for another reason
// than the catalog being unavailable, ctx ends, or the catalog has been
// unavailable for outageLimit.
func retryUnavailable[T any](ctx context.Context, log *slog.Logger, what string, fn func(context.Context) (T, error)) (T, error) {
	var since time.Time
	wait := 250 * time.Millisecond
	for {
		v, err := fn(ctx)
		if err == nil || ctx.Err() != nil || !catalog.Unavailable(err) {
			if err == nil && !since.IsZero() {
				log.Info("catalog database is back", "after", time.Since(since).Round(time.Millisecond))
			}
			return v, err
		}
		if since.IsZero() {
			since = time.Now()
			log.Warn("catalog database unavailable; waiting for it", "while", what, "error", err)
		}
		if time.Since(since) > outageLimit {
			return v, fmt.Errorf("%s: the catalog database has been unavailable for %s; check that PostgreSQL is running and reachable, then run again (queued work is kept): %w", what, outageLimit, err)
		}
		if err := sleep(ctx, wait); err != nil {
			return v, err
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// snoozeWhileUnavailable is River worker middleware: a job that failed
// because the catalog was unavailable runs again a little later without
// spending one of its attempts, so that an outage longer than a job's
// backoff cannot use them all up and discard it.
type snoozeWhileUnavailable struct {
	river.MiddlewareDefaults
	log *slog.Logger
}

func (m *snoozeWhileUnavailable) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	if err == nil || ctx.Err() != nil || !catalog.Unavailable(err) {
		return err
	}
	m.log.Warn("catalog database unavailable; the job will run again when it is back", "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "error", err)
	return river.JobSnooze(outageSnooze)
}
