package ingest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/jobqueue"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// A backfill of 30 days started beside a live schedule does not delay
// today's recordings: with a budget of 5 requests a second (the backfill
// alone is some 900 requests), a live run started once the backfill lists
// its windows stores the recording of the last hour, and ends, within one
// interval, while most of the backfill is still to do. First come, first
// served, the live run's windows would wait for all 30 of the backfill's
// (the check fails so, with priorities and the backfill queue taken out).
// The interval is generous (a minute) so that a loaded machine under -race
// does not fail the test; what tells priorities work is that the
// backfill had listed at most half its windows when the live run ended.
func TestPriority_BackfillBesideLiveSchedule(t *testing.T) {
	const interval = time.Minute
	ctx := context.Background()
	day0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	simNow := day0.AddDate(0, 0, 30).Add(15 * time.Hour) // mid-afternoon of the 31st day
	sim, err := vccsim.Start(vccsim.Config{Seed: 7, Start: day0, Days: 31, CallsPerDay: 24, FixedRecordingSize: 4000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.SetNow(simNow)
	cred := sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: sim.AuthURL(), APIURL: sim.APIURL(), ClientID: cred.ClientID, ClientSecret: secret.New(cred.ClientSecret),
		RequestsPerMinute: 300, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	// The recording the live run is for: the last one of the last hour.
	var fresh vccsim.TruthInteraction
	for _, it := range sim.Truth(simNow.Add(-time.Hour).Truncate(time.Hour), simNow.Truncate(time.Hour), cred.ClientID).Interactions {
		if it.Visible && len(it.Content) > 0 && it.End.Add(3*time.Minute).Before(simNow) {
			fresh = it
		}
	}
	if fresh.GUID == "" {
		t.Fatal("the simulated account has no recording in the last hour")
	}

	cat := catalogtest.SQLite(t)
	if err := jobqueue.Migrate(ctx, cat); err != nil {
		t.Fatal(err)
	}
	bucket, err := blobstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	tenant := &Tenant{ID: "acme", VCC: client, Bucket: bucket}
	if err := cat.UpsertTenant(ctx, catalog.Tenant{ID: tenant.ID}); err != nil {
		t.Fatal(err)
	}
	// One process works the tenant's queues as serve does, and runs the
	// backfill and the live schedule's run side by side.
	start := time.Now()
	clock := func() time.Time { return simNow.Add(time.Since(start)) }
	pipe := NewPipeline(PipelineConfig{Catalog: cat, Logger: slog.New(slog.DiscardHandler), Now: clock, JobTimeout: 10 * time.Minute})
	pipe.SetTenant(tenant)
	workers := river.NewWorkers()
	pipe.Register(workers)
	discover, download := tenant.Queues()
	q, err := jobqueue.New(cat, &river.Config{
		Workers: workers, Middleware: pipe.Middleware(), RetryPolicy: jobqueue.RetryPolicy{}, JobTimeout: -1,
		FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 5 * time.Millisecond, Logger: jobqueue.Logger(slog.New(slog.DiscardHandler)),
		Queues: map[string]river.QueueConfig{discover: {MaxWorkers: 2}, tenant.BackfillQueue(): {MaxWorkers: 2}, download: {MaxWorkers: 8}, tenant.EventsQueue(): {MaxWorkers: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.StopAndCancel(stop)
	})

	spec := RunSpec{Window: time.Hour, Lookback: 2 * time.Hour, Settle: 0}
	backfill := spec
	backfill.Window = 24 * time.Hour // 30 windows: listing costs the same, SQLite under -race far less
	backfill.Range = Range{From: day0, To: simNow.Truncate(24 * time.Hour)}
	bctx, stopBackfill := context.WithCancel(ctx)
	backfillDone := make(chan error, 1)
	go func() { _, err := pipe.Run(bctx, q, tenant, backfill); backfillDone <- err }()
	t.Cleanup(func() { stopBackfill(); <-backfillDone })

	listed := func() int {
		c, err := cat.CountWindows(ctx, tenant.ID, backfill.Range.From, backfill.Range.To)
		if err != nil {
			t.Fatal(err)
		}
		return c.Listed
	}
	// The backfill is under way once its first recordings are queued (its
	// span's windows are marked listed only when the whole span is).
	underway := func() bool {
		tot, err := cat.Totals(ctx, tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tot.Pending > 0 || listed() > 0
	}
	// Listing the 30-day span (720 calls) takes about 25 s under -race on
	// a quiet machine, and took more than 3 minutes on a loaded one.
	for deadline := time.Now().Add(6 * time.Minute); !underway(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backfill queued no recording in 6 minutes")
		}
	}

	// The live schedule's run, started while the backfill spends the budget.
	began := time.Now()
	live, err := pipe.Run(ctx, q, tenant, RunSpec{Window: spec.Window, Lookback: spec.Lookback, Settle: spec.Settle, Deadline: began.Add(interval)})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	rec, err := cat.Recording(ctx, tenant.ID, fresh.GUID, fresh.Content[0].ContentKey)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		rec.Status = "not even listed"
	case err != nil:
		t.Fatal(err)
	}
	backfillListed := listed()
	tot, err := cat.Totals(ctx, tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live run: %s in %s (%d stored); the backfill had listed %d of its 30 windows, %d recordings still to download", live.Status, took.Round(time.Millisecond), live.Stored, backfillListed, tot.Pending)
	if rec.Status != catalog.StatusStored {
		t.Errorf("the recording of the last hour is %s after the live run (%s, %s); want stored within one interval (%s)", rec.Status, live.Status, took.Round(time.Millisecond), interval)
	}
	if live.Status != catalog.RunDone {
		t.Errorf("the live run ended %s after %s; want done within one interval (%s), not held by the backfill", live.Status, took.Round(time.Millisecond), interval)
	}
	// The backfill lists its 30 days in one span (one request per API), so
	// what it still has to do when the live run ends is downloads.
	if tot.Pending == 0 {
		t.Errorf("the backfill had nothing left to download when the live run ended (%d of 30 windows listed): the live run waited for the backfill", backfillListed)
	}
}

// The class of a window: backfill for an explicit range's windows older
// than the lookback, else rescan once listed, else fresh; and the order
// its requests wait for the budget in: by class, and in a class a
// download before a listing. A re-scan's listings count as re-scans.
func TestPriority_ClassesAndRequestOrder(t *testing.T) {
	now := time.Date(2024, 3, 31, 15, 0, 0, 0, time.UTC)
	old := Window{Start: now.Add(-48 * time.Hour), End: now.Add(-47 * time.Hour)}
	recent := Window{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}
	for _, c := range []struct {
		w                Window
		backfill, listed bool
		want             int
	}{
		{recent, false, false, classFresh},
		{recent, false, true, classRescan},
		{recent, true, false, classFresh}, // a backfill's windows inside the lookback are today's
		{recent, true, true, classRescan},
		{old, false, false, classFresh}, // an incremental run catching up after an outage
		{old, false, true, classRescan},
		{old, true, false, classBackfill},
		{old, true, true, classBackfill},
	} {
		if got := windowClass(c.w, c.backfill, c.listed, now, 24*time.Hour); got != c.want {
			t.Errorf("window %s, backfill %v, listed %v: class %d, want %d", c.w, c.backfill, c.listed, got, c.want)
		}
	}

	// Every request of a better class goes first; in a class, downloads
	// before listings.
	type req struct {
		name           string
		class          int
		listing        bool
		wantPriority   vcc.Priority
		rescanPurposed bool
	}
	order := []req{
		{"fresh download", classFresh, false, 2, false},
		{"fresh listing", classFresh, true, 3, false},
		{"rescan download", classRescan, false, 4, false},
		{"rescan listing", classRescan, true, 5, true},
		{"backfill download", classBackfill, false, 6, false},
		{"backfill listing", classBackfill, true, 7, false},
	}
	for _, r := range order {
		ctx := jobContext(context.Background(), r.class, r.listing)
		if p := vcc.PriorityOf(ctx); p != r.wantPriority {
			t.Errorf("%s: priority %d, want %d", r.name, p, r.wantPriority)
		}
		if got := vcc.PurposeOf(ctx, vcc.PurposeList) == vcc.PurposeRescan; got != r.rescanPurposed {
			t.Errorf("%s: counted as a re-scan: %v, want %v", r.name, got, r.rescanPurposed)
		}
		if classOf(ctx) != r.class {
			t.Errorf("%s: the fetch jobs it queues get class %d, want %d", r.name, classOf(ctx), r.class)
		}
	}
	// A job queued before priorities (River's default priority 1) is fresh.
	if p := vcc.PriorityOf(jobContext(context.Background(), 0, true)); p != 3 {
		t.Errorf("a job of priority 0: request priority %d, want 3 (a fresh listing)", p)
	}
}
