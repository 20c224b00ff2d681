package vcc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// fixtureFile is one documented example of vcc-api.md (testdata/fixtures).
type fixtureFile struct {
	Section string          `json:"section"`
	Status  int             `json:"status"`
	Body    json.RawMessage `json:"body"`
}

func loadFixture(t testing.TB, name string) fixtureFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// docServer answers every request with the documented example of its path,
// and records what the client sent.
type docServer struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]fixtureFile // path → answer; the token endpoint defaults to token.json
	seen   []*http.Request
}

func newDocServer(t *testing.T, routes map[string]string) *docServer {
	t.Helper()
	d := &docServer{routes: map[string]fixtureFile{}}
	for path, name := range routes {
		d.routes[path] = loadFixture(t, name)
	}
	if _, ok := d.routes["/Auth/connect/token"]; !ok {
		d.routes["/Auth/connect/token"] = loadFixture(t, "token.json")
	}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		d.mu.Lock()
		d.seen = append(d.seen, r)
		f, ok := d.routes[r.URL.Path]
		d.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Not found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = w.Write(f.Body)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *docServer) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{
		AuthURL: d.URL + "/Auth/connect/token", APIURL: d.URL, ClientID: "id", ClientSecret: secret.New("secret-value"),
		MinBackoff: time.Millisecond, MaxAttempts: 2, Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requests returns what the client sent to path.
func (d *docServer) requests(path string) []*http.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*http.Request
	for _, r := range d.seen {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}

var exampleDay = time.Date(2020, 2, 16, 0, 0, 0, 0, time.UTC)

// The client decodes every documented example body into what it means.
func TestDecodesTheDocumentedExamples(t *testing.T) {
	ctx := context.Background()
	t.Run("content search v3 and v2", func(t *testing.T) {
		for _, name := range []string{"content_search_v3.json", "content_search_v2.json"} {
			d := newDocServer(t, map[string]string{"/interaction-content/interactions": name})
			var got []Interaction
			for it, err := range d.client(t).Interactions(ctx, exampleDay, exampleDay.AddDate(0, 0, 1)) {
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got = append(got, it)
			}
			if len(got) != 1 {
				t.Fatalf("%s: %d interactions", name, len(got))
			}
			it := got[0]
			if it.GUID != "2480fc2c-bbd7-427c-9439-02f76583aef5" || !it.Start.Equal(time.Date(2020, 2, 16, 14, 11, 56, 0, time.UTC)) ||
				it.Direction != "inbound" || len(it.AgentIDs) != 1 || it.AgentIDs[0] != "1342" || it.ConnectFrom != "+14154204204" || it.ConnectTo != "22222" {
				t.Errorf("%s: %+v", name, it)
			}
			if c := it.Content[0]; c.Key != "callRecording" || c.Type != "callRecording" || c.ContentType != "audio/wav" || c.Length != 359 {
				t.Errorf("%s: recording %+v", name, c)
			}
			if name == "content_search_v3.json" && (len(it.Content) != 2 || it.Content[1].Type != "voicemail" || it.Content[1].Length != 121) {
				t.Errorf("%s: voicemail %+v", name, it.Content)
			}
			if len(it.Problems) != 0 {
				t.Errorf("%s: problems %v", name, it.Problems)
			}
		}
	})
	t.Run("users in every documented envelope", func(t *testing.T) {
		for _, name := range []string{"users_list_v4.json", "users_list_items.json", "users_list_bare.json"} {
			d := newDocServer(t, map[string]string{"/useradmin/users": name})
			var got []User
			for u, err := range d.client(t).Users(ctx) {
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got = append(got, u)
			}
			want := User{UserID: "8e22b1fe-d2ea-403d-8c03-50eb21188e79", Username: "a.agent", Name: "Alex Agent", Email: "a.agent@example.com",
				Role: "Agent", Active: true, AgentID: "1342", AgentCode: "1342"}
			if len(got) != 1 || got[0] != want {
				t.Errorf("%s: %+v, want %+v", name, got, want)
			}
		}
	})
	t.Run("a user's groups", func(t *testing.T) {
		d := newDocServer(t, map[string]string{"/useradmin/users/8e22b1fe-d2ea-403d-8c03-50eb21188e79/groups": "user_groups.json"})
		gs, err := d.client(t).UserGroups(ctx, "8e22b1fe-d2ea-403d-8c03-50eb21188e79")
		want := Group{ID: "b71db70d-287b-4478-ac04-9557be0f82b2", DisplayID: "1122", Name: "Sales"}
		if err != nil || len(gs) != 1 || gs[0] != want {
			t.Errorf("groups %+v, %v; want %+v", gs, err, want)
		}
	})
	t.Run("stats interactions", func(t *testing.T) {
		d := newDocServer(t, map[string]string{"/stats/interactions": "stats_interactions.json"})
		var got []StatsInteraction
		for si, err := range d.client(t).StatsInteractions(ctx, exampleDay, exampleDay.AddDate(0, 0, 1)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, si)
		}
		if len(got) != 1 {
			t.Fatalf("%d rows", len(got))
		}
		si := got[0]
		if si.GUID != "2480fc2c-bbd7-427c-9439-02f76583aef5" || si.Direction != "inbound" || si.Duration != 83340*time.Millisecond ||
			si.AgentID != "1342" || si.Medium != "Phone" || si.Status != "Completed" || si.Outcome != "Handled by agent" || len(si.Problems) != 0 {
			t.Errorf("%+v", si)
		}
	})
}

