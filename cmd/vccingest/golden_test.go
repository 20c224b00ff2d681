package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/vcc"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The texts people read (the sync summary, ls, show, coverage, tenants)
// are compared with testdata/NAME.golden; `go test ./cmd/vccingest -run
// TestGolden -update` rewrites them after a deliberate change (review the
// diff).
func TestGolden(t *testing.T) {
	t0 := time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	wm := t0.Add(24 * time.Hour)
	withStats := coverage.Report{Tenant: "acme", From: t0, To: wm, By: "direction", Basis: coverage.BasisStats,
		Buckets: []coverage.Bucket{
			{Key: "inbound", Calls: 20, InContent: 0, Hidden: 20},
			{Key: "outbound", Calls: 18, InContent: 18, Stored: 16, NotRecorded: 1, Failed: 1},
		},
		Total: coverage.Bucket{Key: "total", Calls: 38, InContent: 18, Stored: 16, Hidden: 20, NotRecorded: 1, Failed: 1},
		Diagnosis: coverage.Diagnosis{Gaps: []coverage.Gap{{Permission: coverage.PermViewInbound, Hidden: 20,
			Evidence: "Stats reports 20 inbound calls, Content shows none of them, while it shows 18 other calls"}}},
		Failures: []coverage.Failure{{GUID: "2480fc2c-bbd7-427c-9439-02f76583aef5", Error: `VCC answered 503 "busy"`}},
	}
	withoutStats := coverage.Report{Tenant: "acme", From: t0, To: wm, By: "day", Basis: coverage.BasisContent,
		Buckets: []coverage.Bucket{{Key: "2024-03-04", InContent: 1, Stored: 1, ContentOnly: 1}},
		Total:   coverage.Bucket{Key: "total", InContent: 1, Stored: 1, ContentOnly: 1},
		Diagnosis: coverage.Diagnosis{Gaps: []coverage.Gap{},
			Note: "no Stats data: the range was synced without the stats scope, so what VCC withheld cannot be measured; the counts are of the calls Content shows (give the credential the stats scope, then sync the range again)"},
	}
	end := t0.Add(5 * time.Minute)
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"sync-summary", func(b *bytes.Buffer) error {
			printReport(b, &ingest.Report{
				Range: ingest.Range{From: t0, To: wm}, Windows: 24, NotDue: 1, Stored: 16, Watermark: wm, Elapsed: 83 * time.Second,
				Progress: ingest.Snapshot{Interactions: 18, RecordingsSkipped: 2, BytesDownloaded: 3 << 20},
				Failures: []catalog.Recording{{GUID: "2480fc2c-bbd7-427c-9439-02f76583aef5", ContentKey: "callRecording", LastError: `VCC answered 503 "busy"`}},
				Unlisted: []catalog.UnlistedWindow{{Start: t0.Add(5 * time.Hour), End: t0.Add(6 * time.Hour), LastError: `VCC answered 400 "Something about this window is refused."`}},
				Coverage: withStats,
				Cost: ingest.Cost{Requests: map[vcc.Purpose]int64{vcc.PurposeList: 24, vcc.PurposeStats: 26, vcc.PurposeUsers: 1, vcc.PurposeGroups: 12, vcc.PurposeDownload: 17, vcc.PurposeRetry: 3},
					Throttled: 1, PerMinute: 60},
				PendingRecordings: 100, PendingWindows: 10,
			})
			return nil
		}},
		{"coverage-stats", func(b *bytes.Buffer) error { return writeCoverage(b, withStats) }},
		{"coverage-no-stats", func(b *bytes.Buffer) error { return writeCoverage(b, withoutStats) }},
		{"ls", func(b *bytes.Buffer) error {
			return writeLsTable(b, []lsItem{
				{InteractionID: "2480fc2c-bbd7-427c-9439-02f76583aef5", Start: t0, DurationSeconds: 300, Direction: "outbound", AgentName: "Ada \x1b]0;pwned\x07Lovelace", Recordings: 1, Failed: 1},
				{InteractionID: "7a0f6b8e-0c1d-4f61-9a39-1b2f3c4d5e6f", Start: t0.Add(time.Hour), DurationSeconds: 61, Direction: "inbound", AgentName: "Grace Hopper", Recordings: 1, Stored: 1, Bytes: 968 << 10},
			})
		}},
		{"show", func(b *bytes.Buffer) error {
			return writeShow(b, showItem{Tenant: "acme", InteractionID: "7a0f6b8e-0c1d-4f61-9a39-1b2f3c4d5e6f", Start: t0, End: &end, DurationSeconds: 300,
				Direction: "inbound", DirectionSource: "stats", ConnectFrom: "+441632960001", ConnectTo: "+441632960999",
				Agent:  &blobstore.Agent{ID: "1001", Name: "Grace Hopper", Email: "grace@example.com", AgentCode: "GH1"},
				Groups: []string{"Support", "Tier 2"},
				Recordings: []showRecording{{SidecarRecording: blobstore.SidecarRecording{ContentKey: "callRecording", Type: "recording", MediaType: "audio/wav", Bytes: 968 << 10,
					SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", BlobKey: "acme/2024/03/04/7a0f6b8e-0c1d-4f61-9a39-1b2f3c4d5e6f/callRecording.wav"}, Status: catalog.StatusStored}},
			}, "file:///var/lib/vccingest/blobs")
		}},
		{"tenants", func(b *bytes.Buffer) error {
			return writeTenants(b, []tenantItem{
				{ID: "acme", Region: "emea", Watermark: &wm, Interactions: 120, Stored: 98, Failed: 1, Pending: 3, Bytes: 1 << 30},
				{ID: "globex", Region: "nam", Interactions: 0},
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs from %s (run with -update after a deliberate change):\n--- got\n%s--- want\n%s", tc.name, path, got, want)
			}
		})
	}
}
