package ingest

import (
	"context"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/vcc"
)

// Work goes in three classes, in this order, inside the tenant's one VCC
// budget:
//
//   - fresh: windows of an incremental run listed for the first time, and
//     the recordings they find;
//   - rescan: windows listed again (for late content), and their
//     recordings;
//   - backfill: windows of an explicit range (vccingest sync --from/--to)
//     older than the lookback, and their recordings.
//
// The class is the River priority of a window's discover job and of the
// fetch jobs it queues, so each queue hands out the jobs of the best class
// first. Backfill windows have a queue of their own (BackfillQueue): a long
// backfill's listings, waiting for the budget, never hold the workers that
// would list today's windows. And every VCC request waits for the budget
// with the priority of its job (vcc.WithPriority): class first, and within
// a class the downloads of recordings already listed before the listing of
// more windows, so pending work does not pile up.
const (
	classFresh    = 1
	classRescan   = 2
	classBackfill = 3
)

// windowClass is the class of a window's listing: backfill for a window of
// an explicit range that ended before the lookback (now − lookback), else
// rescan if it was listed before, else fresh.
func windowClass(w Window, backfill, listed bool, now time.Time, lookback time.Duration) int {
	switch {
	case backfill && !w.End.After(now.Add(-lookback)):
		return classBackfill
	case listed:
		return classRescan
	}
	return classFresh
}

// classKey carries a discover job's class to the fetch jobs it queues.
type classKey struct{}

// jobContext is the context a job of class (its River priority) does its
// VCC requests in: they wait for the budget by class, a download before a
// listing of its class, and a re-scan's requests count as such.
func jobContext(ctx context.Context, class int, listing bool) context.Context {
	class = min(max(class, classFresh), classBackfill)
	p := vcc.Priority(2 * class)
	if listing {
		p++
	}
	ctx = vcc.WithPriority(context.WithValue(ctx, classKey{}, class), p)
	if listing && class == classRescan {
		ctx = vcc.WithPurpose(ctx, vcc.PurposeRescan)
	}
	return ctx
}

// classOf is the class of the job ctx belongs to (fresh if none says).
func classOf(ctx context.Context) int {
	if c, ok := ctx.Value(classKey{}).(int); ok {
		return c
	}
	return classFresh
}

// BackfillQueue is the tenant's own queue of backfill discover jobs, apart
// from Queues' discover queue: a runner works it beside Queues, with as
// many workers.
func (t *Tenant) BackfillQueue() string {
	discover, _ := t.Queues()
	return strings.TrimSuffix(discover, "_discover") + "_backfill"
}

// discoverOpts routes a window's discover job to the queue of its class,
// with its class as priority; River takes every other option from the
// job's InsertOpts.
func (t *Tenant) discoverOpts(class int) *river.InsertOpts {
	q, _ := t.Queues()
	if class == classBackfill {
		q = t.BackfillQueue()
	}
	return &river.InsertOpts{Queue: q, Priority: class}
}

// downloadOpts routes a recording's fetch job to the tenant's download
// queue, with the class of the window that found it.
func (t *Tenant) downloadOpts(class int) *river.InsertOpts {
	_, q := t.Queues()
	return &river.InsertOpts{Queue: q, Priority: class, MaxAttempts: t.Attempts}
}

// runJobs selects the jobs a run waits for: a backfill all of the
// tenant's discover and fetch jobs; an incremental run those of the fresh
// and rescan classes only, so that it ends, and the next one starts, while
// a backfill goes on.
func runJobs(t *Tenant, backfill bool) *river.JobListParams {
	discover, download := t.Queues()
	params := river.NewJobListParams().Kinds(DiscoverArgs{}.Kind(), FetchArgs{}.Kind())
	if backfill {
		return params.Queues(discover, download, t.BackfillQueue())
	}
	return params.Queues(discover, download).Priorities(classFresh, classRescan)
}
