package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/events"
)

// The outbox: each event is written, whole, to the catalog's event_outbox
// (one row per sink) in the transaction that makes it true, and a drain
// job (drain.go) delivers it. Writing it is one INSERT in a transaction
// the pipeline commits anyway; nothing is queued in River per event.

// revChanged is the revision before of an interaction whose revision the
// caller bumped itself (announceUpdated).
const revChanged = -1

// announce queues ev, in tx, for every sink of the tenant: it is delivered
// if and only if tx commits. It returns how many rows it queued; the
// caller kicks the tenant's drainer (pipeline.kick) once tx committed.
func announce(ctx context.Context, tx *catalog.Tx, t *Tenant, ev events.Event) (int, error) {
	if len(t.Events) == 0 {
		return 0, nil
	}
	payload, err := ev.Encode()
	if err != nil {
		return 0, err
	}
	n, err := tx.InsertOutbox(ctx, t.ID, sinkIDs(t), ev.ID, ev.Type, payload)
	if err != nil {
		return 0, fmt.Errorf("queue event %s of tenant %s: %w", ev.Type, t.ID, err)
	}
	return n, nil
}

func sinkIDs(t *Tenant) []string {
	ids := make([]string, len(t.Events))
	for i, s := range t.Events {
		ids[i] = s.ID()
	}
	return ids
}

// announceRecording queues, in tx, the event typ (recording.stored,
// recording.updated or recording.failed) of recording contentKey of the
// interaction d, which tx has just read.
func announceRecording(ctx context.Context, tx *catalog.Tx, t *Tenant, typ string, d catalog.Detail, contentKey string, now time.Time) (int, error) {
	ev, err := recordingEvent(t, typ, d, contentKey, now)
	if err != nil {
		return 0, err
	}
	return announce(ctx, tx, t, ev)
}

