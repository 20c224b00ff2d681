package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func TestFinishedJobs_JobsLeft(t *testing.T) {
	running := func(id int64) *rivertype.JobRow { return &rivertype.JobRow{ID: id, State: rivertype.JobStateRunning} }
	available := func(id int64) *rivertype.JobRow { return &rivertype.JobRow{ID: id, State: rivertype.JobStateAvailable} }
	hundred := func(first int64) []*rivertype.JobRow {
		var jobs []*rivertype.JobRow
		for id := first; id < first+100; id++ {
			jobs = append(jobs, running(id))
		}
		return jobs
	}
	for _, tc := range []struct {
		name     string
		jobs     []*rivertype.JobRow // what River lists, in id order
		finished []int64             // ended well here
		stale    []int64             // ended well here finishedFor ago
		want     bool
	}{
		{name: "NoJobs", want: false},
		{name: "AJobToRun", jobs: []*rivertype.JobRow{available(1)}, want: true},
		{name: "ARunningJob", jobs: []*rivertype.JobRow{running(1)}, want: true},
		{name: "EndedHere_NotRecordedYet", jobs: []*rivertype.JobRow{running(1), running(2)}, finished: []int64{1, 2}, want: false},
		{name: "EndedHere_AnotherStillRunning", jobs: []*rivertype.JobRow{running(1), running(2)}, finished: []int64{1}, want: true},
		{name: "EndedHere_ThenOneToRun", jobs: []*rivertype.JobRow{running(1), available(2)}, finished: []int64{1, 2}, want: true},
		{name: "EndedHereLongAgo_RiversRecordCounts", jobs: []*rivertype.JobRow{running(1)}, stale: []int64{1}, want: true},
		{name: "AHundredEndedHere_WaitsForRiver", jobs: append(hundred(1), available(101)), finished: ids(1, 101), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f finishedJobs
			for _, id := range tc.finished {
				f.add(id, time.Now())
			}
			for _, id := range tc.stale {
				f.add(id, time.Now().Add(-finishedFor))
			}
			lists := 0
			list := func(_ context.Context, p *river.JobListParams) (*river.JobListResult, error) {
				lists++
				n := len(tc.jobs)
				if lists == 1 {
					n = min(n, 1)
				} else {
					n = min(n, 100)
				}
				return &river.JobListResult{Jobs: tc.jobs[:n]}, nil
			}
			got, err := f.jobsLeft(context.Background(), list, river.NewJobListParams())
			if err != nil || got != tc.want {
				t.Fatalf("jobsLeft = %v, %v; want %v", got, err, tc.want)
			}
			if lists > 2 {
				t.Errorf("listed %d times, want at most 2", lists)
			}
		})
	}
}

func ids(from, to int64) []int64 {
	var s []int64
	for id := from; id < to; id++ {
		s = append(s, id)
	}
	return s
}

// A job is counted as ended only when its work returned no error, which is
// when River completes it; a wait is woken then.
func TestRecordFinished_OnlyJobsThatEndedWell(t *testing.T) {
	var f finishedJobs
	m := &recordFinished{f: &f}
	work := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	if err := m.Work(context.Background(), &rivertype.JobRow{ID: 1}, work(nil)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.changed():
	default:
		t.Error("a job that ended well did not wake the wait")
	}
	failed := errors.New("boom")
	if err := m.Work(context.Background(), &rivertype.JobRow{ID: 2}, work(failed)); !errors.Is(err, failed) {
		t.Fatalf("Work = %v, want the job's error", err)
	}
	if err := m.Work(context.Background(), &rivertype.JobRow{ID: 3}, work(river.JobSnooze(time.Minute))); err == nil {
		t.Fatal("a snoozed job's error was lost")
	}
	select {
	case <-f.changed():
		t.Error("a job that failed or was snoozed woke the wait")
	default:
	}
	now := time.Now()
	if !f.has(1, now) || f.has(2, now) || f.has(3, now) {
		t.Errorf("has(1, 2, 3) = %v, %v, %v; want true, false, false", f.has(1, now), f.has(2, now), f.has(3, now))
	}
}
