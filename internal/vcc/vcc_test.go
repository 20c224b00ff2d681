package vcc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vccsim"
)

var day0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

func startSim(t testing.TB, cfg vccsim.Config) *vccsim.Server {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = day0
	}
	s, err := vccsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// tokenSpy records every bearer token the client sends.
type tokenSpy struct {
	mu     sync.Mutex
	tokens map[string]bool
}

func (s *tokenSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		s.mu.Lock()
		s.tokens[tok] = true
		s.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

type fixture struct {
	sim  *vccsim.Server
	c    *Client
	cred vccsim.Credential
	logs *bytes.Buffer
	spy  *tokenSpy
}

func newClient(t testing.TB, sim *vccsim.Server, cred string, tweak ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{sim: sim, cred: sim.Credential(cred), logs: &bytes.Buffer{}, spy: &tokenSpy{tokens: map[string]bool{}}}
	cfg := Config{
		AuthURL: sim.AuthURL(), APIURL: sim.APIURL(), ClientID: f.cred.ClientID, ClientSecret: secret.New(f.cred.ClientSecret),
		MinBackoff: 10 * time.Millisecond, Version: "test",
		Logger:     slog.New(slog.NewTextHandler(&lockedWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient: &http.Client{Transport: f.spy},
	}
	for _, fn := range tweak {
		fn(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	t.Cleanup(func() { f.checkNoLeak(t) })
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// checkNoLeak: neither the secret nor any token the client used is in its
// logs; only GET went to resource APIs.
func (f *fixture) checkNoLeak(t testing.TB) {
	logs := f.logs.String()
	if strings.Contains(logs, f.cred.ClientSecret) {
		t.Error("the client secret is in the logs")
	}
	f.spy.mu.Lock()
	defer f.spy.mu.Unlock()
	for tok := range f.spy.tokens {
		if strings.Contains(logs, tok) {
			t.Error("a bearer token is in the logs")
		}
	}
	for _, r := range f.sim.Requests() {
		if r.Method != http.MethodGet && r.Route != vccsim.RouteToken {
			t.Errorf("%s to a resource API: %+v", r.Method, r)
		}
	}
}

func requests(sim *vccsim.Server, route string, status int) (n int) {
	for _, r := range sim.Requests() {
		if r.Route == route && (status == 0 || r.Status == status) {
			n += r.Count
		}
	}
	return n
}

func tokenRequests(sim *vccsim.Server, scope string) (n int) {
	for _, r := range sim.Requests() {
		if r.Route == vccsim.RouteToken && r.Scope == scope {
			n += r.Count
		}
	}
	return n
}

func TestEndpointsAndURLs(t *testing.T) {
	for _, r := range []string{"nam", "emea", "apac", "EMEA"} {
		a, b, err := Endpoints(r)
		lr := strings.ToLower(r)
		if err != nil || a != "https://"+lr+".cc.vonage.com/Auth/connect/token" || b != "https://"+lr+".api.cc.vonage.com" {
			t.Errorf("%s: %s %s %v", r, a, b, err)
		}
	}
	if _, _, err := Endpoints("mars"); err == nil || !strings.Contains(err.Error(), "apac, emea, nam") {
		t.Errorf("unknown region: %v", err)
	}
	base := Config{ClientID: "id", ClientSecret: secret.New("s")}
	for _, tc := range []struct {
		auth, api string
		ok        bool
	}{
		{"https://proxy.example.com/token", "https://proxy.example.com", true},
		{"http://127.0.0.1:8700/Auth/connect/token", "http://[::1]:8700", true},
		{"http://localhost/t", "http://localhost", true},
		{"http://proxy.example.com/token", "https://proxy.example.com", false},
		{"https://a/t", "ftp://b", false},
		{"https://a/t", "not a url", false},
	} {
		cfg := base
		cfg.AuthURL, cfg.APIURL = tc.auth, tc.api
		if _, err := New(cfg); (err == nil) != tc.ok {
			t.Errorf("%s %s: %v", tc.auth, tc.api, err)
		}
	}
	if _, err := New(Config{Region: "nam", ClientID: "id"}); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestOneTokenRequestPerScopeUnderConcurrency(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1, Agents: 3})
	f := newClient(t, sim, "admin")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = f.c.User(ctx, sim.Agents()[0].UserID)
			} else {
				_, err = f.c.StatsInteraction(ctx, "unknown")
				if errors.Is(err, ErrNotFound) {
					err = nil
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if u, s, c := tokenRequests(sim, ScopeUsers), tokenRequests(sim, ScopeStats), tokenRequests(sim, ScopeContent); u != 1 || s != 1 || c != 0 {
		t.Errorf("token requests: users %d, stats %d, content %d; want 1, 1, 0 (a scope no call needs is not requested)", u, s, c)
	}
}

func TestTokenRenewal(t *testing.T) {
	t.Run("renewed before expiry", func(t *testing.T) {
		sim := startSim(t, vccsim.Config{Seed: 1, Days: 1, TokenTTL: 2 * time.Second})
		f := newClient(t, sim, "admin")
		ctx := context.Background()
		id := sim.Agents()[0].UserID
		if _, err := f.c.User(ctx, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1700 * time.Millisecond) // within the last fifth of the lifetime
		if _, err := f.c.User(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := tokenRequests(sim, ScopeUsers); n != 2 {
			t.Errorf("%d token requests, want 2 (renewed early)", n)
		}
		if n := requests(sim, vccsim.RouteUser, 401); n != 0 {
			t.Errorf("%d requests went out with an expired token", n)
		}
	})
	t.Run("401 renews once", func(t *testing.T) {
		sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
		sim.SetNow(day0.AddDate(0, 0, 2))
		f := newClient(t, sim, "admin")
		ctx := context.Background()
		id := sim.Agents()[0].UserID
		if _, err := f.c.User(ctx, id); err != nil {
			t.Fatal(err)
		}
		sim.Advance(3 * time.Hour) // the server forgets the token; the client cannot know
		if _, err := f.c.User(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n, u := tokenRequests(sim, ScopeUsers), requests(sim, vccsim.RouteUser, 401); n != 2 || u != 1 {
			t.Errorf("%d token requests and %d 401s, want 2 and 1", n, u)
		}
	})
}

func TestTypedAuthErrors(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	ctx := context.Background()

	bad := newClient(t, sim, "admin", func(c *Config) { c.ClientSecret = secret.New("wrong-secret-value") })
	err := bad.c.CheckScope(ctx, ScopeContent)
	if !errors.Is(err, ErrBadCredentials) || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("bad secret: %v", err)
	}

	sup := newClient(t, sim, "supervisor")
	err = sup.c.CheckScope(ctx, ScopeStats)
	var se *ScopeError
	if !errors.As(err, &se) || se.Scope != ScopeStats || !strings.Contains(err.Error(), "supervisor-licence") || !strings.Contains(err.Error(), "direction") {
		t.Errorf("supervisor stats: %v", err)
	}
	if err := sup.c.CheckScope(ctx, ScopeContent); err != nil {
		t.Errorf("supervisor content: %v", err)
	}
	// The refusal is remembered: every job asks, VCC is asked once.
	for range 3 {
		if err := sup.c.CheckScope(ctx, ScopeStats); !errors.As(err, &se) {
			t.Errorf("supervisor stats, again: %v", err)
		}
	}
	if n := tokenRequests(sim, ScopeStats); n != 1 {
		t.Errorf("%d token requests for a refused scope asked 4 times, want 1", n)
	}

	sim.SetFaults(vccsim.Faults{TokenOutage: true})
	down := newClient(t, sim, "admin", func(c *Config) { c.MaxAttempts = 3 })
	if err := down.c.CheckScope(ctx, ScopeUsers); !errors.Is(err, ErrTokenUnavailable) {
		t.Errorf("outage: %v", err)
	}
	if n := tokenRequests(sim, ScopeUsers); n != 3 {
		t.Errorf("%d token attempts during the outage, want 3", n)
	}
}

func TestRetries(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	f := newClient(t, sim, "admin")
	ctx := context.Background()
	id := sim.Agents()[0].UserID
	_ = f.c.CheckScope(ctx, ScopeUsers)

	sim.SetFaults(vccsim.Faults{RetryAfter: 2 * time.Second, Schedule: []vccsim.ScheduledFault{{Route: vccsim.RouteUser, Nth: 1, Fault: vccsim.Fault429}}})
	began := time.Now()
	if _, err := f.c.User(ctx, id); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited < 2*time.Second {
		t.Errorf("retried after %s, Retry-After said 2s", waited)
	}

	sim.ResetRequests()
	sim.SetFaults(vccsim.Faults{Schedule: []vccsim.ScheduledFault{
		{Route: vccsim.RouteUser, Nth: 1, Fault: vccsim.Fault5xx},
		{Route: vccsim.RouteUser, Nth: 2, Fault: vccsim.FaultMalformedJSON},
	}})
	if _, err := f.c.User(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := requests(sim, vccsim.RouteUser, 0); n != 3 {
		t.Errorf("%d requests, want 3 (5xx, malformed, ok)", n)
	}
	if got := f.c.Retries(); got["users"] != 3 || got["content"] != 0 || got["stats"] != 0 {
		t.Errorf("retries %v, want users: 3 (one 429, one 5xx, one malformed body)", got)
	}

	sim.ResetRequests()
	_, err := f.c.User(ctx, "no-such-user")
	if !errors.Is(err, ErrNotFound) || requests(sim, vccsim.RouteUser, 0) != 1 {
		t.Errorf("404: %v after %d requests; want ErrNotFound after 1", err, requests(sim, vccsim.RouteUser, 0))
	}

	sim.SetFaults(vccsim.Faults{Rate5xx: 1})
	short := newClient(t, sim, "admin", func(c *Config) { c.MaxAttempts = 4 })
	if _, err := short.c.User(ctx, id); err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("persistent 5xx: %v", err)
	}
}

func TestDownloadResumesWithRange(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 2, Days: 1, CallsPerDay: 4, FixedRecordingSize: 3 << 20})
	f := newClient(t, sim, "admin")
	ctx := context.Background()
	truth := sim.Truth(day0, day0.AddDate(0, 0, 1), "admin")
	var guid, sum string
	for _, it := range truth.Interactions {
		if it.Visible && it.Content[0].ContentKey == "callRecording" {
			guid, sum = it.GUID, it.Content[0].SHA256
		}
	}
	sim.SetFaults(vccsim.Faults{Schedule: []vccsim.ScheduledFault{
		{Route: vccsim.RouteContent, Nth: 1, Fault: vccsim.FaultReset},
		{Route: vccsim.RouteContent, Nth: 2, Fault: vccsim.FaultShortBody},
		{Route: vccsim.RouteContent, Nth: 3, Fault: vccsim.Fault5xx},
	}})
	r, err := f.c.Open(ctx, guid, ContentItem{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav", Length: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	r.Close()
	if err != nil || n != 3<<20 || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Fatalf("downloaded %d bytes, err %v, sha256 match %v", n, err, hex.EncodeToString(h.Sum(nil)) == sum)
	}
	if got := requests(sim, vccsim.RouteContent, 206); got != 2 {
		t.Errorf("%d ranged requests, want 2 (after the reset and the short body)", got)
	}
	for _, rs := range sim.Requests() {
		if rs.Scope != "" && rs.Scope != ScopeContent {
			t.Errorf("a download used scope %s", rs.Scope)
		}
	}
}

func TestListingsMatchTruth(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 3, Days: 10, CallsPerDay: 120, FixedRecordingSize: 1000})
	f := newClient(t, sim, "no-outbound")
	ctx := context.Background()
	from, to := day0, day0.AddDate(0, 0, 10)
	want := map[string]vccsim.TruthInteraction{}
	total := 0
	for _, it := range sim.Truth(from, to, "no-outbound").Interactions {
		total++
		if it.Visible {
			want[it.GUID] = it
		}
	}
	got := 0
	for it, err := range f.c.Interactions(ctx, from, to) {
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[it.GUID]
		if !ok || !it.Start.Equal(w.Start) || it.AgentIDs[0] != w.AgentID || len(it.Content) != len(w.Content) {
			t.Fatalf("unexpected %+v", it)
		}
		got++
	}
	if got != len(want) {
		t.Errorf("listed %d, truth %d", got, len(want))
	}
	// 10 days: split into a 7-day and a 3-day window, several pages each.
	if n := requests(sim, vccsim.RouteInteractions, 400); n != 0 {
		t.Errorf("%d windows rejected", n)
	}
	stats := 0
	for si, err := range f.c.StatsInteractions(ctx, from, to) {
		if err != nil {
			t.Fatal(err)
		}
		if si.Direction == "" || si.AgentID == "" {
			t.Fatalf("stats row without direction or agent: %+v", si)
		}
		stats++
	}
	if stats != total {
		t.Errorf("stats listed %d, truth %d", stats, total)
	}
	agents := map[string]bool{}
	for _, a := range sim.Agents() {
		agents[a.UserID] = true
	}
	users := 0
	for u, err := range f.c.Users(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if !agents[u.UserID] {
			continue // an admin or supervisor, not an agent
		}
		if u.AgentID == "" || u.AgentCode == "" || u.Email == "" {
			t.Errorf("user without agent fields: %+v", u)
		}
		groups, err := f.c.UserGroups(ctx, u.UserID)
		if err != nil || len(groups) == 0 || groups[0].Name == "" {
			t.Errorf("groups of %s: %+v, %v", u.UserID, groups, err)
		}
		users++
	}
	if users != len(agents) {
		t.Errorf("%d agents listed, want %d", users, len(agents))
	}
}

// A JSON server that is not the simulator: malformed shapes and huge bodies.
func TestJSONShapeAndSizeErrors(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	body := ""
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	}))
	t.Cleanup(api.Close)
	f := newClient(t, sim, "admin", func(c *Config) { c.APIURL = api.URL; c.MaxJSONBytes = 1 << 10 })
	ctx := context.Background()
	for _, tc := range []struct {
		body, want string
	}{
		{`{"start":"2024-03-04T10:00:00Z","content":[],"extra":1}`, `"guid"`},
		{`{"guid":"g","content":[]}`, `"start"`},
		{`{"guid":"` + strings.Repeat("x", 2000) + `"}`, "larger than the 1024-byte cap"},
	} {
		body = tc.body
		_, err := f.c.Interaction(ctx, "g")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40s: %v, want an error naming %s", tc.body, err, tc.want)
		}
	}
	body = `{"guid":"g","start":"2024-03-04T10:00:00Z","content":[{"type":"callRecording"}]}`
	if it, err := f.c.Interaction(ctx, "g"); err != nil || len(it.Content) != 0 || len(it.Problems) != 1 || !strings.Contains(it.Problems[0], `"contentKey"`) {
		t.Errorf("an item without contentKey: %+v, %v; want it left out, with a problem naming contentKey", it, err)
	}
	body = `{"guid":"g","start":"2024-03-04T10:00:00Z","unknownField":{"a":1},"content":[{"contentKey":"callRecording","type":"callRecording","contentLength":10}]}`
	if it, err := f.c.Interaction(ctx, "g"); err != nil || it.Content[0].Length != 10 {
		t.Errorf("unknown fields: %v", err)
	}
}