// announceUpdated queues, in tx, a recording.updated event for each stored
// recording of interaction guid if its revision (which the catalog bumps
// on every change its sidecar shows) is no longer rev: call it in the
// transaction that changed the interaction, with its rev from before.
//
// revChanged as rev says the caller knows the revision moved.
func announceUpdated(ctx context.Context, tx *catalog.Tx, t *Tenant, guid string, rev int64, now time.Time) (int, error) {
	if len(t.Events) == 0 {
		return 0, nil
	}
	it, err := tx.Interaction(ctx, t.ID, guid)
	if err != nil || it.Rev == rev {
		return 0, err
	}
	d, err := tx.Detail(ctx, t.ID, guid)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, r := range d.Recordings {
		if r.Status != catalog.StatusStored {
			continue
		}
		n, err := announceRecording(ctx, tx, t, events.TypeRecordingUpdated, d, r.ContentKey, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// recordGaps diagnoses the coverage of [from, to) and, in one transaction,
// records the permission gaps it finds and queues a tenant.coverage_gap
// event for each gap newly diagnosed and each diagnosed before that is no
// longer. A range the diagnosis cannot judge (no Stats data, nothing
// visible, no call at all) changes nothing.
// It returns the coverage report it judged by (nil without events), which
// the run's report reuses.
func (p *pipeline) recordGaps(ctx context.Context, t *Tenant, from, to time.Time, lookback time.Duration) (*coverage.Report, error) {
	if len(t.Events) == 0 {
		return nil, nil
	}
	rep, err := coverage.FromCatalog(ctx, p.cat, t.ID, from, to, "direction", lookback)
	if err != nil {
		return nil, err
	}
	if rep.Diagnosis.Note != "" || rep.Basis != coverage.BasisStats || rep.Total.Calls == 0 {
		return &rep, nil // nothing to judge by
	}
	found := map[string]coverage.Gap{}
	for _, g := range rep.Diagnosis.Gaps {
		found[g.Permission] = g
	}
	now := p.now()
	queued := 0
	err = p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		queued = 0
		known, err := tx.CoverageGaps(ctx, t.ID)
		if err != nil {
			return err
		}
		was := map[string]catalog.CoverageGap{}
		for _, g := range known {
			was[g.Permission] = g
		}
		change := func(g catalog.CoverageGap) error {
			g.Rev, g.Changed = was[g.Permission].Rev+1, now
			if err := tx.SetCoverageGap(ctx, g); err != nil {
				return err
			}
			ev, err := coverageGapEvent(t, g)
			if err != nil {
				return err
			}
			n, err := announce(ctx, tx, t, ev)
			queued += n
			return err
		}
		for perm, g := range found {
			if w, ok := was[perm]; ok && !w.Cleared {
				continue // still diagnosed
			}
			if err := change(catalog.CoverageGap{Tenant: t.ID, Permission: perm, Hidden: g.Hidden, Evidence: g.Evidence}); err != nil {
				return err
			}
		}
		for perm, w := range was {
			if _, still := found[perm]; still || w.Cleared {
				continue
			}
			w.Cleared = true
			if err := change(w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if queued > 0 {
		p.kick(ctx, t, false)
	}
	return &rep, nil
}

// endRun records the end of run runID with record and, in the same
// transaction, queues a tenant.health event when the run changes the
// tenant's health: a failed run after one that did not fail (or after
// none), or a run that did not fail after a failed one. An interrupted
// run changes nothing.
func (p *pipeline) endRun(ctx context.Context, t *Tenant, runID int64, status string, record func(tx *catalog.Tx) error) error {
	queued := 0
	err := p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		queued = 0
		if err := record(tx); err != nil || len(t.Events) == 0 || status == catalog.RunInterrupted {
			return err
		}
		prev, found, err := tx.PreviousRun(ctx, t.ID, runID)
		if err != nil {
			return err
		}
		if (found && prev.Status == catalog.RunFailed) == (status == catalog.RunFailed) {
			return nil
		}
		r, err := tx.RunByID(ctx, t.ID, runID)
		if err != nil {
			return err
		}
		ev, err := healthEvent(t, r)
		if err != nil {
			return err
		}
		queued, err = announce(ctx, tx, t, ev)
		return err
	})
	if err == nil && queued > 0 {
		p.kick(ctx, t, false)
	}
	return err
}

// markStored marks a recording stored and, in the same transaction, queues
// its recording.stored event: a crash leaves both or neither. It returns
// the interaction as the transaction left it when it stored the recording
// and events are on (nil otherwise), for the sidecar.
func (p *pipeline) markStored(ctx context.Context, t *Tenant, guid, contentKey string, obj blobstore.Object) (bool, *catalog.Detail, error) {
	if len(t.Events) == 0 {
		stored, err := p.cat.MarkStored(ctx, t.ID, guid, contentKey, obj.Size, obj.SHA256, obj.Key, obj.Duration)
		return stored, nil, err
	}
	var stored bool
	var d *catalog.Detail
	err := p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		var err error
		stored, d, err = storeAndAnnounce(ctx, tx, t, guid, contentKey, obj, p.now())
		return err
	})
	if err != nil {
		return false, nil, err
	}
	if stored {
		p.kick(ctx, t, false)
	}
	return stored, d, nil
}

func storeAndAnnounce(ctx context.Context, tx *catalog.Tx, t *Tenant, guid, contentKey string, obj blobstore.Object, now time.Time) (bool, *catalog.Detail, error) {
	stored, err := tx.MarkStored(ctx, t.ID, guid, contentKey, obj.Size, obj.SHA256, obj.Key, obj.Duration)
	if err != nil || !stored {
		return false, nil, err // stored by another job, which announced it
	}
	d, err := tx.Detail(ctx, t.ID, guid)
	if err != nil {
		return false, nil, err
	}
	_, err = announceRecording(ctx, tx, t, events.TypeRecordingStored, d, contentKey, now)
	return err == nil, &d, err
}

// markFailed records a failed attempt; when it is the last, the
// recording.failed event is queued in the same transaction.
func (p *pipeline) markFailed(ctx context.Context, t *Tenant, guid, contentKey, msg string, last bool) error {
	if !last || len(t.Events) == 0 {
		return p.cat.MarkFailed(ctx, t.ID, guid, contentKey, msg, last)
	}
	queued := 0
	err := p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := tx.MarkFailed(ctx, t.ID, guid, contentKey, msg, true); err != nil {
			return err
		}
		d, err := tx.Detail(ctx, t.ID, guid)
		if err != nil {
			return err
		}
		if r := recordingIn(d, contentKey); r == nil || r.Status != catalog.StatusFailed {
			return nil // stored meanwhile: nothing failed
		}
		queued, err = announceRecording(ctx, tx, t, events.TypeRecordingFailed, d, contentKey, p.now())
		return err
	})
	if err == nil && queued > 0 {
		p.kick(ctx, t, false)
	}
	return err
}

