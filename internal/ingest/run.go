package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// RunSpec says what one run of a tenant covers and how long it may take.
type RunSpec struct {
	// Range is the run's range. With From and To zero the run is
	// incremental: from the watermark minus Lookback to now minus Settle
	// (PlanRange); a zero From or To alone takes that bound from the
	// incremental plan. Set, it is a backfill of that range.
	Range Range
	// Window, Lookback, Settle and Rescan are as for Config (a nil Rescan
	// is DefaultRescan).
	Window, Lookback, Settle time.Duration
	Rescan                   []time.Duration
	// Deadline, if not zero, ends the wait for the run's jobs: the run is
	// recorded as partial, and the next run goes on with what is queued.
	Deadline time.Time
	// Start, if set, is called once the run's work is queued, to start the
	// workers that do it (a runner whose workers already run leaves it nil).
	Start func(ctx context.Context) error
}

// Report is the outcome of one run.
type Report struct {
	Range   Range
	Status  string // catalog.RunDone, RunFailures, RunFailed, RunPartial or RunInterrupted
	Windows int    // windows listed (queued for discovery), re-scans included
	Rescans int    // of them, windows listed before, listed again for late content
	NotDue  int    // windows of the range not due yet (they end after now − settle): planned, not listed
	Skipped int    // windows past the lookback that are synced already: not listed again
	Stored  int64  // recordings stored while the run went on
	Bytes   int64  // their bytes
	// Interactions are the interactions first seen while the run went on;
	// Requests the VCC API requests this process made for it (tokens
	// aside), when the client counts them.
	Interactions, Requests int64
	// Cost is the VCC requests of Requests by purpose, the 429s and the
	// rate in force when the run ended.
	Cost Cost
	// PendingRecordings are the tenant's recordings still to download
	// when the run ended, PendingWindows the due windows of its range not
	// listed yet (a partial or interrupted run leaves them queued): with
	// Cost.PerMinute, the budget's ETA for what is left (ETA).
	PendingRecordings, PendingWindows int64
	window                            time.Duration // the size of a window, for ETA
	Watermark                         time.Time
	Failures                          []catalog.Recording      // recordings that failed for good in the range
	Unlisted                          []catalog.UnlistedWindow // due windows whose listing failed for good
	Warnings                          []string
	Elapsed                           time.Duration
	// EventsPending are events not delivered yet when Sync returned (they
	// stay queued for the next run).
	EventsPending int64

	// Progress and Coverage are filled by Engine for `vccingest sync`'s
	// summary: this process's counts, and the range's coverage.
	Progress Snapshot
	Coverage coverage.Report
	// judged is the coverage of the range the run's diagnosis of
	// permission gaps judged by (with events), which Coverage reuses.
	judged *coverage.Report
}

// ETA is how long what the run left pending takes at the budget's rate
// in force (0: nothing left, or no budget).
func (r *Report) ETA() time.Duration {
	return BudgetETA(r.PendingRecordings, time.Duration(r.PendingWindows)*r.window, r.Cost.PerMinute)
}

// Error says why the run did not do its whole job ("" if it did).
func (r *Report) Error() string { return UnlistedError(r.Unlisted) }

// errTimeUp ends the wait for a run's jobs at its deadline.
var errTimeUp = errors.New("the run's time is up")

