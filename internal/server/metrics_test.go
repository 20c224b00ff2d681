package server_test

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Every family a dashboard or an alert needs is in the first scrape, each
// series with its tenant label, before anything was retried or queued.
func TestMetrics_EveryFamilyFromTheFirstScrape(t *testing.T) {
	ts := newServer(t, "")
	code, _, body := get(t, ts.URL+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for name, want := range map[string]int{ // series of tenant acme at least
		"vccingest_recordings_stored_total": 1,
		"vccingest_recordings_failed_total": 1,
		"vccingest_recordings_pending":      1,
		"vccingest_stored_bytes_total":      1,
		"vccingest_vcc_retries_total":       3, // content, users, stats
		"vccingest_queue_jobs":              3, // discover, fetch, tenant sync
		"vccingest_tenant_healthy":          1,
		"vccingest_windows_failed":          1,
		"vccingest_vcc_rate_per_minute":     1,
		"vccingest_vcc_throttled_total":     1,
	} {
		mf := families[name]
		if mf == nil {
			t.Errorf("the first scrape has no %s", name)
			continue
		}
		n := 0
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "tenant" && lp.GetValue() == "acme" {
					n++
				}
			}
		}
		if n < want {
			t.Errorf("%s has %d series of tenant acme, want %d", name, n, want)
		}
	}
}