func recordingIn(d catalog.Detail, contentKey string) *catalog.Recording {
	for i := range d.Recordings {
		if d.Recordings[i].ContentKey == contentKey {
			return &d.Recordings[i]
		}
	}
	return nil
}

// errNotAnnounced: the recording is not (or no longer) what the event says.
var errNotAnnounced = errors.New("recording not in the announced state")

// recordingEvent builds the event typ of recording contentKey of the
// interaction d: the recording must be in the state the event announces
// (stored, or failed for good).
func recordingEvent(t *Tenant, typ string, d catalog.Detail, contentKey string, now time.Time) (events.Event, error) {
	src := events.Source(t.ID)
	rec := recordingIn(d, contentKey)
	if rec == nil {
		return events.Event{}, fmt.Errorf("%w: %s/%s is not in the catalog", errNotAnnounced, d.GUID, contentKey)
	}
	want := catalog.StatusStored
	if typ == events.TypeRecordingFailed {
		want = catalog.StatusFailed
	}
	if rec.Status != want {
		return events.Event{}, fmt.Errorf("%w: %s/%s is %s", errNotAnnounced, d.GUID, contentKey, rec.Status)
	}
	call := callOf(d)
	switch typ {
	case events.TypeRecordingStored, events.TypeRecordingUpdated:
		sidecar, err := blobstore.SidecarKey(t.ID, d.Start, d.GUID)
		if err != nil {
			return events.Event{}, err
		}
		r := recordingOf(*rec)
		blobURL := ""
		if t.Bucket != nil {
			blobURL = t.Bucket.ObjectURL(r.BlobKey)
		}
		data := events.RecordingStored{
			Tenant: t.ID, InteractionID: d.GUID, ContentKey: r.ContentKey, ContentType: r.Type, MediaType: r.MediaType,
			Bytes: r.Bytes, SHA256: r.SHA256, BlobKey: r.BlobKey, BlobURL: blobURL, SidecarKey: sidecar,
			AudioSeconds: r.DurationSeconds, StoredAt: rec.StoredAt.UTC(), Call: call,
		}
		if typ == events.TypeRecordingUpdated {
			// The id is of the revision it shows: two updates delivered
			// after both happened are the same event.
			return events.New(typ, events.RecordingID(t.ID, d.GUID, contentKey, "updated", d.Rev), src, r.BlobKey, now, data)
		}
		return events.New(typ, events.RecordingID(t.ID, d.GUID, contentKey, "stored", 0), src, r.BlobKey, rec.StoredAt, data)
	case events.TypeRecordingFailed:
		// The attempts tell a later failure (after a run retried it) from
		// a copy of this one.
		return events.New(typ, events.RecordingID(t.ID, d.GUID, contentKey, "failed", int64(rec.Attempts)), src, "", now, events.RecordingFailed{
			Tenant: t.ID, InteractionID: d.GUID, ContentKey: contentKey, ContentType: rec.Type,
			Attempts: rec.Attempts, Reason: rec.LastError, Call: call,
		})
	}
	return events.Event{}, fmt.Errorf("%w: unknown event type %q", errNotAnnounced, typ)
}

// healthEvent is the tenant.health event of run r's end.
func healthEvent(t *Tenant, r catalog.Run) (events.Event, error) {
	h := events.TenantHealth{Tenant: t.ID, Health: "healthy", Run: r.ID, RunStatus: r.Status, At: r.Finished.UTC()}
	if r.Status == catalog.RunFailed {
		h.Health, h.Error = "unhealthy", r.Error
	}
	return events.New(events.TypeTenantHealth, events.TenantID(t.ID, "health", r.ID), events.Source(t.ID), "", r.Finished, h)
}

// coverageGapEvent is the tenant.coverage_gap event of gap g's change.
func coverageGapEvent(t *Tenant, g catalog.CoverageGap) (events.Event, error) {
	data := events.CoverageGap{Tenant: t.ID, Permission: g.Permission, State: "cleared", Hidden: g.Hidden, Evidence: g.Evidence, At: g.Changed.UTC()}
	if !g.Cleared {
		data.State, data.Advice = "diagnosed", coverage.Gap{Permission: g.Permission}.Advice()
	}
	// The id is of the change the gap is at now: a copy of an older
	// change (delivered late) is the same event as the newest.
	return events.New(events.TypeCoverageGap, events.TenantID(t.ID, "coverage_gap/"+url.PathEscape(g.Permission), g.Rev), events.Source(t.ID), "", g.Changed, data)
}
