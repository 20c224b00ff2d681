package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// River's rescuer, which runs only on the elected leader, looks for stuck
// jobs this often (maintenance.JobRescuerIntervalDefault; not configurable).
// When the leader is the worker that died, another takes over once the
// leader's lease expires (ElectInterval 5 s + jitter 1 s + TTL padding 10 s).
const (
	riverRescuerPeriod  = 30 * time.Second
	riverLeaderFailover = 21 * time.Second
)

// rescueBound is the longest a job of a dead worker may stay running: past
// --rescue-after, until the leader's next rescuer pass, after a leader
// election if the dead worker was the leader.
func rescueBound(rescueAfter time.Duration) time.Duration {
	return max(rescueAfter, riverLeaderFailover) + riverRescuerPeriod
}

// One worker is killed with -9 every 2–4 s and restarted at once while two
// others go on, over a three-day dataset: every visible recording is stored
// exactly once (ground truth), no object is duplicated or partial, only the
// transfers the kills interrupted are downloaded again, and every job the
// kills left running was rescued within River's rescue interval.
func TestWorkers_PostgresRepeatedKill9(t *testing.T) {
	const (
		rescueAfter = 5 * time.Second
		downloads   = 2 // per worker
	)
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 73, Days: 3, CallsPerDay: 70, FixedRecordingSize: 64 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	// The rate limit spreads the run over some 20 s, so that the kills land
	// mid-run whatever the machine's speed.
	common := []string{"--catalog", catURL, "--downloads", "2", "--rescue-after", rescueAfter.String(), "--rate-limit", "4"}
	stop := e.startWorkers(2, common...)
	defer stop()

	planner := make(chan result, 1)
	go func() { planner <- e.syncAll(append(common, "--work=false")...) }()

	rng := rand.New(rand.NewPCG(73, 0))
	var kills []time.Time
	var r result
	for running := true; running; {
		victim := e.command(context.Background(), append([]string{"worker"}, common...)...)
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case r = <-planner:
			running = false
			_ = victim.Process.Signal(syscall.SIGTERM)
		case <-time.After(2*time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))):
			_ = victim.Process.Signal(syscall.SIGKILL)
			kills = append(kills, time.Now())
		}
		_ = victim.Wait()
	}
	stop()
	if r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if len(kills) < 5 {
		t.Fatalf("the run ended after %d kills; it is too short to prove anything", len(kills))
	}

	// Every job completed; each rescue of a job the kills left running came
	// within River's rescue interval of the kill before it.
	bound := rescueBound(rescueAfter)
	rescued := map[string]int{}
	for _, j := range riverJobs(t, catURL) {
		if j.State != "completed" {
			t.Errorf("job %d (%s) is %s after the run: %+v", j.ID, j.Kind, j.State, j.Errors)
		}
		for _, ae := range j.Errors {
			if ae.Error != "Stuck job rescued by JobRescuer" {
				continue
			}
			rescued[j.Kind]++
			var killed time.Time
			for _, k := range kills {
				if k.Before(ae.At) {
					killed = k
				}
			}
			if stuck := ae.At.Sub(killed); killed.IsZero() || stuck > bound {
				t.Errorf("job %d (%s) rescued at %s, %s after the last kill before it; the bound is %s", j.ID, j.Kind, ae.At.Format(time.StampMilli), stuck, bound)
			}
		}
	}

	// A killed download leaves a temporary object; a run after twice
	// --rescue-after sweeps it, and downloads nothing.
	downloaded := contentDownloads(e.sim)
	time.Sleep(time.Until(kills[len(kills)-1].Add(2*rescueAfter + time.Second)))
	e.sim.ResetRequests()
	if r := e.syncAll(append(common, "--rate-limit", "1000")...); r.code != 0 || contentDownloads(e.sim) != 0 {
		t.Errorf("re-run: exit %d, %d downloads\n%s", r.code, contentDownloads(e.sim), r.stderr)
	}
	n := e.verify()
	if n < 150 {
		t.Fatalf("only %d recordings; the dataset proves little", n)
	}
	// Only a transfer in flight at a kill is downloaded again.
	if downloaded < n || downloaded > n+len(kills)*downloads {
		t.Errorf("%d downloads for %d recordings and %d kills of a worker with %d downloads", downloaded, n, len(kills), downloads)
	}
	for key, c := range e.sim.Downloads() {
		if c > 1 {
			t.Logf("%s downloaded %d times", key, c)
		}
	}
	t.Logf("planner: %s", strings.SplitN(r.stdout, "\n", 2)[0])
	t.Logf("%d recordings, %d downloads, %d kills, jobs rescued %v", n, downloaded, len(kills), rescued)
}

// riverJob is what the tests read of a row of River's job table.
type riverJob struct {
	ID     int64
	Kind   string
	State  string
	Errors []struct {
		At    time.Time `json:"at"`
		Error string    `json:"error"`
	}
}

// riverJobs reads every job of the catalog's queue.
func riverJobs(t *testing.T, catURL string) []riverJob {
	t.Helper()
	db, err := sql.Open("pgx", catURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, kind, state, coalesce(array_to_json(errors), '[]') FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var jobs []riverJob
	for rows.Next() {
		var j riverJob
		var errs []byte
		if err := rows.Scan(&j.ID, &j.Kind, &j.State, &errs); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(errs, &j.Errors); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(jobs) == 0 {
		t.Fatal("no job in the queue")
	}
	return jobs
}
