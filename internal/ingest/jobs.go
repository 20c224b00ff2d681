package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/jobqueue"
	"github.com/vccingest/vccingest/internal/vcc"
)

// DiscoverArgs asks for a span of one tenant's windows to be discovered:
// [Start, End), cut into windows of Window (0: one window, as older
// versions queued), each listed again at Scans after its end (ScanOffsets;
// none: not again).
type DiscoverArgs struct {
	Tenant string          `json:"tenant" river:"unique"`
	Start  time.Time       `json:"start" river:"unique"`
	End    time.Time       `json:"end" river:"unique"`
	Window time.Duration   `json:"window,omitempty"`
	Scans  []time.Duration `json:"scans,omitempty"`
}

// Kind implements river.JobArgs.
func (DiscoverArgs) Kind() string { return "vccingest.discover" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DiscoverArgs) InsertOpts() river.InsertOpts {
	// The queue is the tenant's own (Tenant.Queues), set where the job is
	// inserted.
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: jobqueue.UniqueWhileActive()}
}

// FetchArgs asks for one recording to be downloaded and stored.
type FetchArgs struct {
	Tenant     string `json:"tenant" river:"unique"`
	GUID       string `json:"guid" river:"unique"`
	ContentKey string `json:"content_key" river:"unique"`
}

// Kind implements river.JobArgs.
func (FetchArgs) Kind() string { return "vccingest.fetch" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (FetchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 12, UniqueOpts: jobqueue.UniqueWhileActive()}
}

// discoverWorker lists a window's interactions and queues their recordings.
type discoverWorker struct {
	river.WorkerDefaults[DiscoverArgs]
	p *pipeline
}

func (w *discoverWorker) Timeout(*river.Job[DiscoverArgs]) time.Duration {
	return min(30*time.Minute, w.p.jobTimeout)
}

func (w *discoverWorker) Work(ctx context.Context, job *river.Job[DiscoverArgs]) error {
	t, err := w.p.tenant(job.Args.Tenant)
	if err != nil {
		return river.JobCancel(err)
	}
	span := Window{Start: job.Args.Start, End: job.Args.End}
	wins := span.Split(job.Args.Window)
	err = w.discover(jobContext(ctx, job.Priority, true), t, span, wins, job.Args.Scans)
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return river.JobSnooze(0) // shutting down: cut, not failed (see fetchWorker.Work)
	case errors.Is(err, vcc.ErrThrottled):
		return w.p.throttled(job.JobRow, err)
	case ctx.Err() != nil:
		return err
	}
	permanent := refusedListing(err)
	if permanent && len(wins) > 1 {
		// VCC refuses the span: find the window it refuses by listing each
		// half on its own, so that the others are listed and only that one
		// fails.
		if serr := w.p.splitSpan(ctx, t, job.Args, wins, job.Priority); serr != nil {
			return errors.Join(err, serr)
		}
		w.p.log.Warn("VCC refused the listing of a span of windows; listing each half on its own", "tenant", t.ID, "span", span.String(), "windows", len(wins), "error", err)
		return nil
	}
	if permanent || job.Attempt >= job.MaxAttempts {
		// Each window of the span stays planned (or listed, as it was); the
		// run that planned it reports it and fails, and the next run lists
		// it again.
		for _, win := range wins {
			if merr := w.p.cat.MarkWindowFailed(context.WithoutCancel(ctx), t.ID, win.Start, win.End, err.Error()); merr != nil {
				return errors.Join(err, merr)
			}
		}
		w.p.log.Error("windows could not be listed", "tenant", t.ID, "span", span.String(), "windows", len(wins), "attempts", job.Attempt, "error", err)
		if permanent {
			return river.JobCancel(err)
		}
	}
	return err
}

// splitSpan queues the listing of each half of the span of args (wins, of
// two windows or more) in its place, in its class.
func (p *pipeline) splitSpan(ctx context.Context, t *Tenant, args DiscoverArgs, wins []Window, class int) error {
	halves := [][]Window{wins[:len(wins)/2], wins[len(wins)/2:]}
	return p.cat.InTx(context.WithoutCancel(ctx), func(tx *catalog.Tx) error {
		for _, h := range halves {
			half := args
			half.Start, half.End = h[0].Start, h[len(h)-1].End
			if len(h) == 1 {
				half.Window = 0
			}
			if _, err := jobqueue.InsertFromJob(ctx, tx, half, t.discoverOpts(class)); err != nil {
				return fmt.Errorf("queue the listing of %s/%s: %w", half.Start.Format(time.RFC3339), half.End.Format(time.RFC3339), err)
			}
		}
		return nil
	})
}

