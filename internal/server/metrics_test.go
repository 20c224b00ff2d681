package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vccingest/vccingest/internal/server"
	"github.com/vccingest/vccingest/internal/vccsim"
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

// After a run, /metrics counts the tenant's VCC requests by API, status and
// purpose: listings, Stats, users and groups, one download per recording
// stored; together they are every request the simulator saw. The status
// JSON says the same by purpose.
func TestMetrics_RequestsByPurpose(t *testing.T) {
	h := newServiceHarness(t)
	if err := h.svc.Apply(context.Background(), []server.TenantSpec{h.spec(t, "acme", "admin", "")}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "acme", func(st server.TenantStatus) bool { return st.Health == "healthy" && !st.Running })
	ts := h.serve(t, "")
	_, _, body := get(t, ts.URL+"/metrics", "")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	mf := families["vccingest_vcc_requests_total"]
	if mf == nil {
		t.Fatal("no vccingest_vcc_requests_total")
	}
	byPurpose := map[string]float64{}
	apis := map[string]map[string]bool{}
	var total float64
	for _, m := range mf.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["tenant"] != "acme" {
			continue
		}
		if l["purpose"] == "" {
			t.Errorf("a series without a purpose: %v", l)
		}
		byPurpose[l["purpose"]] += m.GetCounter().GetValue()
		total += m.GetCounter().GetValue()
		if apis[l["purpose"]] == nil {
			apis[l["purpose"]] = map[string]bool{}
		}
		apis[l["purpose"]][l["api"]] = true
	}
	tot, err := h.cat.Totals(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if byPurpose["download"] != float64(tot.Stored) || tot.Stored == 0 {
		t.Errorf("%v download requests for %d recordings stored, want one each", byPurpose["download"], tot.Stored)
	}
	for purpose, api := range map[string]string{"list": "content", "stats": "stats", "users": "users", "groups": "users", "download": "content"} {
		if byPurpose[purpose] == 0 || !apis[purpose][api] || len(apis[purpose]) != 1 {
			t.Errorf("purpose %s: %v requests to %v, want some to %s only", purpose, byPurpose[purpose], apis[purpose], api)
		}
	}
	var seen float64
	for _, r := range h.sim.Requests() {
		if r.Route != vccsim.RouteToken {
			seen += float64(r.Count)
		}
	}
	if total != seen {
		t.Errorf("the purposes add up to %v requests, the simulator saw %v (by purpose: %v)", total, seen, byPurpose)
	}

	// The status JSON, from the same counters.
	_, _, js := get(t, ts.URL+"/api/tenants/acme", "")
	var v server.TenantJSON
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatal(err)
	}
	for p, n := range byPurpose {
		if float64(v.VCC.Requests[p]) != n {
			t.Errorf("status JSON: %d %s requests, metrics %v", v.VCC.Requests[p], p, n)
		}
	}
	if v.VCC.RatePerMinute != nil || !strings.HasPrefix(v.VCC.Summary, fmt.Sprintf("%d requests (list ", int64(total))) {
		t.Errorf("status JSON without a budget: rate %v, summary %q", v.VCC.RatePerMinute, v.VCC.Summary)
	}
	// And the status page.
	if _, _, page := get(t, ts.URL+"/", ""); !strings.Contains(page, "VCC budget") || !strings.Contains(page, html.EscapeString(v.VCC.Summary)) {
		t.Errorf("the status page lacks the VCC cost %q", v.VCC.Summary)
	}
}