// run is the one runner every command uses (sync through Engine, serve
// through Pipeline): plan the range, record the run, ready the tenant
// (scopes, bucket, agents), queue the due windows on the tenant's own queues
// (and plan the rest), wait for those queues, advance the watermark and
// record how the run ended. q is a River client that inserts into and lists
// the tenant's queues; spec.Start, or another process, works them.
func (p *pipeline) run(ctx context.Context, q *jobqueue.Queue, t *Tenant, spec RunSpec) (_ *Report, err error) {
	start := time.Now()
	log := p.log.With("tenant", t.ID)
	if spec.Rescan == nil {
		spec.Rescan = DefaultRescan
	}
	plan, err := p.plan(ctx, t, spec)
	if err != nil {
		return nil, err
	}
	before, err := p.cat.Totals(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	costBefore := CostOf(t.VCC)
	if err := p.cat.UpsertTenant(ctx, catalog.Tenant{ID: t.ID, Region: t.Region}); err != nil {
		return nil, err
	}
	// From here on the run is on record, so a run that cannot even start
	// (refused credentials, an unreachable VCC) shows as failed.
	runID, err := p.cat.StartRun(ctx, t.ID, plan.r.From, plan.r.To)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A run that ends in an error is recorded as such, never left
		// running (a finished run is left as it is).
		if err == nil {
			return
		}
		status, msg := catalog.RunFailed, err.Error()
		if ctx.Err() != nil {
			status, msg = catalog.RunInterrupted, "the process was stopped"
		}
		actx := context.WithoutCancel(ctx)
		if aerr := p.endRun(actx, t, runID, status, func(tx *catalog.Tx) error { return tx.AbortRun(actx, runID, status, msg) }); aerr != nil {
			log.Error("record the end of the run", "error", aerr)
		}
	}()
	warnings, err := preflight(ctx, t)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if err := adoptLegacyJobs(ctx, p, t); err != nil {
		return nil, err
	}
	if err := p.ready(ctx, t, len(plan.due) > 0); err != nil {
		return nil, err
	}
	p.progress.WindowsPlanned.Add(int64(len(plan.due)))
	if err := p.queueWindows(ctx, q, t, plan.due, plan.rescan, plan.alone, plan.r.Backfill, spec.Window, spec.Lookback, ScanOffsets(spec.Rescan, spec.Lookback, spec.Settle)); err != nil {
		return nil, err
	}
	if err := planWindows(ctx, p.cat, t, plan.notDue); err != nil {
		return nil, err
	}
	if spec.Start != nil {
		if err := spec.Start(ctx); err != nil {
			return nil, err
		}
	}

	waitErr := waitJobs(ctx, log, q, &p.finished, runJobs(t, plan.r.Backfill), spec.Deadline)
	rep := &Report{Range: plan.r, Status: catalog.RunDone, Windows: len(plan.due), Rescans: len(plan.rescan), NotDue: len(plan.notDue), Skipped: plan.skipped, Warnings: warnings, window: spec.Window}
	switch {
	case ctx.Err() != nil:
		rep.Status = catalog.RunInterrupted
	case errors.Is(waitErr, errTimeUp):
		rep.Status = catalog.RunPartial
		log.Warn("the run's time is up with work still queued; the next run goes on with it", "deadline", spec.Deadline)
	case waitErr != nil:
		return nil, waitErr
	}

	// What is left is bookkeeping: it is done even if the process is
	// being stopped, so the run's record tells what it did.
	fin := context.WithoutCancel(ctx)
	if rep.Watermark, err = retryUnavailable(fin, log, "advance the watermark", func(ctx context.Context) (time.Time, error) {
		return p.advanceWatermark(ctx, t, plan.windows, plan.synced)
	}); err != nil {
		return nil, err
	}
	if rep.Status == catalog.RunDone && len(plan.due) > len(plan.rescan) {
		fresh := slices.DeleteFunc(slices.Clone(plan.due), func(w Window) bool { return plan.rescan[w.Start] })
		if rep.Unlisted, err = retryUnavailable(fin, log, "list windows not listed", func(ctx context.Context) ([]catalog.UnlistedWindow, error) {
			return p.cat.UnlistedWindows(ctx, t.ID, fresh[0].Start, fresh[len(fresh)-1].End)
		}); err != nil {
			return nil, err
		}
	}
	if rep.Failures, err = retryUnavailable(fin, log, "list failed recordings", func(ctx context.Context) ([]catalog.Recording, error) {
		// Those of its range, and those it failed outside it (the first
		// window widened to a boundary, a re-scan, a key date kept).
		return p.cat.FailedRecordings(ctx, t.ID, plan.r.From, plan.r.To, start)
	}); err != nil {
		return nil, err
	}
	after, err := retryUnavailable(fin, log, "count recordings", func(ctx context.Context) (catalog.Totals, error) { return p.cat.Totals(ctx, t.ID) })
	if err != nil {
		return nil, err
	}
	rep.Stored, rep.Bytes = max(after.Stored-before.Stored, 0), max(after.Bytes-before.Bytes, 0)
	rep.Cost = CostOf(t.VCC).Since(costBefore)
	rep.PendingRecordings = after.Pending
	if wc, err := p.cat.CountWindows(fin, t.ID, plan.r.From, plan.r.To); err == nil {
		rep.PendingWindows = int64(max(wc.Planned-wc.Listed-len(plan.notDue), 0))
	}
	rep.Interactions, rep.Requests = max(after.Interactions-before.Interactions, 0), rep.Cost.Total()
	switch {
	case rep.Status != catalog.RunDone:
	case len(rep.Unlisted) > 0:
		rep.Status = catalog.RunFailed // it did not do its whole job
	case len(rep.Failures) > 0:
		rep.Status = catalog.RunFailures
	}
	if _, err := retryUnavailable(fin, log, "record the run", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.endRun(ctx, t, runID, rep.Status, func(tx *catalog.Tx) error {
			return tx.FinishRun(ctx, runID, rep.Status, rep.Stored, int64(len(rep.Failures)), rep.Bytes, rep.Error())
		})
	}); err != nil {
		return nil, err
	}
	if rep.Status != catalog.RunFailed && rep.Status != catalog.RunInterrupted {
		if rep.judged, err = retryUnavailable(fin, log, "record the coverage gaps", func(ctx context.Context) (*coverage.Report, error) {
			return p.recordGaps(ctx, t, plan.r.From, plan.r.To, spec.Lookback)
		}); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(start)
	log.Info("run finished", "status", rep.Status, "from", plan.r.From, "to", plan.r.To, "windows", rep.Windows, "rescans", rep.Rescans,
		"new_interactions", rep.Interactions, "stored", rep.Stored, "failed", len(rep.Failures), "bytes", rep.Bytes, "unlisted", len(rep.Unlisted),
		"requests", rep.Requests, "cost", rep.Cost.String(), "pending_recordings", rep.PendingRecordings, "pending_windows", rep.PendingWindows, "eta", rep.ETA(),
		"watermark", rep.Watermark, "elapsed", rep.Elapsed.Round(time.Millisecond))
	if rep.Status == catalog.RunInterrupted {
		return rep, ctx.Err()
	}
	return rep, nil
}

