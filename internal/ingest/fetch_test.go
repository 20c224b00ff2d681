package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/jobqueue"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// A recording VCC keeps serving wrong is never stored: each attempt of its
// fetch job fails with an error that names what was wrong, the job is
// retried, and after its last attempt the recording is failed for good
// (the run's summary lists it: FailedRecordings), while every recording
// served right is stored with its exact bytes. An object already under a
// failing recording's key is left as it was.
func TestFetch_StoresOnlyVerifiedRecordings(t *testing.T) {
	ctx := context.Background()
	h := newFetchHarness(t, vccsim.Config{Seed: 19, Days: 1, CallsPerDay: 30, FixedRecordingSize: 20000}, vcc.Config{
		MinBackoff: time.Millisecond, MaxAttempts: 1, // one resume per attempt
		StallTimeout: 300 * time.Millisecond, MinRate: 2000, MinRateWindow: 100 * time.Millisecond})
	sim, cat, bucket, tenant, p, guids, from, to := h.sim, h.cat, h.bucket, h.tenant, h.p, h.guids, h.from, h.to
	cred := sim.Credential("admin")

	// One recording for each way of serving it wrong, each with the error
	// its attempts must end with.
	bad := []struct {
		fault   vccsim.Fault
		wantErr string
	}{
		{vccsim.FaultShortLength, "served Content-Length 10000 for 20000 listed bytes"},
		{vccsim.FaultChunkedShort, "served 10000 of 20000 listed bytes"},
		{vccsim.FaultLongBody, "served more than the 20000 listed bytes"},
		{vccsim.FaultGzip, `served Content-Encoding "gzip"`},
		{vccsim.FaultWrongRange, "resumed from offset 5904 with other bytes than the first response had there"},
		{vccsim.FaultHTML, "served text/html for a callRecording (listed audio/wav)"},
		{vccsim.FaultDrip, "under the floor of 2000 bytes/s"},
	}
	if len(guids) < len(bad)+5 {
		t.Fatalf("only %d recordings listed; the test needs %d", len(guids), len(bad)+5)
	}
	faults := vccsim.Faults{Content: map[string]vccsim.Fault{}, DripInterval: 20 * time.Millisecond}
	for i, b := range bad {
		faults.Content[vccsim.ContentFaultKey(guids[i], "callRecording")] = b.fault
	}
	sim.SetFaults(faults)

	// An object already under the HTML-page recording's key (of another
	// size, so not adopted as complete) must survive its failed downloads.
	oldGUID := guids[5]
	oldRec, err := cat.Recording(ctx, tenant.ID, oldGUID, "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := blobstore.RecordingKey(tenant.ID, oldRec.Start, oldGUID, "callRecording", blobstore.ExtForMediaType(oldRec.MediaType))
	if err != nil {
		t.Fatal(err)
	}
	oldBytes := []byte("an object stored before; no failed download may replace it")
	if _, err := bucket.Put(ctx, oldKey, bytes.NewReader(oldBytes), int64(len(oldBytes))); err != nil {
		t.Fatal(err)
	}

	// Each recording's fetch job, run as River runs it: attempt after
	// attempt until it succeeds or is cancelled for good.
	maxAttempts := FetchArgs{}.InsertOpts().MaxAttempts
	w := &fetchWorker{p: p}
	attempts := make([]int, len(guids))
	var wg sync.WaitGroup
	for i, guid := range guids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 1; attempt <= maxAttempts; attempt++ {
				attempts[i] = attempt
				err := w.Work(ctx, h.job(guid, attempt, maxAttempts))
				var cancel *river.JobCancelError
				if err == nil || errors.As(err, &cancel) {
					return
				}
			}
		}()
	}
	wg.Wait()

	truth := map[string]vccsim.TruthContent{}
	for _, it := range sim.Truth(from, to, cred.ClientID).Interactions {
		if len(it.Content) > 0 {
			truth[it.GUID] = it.Content[0]
		}
	}
	failed, err := cat.FailedRecordings(ctx, tenant.ID, from, to, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	failedFor := map[string]catalog.Recording{}
	for _, r := range failed {
		failedFor[r.GUID] = r
	}
	downloads := sim.Downloads()
	for i, guid := range guids {
		rec, err := cat.Recording(ctx, tenant.ID, guid, "callRecording")
		if err != nil {
			t.Fatal(err)
		}
		key, _ := blobstore.RecordingKey(tenant.ID, rec.Start, guid, "callRecording", blobstore.ExtForMediaType(rec.MediaType))
		obj, found, err := bucket.Existing(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(bad) {
			want := truth[guid]
			if rec.Status != catalog.StatusStored || rec.SHA256 != want.SHA256 || rec.Bytes != want.Size || !found || obj.SHA256 != want.SHA256 || attempts[i] != 1 {
				t.Errorf("recording served right: %s, %d bytes, sha256 %.12s, object found %v sha256 %.12s, after %d attempts; want stored, %d bytes, %.12s, in 1",
					rec.Status, rec.Bytes, rec.SHA256, found, obj.SHA256, attempts[i], want.Size, want.SHA256)
			}
			continue
		}
		b := bad[i]
		t.Run(string(b.fault), func(t *testing.T) {
			if rec.Status != catalog.StatusFailed || rec.SHA256 != "" || rec.BlobKey != "" {
				t.Errorf("status %s, sha256 %q, blob %q; want failed, neither", rec.Status, rec.SHA256, rec.BlobKey)
			}
			if attempts[i] != maxAttempts || rec.Attempts != maxAttempts {
				t.Errorf("%d attempts run, %d recorded; want %d (retried to the last)", attempts[i], rec.Attempts, maxAttempts)
			}
			if n := downloads[guid+"/callRecording"]; n < maxAttempts {
				t.Errorf("%d downloads in %d attempts", n, maxAttempts)
			}
			if !strings.Contains(rec.LastError, b.wantErr) {
				t.Errorf("last error %q; want it to say %q", rec.LastError, b.wantErr)
			}
			if _, ok := failedFor[guid]; !ok {
				t.Errorf("not among the failed recordings the summary lists")
			}
			switch {
			case guid == oldGUID:
				got, err := bucket.ReadAll(ctx, key)
				if err != nil || !bytes.Equal(got, oldBytes) {
					t.Errorf("the object stored before is now %d bytes (%v); want it untouched", len(got), err)
				}
			case found:
				t.Errorf("an object of %d bytes is stored under %s", obj.Size, key)
			}
			t.Logf("failed for good after %d attempts: %s", rec.Attempts, rec.LastError)
		})
	}
	if got := p.progress.RecordingsFailed.Load(); got != int64(len(bad)) {
		t.Errorf("progress counts %d recordings failed, want %d", got, len(bad))
	}
	if len(failed) != len(bad) {
		t.Errorf("%d recordings failed for good, want %d", len(failed), len(bad))
	}
}

// fetchHarness is a pipeline on a real SQLite catalog and file bucket with
// the call recordings of one simulated day recorded as discovery records
// them, for tests that run fetch jobs by hand.
type fetchHarness struct {
	sim      *vccsim.Server
	client   *vcc.Client
	cat      *catalog.Catalog
	bucket   *blobstore.Bucket
	tenant   *Tenant
	p        *pipeline
	guids    []string // the interactions with a callRecording, in listing order
	from, to time.Time
}

// newFetchHarness starts a simulator of cfg's one day (yesterday) and a
// VCC client of vcfg (its URLs and credential set here).
func newFetchHarness(t *testing.T, cfg vccsim.Config, vcfg vcc.Config) *fetchHarness {
	t.Helper()
	ctx := context.Background()
	h := &fetchHarness{from: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)}
	h.to = h.from.AddDate(0, 0, 1)
	cfg.Start = h.from
	sim, err := vccsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	h.sim = sim
	cred := sim.Credential("admin")
	vcfg.AuthURL, vcfg.APIURL, vcfg.ClientID, vcfg.ClientSecret = sim.AuthURL(), sim.APIURL(), cred.ClientID, secret.New(cred.ClientSecret)
	if h.client, err = vcc.New(vcfg); err != nil {
		t.Fatal(err)
	}
	h.cat = catalogtest.SQLite(t)
	if err := jobqueue.Migrate(ctx, h.cat); err != nil {
		t.Fatal(err)
	}
	if h.bucket, err = blobstore.Open(ctx, "file://"+t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.bucket.Close() })
	h.tenant = &Tenant{ID: "acme", VCC: h.client, Bucket: h.bucket}
	h.p = &pipeline{cat: h.cat, log: slog.New(slog.DiscardHandler), progress: &Progress{}, now: time.Now, jobTimeout: time.Minute,
		tenants: map[string]*Tenant{h.tenant.ID: h.tenant}}
	if err := h.cat.UpsertTenant(ctx, catalog.Tenant{ID: h.tenant.ID}); err != nil {
		t.Fatal(err)
	}
	if err := h.p.ready(ctx, h.tenant, true); err != nil {
		t.Fatal(err)
	}
	for it, err := range h.client.Interactions(ctx, h.from, h.to) {
		if err != nil {
			t.Fatal(err)
		}
		if len(it.Content) == 0 || it.Content[0].Key != "callRecording" {
			continue
		}
		// What discovery records of it (its fetch job is run by hand).
		item := it.Content[0]
		err := h.cat.InTx(ctx, func(tx *catalog.Tx) error {
			if err := tx.UpsertInteraction(ctx, catalog.Interaction{Tenant: h.tenant.ID, GUID: it.GUID, Start: it.Start, Direction: "unknown", DirectionSource: "unknown", ContentVisible: true}); err != nil {
				return err
			}
			_, err := tx.EnsureRecording(ctx, catalog.Recording{Tenant: h.tenant.ID, GUID: it.GUID, ContentKey: item.Key, Type: item.Type, MediaType: item.ContentType, ExpectedBytes: item.Length})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		h.guids = append(h.guids, it.GUID)
	}
	return h
}

// job is attempt n of max of the fetch job of guid's call recording.
func (h *fetchHarness) job(guid string, n, max int) *river.Job[FetchArgs] {
	return &river.Job[FetchArgs]{JobRow: &rivertype.JobRow{Attempt: n, MaxAttempts: max},
		Args: FetchArgs{Tenant: h.tenant.ID, GUID: guid, ContentKey: "callRecording"}}
}
