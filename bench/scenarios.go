package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/verify"
)

// throughput: vccingest vs a raw download of the same recordings at the
// same concurrency into the same disk, for several concurrencies.
func throughput(e *env, r *result) error {
	calls, size := 400, int64(4<<20)
	if e.quick {
		calls = 60
	}
	a, err := startAccount(vccsim.Config{Seed: 41, CallsPerDay: calls, FixedRecordingSize: size}, "admin")
	if err != nil {
		return err
	}
	defer a.sim.Close()
	paths, total := a.recordingPaths()
	r.add("recordings", float64(len(paths)), "")
	r.add("bytes per pass", float64(total)/(1<<20), "MiB")
	r.note("the request rate limit is lifted (--requests-per-minute 1000000, the most it takes) since the baseline has none; both sides share the machine with the simulator")
	r.note("raw+sha256: the raw download hashing each body on its way to the file, as vccingest must (the floor integrity checking sets)")
	r.note("between passes files are truncated, not deleted (deleted inodes slow the next pass's file creation on this machine's ext4); all are removed at the end")
	var pts []point
	for _, conc := range []int{1, 4, 8, 16} {
		// Each side runs twice, in the order sync, raw, hashed, hashed, raw,
		// sync, each starting with the other's dirty pages written back
		// (syscall.Sync, untimed): neither pays for the other's writes.
		var syncTime, rawTime, hashedTime time.Duration
		pass := 0
		dir := func(name string) string {
			pass++
			return filepath.Join(e.work, fmt.Sprintf("tp-%d-%s-%d", conc, name, pass))
		}
		syncOnce := func() error {
			dir := dir("sync")
			defer emptyTree(dir)
			syscall.Sync()
			s, err := e.sync(a, dir, "", "--downloads", fmt.Sprint(conc), "--requests-per-minute", "1000000")
			syncTime += s.elapsed
			return err
		}
		rawOnce := func(hashed bool, elapsed *time.Duration) func() error {
			return func() error {
				dir := dir("raw")
				defer emptyTree(dir)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				syscall.Sync()
				n, d, err := a.rawDownload(e.ctx, paths, dir, conc, hashed)
				if err == nil && n != total {
					err = fmt.Errorf("raw download got %d of %d bytes", n, total)
				}
				*elapsed += d
				return err
			}
		}
		raw, hashed := rawOnce(false, &rawTime), rawOnce(true, &hashedTime)
		for _, step := range []func() error{syncOnce, raw, hashed, hashed, raw, syncOnce} {
			if err := step(); err != nil {
				return err
			}
		}
		rate := func(d time.Duration) float64 { return 2 * float64(total) / d.Seconds() / 1e6 }
		syncRate, rawRate := rate(syncTime), rate(rawTime)
		r.add(fmt.Sprintf("vccingest @%d", conc), syncRate, "MB/s")
		r.add(fmt.Sprintf("raw @%d", conc), rawRate, "MB/s")
		r.add(fmt.Sprintf("raw+sha256 @%d", conc), rate(hashedTime), "MB/s")
		r.goal(fmt.Sprintf("ratio@%d", conc), syncRate/rawRate, "", "≥ 0.90", syncRate/rawRate >= 0.9)
		r.add(fmt.Sprintf("ratio to raw+sha256 @%d", conc), syncRate/rate(hashedTime), "")
		pts = append(pts, point{x: float64(conc), a: syncRate, b: rawRate})
	}
	if e.out != "" {
		svg := filepath.Join(e.out, "throughput.svg")
		if err := writeChart(svg, "vccingest vs raw net/http download (MB/s by concurrency)", "vccingest", "raw", pts); err != nil {
			return err
		}
		r.note("chart: %s", svg)
	}
	return nil
}