// Every documented error body becomes the error a user can act on.
func TestDocumentedErrorsBecomeActionableErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		fixture string
		path    string
		check   func(error) bool
		want    string
	}{
		{"token_error_invalid_client.json", "/Auth/connect/token", func(err error) bool { return errors.Is(err, ErrBadCredentials) }, "ErrBadCredentials"},
		{"token_error_invalid_scope.json", "/Auth/connect/token", func(err error) bool { var se *ScopeError; return errors.As(err, &se) }, "*ScopeError"},
		{"token_error_missing_scope.json", "/Auth/connect/token", func(err error) bool { var se *ScopeError; return errors.As(err, &se) }, "*ScopeError"},
		{"token_error_unsupported_grant_type.json", "/Auth/connect/token", func(err error) bool { return err != nil && strings.Contains(err.Error(), "400") }, "a 400 naming the token endpoint"},
		{"token_error_server_fault.json", "/Auth/connect/token", func(err error) bool { return errors.Is(err, ErrTokenUnavailable) }, "ErrTokenUnavailable"},
		{"gateway_token_invalid.json", "/useradmin/users", func(err error) bool { var te *TokenRefusedError; return errors.As(err, &te) }, "*TokenRefusedError"},
		{"gateway_token_missing.json", "/useradmin/users", func(err error) bool { var te *TokenRefusedError; return errors.As(err, &te) }, "*TokenRefusedError"},
		{"gateway_token_wrong_scope.json", "/useradmin/users", func(err error) bool {
			var te *TokenRefusedError
			return errors.As(err, &te) && te.Scope == ScopeUsers && strings.Contains(err.Error(), "Unauthorized")
		}, "*TokenRefusedError for users:read"},
		{"users_version_missing.json", "/useradmin/users", func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "Version missing from Accept header!")
		}, "the message"},
		{"users_invalid_version.json", "/useradmin/users", func(err error) bool { return err != nil && strings.Contains(err.Error(), "Valid values: 4") }, "the message"},
		{"content_invalid_version.json", "/interaction-content/interactions", func(err error) bool { return err != nil && strings.Contains(err.Error(), "Invalid api-version") }, "the message"},
		{"content_guid_length.json", "/interaction-content/interactions", func(err error) bool { return err != nil && strings.Contains(err.Error(), "36 characters") }, "the message"},
		{"content_guid_invalid.json", "/interaction-content/interactions", func(err error) bool { return err != nil && strings.Contains(err.Error(), "not a valid UUID") }, "the message"},
		{"stats_invalid_accept.json", "/stats/interactions", func(err error) bool { return err != nil && strings.Contains(err.Error(), "Invalid Accept header!") }, "the message"},
		{"stats_invalid_version.json", "/stats/interactions", func(err error) bool { return err != nil && strings.Contains(err.Error(), "Valid values: 2,3") }, "the message"},
		{"stats_window_exceeded.json", "/stats/interactions", func(err error) bool { return err != nil && strings.Contains(err.Error(), "exceeded 31 days") }, "the message"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			d := newDocServer(t, map[string]string{tc.path: tc.fixture})
			c := d.client(t)
			var err error
			switch {
			case strings.HasPrefix(tc.path, "/Auth"):
				err = c.CheckScope(ctx, ScopeStats)
			case strings.HasPrefix(tc.path, "/useradmin"):
				for _, e := range c.Users(ctx) {
					if e != nil {
						err = e
						break
					}
				}
			case strings.HasPrefix(tc.path, "/stats"):
				for _, e := range c.StatsInteractions(ctx, exampleDay, exampleDay.AddDate(0, 0, 1)) {
					if e != nil {
						err = e
						break
					}
				}
			default:
				for _, e := range c.Interactions(ctx, exampleDay, exampleDay.AddDate(0, 0, 1)) {
					if e != nil {
						err = e
						break
					}
				}
			}
			if !tc.check(err) {
				t.Errorf("got %v, want %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret-value") {
				t.Errorf("the secret is in the error: %v", err)
			}
		})
	}
}

