package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// docsAccountLimit is the fair-usage limit the simulator keeps in the
// budget tests: the ~160 requests a minute Vonage's own samples pace
// themselves at (vcc-api.md, "Rate limits"), across all APIs, 429 without
// Retry-After. The simulator is never more lenient than that.
const docsAccountLimit = 160

// answers is a loopback reverse proxy in front of the simulator's API
// gateway that notes when each request arrived and how VCC answered.
type answers struct {
	URL string
	mu  sync.Mutex
	log []answer
}

type answer struct {
	at     time.Time
	status int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func recordAnswers(t *testing.T, apiURL string) *answers {
	t.Helper()
	target, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	a := &answers{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		a.mu.Lock()
		a.log = append(a.log, answer{at, sw.status})
		a.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// summary is the number of requests, of 429s, when the first 429 came, and
// how many requests arrived within d after it.
func (a *answers) summary(d time.Duration) (total, throttled int, first time.Time, after int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range a.log {
		if x.status == http.StatusTooManyRequests {
			throttled++
			if first.IsZero() || x.at.Before(first) {
				first = x.at
			}
		}
	}
	for _, x := range a.log {
		if !first.IsZero() && !x.at.Before(first) && x.at.Sub(first) < d {
			after++
		}
	}
	return len(a.log), throttled, first, after
}

// budgetRun is two workers and a planner of one tenant on a PostgreSQL
// catalog, against a simulator that keeps the documented account limit,
// with the budget args; it checks that every recording is stored once and
// every job completed, and returns what VCC answered.
func budgetRun(t *testing.T, seed int64, args ...string) *answers {
	catURL := postgresCatalog(t)
	// ~190 recordings over a day: some 210 requests in all (the day listed
	// in one span of Content and Stats, the users and their groups, a
	// download each), more than the account allows in a minute, so that
	// the budget, not the size of the run, is what keeps it within.
	e := newE2E(t, vccsim.Config{Seed: seed, Days: 1, CallsPerDay: 200, FixedRecordingSize: 4 << 10, AccountRequestsPerMinute: docsAccountLimit}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	seen := recordAnswers(t, e.sim.APIURL())
	common := append([]string{"--catalog", catURL, "--api-url", seen.URL}, args...)
	began := time.Now()
	stop := e.startWorkers(2, common...)
	defer stop()
	if r := e.syncAll(append(common, "--work=false")...); r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	stop()
	took := time.Since(began)
	n := e.verify()
	for key, c := range e.sim.Downloads() {
		if c != 1 {
			t.Errorf("%s downloaded %d times", key, c)
		}
	}
	for _, j := range riverJobs(t, catURL) {
		if j.State != "completed" {
			t.Errorf("job %d (%s) is %s: %+v", j.ID, j.Kind, j.State, j.Errors)
		}
	}
	total, _, _, _ := seen.summary(0)
	t.Logf("%d recordings stored once, %d requests in %s (%.0f a minute)", n, total, took.Round(time.Second), float64(total)/took.Minutes())
	if total <= docsAccountLimit+20 {
		t.Fatalf("only %d requests: the run fits in the account's minute whatever the budget, so it proves nothing", total)
	}
	return seen
}

// The check. Two processes of one tenant share one budget against
// an account that keeps the documented fair-usage limit (429 without
// Retry-After): with the default budget VCC never answers 429; with a
// budget far above the limit it does, the tenant slows down, and every
// recording is still stored once, no job failing.
func TestWorkers_PostgresStayWithinTheAccountLimit(t *testing.T) {
	t.Run("default budget", func(t *testing.T) {
		t.Parallel()
		seen := budgetRun(t, 101, "--downloads", "4")
		if total, throttled, _, _ := seen.summary(0); throttled != 0 {
			t.Errorf("%d of %d requests answered 429 with the default budget (120 a minute) and an account limit of %d", throttled, total, docsAccountLimit)
		}
	})
	t.Run("budget above the limit", func(t *testing.T) {
		t.Parallel()
		const budget = 1200 // a minute, for the tenant
		// Many downloads at once: each would retry its 429s on its own
		// backoff if the budget did not slow them all.
		seen := budgetRun(t, 103, "--downloads", "16", "--requests-per-minute", fmt.Sprint(budget))
		const span = 30 * time.Second
		total, throttled, first, after := seen.summary(span)
		t.Logf("%d of %d requests answered 429; %d requests in the %s after the first", throttled, total, after, span)
		if throttled == 0 {
			t.Fatalf("no 429 at %d requests a minute against an account limit of %d: the test proves nothing", budget, docsAccountLimit)
		}
		// At the budget the span would see budget/2 requests, 429s and all:
		// the rate came down to a fraction of it.
		if bound := 40; after > bound {
			t.Errorf("%d requests in the %s after the first 429 (at %s): the rate did not come down (bound %d, the budget's pace %d)", after, span, first.Format(time.StampMilli), bound, budget/2)
		}
	})
}

// The check of listing cost: a 2-day backfill of ~50 recordings and
// a re-run, against the simulator with its account limit on, answer no 429
// and cost at most 1.5 gateway requests per recording together (each run
// lists the two days in one Content and one Stats request, not 48 windows
// of each).
func TestSync_BackfillAndRerunCostFewRequests(t *testing.T) {
	// An account limit and a budget under it well above the docs' 160, so
	// the test takes seconds: what it counts is requests, not pace.
	e := newE2E(t, vccsim.Config{Seed: 29, Days: 2, CallsPerDay: 28, FixedRecordingSize: 4 << 10, AccountRequestsPerMinute: 900}, "admin")
	for i, name := range []string{"backfill", "re-run"} {
		if r := e.syncAll("--requests-per-minute", "800"); r.code != 0 {
			t.Fatalf("%s (%d): exit %d\n%s\n%s", name, i, r.code, r.stdout, r.stderr)
		}
	}
	n := e.verify()
	if n < 40 {
		t.Fatalf("only %d recordings: the test wants ~50", n)
	}
	requests, throttled, by := e.sim.GatewayRequests()
	t.Logf("%d recordings, %d gateway requests in both runs: %v", n, requests, by)
	if throttled != 0 {
		t.Errorf("%d requests answered 429", throttled)
	}
	if per := float64(requests) / float64(n); per > 1.5 {
		t.Errorf("%d gateway requests for %d recordings in both runs: %.2f a recording, want ≤ 1.5 (%v)", requests, n, per, by)
	}
	if got := by[vccsim.RouteInteractions]; got > 2 {
		t.Errorf("%d Content listing requests for two runs over two days, want 1 each", got)
	}
}

// rate_limit is gone: the flag, like the config key, is refused with an
// error naming what replaced it, before anything is asked of VCC.
func TestSync_RateLimitFlagNamesItsReplacement(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 5, Days: 1, CallsPerDay: 2}, "admin")
	r := e.syncAll("--rate-limit", "20")
	if r.code != 2 || !strings.Contains(r.stderr, "--rate-limit (requests per second per API) was replaced by --requests-per-minute, config requests_per_minute (one budget for the whole VCC account") {
		t.Errorf("sync --rate-limit 20: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(e.sim.Requests()); n != 0 {
		t.Errorf("%d requests to VCC before the configuration error", n)
	}
}
