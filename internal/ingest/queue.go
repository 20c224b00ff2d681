package ingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
)

// Queue names. Discovery is light and latency-bound; downloads are heavy and
// sized by --downloads.
const (
	queueDiscover = "discover"
	queueDownload = "download"
)

// UniqueWhileActive deduplicates a job against copies that are still to run or
// running, but lets a later run insert it again once it has finished (a
// lookback re-scan must be able to rediscover a window). River requires the
// four non-final states to be listed.
func UniqueWhileActive() river.UniqueOpts {
	return river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{
			rivertype.JobStateAvailable,
			rivertype.JobStatePending,
			rivertype.JobStateRunning,
			rivertype.JobStateRetryable,
			rivertype.JobStateScheduled,
		},
	}
}

// queueDriver is River's driver for the catalog's database: River shares it
// so that catalog writes and job inserts commit in one transaction.
func queueDriver(cat *catalog.Catalog) riverdriver.Driver[*sql.Tx] {
	if cat.Dialect() == "postgres" {
		return riverdatabasesql.New(cat.DB())
	}
	return riversqlite.New(cat.DB())
}

// MigrateQueue brings River's own tables in the catalog's database up to
// date.
func MigrateQueue(ctx context.Context, cat *catalog.Catalog) error {
	m, err := rivermigrate.New(queueDriver(cat), nil)
	if err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	return nil
}

// rescueOrphans makes jobs that a killed process left "running" available
// again at once. It is only correct while no other process works the queue,
// which the embedded SQLite mode guarantees with its data-dir lock; River's
// own rescuer (RescueStuckJobsAfter) covers shared PostgreSQL queues.
func rescueOrphans(ctx context.Context, exec riverdriver.Executor) (int, error) {
	now := time.Now().UTC()
	stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{Max: 100_000, StuckHorizon: now.Add(time.Hour)})
	if err != nil {
		return 0, fmt.Errorf("find jobs left running by a stopped process: %w", err)
	}
	if len(stuck) == 0 {
		return 0, nil
	}
	p := &riverdriver.JobRescueManyParams{StuckHorizon: now.Add(time.Hour)}
	for _, j := range stuck {
		errData, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: j.Attempt, Error: "process stopped while the job was running; rescued at restart"})
		if err != nil {
			return 0, err
		}
		p.ID = append(p.ID, j.ID)
		p.Error = append(p.Error, errData)
		p.FinalizedAt = append(p.FinalizedAt, nil)
		p.ScheduledAt = append(p.ScheduledAt, now)
		p.State = append(p.State, string(rivertype.JobStateAvailable))
	}
	if _, err := exec.JobRescueMany(ctx, p); err != nil {
		return 0, fmt.Errorf("rescue jobs left running by a stopped process: %w", err)
	}
	return len(stuck), nil
}

// RetryPolicy backs off exponentially from one second to 30 seconds with
// jitter. River's default (attempt⁴ seconds) suits long-lived services, but a
// `sync` run waits for its jobs, and the VCC client already retries each HTTP
// request with its own backoff (two levels, as rclone does).
type RetryPolicy struct{}

func (RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := time.Second << min(max(job.Attempt-1, 0), 5)
	d = min(d, 30*time.Second)
	jitter := time.Duration(rand.Int64N(int64(d) / 5))
	return time.Now().Add(d - d/10 + jitter)
}