// What the client sends is what the docs ask for: the versioned Accept on
// every call (downloads and Range resumes included), the largest documented
// page sizes, continuation paging with every other parameter unchanged, and
// no `page` on the first User Admin page.
func TestRequestsAreTheDocumentedOnes(t *testing.T) {
	ctx := context.Background()
	d := newDocServer(t, map[string]string{
		"/interaction-content/interactions":                            "content_search_v3.json",
		"/useradmin/users":                                             "users_list_v4.json",
		"/useradmin/users/8e22b1fe-d2ea-403d-8c03-50eb21188e79/groups": "user_groups.json",
		"/stats/interactions":                                          "stats_interactions.json",
	})
	c := d.client(t)
	for range c.Interactions(ctx, exampleDay, exampleDay.AddDate(0, 0, 1)) {
	}
	for range c.Users(ctx) {
	}
	_, _ = c.UserGroups(ctx, "8e22b1fe-d2ea-403d-8c03-50eb21188e79")
	for range c.StatsInteractions(ctx, exampleDay, exampleDay.AddDate(0, 0, 1)) {
	}
	if r, err := c.Open(ctx, "2480fc2c-bbd7-427c-9439-02f76583aef5", recording); err == nil {
		r.Close()
	}
	check := func(path, accept string, want url.Values, absent ...string) {
		t.Helper()
		rs := d.requests(path)
		if len(rs) == 0 {
			t.Errorf("no request to %s", path)
			return
		}
		r := rs[0]
		if got := r.Header.Get("Accept"); got != accept {
			t.Errorf("%s: Accept %q, want %q", path, got, accept)
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("%s: no bearer token", path)
		}
		for k, v := range want {
			if got := r.URL.Query()[k]; strings.Join(got, ",") != strings.Join(v, ",") {
				t.Errorf("%s: %s=%v, want %v", path, k, got, v)
			}
		}
		for _, k := range absent {
			if r.URL.Query().Has(k) {
				t.Errorf("%s: first request has %s", path, k)
			}
		}
	}
	v3, v4 := "application/vnd.newvoicemedia.v3+json", "application/vnd.newvoicemedia.v4+json"
	check("/interaction-content/interactions", v3, url.Values{"limit": {"1000"}, "start": {"2020-02-16T00:00:00.000Z"}, "end": {"2020-02-17T00:00:00.000Z"}}, "page", "pageSize", "continuationToken")
	check("/useradmin/users", v4, url.Values{"limit": {"5000"}, "include": {"All"}}, "page", "pageSize")
	check("/useradmin/users/8e22b1fe-d2ea-403d-8c03-50eb21188e79/groups", v4, nil, "page")
	check("/stats/interactions", v3, url.Values{"limit": {"5000"}, "page": {"1"}}, "pageSize")
	check("/interaction-content/interactions/2480fc2c-bbd7-427c-9439-02f76583aef5/content/callRecording", v3, nil)
	for _, r := range d.requests("/Auth/connect/token") {
		if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" || strings.Contains(r.PostForm.Get("scope"), " ") {
			t.Errorf("token request %s %v", r.Method, r.PostForm)
		}
	}
}