// memory: peak RSS syncing one big recording, and several smaller ones.
func memory(e *env, r *result) error {
	cases := []struct {
		name  string
		n     int
		size  int64
		label string
	}{{"one", 1, 1 << 30, "1 × 1 GiB"}, {"ten", 10, 100 << 20, "10 × 100 MiB"}}
	if e.quick {
		cases[0].size, cases[0].label = 256<<20, "1 × 256 MiB"
		cases[1].n, cases[1].size, cases[1].label = 4, 64<<20, "4 × 64 MiB"
	}
	var peaks []float64
	for _, c := range cases {
		a, err := startExactly(c.n, c.size)
		if err != nil {
			return err
		}
		dir := filepath.Join(e.work, "mem-"+c.name)
		s, err := e.sync(a, dir, "")
		a.sim.Close()
		if err != nil {
			return err
		}
		mib := float64(s.peakRSS) / (1 << 20)
		peaks = append(peaks, mib)
		r.goal("peak RSS, "+c.label, mib, "MiB", "< 64", mib < 64)
		r.add("rate, "+c.label, float64(int64(c.n)*c.size)/s.elapsed.Seconds()/1e6, "MB/s")
		os.RemoveAll(dir)
	}
	diff := peaks[0] - peaks[1]
	if diff < 0 {
		diff = -diff
	}
	r.goal("RSS difference between the two", diff, "MiB", "< 16 (flat in size)", diff < 16)
	return nil
}

// startExactly finds a seed whose one-day dataset has exactly n call
// recordings of the given size.
func startExactly(n int, size int64) (*account, error) {
	for seed := int64(1); seed < 500; seed++ {
		a, err := startAccount(vccsim.Config{Seed: seed, CallsPerDay: n, FixedRecordingSize: size, AudioBytesPerSecond: 8000}, "admin")
		if err != nil {
			return nil, err
		}
		paths, _ := a.recordingPaths()
		if len(paths) == n {
			return a, nil
		}
		a.sim.Close()
	}
	return nil, fmt.Errorf("no seed gives exactly %d recordings", n)
}

// apiEconomy: requests per recording by API, token requests per scope, and
// what a second run costs.
func apiEconomy(e *env, r *result) error {
	a, err := startAccount(vccsim.Config{Seed: 7, Days: 3, CallsPerDay: 40, FixedRecordingSize: 64 << 10}, "admin")
	if err != nil {
		return err
	}
	defer a.sim.Close()
	dir := filepath.Join(e.work, "economy")
	if _, err := e.sync(a, dir, ""); err != nil {
		return err
	}
	paths, _ := a.recordingPaths()
	recs := float64(len(paths))
	windows := a.to.Sub(a.from).Hours() // one window per hour by default
	by := map[string]int{}
	tokens := map[string]int{}
	for _, rs := range a.sim.Requests() {
		if rs.Route == vccsim.RouteToken {
			tokens[rs.Scope] += rs.Count
			continue
		}
		by[rs.Route] += rs.Count
	}
	r.add("recordings", recs, "")
	r.add("content downloads per recording", float64(by[vccsim.RouteContent])/recs, "")
	r.add("content listing pages per window", float64(by[vccsim.RouteInteractions])/windows, "")
	r.add("stats listing pages per window", float64(by[vccsim.RouteStatsInteractions])/windows, "")
	r.add("single stats look-ups per recording", float64(by[vccsim.RouteStatsInteraction])/recs, "")
	r.add("user list requests", float64(by[vccsim.RouteUsers]), "")
	for _, scope := range []string{vccsim.ScopeContent, vccsim.ScopeUsers, vccsim.ScopeStats} {
		r.goal("token requests, "+scope, float64(tokens[scope]), "", "1", tokens[scope] == 1)
	}

	a.sim.ResetRequests()
	if _, err := e.sync(a, dir, ""); err != nil {
		return err
	}
	by = map[string]int{}
	for _, rs := range a.sim.Requests() {
		by[rs.Route] += rs.Count
	}
	r.goal("second run: downloads", float64(by[vccsim.RouteContent]), "", "0", by[vccsim.RouteContent] == 0)
	// The run lists its days in one span: a request per 7 days of Content
	// (the API's bound), not one per window.
	pages := float64(by[vccsim.RouteInteractions])
	want := math.Ceil(a.to.Sub(a.from).Hours() / (7 * 24))
	r.goal("second run: content listing requests", pages, "", fmt.Sprintf("%.0f (one per 7 days)", want), pages == want)
	return nil
}

