package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/verify"
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

// One worker is killed with -9 every 3–5 s and restarted at once while two
// others go on, over a three-day dataset: every visible recording is stored
// exactly once (ground truth), no object is duplicated or partial, only the
// transfers the kills interrupted are downloaded again, and every job the
// kills left running was rescued within River's rescue interval.
func TestWorkers_PostgresRepeatedKill9(t *testing.T) {
	const (
		rescueAfter = 5 * time.Second
		downloads   = 2 // per worker: a third of --downloads
	)
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 73, Days: 3, CallsPerDay: 70, FixedRecordingSize: 64 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	// The rate limit (the tenant's, shared by the workers) spreads the run
	// over some 20 s, so that the kills land mid-run whatever the machine's
	// speed.
	common := []string{"--catalog", catURL, "--downloads", "6", "--rescue-after", rescueAfter.String(), "--requests-per-minute", "720"}
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
		// A new worker starts taking jobs some 2 s after it starts (it
		// waits for the others to make room for it in the budget).
		case <-time.After(3*time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))):
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
	if r := e.syncAll(append(common, "--requests-per-minute", "60000")...); r.code != 0 || contentDownloads(e.sim) != 0 {
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

// PostgreSQL restarts in the middle of a run (pg_ctlcluster … restart):
// the three workers and the planner ride through the outage, and the run
// ends as any other: every recording stored once and downloaded once, every
// job completed, none left for River's rescuer.
//
// The server is the one every test on the machine shares, and the restart
// drops their connections too (go test runs packages in parallel), so this
// test runs only when VCCINGEST_TEST_PG_RESTART=1: .ci/run sets it in a step
// of its own, after the main suite, with nothing else running. It needs pg_ctlcluster (Debian's
// postgresql-common) and a local cluster named main.
func TestWorkers_PostgresRestartMidRun(t *testing.T) {
	restart := postgresRestarter(t)
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 79, Days: 2, CallsPerDay: 60, FixedRecordingSize: 64 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	want := len(recordingPaths(e))
	// The rate limit spreads the run over some 10 s, so that the restart
	// lands mid-run; --rescue-after is longer than the outage, so a job that
	// needed River's rescuer would show.
	common := []string{"--catalog", catURL, "--downloads", "6", "--requests-per-minute", "720", "--rescue-after", "30s"}
	stop := e.startWorkers(3, common...)
	defer stop()
	planner := make(chan result, 1)
	go func() { planner <- e.syncAll(append(common, "--work=false")...) }()

	for contentDownloads(e.sim) < want/3 {
		time.Sleep(10 * time.Millisecond)
	}
	before := postmasterStart(t, catURL)
	restart()
	atRestart := contentDownloads(e.sim)
	after := postmasterStart(t, catURL)
	t.Logf("PostgreSQL restarted after %d of %d downloads", atRestart, want)

	r := <-planner
	stop()
	if r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !after.After(before) || atRestart >= want {
		t.Fatalf("the restart did not happen mid-run: server started %s then %s, %d of %d downloads before it", before, after, atRestart, want)
	}
	n := e.verify()
	if d := contentDownloads(e.sim); d != n || n != want {
		t.Errorf("%d downloads for %d recordings stored, %d visible", d, n, want)
	}
	for _, j := range riverJobs(t, catURL) {
		if j.State != "completed" {
			t.Errorf("job %d (%s) is %s after the run: %+v", j.ID, j.Kind, j.State, j.Errors)
		}
		for _, ae := range j.Errors {
			if ae.Error == "Stuck job rescued by JobRescuer" {
				t.Errorf("job %d (%s) was left running and rescued at %s", j.ID, j.Kind, ae.At.Format(time.StampMilli))
			}
		}
	}
}

// postgresRestarter returns a function that restarts the local PostgreSQL
// cluster, after checking that this run may (see
// TestWorkers_PostgresRestartMidRun). Whatever happens, the cluster is
// running again when the test ends.
func postgresRestarter(t *testing.T) (restart func()) {
	t.Helper()
	if os.Getenv("VCCINGEST_TEST_PG_RESTART") != "1" {
		t.Skip("restarts the PostgreSQL server other tests share; .ci/run runs it alone with VCCINGEST_TEST_PG_RESTART=1")
	}
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		t.Fatalf("no local PostgreSQL cluster to restart (/etc/postgresql: %v)", err)
	}
	ctl := func(action string) error {
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", action).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctlcluster %s: %w\n%s", action, err, out)
		}
		return nil
	}
	if err := ctl("status"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ctl("status") != nil {
			if err := ctl("start"); err != nil {
				t.Errorf("PostgreSQL is not running after the test: %v", err)
			}
		}
	})
	return func() {
		t.Helper()
		// The default "fast" mode: active transactions are rolled back and
		// every client is disconnected.
		if err := ctl("restart"); err != nil {
			t.Fatal(err)
		}
	}
}