// Counters and User-Agent: what the service will publish as metrics, and
// how VCC sees us.
func TestCountersAndUserAgent(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	var agents []string
	var mu sync.Mutex
	f := newClient(t, sim, "admin", func(c *Config) {
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			agents = append(agents, r.Header.Get("User-Agent"))
			mu.Unlock()
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	ctx := context.Background()
	id := sim.Agents()[0].UserID
	for range 3 {
		if _, err := f.c.User(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = f.c.User(ctx, "missing")
	got := map[Counter]int64{}
	for _, cv := range f.c.Counters() {
		got[cv.Counter] = cv.Count
	}
	want := map[Counter]int64{
		{API: "token", Status: 200, Scope: ScopeUsers}:                        1,
		{API: "users", Status: 200, Scope: ScopeUsers, Purpose: PurposeUsers}: 3,
		{API: "users", Status: 404, Scope: ScopeUsers, Purpose: PurposeUsers}: 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counters %v, want %v", got, want)
	}
	for _, ua := range agents {
		if ua != "vccingest/test" {
			t.Errorf("User-Agent %q", ua)
		}
	}
	if len(agents) != 5 {
		t.Errorf("%d requests seen", len(agents))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A secret rotated at the source is re-read once when VCC answers
// invalid_client, and the call goes on.
func TestSecretRotation(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	reads := 0
	f := newClient(t, sim, "admin", func(c *Config) {
		c.ClientSecret = secret.New("the-old-rotated-secret")
		c.RefreshSecret = func(context.Context) (secret.Value, error) {
			reads++
			return secret.New(sim.Credential("admin").ClientSecret), nil
		}
	})
	if err := f.c.CheckScope(context.Background(), ScopeUsers); err != nil {
		t.Fatal(err)
	}
	if reads != 1 || tokenRequests(sim, ScopeUsers) != 2 {
		t.Errorf("%d re-reads, %d token requests; want 1 and 2", reads, tokenRequests(sim, ScopeUsers))
	}
	// A secret that stays wrong is ErrBadCredentials after one re-read.
	bad := newClient(t, sim, "admin", func(c *Config) {
		c.ClientSecret = secret.New("wrong")
		c.RefreshSecret = func(context.Context) (secret.Value, error) { return secret.New("still-wrong"), nil }
	})
	if err := bad.c.CheckScope(context.Background(), ScopeStats); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("still wrong: %v", err)
	}
}