// refusedListing reports whether VCC refused a listing in a way no retry
// changes: a 4xx other than 401 (renewed already), 408 and 429; a 401 to a
// token issued moments before; a listing that loops; a redirect refused; an
// answer that is not valid HTTP.
func refusedListing(err error) bool {
	var refused *vcc.TokenRefusedError
	if errors.Is(err, vcc.ErrListingBroken) || errors.Is(err, vcc.ErrRedirectRefused) || errors.Is(err, vcc.ErrMalformedResponse) || errors.As(err, &refused) {
		return true
	}
	var apiErr *vcc.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	s := apiErr.Status
	return s >= 400 && s < 500 && s != http.StatusUnauthorized && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
}

// discover lists a span of windows: its Stats rows, then its interactions,
// each recorded and its recordings queued, with one listing of each API for
// the whole span; then each window is marked listed with what it holds (by
// start) and when it is to be listed again (offsets after its end).
func (w *discoverWorker) discover(ctx context.Context, t *Tenant, span Window, wins []Window, offsets []time.Duration) error {
	log := w.p.log.With("tenant", t.ID, "span", span.String())
	windowOf := func(at time.Time) int {
		i, _ := slices.BinarySearchFunc(wins, at, func(w Window, at time.Time) int {
			switch {
			case !at.Before(w.End):
				return -1
			case at.Before(w.Start):
				return 1
			}
			return 0
		})
		return min(i, len(wins)-1)
	}
	statsRows := make([]int, len(wins))
	found := make([]int, len(wins))

	// Stats first: it is the authoritative direction and the record of what
	// happened, which coverage compares with what Content shows.
	stats := map[string]vcc.StatsInteraction{}
	withStats, err := t.statsGranted(ctx)
	if err != nil {
		return err
	}
	if withStats {
		var rows []catalog.StatsInteraction
		var bad []catalog.BadRecord
		for si, err := range t.VCC.StatsInteractions(ctx, span.Start, span.End) {
			if rec, ok := badRecord(err); ok {
				bad = append(bad, rec)
				continue
			}
			if err != nil {
				return fmt.Errorf("list Stats interactions of %s: %w", span, err)
			}
			bad = append(bad, problems("stats", si.GUID, si.Problems)...)
			if _, dup := stats[si.GUID]; !dup {
				statsRows[windowOf(si.Start)]++
			}
			stats[si.GUID] = si
			rows = append(rows, statsRow(t.ID, si))
		}
		if err := w.p.cat.UpsertStatsInteractions(ctx, rows); err != nil {
			return err
		}
		if err := w.p.noteBad(ctx, t, "stats", span, bad); err != nil {
			return err
		}
	}

	seen := 0
	var bad []catalog.BadRecord
	for it, err := range t.VCC.Interactions(ctx, span.Start, span.End) {
		if rec, ok := badRecord(err); ok {
			bad = append(bad, rec)
			continue
		}
		if err != nil {
			return fmt.Errorf("list Content interactions of %s: %w", span, err)
		}
		bad = append(bad, problems("content", it.GUID, it.Problems)...)
		seen++
		found[windowOf(it.Start)]++
		if err := w.p.discovered(ctx, t, it, stats, withStats); err != nil {
			return err
		}
	}
	if err := w.p.noteBad(ctx, t, "content", span, bad); err != nil {
		return err
	}
	if !withStats {
		for i := range statsRows {
			statsRows[i] = catalog.NoStats
		}
	}
	now := w.p.now()
	err = w.p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		for i, win := range wins {
			if err := tx.MarkWindowListed(ctx, catalog.WindowListing{Tenant: t.ID, Start: win.Start, End: win.End,
				Interactions: found[i], StatsRows: statsRows[i], ListedAt: now, NextScan: NextScan(win.End, offsets, now)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.p.progress.WindowsDone.Add(int64(len(wins)))
	log.Debug("windows discovered", "windows", len(wins), "interactions", seen, "stats_rows", len(stats))
	return nil
}

// discovered records one interaction and queues each of its recordings that
// is not stored yet, in one transaction: the catalog row and its fetch job
// commit together or not at all.
func (p *pipeline) discovered(ctx context.Context, t *Tenant, it vcc.Interaction, stats map[string]vcc.StatsInteraction, withStats bool) error {
	p.progress.Interactions.Add(1)
	row := catalog.Interaction{
		Tenant:          t.ID,
		GUID:            it.GUID,
		Start:           it.Start,
		ConnectFrom:     it.ConnectFrom,
		ConnectTo:       it.ConnectTo,
		Direction:       "unknown",
		DirectionSource: "unknown",
		ContentVisible:  true,
	}
	if len(it.AgentIDs) > 0 {
		row.AgentID = it.AgentIDs[0]
	}
	si, ok := stats[it.GUID]
	if !ok && withStats {
		// Not in the window's Stats listing (Stats lags behind Content, or the
		// call straddles the boundary): ask for this one interaction, once.
		known, err := p.cat.HasStatsDirection(ctx, t.ID, it.GUID)
		if err != nil {
			return err
		}
		if !known {
			one, err := t.VCC.StatsInteraction(ctx, it.GUID)
			switch {
			case err == nil:
				si, ok = one, true
				if err := p.cat.UpsertStatsInteractions(ctx, []catalog.StatsInteraction{statsRow(t.ID, one)}); err != nil {
					return err
				}
			case errors.Is(err, vcc.ErrNotFound):
				// Not in Stats yet; a later run's lookback fills it in.
			default:
				return fmt.Errorf("get Stats of interaction %s: %w", it.GUID, err)
			}
		}
	}
	if ok {
		row.Direction, row.DirectionSource = si.Direction, "stats"
		row.Duration = si.Duration
		if row.AgentID == "" {
			row.AgentID = si.AgentID
		}
	}

	idErr := blobstore.ValidateID(it.GUID)
	if idErr != nil {
		p.progress.Rejected.Add(1)
		p.log.Warn("interaction rejected: its id is not safe as a storage key", "tenant", t.ID, "id", fmt.Sprintf("%q", truncate(it.GUID, 80)), "error", idErr)
	}
	fetching := false // a fetch job will write the sidecar when it stores
	updated := false  // recording.updated events were queued
	err := p.cat.InTx(ctx, func(tx *catalog.Tx) error {
		fetching, updated = false, false // the transaction may be retried
		rev := int64(-1)                 // the revision before, if the interaction is known and events are on
		if len(t.Events) > 0 {
			switch before, err := tx.Interaction(ctx, t.ID, it.GUID); {
			case err == nil:
				rev = before.Rev
			case !errors.Is(err, catalog.ErrNotFound):
				return err
			}
		}
		if err := tx.UpsertInteraction(ctx, row); err != nil {
			return err
		}
		if rev >= 0 {
			n, err := announceUpdated(ctx, tx, t, it.GUID, rev, p.now())
			if err != nil {
				return err
			}
			updated = n > 0
		}
		for _, item := range it.Content {
			if !IsRecording(item.Type) {
				continue
			}
			rec, err := tx.EnsureRecording(ctx, catalog.Recording{
				Tenant:        t.ID,
				GUID:          it.GUID,
				ContentKey:    item.Key,
				Type:          item.Type,
				MediaType:     item.ContentType,
				ExpectedBytes: item.Length,
			})
			if err != nil {
				return err
			}
			if rec.Status == catalog.StatusStored {
				p.progress.RecordingsSkipped.Add(1)
				continue
			}
			if idErr != nil {
				if err := tx.MarkFailed(ctx, t.ID, it.GUID, item.Key, "rejected: the interaction id is not safe as a storage key: "+idErr.Error(), true); err != nil {
					return err
				}
				p.progress.RecordingsFailed.Add(1)
				continue
			}
			if err := keyCheck(item.Key); err != nil {
				if err := tx.MarkFailed(ctx, t.ID, it.GUID, item.Key, "rejected: the content key is not safe as a storage key: "+err.Error(), true); err != nil {
					return err
				}
				p.progress.RecordingsFailed.Add(1)
				continue
			}
			res, err := jobqueue.InsertFromJob(ctx, tx, FetchArgs{Tenant: t.ID, GUID: it.GUID, ContentKey: item.Key}, t.downloadOpts(classOf(ctx)))
			if err != nil {
				return fmt.Errorf("queue download of %s/%s: %w", it.GUID, item.Key, err)
			}
			fetching = true
			if !res.UniqueSkippedAsDuplicate {
				p.progress.RecordingsQueued.Add(1)
				p.progress.BytesExpected.Add(item.Length)
			}
		}
		return nil
	})
	if err == nil && updated {
		p.kick(ctx, t, false)
	}
	if err != nil || idErr != nil || fetching {
		return err
	}
	return p.ensureSidecar(ctx, t, it.GUID)
}

// badRecord tells a listed record that could not be used (the listing goes
// on) from an error that ends the listing.
func badRecord(err error) (catalog.BadRecord, bool) {
	var bad *vcc.BadRecordError
	if !errors.As(err, &bad) {
		return catalog.BadRecord{}, false
	}
	return catalog.BadRecord{API: bad.API, RecordID: bad.ID, Problem: bad.Problem}, true
}

// problems are the odd fields of a record that was used all the same.
func problems(api, id string, ps []string) []catalog.BadRecord {
	out := make([]catalog.BadRecord, 0, len(ps))
	for _, p := range ps {
		out = append(out, catalog.BadRecord{API: api, RecordID: id, Problem: p})
	}
	return out
}

// noteBad records what one listing found wrong (replacing what the window's
// last listing found), counts it, and logs it once per listing.
func (p *pipeline) noteBad(ctx context.Context, t *Tenant, api string, win Window, bad []catalog.BadRecord) error {
	if err := p.cat.ReplaceBadRecords(ctx, t.ID, api, win.Start, win.End, bad); err != nil {
		return err
	}
	if len(bad) > 0 {
		p.progress.BadRecords.Add(int64(len(bad)))
		p.log.Warn("VCC returned records vccingest could not fully use; the rest of the window is ingested", "tenant", t.ID, "api", api,
			"window", win.String(), "records", len(bad), "first", fmt.Sprintf("%s: %s", orNone(bad[0].RecordID), bad[0].Problem))
	}
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "(no id)"
	}
	return fmt.Sprintf("%q", truncate(id, 80))
}

func keyCheck(contentKey string) error { return blobstore.ValidateID(contentKey) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func statsRow(tenant string, si vcc.StatsInteraction) catalog.StatsInteraction {
	return catalog.StatsInteraction{
		Tenant:    tenant,
		GUID:      si.GUID,
		Start:     si.Start,
		Duration:  si.Duration,
		Direction: si.Direction,
		AgentID:   si.AgentID,
		Medium:    si.Medium,
		Outcome:   si.Outcome,
	}
}

// fetchWorker downloads one recording into the bucket.
type fetchWorker struct {
	river.WorkerDefaults[FetchArgs]
	p *pipeline
}

// Timeout bounds one attempt. The VCC client bounds each request and resumes
// broken transfers; this is the backstop for a transfer that crawls.
func (w *fetchWorker) Timeout(*river.Job[FetchArgs]) time.Duration { return w.p.jobTimeout }

func (w *fetchWorker) Work(ctx context.Context, job *river.Job[FetchArgs]) error {
	a := job.Args
	t, err := w.p.tenant(a.Tenant)
	if err != nil {
		return river.JobCancel(err)
	}
	release, err := w.p.downloadSlot(ctx, t)
	if err != nil {
		return err
	}
	defer release()
	err = w.p.fetch(jobContext(ctx, job.Priority, false), t, a.GUID, a.ContentKey)
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// Shutting down, even on the last attempt: the attempt was cut, not
		// failed. Snoozed, the job runs again (River gives the attempt
		// back) at the next start; nothing to record.
		return river.JobSnooze(0)
	}
	if errors.Is(err, vcc.ErrThrottled) {
		return w.p.throttled(job.JobRow, err)
	}
	// Not found, a redirect refused or an answer that is not valid HTTP:
	// the same server answers the next attempt the same way.
	permanent := errors.Is(err, vcc.ErrNotFound) || errors.Is(err, vcc.ErrRedirectRefused) || errors.Is(err, vcc.ErrMalformedResponse) || errors.Is(err, errPermanent)
	last := permanent || job.Attempt >= job.MaxAttempts
	if merr := w.p.markFailed(context.WithoutCancel(ctx), t, a.GUID, a.ContentKey, err.Error(), last); merr != nil {
		return errors.Join(err, merr)
	}
	if last {
		// No store will write this interaction's sidecar now; make sure it
		// exists (discovery leaves it to the fetch).
		if serr := w.p.ensureSidecar(context.WithoutCancel(ctx), t, a.GUID); serr != nil {
			w.p.log.Warn("write the sidecar of an interaction whose recording failed", "tenant", a.Tenant, "interaction", a.GUID, "error", serr)
		}
		w.p.progress.RecordingsFailed.Add(1)
		w.p.log.Error("recording failed for good", "tenant", a.Tenant, "interaction", a.GUID, "content", a.ContentKey, "attempts", job.Attempt, "error", err)
		return river.JobCancel(err)
	}
	w.p.progress.RecordingsRetried.Add(1)
	w.p.log.Warn("recording download failed; will retry", "tenant", a.Tenant, "interaction", a.GUID, "content", a.ContentKey,
		"attempt", job.Attempt, "attempts_left", job.MaxAttempts-job.Attempt, "error", err)
	return err
}

// throttleSnooze is how long a job that VCC throttled for the whole of its
// attempt (429 after 429, until its timeout) waits before it runs again.
const throttleSnooze = time.Minute

// throttled puts back a job whose attempt VCC throttled: a storm of 429s
// means the account is over its fair-usage limit, not that the job failed,
// so it runs again later without spending one of its attempts.
func (p *pipeline) throttled(job *rivertype.JobRow, err error) error {
	p.log.Warn("VCC throttled the job's requests for the whole attempt; it runs again later", "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "error", err)
	return river.JobSnooze(throttleSnooze)
}

// errPermanent marks failures that no retry can fix.
var errPermanent = errors.New("permanent")

// fetch stores one recording unless it is stored already.
func (p *pipeline) fetch(ctx context.Context, t *Tenant, guid, contentKey string) error {
	rec, err := p.cat.Recording(ctx, t.ID, guid, contentKey)
	if err != nil {
		return err
	}
	if rec.Status == catalog.StatusStored {
		// Exactly once: a second job or a re-run finds it stored. A process
		// killed after marking it stored may not have written the sidecar
		// yet: this job is the one that still can.
		return p.ensureSidecar(context.WithoutCancel(ctx), t, guid)
	}
	key, err := blobstore.RecordingKey(t.ID, rec.Start, guid, contentKey, blobstore.ExtForMediaType(rec.MediaType))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}

	// A process killed between the bucket commit and the catalog commit left a
	// complete object under the final key: verify it instead of downloading
	// again.
	obj, found, err := t.Bucket.Existing(ctx, key, rec.ExpectedBytes)
	if err != nil {
		return err
	}
	if !found {
		if obj, err = p.download(ctx, t, rec, key); err != nil {
			return err
		}
	}
	stored, d, err := p.markStored(context.WithoutCancel(ctx), t, guid, contentKey, obj)
	if err != nil {
		return err
	}
	if stored {
		p.progress.RecordingsStored.Add(1)
	}
	return p.writeSidecarFrom(context.WithoutCancel(ctx), t, guid, d)
}

// download stores the recording rec under key, verified: the VCC client
// holds the transfer to what the listing said (its contentLength, when
// listed, and a media type that fits its content type) and fails it
// otherwise, and the bucket commits the object only if exactly that many
// bytes came, hashing exactly those. A failed download commits nothing, so
// whatever key held before stays as it was. Its error fails the attempt:
// VCC serving a short, long, compressed or misplaced body, or an error page
// in place of a recording, may be broken only for a while, so each is
// retried like a 5xx, and after the job's attempts the recording is failed
// for good, visibly.
func (p *pipeline) download(ctx context.Context, t *Tenant, rec catalog.Recording, key string) (blobstore.Object, error) {
	item := vcc.ContentItem{Key: rec.ContentKey, Type: rec.Type, ContentType: rec.MediaType, Length: rec.ExpectedBytes}
	content, err := t.VCC.Open(ctx, rec.GUID, item)
	if err != nil {
		return blobstore.Object{}, fmt.Errorf("download %s/%s: %w", rec.GUID, rec.ContentKey, err)
	}
	defer content.Close()
	obj, err := t.Bucket.Put(ctx, key, countingReader{r: content, n: &p.progress.BytesDownloaded}, content.Size)
	if err != nil {
		return blobstore.Object{}, fmt.Errorf("store %s/%s: %w", rec.GUID, rec.ContentKey, err)
	}
	return obj, nil
}