// postmasterStart is when the PostgreSQL server behind catURL started.
func postmasterStart(t *testing.T, catURL string) time.Time {
	t.Helper()
	db, err := sql.Open("pgx", catURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var at time.Time
	if err := db.QueryRow(`SELECT pg_postmaster_start_time()`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

// Three workers share one tenant's --requests-per-minute (VCC limits an
// account, not a process): the requests VCC sees of all its APIs together,
// in any two seconds, stay within the budget's two seconds plus a burst of
// one request per worker (and a little for the proxy's timing), and the run
// is held at the budget (it is the bottleneck, so the bound is what is
// tested). The planner's own few requests (a listing of the users) are not
// in it.
func TestWorkers_PostgresShareTheRateLimit(t *testing.T) {
	const (
		perMinute = 600.0 // for the tenant, all APIs
		limit     = perMinute / 60
		window    = 2 * time.Second
	)
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 83, Days: 1, CallsPerDay: 100, FixedRecordingSize: 16 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	seen := observeRequests(t, e)
	stop := e.startWorkers(3, "--catalog", catURL, "--downloads", "6", "--requests-per-minute", fmt.Sprint(perMinute), "--api-url", seen.URL)
	defer stop()
	if r := e.syncAll("--catalog", catURL, "--work=false"); r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	stop()
	n := e.verify()

	bound := int(limit*window.Seconds()) + 3 + 2
	at := seen.times()
	peak := maxInWindow(at, window)
	t.Logf("all APIs: %d requests over %s, at most %d in %s (bound %d)", len(at), at[len(at)-1].Sub(at[0]).Round(time.Millisecond), peak, window, bound)
	if peak > bound {
		t.Errorf("%d requests within %s; the tenant's budget allows %d", peak, window, bound)
	}
	if peak < int(0.8*limit*window.Seconds()) {
		t.Errorf("at most %d requests within %s: the budget did not hold the run back, so the test proves little", peak, window)
	}
	if n < 60 {
		t.Fatalf("only %d recordings", n)
	}
}

// Three workers share one tenant's --downloads: against a VCC that takes
// 300 ms to answer, with no rate limit, VCC never serves more recordings at
// once than --downloads, and does serve that many (the limit is what holds
// the run back).
func TestWorkers_PostgresShareTheDownloads(t *testing.T) {
	const downloads = 6 // for the tenant
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 89, Days: 1, CallsPerDay: 60, FixedRecordingSize: 16 << 10, Latency: 300 * time.Millisecond}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	seen := observeRequests(t, e)
	stop := e.startWorkers(3, "--catalog", catURL, "--downloads", fmt.Sprint(downloads), "--requests-per-minute", "60000", "--api-url", seen.URL)
	defer stop()
	if r := e.syncAll("--catalog", catURL, "--work=false"); r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	stop()
	n := e.verify()
	peak := seen.peakDownloads()
	t.Logf("%d recordings, at most %d downloads at once (--downloads %d)", n, peak, downloads)
	if peak > downloads || peak < downloads-1 {
		t.Errorf("%d downloads at once; the tenant's --downloads is %d", peak, downloads)
	}
}

// requestLog is a loopback reverse proxy in front of the simulator's API
// gateway that notes when each request of each VCC API arrives, and how
// many recording downloads are served at once.
type requestLog struct {
	URL string
	mu  sync.Mutex
	at  map[string][]time.Time

	downloading, peak int
}

// peakDownloads is the most recording downloads that were served at once.
func (l *requestLog) peakDownloads() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

func observeRequests(t *testing.T, e *e2e) *requestLog {
	t.Helper()
	return observeRequestsTo(t, e.sim.APIURL())
}

// observeRequestsTo puts the proxy in front of the API gateway at apiURL.
func observeRequestsTo(t *testing.T, apiURL string) *requestLog {
	t.Helper()
	target, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	l := &requestLog{at: map[string][]time.Time{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := "other"
		for prefix, name := range map[string]string{"/interaction-content/": "content", "/useradmin/": "users", "/stats/": "stats"} {
			if strings.HasPrefix(r.URL.Path, prefix) {
				api = name
			}
		}
		download := strings.Contains(r.URL.Path, "/content/")
		l.mu.Lock()
		l.at[api] = append(l.at[api], time.Now())
		if download {
			l.downloading++
			l.peak = max(l.peak, l.downloading)
		}
		l.mu.Unlock()
		proxy.ServeHTTP(w, r)
		if download {
			l.mu.Lock()
			l.downloading--
			l.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// times returns when the requests of api arrived, in order.
// times are the arrival times of the requests of the APIs named (content,
// users, stats), or of all requests, sorted.
func (l *requestLog) times(apis ...string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at []time.Time
	for api, ts := range l.at {
		if len(apis) == 0 || slices.Contains(apis, api) {
			at = append(at, ts...)
		}
	}
	slices.SortFunc(at, time.Time.Compare)
	return at
}

// maxInWindow is the most of the sorted times within any span of d.
func maxInWindow(at []time.Time, d time.Duration) int {
	most := 0
	for i, j := 0, 0; j < len(at); j++ {
		for at[j].Sub(at[i]) >= d {
			i++
		}
		most = max(most, j-i+1)
	}
	return most
}

// Two tenants on one PostgreSQL catalog: tenant a's sync runs while tenant
// b's windows wait in the queue for a worker of b. Each process works its
// own tenant's queues only, so a's sync neither takes nor cancels b's jobs,
// and b's worker later stores every one of b's recordings.
func TestWorkers_PostgresOtherTenantsJobsAreLeftAlone(t *testing.T) {
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 59, Days: 1, CallsPerDay: 30, FixedRecordingSize: 1000}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	span := []string{"--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bucket := func(tenant string) string { return "file://" + filepath.Join(e.dataDir, "blobs-"+tenant) }
	planB := e.command(ctx, append([]string{"sync", "--tenant", "b", "--bucket", bucket("b"), "--catalog", catURL, "--work=false"}, span...)...)
	var outB bytes.Buffer
	planB.Stdout, planB.Stderr = &outB, &outB
	if err := planB.Start(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", catURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitUntil(t, "b's listing is queued", func() bool {
		n := 0 // its 24 windows are one span: a discover job or more
		_ = db.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'vccingest.discover'`).Scan(&n)
		return n >= 1
	})

	if r := e.run(append([]string{"sync", "--tenant", "a", "--bucket", bucket("a"), "--catalog", catURL}, span...)...); r.code != 0 {
		t.Fatalf("a's sync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, j := range riverJobs(t, catURL) {
		if j.State == "cancelled" || j.State == "discarded" {
			t.Errorf("job %d (%s) is %s after a's sync: %+v", j.ID, j.Kind, j.State, j.Errors)
		}
	}

	stop := e.startWorkers(1, "--tenant", "b", "--bucket", bucket("b"), "--catalog", catURL)
	err = planB.Wait()
	stop()
	if err != nil {
		t.Fatalf("b's planner: %v\n%s", err, outB.String())
	}
	truth := e.sim.Truth(e.from, e.to, e.cred.ClientID)
	for _, tenant := range []string{"a", "b"} {
		v, err := verify.Bucket(filepath.Join(e.dataDir, "blobs-"+tenant), tenant, truth)
		if err != nil || !v.OK() || v.Expected == 0 {
			t.Errorf("tenant %s: %v %v", tenant, v, err)
		}
	}
}
