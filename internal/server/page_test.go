package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vccingest/vccingest/internal/browsertest"
	"github.com/vccingest/vccingest/internal/server"
)

// The status page in each state a tenant can be in, as headless Chromium
// renders it: healthy, degraded (a permission hides calls), unhealthy (the
// credential is refused) and running (a backfill in progress, with how far
// it got). Each tenant's section is screenshotted (into
// $VCCINGEST_SCREENSHOTS if set, to look at).
func TestStatusPage_EachStateInChromium(t *testing.T) {
	browsertest.Path(t) // fail (CI) or skip now, before the tenants sync
	h := newServiceHarness(t)
	running := h.slowSpec(t, "running", 400*time.Millisecond)
	specs := []server.TenantSpec{h.spec(t, "healthy", "admin", ""), h.spec(t, "degraded", "no-outbound", ""), h.spec(t, "unhealthy", "admin", "not-the-secret"), running}
	if err := h.svc.Apply(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "healthy", func(st server.TenantStatus) bool { return st.Health == "healthy" })
	h.waitFor(t, "degraded", func(st server.TenantStatus) bool { return st.Health == "healthy" && len(st.Degraded) > 0 })
	h.waitFor(t, "unhealthy", func(st server.TenantStatus) bool { return st.Health == "unhealthy" })
	h.waitFor(t, "running", func(st server.TenantStatus) bool { return st.Progress != nil && st.Progress.WindowsListed > 0 })

	ts := h.serve(t, "")
	ctx := browsertest.New(t) // its bound starts now, not while the tenants synced
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("tenant-running"))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shots := os.Getenv("VCCINGEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	for id, want := range map[string][]string{
		"healthy":   {"healthy", "recordings stored", "next run", "VCC budget", "requests (list ", "download "},
		"degraded":  {"degraded", "Degraded:", "hidden by a permission of the credential's user", "outbound calls are hidden"},
		"unhealthy": {"unhealthy", "Last sync failed", "next attempt"},
		"running":   {"syncing", "Syncing since", "listed", "pending"}, // then an ETA, or "finishing" once every window is listed
	} {
		sel := chromedp.ID("tenant-" + id)
		text, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("chromium: read %s: %v", id, err)
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("tenant %s: the page lacks %q; it reads:\n%s", id, w, text)
			}
		}
		if id == "running" && strings.Contains(text, "ETA unknown") {
			t.Errorf("tenant %s: no ETA though windows were listed:\n%s", id, text)
		}
		shot, err := chromedp.Run(ctx, chromedp.Screenshot(sel))
		if err != nil {
			t.Fatalf("chromium: screenshot %s: %v", id, err)
		}
		if len(shot) < 5_000 {
			t.Errorf("the screenshot of %s is only %d bytes", id, len(shot))
		}
		if err := os.WriteFile(filepath.Join(shots, "status-"+id+".png"), shot, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The chart of the last 14 days: a bar per series and day.
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tenant-healthy svg.chart rect title").length`))
	if err != nil {
		t.Fatalf("chromium: count the chart's bars: %v", err)
	}
	if bars != 14*3 {
		t.Errorf("the healthy tenant's chart has %d bars, want 42 (14 days × 3 series)", bars)
	}
}