// runPlan is the windows of one run.
type runPlan struct {
	r       Range
	windows []Window           // every window of the range, in order
	due     []Window           // to list now, in order (re-scans before the range included)
	rescan  map[time.Time]bool // of due, the windows listed before, by start: re-scans
	alone   map[time.Time]bool // of due, the windows whose last listing failed: listed alone
	notDue  []Window           // to record as planned: they end after now − settle
	synced  map[time.Time]bool // windows not listed again: past the lookback and synced
	skipped int
}

// plan cuts the run's range into windows. A window is due once its calls
// have settled (it ends by now − settle); one that is not (a --to in the
// future) stays planned and unlisted, since listing it now would find
// nothing and let the watermark pass time never synced. An incremental run
// lists the windows of its range that were never listed, and re-scans the
// windows whose next scan for late content is due (ScanOffsets: a few times
// in the lookback, then not again), wherever they are; a window that cannot
// be listed holds the watermark back and is listed again by each run. A
// backfill lists every due window of its range.
func (p *pipeline) plan(ctx context.Context, t *Tenant, spec RunSpec) (runPlan, error) {
	now := p.now()
	r := spec.Range
	incremental := r.From.IsZero() && r.To.IsZero()
	if r.From.IsZero() || r.To.IsZero() {
		wm, err := p.cat.Watermark(ctx, t.ID)
		if err != nil {
			return runPlan{}, err
		}
		inc := PlanRange(wm, now, spec.Lookback, spec.Settle, spec.Window)
		if r.From.IsZero() {
			r.From = inc.From
		}
		if r.To.IsZero() {
			r.To = inc.To
		}
	}
	r.Backfill = !incremental
	if r.To.Before(r.From) {
		return runPlan{}, fmt.Errorf("the range ends (%s) before it starts (%s)", r.To.Format(time.RFC3339), r.From.Format(time.RFC3339))
	}
	windows, err := Windows(r.From, r.To, spec.Window)
	if err != nil {
		return runPlan{}, err
	}
	pl := runPlan{r: r, windows: windows, rescan: map[time.Time]bool{}}
	due, notDue := splitDue(windows, now.Add(-spec.Settle))
	pl.notDue = notDue
	pl.due = due
	if !incremental {
		if len(due) > 0 {
			listed, err := p.cat.ListedWindows(ctx, t.ID, due[0].Start, due[len(due)-1].End)
			if err != nil {
				return runPlan{}, err
			}
			for _, w := range due {
				if listed[w.Start] {
					pl.rescan[w.Start] = true
				}
			}
		}
		pl.alone, err = p.failedListings(ctx, t, pl.due)
		return pl, err
	}
	if len(due) > 0 {
		boundary := alignDown(now.Add(-spec.Lookback), spec.Window)
		if pl.synced, err = p.cat.SyncedWindows(ctx, t.ID, due[0].Start, boundary); err != nil {
			return runPlan{}, err
		}
		listed, err := p.cat.ListedWindows(ctx, t.ID, due[0].Start, due[len(due)-1].End)
		if err != nil {
			return runPlan{}, err
		}
		pl.due = slices.DeleteFunc(slices.Clone(due), func(w Window) bool { return listed[w.Start] })
	}
	// Re-scans are due wherever their window is: the last falls at the
	// lookback, when its window may have left the range. How far back they
	// are looked for bounds a catch-up after a long stop.
	rescans, err := p.cat.WindowsToRescan(ctx, t.ID, alignDown(r.From.Add(-spec.Lookback-spec.Settle), spec.Window), now)
	if err != nil {
		return runPlan{}, err
	}
	for _, w := range rescans {
		pl.rescan[w.Start] = true
		pl.due = append(pl.due, Window{Start: w.Start, End: w.End})
	}
	slices.SortFunc(pl.due, func(a, b Window) int { return a.Start.Compare(b.Start) })
	pl.due = slices.CompactFunc(pl.due, func(a, b Window) bool { return a.Start.Equal(b.Start) })
	if pl.alone, err = p.failedListings(ctx, t, pl.due); err != nil {
		return runPlan{}, err
	}
	if pl.due, err = p.bridge(ctx, t, pl.due, pl.rescan, pl.alone, spec.Window); err != nil {
		return runPlan{}, err
	}
	inRange := 0
	for _, w := range pl.due {
		if !w.Start.Before(r.From) && !w.End.After(r.To) {
			inRange++
		}
	}
	pl.skipped = len(due) - inRange
	return pl, nil
}

