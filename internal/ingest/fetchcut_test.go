package ingest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// A fetch whose last attempt is cut by a shutdown has not failed: the job
// is snoozed (River gives the attempt back and runs it at the next start)
// and the recording stays pending, not failed for good.
func TestFetch_AnAttemptCutByShutdownIsNotAFailure(t *testing.T) {
	h := newFetchHarness(t, vccsim.Config{Seed: 23, Days: 1, CallsPerDay: 10, FixedRecordingSize: 20000}, vcc.Config{MinBackoff: time.Millisecond})
	guid := h.guids[0]
	// A download that drips, so the shutdown comes in the middle of it.
	h.sim.SetFaults(vccsim.Faults{Content: map[string]vccsim.Fault{vccsim.ContentFaultKey(guid, "callRecording"): vccsim.FaultDrip}, DripInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	max := FetchArgs{}.InsertOpts().MaxAttempts
	err := (&fetchWorker{p: h.p}).Work(ctx, h.job(guid, max, max))
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) {
		t.Fatalf("the cut last attempt returned %v; want the job snoozed", err)
	}
	rec, err := h.cat.Recording(context.Background(), h.tenant.ID, guid, "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != catalog.StatusPending || rec.LastError != "" {
		t.Errorf("recording %s (%q) after a cut attempt; want pending, no error", rec.Status, rec.LastError)
	}
	if n := h.p.progress.RecordingsFailed.Load(); n != 0 {
		t.Errorf("%d recordings counted failed", n)
	}
}

// A recording marked stored whose sidecar was never written (a process
// killed between the two) gets it from the next fetch job of it, without
// being downloaded again.
func TestFetch_AStoredRecordingGetsItsMissingSidecar(t *testing.T) {
	h := newFetchHarness(t, vccsim.Config{Seed: 29, Days: 1, CallsPerDay: 10, FixedRecordingSize: 2000}, vcc.Config{MinBackoff: time.Millisecond})
	ctx := context.Background()
	guid := h.guids[0]
	rec, err := h.cat.Recording(ctx, h.tenant.ID, guid, "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	// What fetch does up to the crash: the object committed, the
	// recording marked stored; no sidecar.
	key, err := blobstore.RecordingKey(h.tenant.ID, rec.Start, guid, "callRecording", blobstore.ExtForMediaType(rec.MediaType))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := h.bucket.Put(ctx, key, bytes.NewReader(make([]byte, rec.ExpectedBytes)), rec.ExpectedBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cat.MarkStored(ctx, h.tenant.ID, guid, "callRecording", obj.Size, obj.SHA256, obj.Key, obj.Duration); err != nil {
		t.Fatal(err)
	}
	sidecar, err := blobstore.SidecarKey(h.tenant.ID, rec.Start, guid)
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := h.bucket.Existing(ctx, sidecar, 0); found {
		t.Fatal("a sidecar exists before the fetch job runs; the test proves nothing")
	}

	if err := (&fetchWorker{p: h.p}).Work(ctx, h.job(guid, 1, 12)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bucket.ReadAll(ctx, sidecar); err != nil {
		t.Errorf("the sidecar of a stored recording is still missing after its fetch job ran: %v", err)
	}
	if n := h.sim.Downloads()[guid+"/callRecording"]; n != 0 {
		t.Errorf("the stored recording was downloaded (%d times)", n)
	}
}
