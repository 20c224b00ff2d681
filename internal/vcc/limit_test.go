package vcc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The budget halves on a 429 without Retry-After, once for a burst of 429s
// to requests already in flight, down to the floor and never below; it
// creeps back by a twentieth of the share a minute, up to the share and
// never above.
func TestBudget_DecreasesOn429AndCreepsBack(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)}
	b := newBudget(120, clock.now)
	rate := func(want float64, what string) {
		t.Helper()
		if got := b.perMinute(); !near(got, want) {
			t.Errorf("%s: %v requests a minute, want %v", what, got, want)
		}
	}
	rate(120, "at start")

	sent := clock.now()
	clock.advance(time.Second)
	b.throttled(sent, 0)
	rate(60, "after a 429")
	// Another request sent before the decrease comes back 429 too: it says
	// nothing about the lowered rate.
	b.throttled(sent, 0)
	rate(60, "after a second 429 to a request sent before the decrease")

	for range 10 {
		clock.advance(time.Second)
		b.throttled(clock.now(), 0)
	}
	rate(minRequestsPerMinute, "after a storm of 429s (the floor)")
	if n := b.throttles(); n != 12 {
		t.Errorf("%d 429s counted, want 12", n)
	}

	// Additive increase: 120/20 = 6 a minute per minute.
	clock.advance(time.Minute)
	rate(12, "a minute after the last 429")
	clock.advance(30 * time.Second)
	rate(15, "a minute and a half after")
	if f := b.backoff(); !near(f, 15.0/120) {
		t.Errorf("published backoff %v, want %v", f, 15.0/120)
	}
	// A 429 now halves from where the creep got to.
	b.throttled(clock.now(), 0)
	rate(7.5, "a 429 while creeping back")
	clock.advance(time.Hour)
	rate(120, "an hour later (the share, and no more)")
	if f := b.backoff(); f != 1 {
		t.Errorf("backoff %v after recovering, want 1", f)
	}

	// A smaller share (another worker joined) scales what is left, and the
	// floor stays the tenant's: 6 a minute for the whole budget of 120.
	b.setShare(60)
	rate(60, "half the budget")
	for range 10 {
		clock.advance(time.Second)
		b.throttled(clock.now(), 0)
	}
	rate(3, "a storm on half the budget (half the tenant's floor)")
}

// Retry-After holds every request back until then and leaves the rate
// alone.
func TestBudget_RetryAfterPausesWithoutSlowingDown(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)}
	b := newBudget(120, clock.now)
	b.throttled(clock.now(), 30*time.Second)
	if got := b.perMinute(); got != 120 {
		t.Errorf("%v requests a minute after a 429 with Retry-After, want 120", got)
	}
	if got := b.paused.Sub(clock.now()); got != 30*time.Second {
		t.Errorf("paused for %s, want the 30s of Retry-After", got)
	}
	// A request waits while the pause lasts (here until ctx ends) ...
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait during a Retry-After pause: %v, want the context's deadline", err)
	}
	// ... and goes once it is over.
	clock.advance(30 * time.Second)
	if _, err := b.wait(context.Background()); err != nil {
		t.Errorf("wait after the pause: %v", err)
	}
	// A hostile Retry-After does not stop the client for a day.
	b.throttled(clock.now(), 24*time.Hour)
	if got := b.paused.Sub(clock.now()); got != maxPause {
		t.Errorf("paused for %s after Retry-After of a day, want at most %s", got, maxPause)
	}
}

// The others' backoff slows this client without becoming its own: what it
// publishes is only what its own 429s did.
func TestBudget_FleetBackoff(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)}
	b := newBudget(120, clock.now)
	b.setShare(60)
	b.setFleet(0.5)
	if got := b.perMinute(); got != 30 {
		t.Errorf("%v requests a minute with another worker at backoff 0.5, want 30", got)
	}
	if f := b.backoff(); f != 1 {
		t.Errorf("published %v without a 429 of its own, want 1", f)
	}
	// Its own 429 halves from the rate it ran at.
	b.throttled(clock.now(), 0)
	if got, f := b.perMinute(), b.backoff(); got != 15 || f != 0.25 {
		t.Errorf("after a 429 at the fleet's rate: %v a minute, backoff %v; want 15 and 0.25", got, f)
	}
	b.setFleet(1)
	b.setFleet(math.NaN()) // a corrupt lease is no backoff
	if got := b.perMinute(); got != 15 {
		t.Errorf("%v a minute once the others recovered, want 15 (its own backoff)", got)
	}
}

// No budget, no limit: a 429 is waited out but lowers nothing.
func TestBudget_Unlimited(t *testing.T) {
	b := newBudget(0, time.Now)
	b.throttled(time.Now(), 0)
	if got := b.perMinute(); !math.IsInf(got, 1) {
		t.Errorf("%v requests a minute without a budget, want no limit", got)
	}
}

