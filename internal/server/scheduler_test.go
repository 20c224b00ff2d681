package server_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/server"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// serviceHarness is a Scheduler on a real SQLite catalog and file bucket,
// syncing tenants from one simulator.
type serviceHarness struct {
	sim    *vccsim.Server
	cat    *catalog.Catalog
	bucket *blobstore.Bucket
	svc    *server.Scheduler
	start  time.Time
	now    atomic.Int64 // the scheduler's clock, Unix nanoseconds; setNow moves it
}

func (h *serviceHarness) setNow(t time.Time) { h.now.Store(t.UnixNano()) }

func newServiceHarness(t *testing.T) *serviceHarness {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	sim, err := vccsim.Start(vccsim.Config{Seed: 7, Start: start, Days: 2, CallsPerDay: 25, FixedRecordingSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	if err := cat.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	bucket, err := blobstore.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(dir, "blobs")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	h := &serviceHarness{sim: sim, cat: cat, bucket: bucket, start: start}
	h.setNow(start.AddDate(0, 0, 2).Add(time.Hour))
	h.svc, err = server.NewScheduler(server.SchedulerConfig{
		Catalog: cat, Now: func() time.Time { return time.Unix(0, h.now.Load()).UTC() },
		RetryBase: 200 * time.Millisecond, RetryMax: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.svc.Stop(5 * time.Second) })
	return h
}

// spec is a tenant syncing the whole simulated dataset as credential cred,
// with secret as its client secret.
func (h *serviceHarness) spec(t *testing.T, id, cred, sec string) server.TenantSpec {
	t.Helper()
	c := h.sim.Credential(cred)
	if sec == "" {
		sec = c.ClientSecret
	}
	client, err := vcc.New(vcc.Config{AuthURL: h.sim.AuthURL(), APIURL: h.sim.APIURL(), ClientID: c.ClientID, ClientSecret: secret.New(sec)})
	if err != nil {
		t.Fatal(err)
	}
	return server.TenantSpec{
		Tenant:   &ingest.Tenant{ID: id, Region: "nam", APIBase: h.sim.APIURL(), VCC: client, Bucket: h.bucket},
		Interval: time.Hour, Lookback: 3 * 24 * time.Hour, Settle: 0, Window: 6 * time.Hour, Downloads: 4,
		Fingerprint: id + cred + sec,
	}
}

// waitFor polls the tenant's status until ok or fails after a generous bound
// (a liveness bound, not a performance goal).
func (h *serviceHarness) waitFor(t *testing.T, id string, ok func(server.TenantStatus) bool) server.TenantStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, found, err := h.svc.Tenant(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if found && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s never reached the expected state; last status %+v", id, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowSpec is a tenant of a simulator of its own whose every response
// takes latency.
func (h *serviceHarness) slowSpec(t *testing.T, id string, latency time.Duration) server.TenantSpec {
	t.Helper()
	sim, err := vccsim.Start(vccsim.Config{Seed: 8, Start: h.start, Days: 2, CallsPerDay: 25, FixedRecordingSize: 2000, Latency: latency})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c := sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: sim.AuthURL(), APIURL: sim.APIURL(), ClientID: c.ClientID, ClientSecret: secret.New(c.ClientSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return server.TenantSpec{
		Tenant: &ingest.Tenant{ID: id, Region: "nam", VCC: client, Bucket: h.bucket},
		// One download at a time: the run's listing is one span, so its
		// downloads are what keeps it running for a while.
		Interval: time.Hour, Lookback: 3 * 24 * time.Hour, Window: 6 * time.Hour, Downloads: 1, Fingerprint: id,
	}
}

// serve is the HTTP server of the harness's scheduler, on loopback.
func (h *serviceHarness) serve(t *testing.T, token string) *httptest.Server {
	t.Helper()
	srv, err := server.New(server.Config{
		Scheduler: h.svc, Catalog: h.cat, AccessToken: secret.New(token),
		Coverage: func(ctx context.Context, tenant string, from, to time.Time, by string) (coverage.Report, error) {
			return coverage.FromCatalog(ctx, h.cat, tenant, from, to, by, time.Hour)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func (h *serviceHarness) visibleRecordings(cred string) int64 {
	return h.sim.Shape(h.start, h.start.AddDate(0, 0, 2), h.sim.Credential(cred).ClientID).VisibleRecordings()
}

func TestService_TenantsSyncIndependentlyAndAFailingOneBacksOff(t *testing.T) {
	h := newServiceHarness(t)
	ctx := context.Background()
	full := h.spec(t, "full", "admin", "")
	gap := h.spec(t, "gap", "no-outbound", "")
	broken := h.spec(t, "broken", "admin", "not-the-secret")
	if err := h.svc.Apply(ctx, []server.TenantSpec{full, gap, broken}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ id, cred string }{{"full", "admin"}, {"gap", "no-outbound"}} {
		st := h.waitFor(t, tc.id, func(st server.TenantStatus) bool { return st.Health == "healthy" })
		totals, err := h.cat.Totals(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if want := h.visibleRecordings(tc.cred); totals.Stored != want || want == 0 {
			t.Errorf("%s: stored %d recordings, ground truth says %d are visible", tc.id, totals.Stored, want)
		}
		if st.Watermark.IsZero() || st.Lag <= 0 || st.Coverage == nil {
			t.Errorf("%s: status after a run: %+v", tc.id, st)
		}
		runs, err := h.cat.Runs(ctx, tc.id, 5)
		if err != nil || len(runs) != 1 || runs[0].Status != "done" || runs[0].Stored != totals.Stored {
			t.Errorf("%s: runs %+v, %v", tc.id, runs, err)
		}
	}
	st, _, _ := h.svc.Tenant(ctx, "gap")
	if gaps := st.Coverage.Diagnosis.Gaps; len(gaps) != 1 || gaps[0].Permission != coverage.PermViewOutbound {
		t.Errorf("gap tenant diagnosis: %+v", st.Coverage.Diagnosis)
	}

	// The broken credential fails, is marked unhealthy, and is retried with
	// backoff: at least twice, each failure noted.
	bst := h.waitFor(t, "broken", func(st server.TenantStatus) bool { return st.ConsecutiveFailures >= 2 })
	if bst.Health != "unhealthy" || !strings.Contains(bst.LastError, "credential") || bst.NextAttempt.IsZero() {
		t.Errorf("broken tenant: %+v", bst)
	}
	if strings.Contains(bst.LastError, "not-the-secret") {
		t.Errorf("the error shows the secret: %s", bst.LastError)
	}

	// Removing a tenant stops its schedule; the others stay.
	if err := h.svc.Apply(ctx, []server.TenantSpec{full, gap}); err != nil {
		t.Fatal(err)
	}
	sts, err := h.svc.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range sts {
		ids = append(ids, st.ID)
	}
	if strings.Join(ids, ",") != "full,gap" {
		t.Errorf("tenants after removing one: %v", ids)
	}
	depth, err := h.svc.QueueDepth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"full", "gap"} {
		for _, kind := range []string{"vccingest.fetch", "vccingest.discover"} {
			if n, ok := depth[server.QueueKey{Tenant: id, Kind: kind}]; !ok || n != 0 {
				t.Errorf("queue depth of %s %s after the runs: %d (reported: %v); want 0, reported", id, kind, n, ok)
			}
		}
	}
}

// A tenant whose VCC answers slowly does not hold up another: the fast one
// finishes its run while the slow one is still in its first.
func TestService_ASlowTenantDoesNotDelayAnother(t *testing.T) {
	h := newServiceHarness(t)
	ctx := context.Background()
	slow := h.slowSpec(t, "slow", 5*time.Second)
	if err := h.svc.Apply(ctx, []server.TenantSpec{slow, h.spec(t, "fast", "admin", "")}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "slow", func(st server.TenantStatus) bool { return st.Running })
	h.waitFor(t, "fast", func(st server.TenantStatus) bool { return st.Health == "healthy" })
	st, _, err := h.svc.Tenant(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Runs != 0 {
		t.Errorf("the slow tenant finished before the fast one (status %+v): the test proves nothing", st)
	}
	if totals, _ := h.cat.Totals(ctx, "fast"); totals.Stored != h.visibleRecordings("admin") {
		t.Errorf("fast stored %d of %d", totals.Stored, h.visibleRecordings("admin"))
	}
}