// failedListings are the windows of due whose last listing failed for good:
// each is listed alone, so that a window VCC refuses fails no other.
func (p *pipeline) failedListings(ctx context.Context, t *Tenant, due []Window) (map[time.Time]bool, error) {
	if len(due) == 0 {
		return nil, nil
	}
	return p.cat.FailedListings(ctx, t.ID, due[0].Start, due[len(due)-1].End)
}

// bridge widens due (in order) with the listed windows between its spans
// where one listing of the whole costs no more (Bridge), and marks them in
// rescan.
func (p *pipeline) bridge(ctx context.Context, t *Tenant, due []Window, rescan, alone map[time.Time]bool, size time.Duration) ([]Window, error) {
	isAlone := func(w Window) bool { return alone[w.Start] }
	spans := Spans(due, size, MaxSpan, isAlone)
	if len(spans) < 2 {
		return due, nil
	}
	sizes, err := p.cat.ListedSizes(ctx, t.ID, due[0].Start, due[len(due)-1].End)
	if err != nil {
		return nil, err
	}
	var out []Window
	i := 0
	for _, span := range Bridge(spans, size, MaxSpan, func(w Window) (int, int) { n := sizes[w.Start]; return n[0], n[1] }, isAlone) {
		cursor := span.Start
		for ; i < len(due) && due[i].Start.Before(span.End); i++ {
			if due[i].Start.After(cursor) { // a gap Bridge joined: its listed windows come along
				for _, w := range (Window{Start: cursor, End: due[i].Start}).Split(size) {
					if _, listed := sizes[w.Start]; listed {
						rescan[w.Start] = true
						out = append(out, w)
					}
				}
			}
			out = append(out, due[i])
			cursor = due[i].End
		}
	}
	return out, nil
}

// UnlistedError says which windows a run could not list, for the run's
// record; "" if it listed them all.
func UnlistedError(unlisted []catalog.UnlistedWindow) string {
	if len(unlisted) == 0 {
		return ""
	}
	u := unlisted[0]
	msg := fmt.Sprintf("%d window(s) could not be listed, the first %s/%s", len(unlisted), u.Start.UTC().Format(time.RFC3339), u.End.UTC().Format(time.RFC3339))
	if u.LastError != "" {
		msg += ": " + u.LastError
	}
	return msg
}

// adoptLegacyJobs moves the tenant's jobs that an older vccingest queued in
// the shared queues to the tenant's own.
func adoptLegacyJobs(ctx context.Context, p *pipeline, t *Tenant) error {
	discover, download := t.Queues()
	for from, to := range map[string]string{"discover": discover, "download": download} {
		n, err := jobqueue.AdoptQueued(ctx, p.cat, t.ID, from, to)
		if err != nil {
			return err
		}
		if n > 0 {
			p.log.Info("moved jobs an older vccingest queued to the tenant's own queue", "tenant", t.ID, "jobs", n, "queue", to)
		}
	}
	return nil
}

// advanceWatermark marks each window of the run synced that is now fully
// synced (discovered, and every recording stored or failed for good), and
// moves the tenant's watermark over those that join it without a gap.
// synced windows are known to be synced already. A window synced after a
// gap is marked too, so that later runs need not list it again.
func (p *pipeline) advanceWatermark(ctx context.Context, t *Tenant, windows []Window, synced map[time.Time]bool) (time.Time, error) {
	old, err := p.cat.Watermark(ctx, t.ID)
	if err != nil {
		return time.Time{}, err
	}
	wm, joined := old, true
	for _, w := range windows {
		if !wm.IsZero() && w.Start.After(wm) {
			joined = false // a gap: the watermark only moves over contiguous windows
		}
		done := synced[w.Start]
		if !done {
			if done, err = p.cat.MarkWindowSyncedIfDone(ctx, t.ID, w.Start, w.End); err != nil {
				return time.Time{}, err
			}
		}
		joined = joined && done
		if joined && w.End.After(wm) {
			wm = w.End
		}
	}
	if wm.After(old) {
		if err := p.cat.SetWatermark(ctx, t.ID, wm); err != nil {
			return time.Time{}, err
		}
	}
	return wm, nil
}
