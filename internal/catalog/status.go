package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Totals are a tenant's all-time counts, for the status page and metrics.
type Totals struct {
	Interactions int64 // seen through the Content API
	Recordings   int64 // known recordings
	Stored       int64
	Failed       int64 // failed for good
	Pending      int64
	Bytes        int64 // stored bytes
}

// Totals counts a tenant's interactions and recordings by status.
func (q querier) Totals(ctx context.Context, tenant string) (Totals, error) {
	var t Totals
	err := q.queryRow(ctx, `SELECT
			COUNT(*),
			COALESCE(SUM(CASE WHEN status = 'stored' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'stored' THEN bytes ELSE 0 END), 0)
		FROM recordings WHERE tenant = ?`, tenant).Scan(&t.Recordings, &t.Stored, &t.Failed, &t.Pending, &t.Bytes)
	if err != nil {
		return Totals{}, wrap(err, "count recordings of tenant %s", tenant)
	}
	err = q.queryRow(ctx, `SELECT COUNT(*) FROM interactions WHERE tenant = ?`, tenant).Scan(&t.Interactions)
	return t, wrap(err, "count interactions of tenant %s", tenant)
}

// A run's status, as every runner (sync, worker, serve) records it.
const (
	RunRunning     = "running"     // not finished (or its process died)
	RunDone        = "done"        // every due window listed, every recording stored
	RunFailures    = "failures"    // done, but recordings of its range failed for good
	RunFailed      = "failed"      // it did not do its whole job: Run.Error says why
	RunPartial     = "partial"     // its time was up with work queued; the next run goes on
	RunInterrupted = "interrupted" // the process was stopped
)

// Run is one sync run of a tenant.
type Run struct {
	ID                    int64
	Tenant                string
	From, To              time.Time
	Started, Finished     time.Time // Finished is zero while running
	Status                string    // RunRunning, RunDone, …
	Stored, Failed, Bytes int64
	Error                 string // why a failed run failed
}

const runCols = `id, tenant, range_from, range_to, started_at, finished_at, status, stored, failed, bytes, error`

// Runs lists a tenant's latest runs, newest first.
func (q querier) Runs(ctx context.Context, tenant string, limit int) ([]Run, error) {
	rows, err := q.query(ctx, `SELECT `+runCols+` FROM runs WHERE tenant = ? ORDER BY id DESC LIMIT ?`, tenant, limit)
	if err != nil {
		return nil, wrap(err, "list runs of tenant %s", tenant)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, wrap(err, "list runs of tenant %s", tenant)
		}
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "list runs of tenant %s", tenant)
}

// RunByID returns one run of a tenant.
func (q querier) RunByID(ctx context.Context, tenant string, id int64) (Run, error) {
	r, err := scanRun(q.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %d of tenant %s: %w", id, tenant, ErrNotFound)
	}
	return r, wrap(err, "read run %d of tenant %s", id, tenant)
}

// PreviousRun returns the latest run of a tenant before run id that
// finished other than interrupted (a stopped process says nothing of the
// tenant), and whether there is one.
func (q querier) PreviousRun(ctx context.Context, tenant string, id int64) (Run, bool, error) {
	r, err := scanRun(q.queryRow(ctx, `SELECT `+runCols+` FROM runs
		WHERE tenant = ? AND id < ? AND finished_at IS NOT NULL AND status <> ? ORDER BY id DESC LIMIT 1`, tenant, id, RunInterrupted))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	return r, err == nil, wrap(err, "read the run of tenant %s before run %d", tenant, id)
}

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var from, to, started string
	var finished sql.NullString
	if err := sc.Scan(&r.ID, &r.Tenant, &from, &to, &started, &finished, &r.Status, &r.Stored, &r.Failed, &r.Bytes, &r.Error); err != nil {
		return Run{}, err
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		s   string
	}{{&r.From, from}, {&r.To, to}, {&r.Started, started}} {
		if *f.dst, err = parseTS(f.s); err != nil {
			return Run{}, err
		}
	}
	if r.Finished, err = nullTS(finished); err != nil {
		return Run{}, err
	}
	return r, nil
}

// RecentFailures lists a tenant's recordings that failed for good, the most
// recently failed first.
func (q querier) RecentFailures(ctx context.Context, tenant string, limit int) ([]Recording, error) {
	return q.recordings(ctx, `SELECT `+recordingCols+` FROM recordings r
		JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
		WHERE r.tenant = ? AND r.status = 'failed'
		ORDER BY r.updated_at DESC, r.guid, r.content_key LIMIT ?`, tenant, limit)
}
