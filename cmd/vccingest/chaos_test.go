package main

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// TestSync_SurvivesKill9 kills the sync process at ten random moments, each
// followed by a restart, then lets a last run finish: every recording is
// stored once, with the right bytes, and no partial object is visible.
func TestSync_SurvivesKill9(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 21, Days: 2, CallsPerDay: 200, FixedRecordingSize: 256 << 10}, "admin")
	rng := rand.New(rand.NewPCG(21, 0))
	// Kill moments fall well within one uninterrupted run (~6 s for this
	// dataset without the race detector, far longer with it), so that
	// every round is cut short and each gets some work done first.
	span := 1200
	if raceChild(t) {
		span = 1500
	}
	killed := 0
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := e.command(ctx, "sync", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--downloads", "4")
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(50+rng.IntN(span)) * time.Millisecond
		wasKilled := false
		select {
		case <-done:
			// finished before the kill: fine, the remaining rounds re-run it.
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
			wasKilled = true
		}
		cancel()
		t.Logf("round %d: killed=%v after %s, downloads so far %d", i, wasKilled, delay, contentDownloads(e.sim))
	}
	if killed < 5 {
		t.Fatalf("only %d of 10 runs were killed mid-way; the dataset is too small to prove anything", killed)
	}
	r := e.syncAll()
	if r.code != 0 {
		t.Fatalf("final sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	// A killed transfer may be downloaded again, but a stored one never is.
	e.sim.ResetRequests()
	if r := e.syncAll(); r.code != 0 {
		t.Fatalf("re-run exit %d", r.code)
	}
	if d := contentDownloads(e.sim); d != 0 {
		t.Errorf("after recovery a re-run downloaded %d recordings, want 0", d)
	}
	t.Logf("%d recordings verified after %d kills", n, killed)
}

// TestSync_WithFaults: 10 % 5xx, 5 % 429, 2 % mid-body resets and 1 % short
// bodies still end with every recording stored once and verified.
func TestSync_WithFaults(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 31, Days: 2, CallsPerDay: 40, Faults: vccsim.Faults{
		Seed:          31,
		Rate5xx:       0.10,
		Rate429:       0.05,
		RetryAfter:    time.Second,
		RateReset:     0.02,
		RateShortBody: 0.01,
	}}, "admin")
	r := e.syncAll()
	if r.code != 0 {
		t.Fatalf("sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	faults := 0
	for _, rs := range e.sim.Requests() {
		if rs.Status == 429 || rs.Status >= 500 {
			faults += rs.Count
		}
	}
	if faults == 0 {
		t.Fatal("no fault was injected; the test proves nothing")
	}
	t.Logf("%d recordings verified through %d injected error responses", n, faults)
}
