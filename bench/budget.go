package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// budget: what VCC's fair-usage budget buys. (a) Steady state: a simulated
// day of `serve` (an incremental sync every 15 minutes, on the simulator's
// clock) over a day of calls, VCC requests per stored recording, every
// purpose counted on the simulator's side. (b) Backlog drain: a backfill of
// N recordings against a budget of B requests a minute, its wall time over
// the time the budget allows for its requests, with 0 429s.
func budget(e *env, r *result) error {
	if err := budgetSteady(e, r); err != nil {
		return err
	}
	return budgetDrain(e, r)
}

// budgetSteady runs the pipeline in this process (the binary has no clock
// to drive) with the engine's clock set to the simulator's, and moves both
// 15 minutes between runs.
func budgetSteady(e *env, r *result) error {
	calls, hours := 2000, 24
	if e.quick {
		calls = 400
	}
	start := day0
	a, err := startAccount(vccsim.Config{Seed: 11, Start: start, Days: 1, CallsPerDay: calls, FixedRecordingSize: 1024}, "admin")
	if err != nil {
		return err
	}
	defer a.sim.Close()
	clock := start.Add(15 * time.Minute)
	a.sim.SetNow(clock)

	dir := filepath.Join(e.work, "budget-steady")
	cat, err := catalog.Open(e.ctx, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "catalog.db")))
	if err != nil {
		return err
	}
	defer cat.Close()
	if err := cat.EnsureSchema(e.ctx); err != nil {
		return err
	}
	bucket, err := blobstore.Open(e.ctx, "file://"+filepath.ToSlash(filepath.Join(dir, "blobs")))
	if err != nil {
		return err
	}
	defer bucket.Close()
	client, err := vcc.New(vcc.Config{AuthURL: a.sim.AuthURL(), APIURL: a.sim.APIURL(), ClientID: a.cred.ClientID,
		ClientSecret: secret.New(a.cred.ClientSecret), RequestsPerMinute: 1_000_000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	eng, err := ingest.New(ingest.Config{
		Tenant:  &ingest.Tenant{ID: "bench", VCC: client},
		Catalog: cat, Bucket: bucket,
		Window: time.Hour, Lookback: 24 * time.Hour, Settle: 15 * time.Minute, // the defaults of sync and serve
		Now:    func() time.Time { return a.sim.Now() },
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	runs := 0
	began := time.Now()
	// A day of runs, then an hour and a half more: the day's last calls
	// settle, and their windows get their first re-scan.
	for end := start.Add(time.Duration(hours)*time.Hour + 90*time.Minute); !clock.After(end); clock = clock.Add(15 * time.Minute) {
		a.sim.SetNow(clock)
		if _, err := eng.Sync(e.ctx, ingest.Range{}); err != nil {
			return fmt.Errorf("run at %s: %w", clock.Format(time.RFC3339), err)
		}
		runs++
	}
	requests, throttled, by := a.sim.GatewayRequests()
	tot, err := cat.Totals(e.ctx, "bench")
	if err != nil {
		return err
	}
	stored := float64(tot.Stored)
	if stored == 0 {
		return fmt.Errorf("steady state: nothing stored in %d runs", runs)
	}
	r.add("steady: runs (every 15 min, simulator clock)", float64(runs), "")
	r.add("steady: recordings stored", stored, "")
	r.add("steady: content listing requests", float64(by[vccsim.RouteInteractions]), "")
	r.add("steady: stats listing requests", float64(by[vccsim.RouteStatsInteractions]), "")
	r.add("steady: single stats look-ups", float64(by[vccsim.RouteStatsInteraction]), "")
	r.add("steady: user admin requests", float64(by[vccsim.RouteUsers]+by[vccsim.RouteUserGroups]), "")
	r.add("steady: downloads", float64(by[vccsim.RouteContent]), "")
	r.add("steady: 429 answers", float64(throttled), "")
	perRec := float64(requests) / stored
	if e.quick {
		// A fifth of the calls: the day's fixed costs (listing its windows,
		// the users) weigh five times as much per recording; the goal is
		// for the full day's 2,000.
		r.add("steady: VCC requests per stored recording (quick: 400 calls, no goal)", perRec, "")
	} else {
		r.goal("steady: VCC requests per stored recording", perRec, "", "≤ 1.10", perRec <= 1.10)
	}
	r.note("steady: %d calls over %d h of the simulated day, %d runs in %s of wall time", calls*hours/24, hours, runs, time.Since(began).Round(time.Second))
	return nil
}

// budgetDrain backfills a backlog with the binary at a budget the
// simulator's account limit leaves room for.
func budgetDrain(e *env, r *result) error {
	calls, rpm := 400, 600
	if e.quick {
		calls, rpm = 80, 400
	}
	a, err := startAccount(vccsim.Config{Seed: 12, Days: 1, CallsPerDay: calls, FixedRecordingSize: 1024, AccountRequestsPerMinute: rpm + rpm/10}, "admin")
	if err != nil {
		return err
	}
	defer a.sim.Close()
	s, err := e.sync(a, filepath.Join(e.work, "budget-drain"), "", "--requests-per-minute", fmt.Sprint(rpm))
	if err != nil {
		return err
	}
	var requests, throttled int
	for _, rs := range a.sim.Requests() {
		if rs.Route == vccsim.RouteToken {
			continue
		}
		requests += rs.Count
		if rs.Status == http.StatusTooManyRequests {
			throttled += rs.Count
		}
	}
	paths, _ := a.recordingPaths()
	floor := time.Duration(float64(requests) / float64(rpm) * float64(time.Minute))
	ratio := s.elapsed.Seconds() / floor.Seconds()
	r.add("drain: recordings", float64(len(paths)), "")
	r.add("drain: budget", float64(rpm), "requests/min")
	r.add("drain: VCC requests", float64(requests), "")
	r.add("drain: wall time", s.elapsed.Seconds(), "s")
	r.goal("drain: wall time ÷ (requests ÷ budget)", ratio, "", "≤ 1.05", ratio <= 1.05)
	r.goal("drain: 429s", float64(throttled), "", "0", throttled == 0)
	r.note("drain: the simulator's account limit is the budget + 10%%; the wall time is the whole process (start, token, users, listing, downloads)")
	return nil
}