// throttling serves the Users API: 429 without Retry-After for the first
// n429 requests, then 500 for n500, then the user.
func throttling(t *testing.T, n429, n500 int64, retryAfter string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/Auth/connect/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":7200,"token_type":"bearer"}`))
			return
		}
		n := seen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case n <= n429:
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":"Too Many Requests"}`))
		case n <= n429+n500:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"userId":"u1","username":"a","name":"A","userAccountConfiguration":{"role":"Agent","agentConfiguration":{"agentDisplayId":"1"}}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func throttledClient(t *testing.T, srv *httptest.Server, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		AuthURL: srv.URL + "/Auth/connect/token", APIURL: srv.URL, ClientID: "id", ClientSecret: secret.New("s"),
		MinBackoff: time.Millisecond, MaxAttempts: 2, RequestsPerMinute: 600_000,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A storm of 429s spends none of the attempts other failures have: a
// request that gets ten 429s in a row, then a 503, with two attempts,
// waits and succeeds once the server recovers; the rate has come down.
func TestThrottled_StormWaitsAndSucceeds(t *testing.T) {
	srv, seen := throttling(t, 10, 1, "")
	c := throttledClient(t, srv, nil)
	if _, err := c.User(context.Background(), "u1"); err != nil {
		t.Fatalf("a request through a storm of 429s: %v", err)
	}
	if n := seen.Load(); n != 12 {
		t.Errorf("%d requests, want 12 (10 × 429, a 503, the user)", n)
	}
	if n := c.Throttled(); n != 10 {
		t.Errorf("Throttled() = %d, want 10", n)
	}
	if r := c.RequestsPerMinute(); r >= 600_000 {
		t.Errorf("%v requests a minute after 10 429s: the rate did not come down", r)
	}
	// Other failures still give up after MaxAttempts.
	srv2, _ := throttling(t, 0, 100, "")
	c2 := throttledClient(t, srv2, nil)
	if _, err := c2.User(context.Background(), "u1"); err == nil || !strings.Contains(err.Error(), "gave up after 2 attempts") || errors.Is(err, ErrThrottled) {
		t.Errorf("persistent 503: %v", err)
	}
}

// A request that VCC throttles ends when its context does, at once, even
// in the middle of a long Retry-After, with an error that says it was
// throttled, not failed.
func TestThrottled_ContextEndsTheWait(t *testing.T) {
	srv, _ := throttling(t, 1<<40, 0, "3600")
	c := throttledClient(t, srv, func(cfg *Config) { cfg.MaxThrottled = 48 * time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.User(ctx, "u1")
		done <- err
	}()
	for c.Throttled() == 0 {
		select {
		case err := <-done:
			t.Fatalf("returned before any 429: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrThrottled) || !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled while throttled: %v, want ErrThrottled and context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request went on waiting for Retry-After (an hour) after its context was cancelled")
	}

	// Past MaxThrottled it gives up, still as throttled.
	srv2, _ := throttling(t, 1<<40, 0, "")
	c2 := throttledClient(t, srv2, func(cfg *Config) { cfg.MaxThrottled = 50 * time.Millisecond; cfg.MaxAttempts = 1 })
	if _, err := c2.User(context.Background(), "u1"); !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), "requests_per_minute") {
		t.Errorf("429s past MaxThrottled: %v", err)
	}
}

// When requests wait for the budget, one of a lower Priority goes before
// every one of a higher Priority that waits with it: high-priority requests
// that join a queue of low-priority ones go after at most the one low
// request already promised its place. Requests of one priority keep their
// order, and a request whose context ends leaves the queue.
func TestBudget_LowerPriorityFirst(t *testing.T) {
	b := newBudget(300, time.Now) // one request each 200 ms
	var mu sync.Mutex
	type sent struct {
		name string
		at   time.Time
	}
	var out []sent
	var returned atomic.Int64
	var wg sync.WaitGroup
	send := func(name string, p Priority) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, err := b.wait(WithPriority(context.Background(), p))
			returned.Add(1)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			mu.Lock()
			out = append(out, sent{name, at})
			mu.Unlock()
		}()
	}
	// entered counts the requests that reached the queue: sent, waiting,
	// or holding the turn (never more than have).
	entered := func(p Priority) (n int64, waiting int) {
		b.turn.mu.Lock()
		defer b.turn.mu.Unlock()
		for _, w := range b.turn.waiting {
			if w.prio == p {
				waiting++
			}
		}
		n = returned.Load() + int64(len(b.turn.waiting))
		if b.turn.busy {
			n++
		}
		return n, waiting
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	for i := range 6 {
		send(fmt.Sprintf("low%d", i), 3)
		until("the low request to queue", func() bool { n, _ := entered(3); return n >= int64(i+1) })
	}
	// A request that gives up leaves the queue and holds up nobody.
	gone, cancel := context.WithCancel(WithPriority(context.Background(), 1))
	errc := make(chan error, 1)
	go func() { _, err := b.wait(gone); errc <- err }()
	until("the request that gives up to queue", func() bool { _, w := entered(1); return w == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("a request whose context ended: %v, want context.Canceled", err)
	}
	if _, w := entered(1); w != 0 {
		t.Fatalf("%d cancelled requests still queued", w)
	}
	returned.Add(-1) // the cancelled one

	send("high0", 0)
	until("the first high request to queue", func() bool { _, w := entered(0); return w == 1 })
	send("high1", 0)
	until("the high requests to queue", func() bool { _, w := entered(0); return w == 2 })
	mu.Lock()
	before := len(out) // lows already sent when the highs joined
	mu.Unlock()
	wg.Wait()

	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	pos := map[string]int{}
	var order []string
	for i, s := range out {
		pos[s.name] = i
		order = append(order, s.name)
	}
	for _, h := range []string{"high0", "high1"} {
		if pos[h] > before+2 {
			t.Errorf("%s went out at position %d; %d low requests had gone when it joined, so at most position %d (order %v)", h, pos[h], before, before+2, order)
		}
	}
	if pos["high0"] > pos["high1"] {
		t.Errorf("requests of one priority out of order: %v", order)
	}
	for i := range 5 {
		if a, b := fmt.Sprintf("low%d", i), fmt.Sprintf("low%d", i+1); pos[a] > pos[b] {
			t.Errorf("%s went before %s: %v", b, a, order)
		}
	}
	if len(out) != 8 {
		t.Errorf("%d requests sent, want 8", len(out))
	}
}
