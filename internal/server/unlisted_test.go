package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/server"
	"github.com/vccingest/vccingest/internal/vcc"
)

// A window VCC refuses to list fails the tenant's run in serve as in sync:
// the run is recorded with the window and VCC's answer, the tenant is
// unhealthy, and the watermark stays before the window.
func TestService_AWindowThatCannotBeListedFailsTheRun(t *testing.T) {
	h := newServiceHarness(t)
	ctx := context.Background()
	refused := h.start.Add(12 * time.Hour)
	spec := h.spec(t, "acme", "admin", "")
	spec.Tenant.VCC = refusingClient(t, h, refused, nil)
	if err := h.svc.Apply(ctx, []server.TenantSpec{spec}); err != nil {
		t.Fatal(err)
	}
	st := h.waitFor(t, "acme", func(st server.TenantStatus) bool { return st.Health == "unhealthy" })
	if !strings.Contains(st.LastError, "could not be listed") || !strings.Contains(st.LastError, "This window is refused.") {
		t.Errorf("last error %q does not name the window and VCC's answer", st.LastError)
	}
	if st.Watermark.After(refused) {
		t.Errorf("watermark %s passed the window never listed (%s)", st.Watermark, refused)
	}
	runs, err := h.cat.Runs(ctx, "acme", 5)
	if err != nil || len(runs) == 0 || runs[len(runs)-1].Status != catalog.RunFailed {
		t.Errorf("runs %+v, %v; want the first one recorded failed", runs, err)
	}
	if st.FailedWindows != 1 {
		t.Errorf("status counts %d failed windows, want 1", st.FailedWindows)
	}
	// The page, the API and /metrics say so too.
	ts := h.serve(t, "")
	for path, want := range map[string]string{
		"/metrics":          `vccingest_windows_failed{tenant="acme"} 1`,
		"/api/tenants/acme": `"failed_windows": 1,`,
		"/":                 "1 window(s) could not be listed",
	} {
		if code, _, body := get(t, ts.URL+path, ""); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: %d, does not show %q:\n%.2000s", path, code, want, body)
		}
	}
}

// A window VCC keeps refusing holds the watermark back, but re-planning is
// bounded: each later run lists the refused window (alone, once its
// listing failed, so that it fails no other) and the windows due or due a
// re-scan, not every window since the watermark (before, 43 windows a run here, and
// 708 after 30 days of one-hour windows).
func TestService_AnUnlistableWindowDoesNotReplanEverythingAfterIt(t *testing.T) {
	h := newServiceHarness(t)
	ctx := context.Background()
	refused := h.start.Add(12 * time.Hour)
	past := h.start.Add(20 * time.Hour) // synced once, then past the lookback
	var mu sync.Mutex
	searches := map[time.Time]int{} // Content searches by window start
	spec := h.spec(t, "acme", "admin", "")
	spec.Window, spec.Lookback = time.Hour, 6*time.Hour
	spec.Tenant.VCC = refusingClient(t, h, refused, func(start time.Time) {
		mu.Lock()
		searches[start]++
		mu.Unlock()
	})

	// The first run covers [7h, 13h): the refused window pins the
	// watermark at 12h. Then a day and a half passes.
	h.setNow(h.start.Add(13 * time.Hour))
	if err := h.svc.Apply(ctx, []server.TenantSpec{spec}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "acme", func(st server.TenantStatus) bool { return st.Health == "unhealthy" })
	h.setNow(h.start.Add(49 * time.Hour))
	first := finishedRuns(t, h)
	// The tenant is retried with backoff; wait for three runs at the new
	// time: the first catches up, the others re-plan.
	h.waitFor(t, "acme", func(server.TenantStatus) bool { return finishedRuns(t, h) >= first+3 })

	mu.Lock()
	defer mu.Unlock()
	if n := searches[refused]; n < 4 { // the first run's and three more
		t.Errorf("the refused window was listed %d times; each run should try it again", n)
	}
	if n := searches[h.start.Add(47*time.Hour)]; n < 1 {
		t.Errorf("a window of the lookback was listed %d times in 3 runs or more; it is listed when due", n)
	}
	if n := searches[past]; n != 1 {
		t.Errorf("a synced window past the lookback was listed %d times, want once: re-planning re-lists every window since the watermark", n)
	}
	st, _, err := h.svc.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Watermark.Equal(refused) {
		t.Errorf("watermark %s, want it held at the refused window %s", st.Watermark, refused)
	}
}

func finishedRuns(t *testing.T, h *serviceHarness) int {
	t.Helper()
	runs, err := h.cat.Runs(context.Background(), "acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if !r.Finished.IsZero() {
			n++
		}
	}
	return n
}

// refusingClient is a VCC client of the harness's simulator through a
// front that answers the Content search of the window starting at refused
// with a 400, as VCC answers a request it will not serve; searched, if set,
// sees the start of every Content search.
func refusingClient(t *testing.T, h *serviceHarness, refused time.Time, searched func(start time.Time)) *vcc.Client {
	t.Helper()
	target, _ := url.Parse(h.sim.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/interaction-content/interactions" {
			start, serr := time.Parse(time.RFC3339, r.URL.Query().Get("start"))
			end, eerr := time.Parse(time.RFC3339, r.URL.Query().Get("end"))
			if serr != nil || eerr != nil {
				t.Errorf("a search without a start and end: %s", r.URL.RawQuery)
			}
			// A search may span many windows: each hour it covers counts.
			for h := start.UTC().Truncate(time.Hour); h.Before(end) && searched != nil; h = h.Add(time.Hour) {
				searched(h)
			}
			if !refused.Before(start) && refused.Before(end) { // VCC refuses any search that covers the window
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"message":"This window is refused."}`)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	c := h.sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: h.sim.AuthURL(), APIURL: front.URL, ClientID: c.ClientID, ClientSecret: secret.New(c.ClientSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return client
}
