// Package jobqueue is vccingest's River job queue on the catalog's own
// database: River's SQLite driver on the embedded catalog, its pgx driver
// on PostgreSQL, so that a catalog row and the job for it commit in one
// transaction. It also holds the queue policies every job shares (retry
// backoff, uniqueness while active) and the rescue of jobs a stopped
// process left running.
package jobqueue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
)

// Queue is a River client on the catalog's database: River's SQLite driver
// on the embedded catalog, its pgx driver (riverpgxv5, with LISTEN/NOTIFY)
// on the catalog's PostgreSQL pool. Either way catalog writes and job
// inserts commit in one transaction (InsertTx). The two clients differ only
// in their transaction type, which Queue hides.
type Queue struct {
	riverClient
	insertTx func(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// riverClient is what vccingest uses of a *river.Client, whatever its
// transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
	Queues() *river.QueueBundle
	PeriodicJobs() *river.PeriodicJobBundle
}

// New returns a River client with cfg on the catalog's database.
func New(cat *catalog.Catalog, cfg *river.Config) (*Queue, error) {
	if pool := cat.Pool(); pool != nil {
		c, err := river.NewClient(riverpgxv5.New(pool), cfg)
		if err != nil {
			return nil, fmt.Errorf("start job queue: %w", err)
		}
		return &Queue{riverClient: c, insertTx: func(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
			return c.InsertTx(ctx, tx.Pgx(), args, opts)
		}}, nil
	}
	c, err := river.NewClient(riversqlite.New(cat.DB()), cfg)
	if err != nil {
		return nil, fmt.Errorf("start job queue: %w", err)
	}
	return &Queue{riverClient: c, insertTx: func(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
		return c.InsertTx(ctx, tx.SQL(), args, opts)
	}}, nil
}

// InsertTx queues a job in the catalog transaction tx: it is inserted if
// and only if tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return q.insertTx(ctx, tx, args, opts)
}

// InsertFromJob queues a job in tx from inside a running job, through the
// River client that runs it.
func InsertFromJob(ctx context.Context, tx *catalog.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if pgxTx := tx.Pgx(); pgxTx != nil {
		c, err := river.ClientFromContextSafely[pgx.Tx](ctx)
		if err != nil {
			return nil, err
		}
		return c.InsertTx(ctx, pgxTx, args, opts)
	}
	c, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil {
		return nil, err
	}
	return c.InsertTx(ctx, tx.SQL(), args, opts)
}

// executor runs River's own queries on the catalog's database.
func executor(cat *catalog.Catalog) riverdriver.Executor {
	if pool := cat.Pool(); pool != nil {
		return riverpgxv5.New(pool).GetExecutor()
	}
	return riversqlite.New(cat.DB()).GetExecutor()
}

// Migrate brings River's own tables in the catalog's database up to
// date.
func Migrate(ctx context.Context, cat *catalog.Catalog) error {
	// Under the catalog's migration lock: processes starting together on
	// a new PostgreSQL catalog would race on River's tables too.
	err := cat.WithMigrationLock(ctx, func(ctx context.Context) error {
		if pool := cat.Pool(); pool != nil {
			return migrate(ctx, riverpgxv5.New(pool))
		}
		return migrate(ctx, riversqlite.New(cat.DB()))
	})
	if err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	return nil
}

func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

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

// RescueOrphans makes jobs that a killed process left "running" available
// again at once. It is only correct while no other process works the queue,
// which the embedded SQLite mode guarantees with its data-dir lock; River's
// own rescuer (RescueStuckJobsAfter) covers shared PostgreSQL queues.
func RescueOrphans(ctx context.Context, cat *catalog.Catalog) (int, error) {
	exec := executor(cat)
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

// Logger keeps River's own chatter out of the user's way: River logs job
// errors that vccingest already reports in its own words.
func Logger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{h: l.Handler(), min: slog.LevelError})
}

type levelFloor struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFloor) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h: f.h.WithAttrs(as), min: f.min}
}
func (f levelFloor) WithGroup(g string) slog.Handler {
	return levelFloor{h: f.h.WithGroup(g), min: f.min}
}

// AdoptQueued moves a tenant's unfinished jobs from queue from to queue to:
// vccingest before per-tenant queues put every tenant's jobs in the shared
// "discover" and "download" queues, and River's unique jobs would keep a
// window queued there from ever being queued again. Running jobs are left
// alone (their process, or River's rescuer, finishes them).
func AdoptQueued(ctx context.Context, cat *catalog.Catalog, tenant, from, to string) (int64, error) {
	q := `UPDATE river_job SET queue = $1 WHERE queue = $2 AND args->>'tenant' = $3
		AND state IN ('available', 'retryable', 'scheduled', 'pending')`
	if cat.Dialect() == "sqlite" {
		q = `UPDATE river_job SET queue = ?1 WHERE queue = ?2 AND json_extract(args, '$.tenant') = ?3
		AND state IN ('available', 'retryable', 'scheduled', 'pending')`
	}
	res, err := cat.DB().ExecContext(ctx, q, to, from, tenant)
	if err != nil {
		return 0, fmt.Errorf("move tenant %s's queued jobs from queue %s to %s: %w", tenant, from, to, err)
	}
	return res.RowsAffected()
}

// AttemptTimeout is how long one attempt of a job may run on a shared
// queue whose rescuer takes a job back after rescueAfter: less than that, so
// a job near its timeout is never rescued (and run a second time) while its
// first attempt still runs. River's rescuer wants the same margin.
func AttemptTimeout(rescueAfter time.Duration) time.Duration {
	return rescueAfter - max(rescueAfter/10, time.Second)
}
