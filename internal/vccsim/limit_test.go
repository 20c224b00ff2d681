package vccsim

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// More than N resource requests in a minute, across all APIs, get a 429
// without Retry-After; token requests are not counted; 429s are counted
// in the request counters.
func TestAccountRequestsPerMinute(t *testing.T) {
	const n = 6
	s := contentSim(t, Config{AccountRequestsPerMinute: n})
	c, u, st := mustToken(t, s, "admin", ScopeContent), mustToken(t, s, "admin", ScopeUsers), mustToken(t, s, "admin", ScopeStats)
	paths := []struct{ path, tok string }{
		{"/interaction-content/interactions?" + window(day0, day0.AddDate(0, 0, 1)), c},
		{"/useradmin/users", u},
		{"/stats/interactions?start=2024-03-04T00:00:00Z", st},
	}
	for i := range n {
		p := paths[i%len(paths)]
		if resp, b := get(t, s, p.path, p.tok); resp.StatusCode != 200 {
			t.Fatalf("request %d of %d: %d %s", i+1, n, resp.StatusCode, b)
		}
		if i == 2 {
			mustToken(t, s, "admin", ScopeContent) // not counted
		}
	}
	// The dataset's clock does not refill the budget.
	s.Advance(time.Hour)
	for _, p := range paths {
		resp, b := get(t, s, p.path, p.tok)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" || !jsonEqual(b, []byte(`{"message":"Too Many Requests"}`)) {
			t.Errorf("%s beyond the limit: %d, Retry-After %q, %s; want 429 without Retry-After", p.path, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	// Token requests are not limited.
	mustToken(t, s, "admin", ScopeStats)
	var limited int
	for _, r := range s.Requests() {
		if r.Status == 429 && r.Route != RouteToken {
			limited += r.Count
		}
	}
	if limited != len(paths) {
		t.Errorf("request counters show %d 429s, want %d", limited, len(paths))
	}
	// Without a limit, nothing is limited.
	free := contentSim(t, Config{})
	tok := mustToken(t, free, "admin", ScopeUsers)
	for range 50 {
		if resp, _ := get(t, free, "/useradmin/users", tok); resp.StatusCode != 200 {
			t.Fatalf("no limit configured: %d", resp.StatusCode)
		}
	}
	if _, err := New(Config{AccountRequestsPerMinute: -1}); err == nil {
		t.Error("a negative limit was accepted")
	}
}

// The limiter's minute rolls: a request leaves the budget 60 s after it was
// let through, refused requests use none.
func TestAccountLimiterRolls(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	l := newAccountLimiter(3, clock)
	var got []string
	try := func(label string) {
		if l.allow() {
			got = append(got, label+"+")
		} else {
			got = append(got, label+"-")
		}
	}
	try("0s")
	step(20 * time.Second)
	try("20s")
	try("20s")
	try("20s") // the 4th within a minute
	step(39 * time.Second)
	try("59s") // still within the minute of the first
	step(time.Second)
	try("60s") // the first has left the window
	try("60s")
	step(20 * time.Second)
	try("80s") // both 20s requests have left
	try("80s")
	want := "0s+ 20s+ 20s+ 20s- 59s- 60s+ 60s- 80s+ 80s+"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if !newAccountLimiter(0, clock).allow() {
		t.Error("a zero limit limits")
	}
}

// Rejections lists every refused request with the message sent, and
// ResetRequests forgets them.
func TestRejections(t *testing.T) {
	s := contentSim(t, Config{})
	tok := mustToken(t, s, "admin", ScopeContent)
	get(t, s, "/interaction-content/interactions?"+window(day0, day0.AddDate(0, 0, 1)), tok) // fine
	get(t, s, "/interaction-content/interactions?"+window(day0, day0.AddDate(0, 0, 1)), tok, "Accept", "application/json")
	get(t, s, "/interaction-content/interactions?"+window(day0, day0.AddDate(0, 0, 1))+"&limit=0", tok)
	get(t, s, onePath+"short", tok)
	get(t, s, "/useradmin/users", tok)
	get(t, s, "/nowhere", tok)
	askToken(t, s, s.Credential("supervisor"), ScopeStats, false)
	want := []Rejection{
		{http.MethodGet, RouteInteractions, 400, "Invalid api-version! Valid values: 'application/vnd.newvoicemedia.v3+json'"},
		{http.MethodGet, RouteInteractions, 400, "The value '0' is not valid for 'limit': use a whole number from 1 to 1000."},
		{http.MethodGet, RouteInteraction, 400, "GUID must be 36 characters in length"},
		{http.MethodGet, RouteUsers, 401, "Unauthorized"},
		{http.MethodGet, "unknown", 404, "No HTTP resource was found that matches the request URI."},
		{http.MethodPost, RouteToken, 400, `invalid_scope: "stats" is an invalid scope`},
	}
	got := s.Rejections()
	if len(got) != len(want) {
		t.Fatalf("rejections %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rejection %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	s.ResetRequests()
	if r := s.Rejections(); len(r) != 0 {
		t.Errorf("after ResetRequests: %+v", r)
	}
}
