package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// finishedFor is how long a job that this process worked to its end
// counts as done before River has recorded it so: River records a
// completion within 250 ms, so after this the record is what counts.
const finishedFor = time.Minute

// finishedJobs remembers the jobs whose work ended well in this process
// until River records them completed. River's completer writes
// completions in batches, every 250 ms unless 100 are waiting, so a run
// that waited for River's record of its last job would wait up to that
// long for nothing: about a third of a short sync's time. Its zero value
// is ready to use.
type finishedJobs struct {
	mu   sync.Mutex
	at   map[int64]time.Time
	wake chan struct{}
}

// add records that job id ended well, and wakes a wait.
func (f *finishedJobs) add(id int64, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.at == nil {
		f.at = map[int64]time.Time{}
	}
	if len(f.at) >= 1024 {
		for k, t := range f.at {
			if now.Sub(t) >= finishedFor {
				delete(f.at, k)
			}
		}
	}
	f.at[id] = now
	select {
	case f.woken() <- struct{}{}:
	default:
	}
}

// has reports whether job id ended well in this process less than
// finishedFor ago.
func (f *finishedJobs) has(id int64, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.at[id]
	return ok && now.Sub(t) < finishedFor
}

// changed receives once a job ended well since the last receive.
func (f *finishedJobs) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.woken()
}

func (f *finishedJobs) woken() chan struct{} {
	if f.wake == nil {
		f.wake = make(chan struct{}, 1)
	}
	return f.wake
}

// recordFinished is River worker middleware: it tells f of each job whose
// work returned no error (River completes those, and only those).
type recordFinished struct {
	river.MiddlewareDefaults
	f *finishedJobs
}

func (m *recordFinished) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	if err == nil {
		m.f.add(job.ID, time.Now())
	}
	return err
}

// jobsLeft reports whether a job that params selects (in a state that
// runs later or now) is left, not counting those that ended well here
// and wait for River's record of it. Most polls see a job still to run
// at once; only when the first one has ended does it look further.
func (f *finishedJobs) jobsLeft(ctx context.Context, list func(context.Context, *river.JobListParams) (*river.JobListResult, error), params *river.JobListParams) (bool, error) {
	params = params.States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStatePending)
	for _, n := range []int{1, 100} {
		res, err := list(ctx, params.First(n))
		if err != nil {
			return false, err
		}
		now := time.Now()
		for _, j := range res.Jobs {
			if j.State != rivertype.JobStateRunning || !f.has(j.ID, now) {
				return true, nil
			}
		}
		if len(res.Jobs) < n {
			return false, nil
		}
	}
	// A hundred jobs ended here and none recorded yet: River records
	// them at once (it does for a hundred waiting); wait for that.
	return true, nil
}