// metadataScale: discovery rate vs raw paging, and catalog queries over a
// large catalog.
func metadataScale(e *env, r *result) error {
	n := 100_000
	if e.quick {
		n = 20_000
	}
	days := 10
	a, err := startAccount(vccsim.Config{Seed: 3, Days: days, CallsPerDay: n / days, FixedRecordingSize: 1000}, "admin")
	if err != nil {
		return err
	}
	defer a.sim.Close()
	clientRate, rawRate, listed, err := discoveryRates(e.ctx, a)
	if err != nil {
		return err
	}
	r.add("interactions listed", float64(listed), "")
	r.add("discovery through the client", clientRate, "interactions/s")
	r.add("raw paging", rawRate, "interactions/s")
	r.goal("discovery ratio", clientRate/rawRate, "", "≥ 0.90", clientRate/rawRate >= 0.9)

	dir := filepath.Join(e.work, "meta")
	if err := fillCatalog(e.ctx, filepath.Join(dir, "catalog.db"), n); err != nil {
		return err
	}
	for _, q := range []struct {
		name string
		args []string
		goal float64
	}{
		{"ls --json", []string{"ls", "--json", "--tenant", "acme", "--from", "2024-01-01", "--to", "2025-01-01"}, 5},
		{"coverage --json", []string{"coverage", "--json", "--tenant", "acme", "--from", "2024-01-01", "--to", "2025-01-01"}, 2},
	} {
		run, err := e.vccingest(e.ctx, a, dir, "", q.args...)
		if err != nil || run.code != 0 {
			return fmt.Errorf("%s: exit %d %v %s", q.name, run.code, err, run.stderr)
		}
		r.goal(fmt.Sprintf("%s over %d interactions", q.name, n), run.elapsed.Seconds(), "s", fmt.Sprintf("< %g", q.goal), run.elapsed.Seconds() < q.goal)
	}
	return nil
}

// chaos: faults plus kill -9 at random moments, then the verdict against
// ground truth and a secrets scan.
func chaos(e *env, r *result) error {
	kills, days := 20, 3
	if e.quick {
		kills, days = 5, 1
	}
	a, err := startAccount(vccsim.Config{Seed: 21, Days: days, CallsPerDay: 40, FixedRecordingSize: 512 << 10, Faults: vccsim.Faults{
		Seed: 21, Rate5xx: 0.10, Rate429: 0.05, RetryAfter: time.Second, RateReset: 0.02, RateShortBody: 0.01,
	}}, "admin")
	if err != nil {
		return err
	}
	defer a.sim.Close()
	dir := filepath.Join(e.work, "chaos")
	logs := filepath.Join(e.work, "chaos-logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	logFile := filepath.Join(logs, "vccingest.log")
	rng := rand.New(rand.NewPCG(21, 0))
	killed := 0
	for range kills {
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() {
			_, err := e.vccingest(ctx, a, dir, logFile, "sync", "--from", a.from.Format(time.RFC3339), "--to", a.to.Format(time.RFC3339), "--downloads", "4")
			done <- err
		}()
		select {
		case <-done:
		case <-time.After(time.Duration(100+rng.IntN(1500)) * time.Millisecond):
			cancel() // exec.CommandContext kills with SIGKILL
			<-done
			killed++
		}
		cancel()
	}
	if _, err := e.sync(a, dir, logFile); err != nil {
		return fmt.Errorf("final sync after %d kills: %w", killed, err)
	}
	r.add("kill -9", float64(killed), "")
	faults := 0
	for _, rs := range a.sim.Requests() {
		if rs.Status == 429 || rs.Status >= 500 {
			faults += rs.Count
		}
	}
	r.add("error responses injected", float64(faults), "")
	v, err := verify.Bucket(filepath.Join(dir, "blobs"), "default", a.sim.Truth(a.from, a.to, a.cred.ClientID))
	if err != nil {
		return err
	}
	r.add("recordings expected", float64(v.Expected), "")
	r.goal("missing", float64(len(v.Missing)), "", "0", len(v.Missing) == 0)
	r.goal("duplicate", float64(len(v.Duplicate)), "", "0", len(v.Duplicate) == 0)
	r.goal("corrupt", float64(len(v.Corrupt)), "", "0", len(v.Corrupt) == 0)
	r.goal("partial", float64(len(v.Partial)), "", "0", len(v.Partial) == 0)
	r.goal("unexpected", float64(len(v.Unexpected)), "", "0", len(v.Unexpected) == 0)
	hits, err := verify.Secrets(append([]string{a.cred.ClientSecret}, a.sim.IssuedTokens()...), dir, logs)
	if err != nil {
		return err
	}
	r.goal("secret or token found in data dir, logs or catalog", float64(len(hits)), "", "0", len(hits) == 0)
	for _, h := range hits {
		r.note("secret hit: %s", h)
	}
	return nil
}
