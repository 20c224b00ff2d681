package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// Under the decaying schedule content that VCC shows 5 hours after the
// call, within a 6-hour lookback, is still found (by the last re-scan, at
// the lookback: the +1h one is too early), though a window is no longer
// listed on every run; once its schedule is done it is not listed again.
func TestSync_LateContentWithinTheLookbackIsFound(t *testing.T) {
	ctx := context.Background()
	day0 := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	sim, err := vccsim.Start(vccsim.Config{Seed: 31, Start: day0, Days: 1, CallsPerDay: 30, ContentDelay: 5 * time.Hour, FixedRecordingSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cred := sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: sim.AuthURL(), APIURL: sim.APIURL(), ClientID: cred.ClientID, ClientSecret: secret.New(cred.ClientSecret)})
	if err != nil {
		t.Fatal(err)
	}
	cat := catalogtest.SQLite(t)
	bucket, err := blobstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	eng, err := New(Config{Tenant: &Tenant{ID: "acme", VCC: client}, Catalog: cat, Bucket: bucket,
		Window: time.Hour, Lookback: 6 * time.Hour, Settle: 15 * time.Minute, Now: sim.Now})
	if err != nil {
		t.Fatal(err)
	}

	// A run every 90 minutes from the first hour until the day's last
	// window had its last re-scan (its end + settle + lookback), and a few
	// hours more.
	runs := 0
	for now := day0.Add(75 * time.Minute); !now.After(day0.Add(24*time.Hour + 6*time.Hour + 3*time.Hour)); now = now.Add(90 * time.Minute) {
		sim.SetNow(now)
		if _, err := eng.Sync(ctx, Range{}); err != nil {
			t.Fatalf("run at %s: %v", now.Format(time.RFC3339), err)
		}
		runs++
	}

	want := 0
	for _, it := range sim.Truth(day0, day0.AddDate(0, 0, 1), cred.ClientID).Interactions {
		for _, c := range it.Content {
			if it.Visible && IsRecording(c.Type) {
				want++
			}
		}
	}
	tot, err := cat.Totals(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if want == 0 || tot.Stored != int64(want) {
		t.Fatalf("%d recordings stored, the simulator shows %d: late content within the lookback was missed", tot.Stored, want)
	}
	listings := 0
	for _, rs := range sim.Requests() {
		if rs.Route == vccsim.RouteInteractions {
			listings += rs.Count
		}
	}
	wins, err := cat.CountWindows(ctx, "acme", day0.AddDate(0, 0, -1), day0.AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d recordings in %d runs, %d Content listing requests for %d windows", tot.Stored, runs, listings, wins.Listed)
	// Listed on every run, a window of the lookback would be listed some
	// four times; on the schedule at most twice (due, the +1h re-scan, the
	// last at the lookback: three listings, shared between windows).
	if listings > 2*wins.Listed {
		t.Errorf("%d Content listing requests for %d windows: windows are listed on every run, not on a schedule", listings, wins.Listed)
	}
	left, err := cat.WindowsToRescan(ctx, "acme", day0, day0.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range left {
		if w.End.Add(15*time.Minute + 6*time.Hour).Before(sim.Now()) {
			t.Errorf("window %s/%s is still to be re-scanned after its last re-scan was due", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
		}
	}
}
