package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
	"github.com/vccingest/vccingest/internal/secret"
)

// outboxCase is a catalog with one pending recording and a tenant with one
// sink.
type outboxCase struct {
	cat    *catalog.Catalog
	tenant *Tenant
	p      *pipeline
	ctx    context.Context
	// refuseEvents makes the database refuse the insert of any event.
	refuseEvents func(t *testing.T)
	// received are the events delivered so far, by id (deliver).
	received map[string]events.Event
}

func newOutboxCase(t *testing.T, cat *catalog.Catalog) *outboxCase {
	t.Helper()
	ctx := context.Background()
	sink, err := events.Open(ctx, "mem://outbox-"+strings.ToLower(strings.NewReplacer("/", "-").Replace(t.Name())), events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	c := &outboxCase{cat: cat, ctx: ctx, tenant: &Tenant{ID: "acme", Events: []*events.Sink{sink}}}
	c.p = &pipeline{cat: cat, log: slog.New(slog.DiscardHandler), progress: &Progress{}, now: time.Now, tenants: map[string]*Tenant{"acme": c.tenant}, linger: time.Millisecond}
	if cat.Pool() != nil {
		c.refuseEvents = func(t *testing.T) {
			_, err := cat.DB().ExecContext(ctx, `CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'event insert refused by the test'; END $$ LANGUAGE plpgsql;
				CREATE TRIGGER refuse_events BEFORE INSERT ON event_outbox FOR EACH ROW EXECUTE FUNCTION refuse_event()`)
			if err != nil {
				t.Fatal(err)
			}
		}
	} else {
		c.refuseEvents = func(t *testing.T) {
			_, err := cat.DB().ExecContext(ctx, `CREATE TRIGGER refuse_events BEFORE INSERT ON event_outbox
				BEGIN SELECT RAISE(ABORT, 'event insert refused by the test'); END`)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := tx.UpsertTenant(ctx, catalog.Tenant{ID: "acme"}); err != nil {
			return err
		}
		if err := tx.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g-1", Start: time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), Direction: "unknown", DirectionSource: "unknown", ContentVisible: true}); err != nil {
			return err
		}
		_, err := tx.EnsureRecording(ctx, catalog.Recording{Tenant: "acme", GUID: "g-1", ContentKey: "callRecording", Type: "callRecording", MediaType: "audio/wav", ExpectedBytes: 4})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// drain runs one drain job of the tenant to its end, as River would.
func (c *outboxCase) drain(t *testing.T) {
	t.Helper()
	w := &drainWorker{p: c.p}
	if err := w.Work(context.Background(), &river.Job[DrainArgs]{JobRow: &rivertype.JobRow{Attempt: 1}, Args: DrainArgs{Tenant: "acme"}}); err != nil {
		t.Fatal(err)
	}
}

// outbox is the outbox's rows of the tenant: sink, attempts, discarded.
type outboxRow struct {
	Sink      string
	Attempts  int
	Discarded bool
}

func (c *outboxCase) outbox(t *testing.T) []outboxRow {
	t.Helper()
	rows, err := c.cat.DB().QueryContext(context.Background(), `SELECT sink, attempts, discarded_at IS NOT NULL FROM event_outbox WHERE tenant = 'acme' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Sink, &r.Attempts, &r.Discarded); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

var testObject = blobstore.Object{Key: "acme/2024/03/04/g-1/callRecording.wav", Size: 4, SHA256: strings.Repeat("ab", 32)}

// state is the recording's status and the number of its events queued.
func (c *outboxCase) state(t *testing.T) (string, int) {
	t.Helper()
	rec, err := c.cat.Recording(context.Background(), "acme", "g-1", "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	return rec.Status, len(c.outbox(t))
}

// The recording is marked stored if and only if its event is queued, on
// either catalog: a refused event insert leaves it pending (its fetch job
// retries, and then both commit), a transaction rolled back after both
// writes leaves neither, and a commit leaves both. A second store of the
// same recording queues no second event.
func TestOutbox_StoredIfAndOnlyIfTheEventIsQueued(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *catalog.Catalog{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Run("rolled back after both writes", func(t *testing.T) {
				c := newOutboxCase(t, open(t))
				errRollback := errors.New("rolled back by the test")
				err := c.cat.InTx(c.ctx, func(tx *catalog.Tx) error {
					stored, _, err := storeAndAnnounce(c.ctx, tx, c.tenant, "g-1", "callRecording", testObject, time.Now())
					if err != nil || !stored {
						t.Fatalf("storeAndAnnounce = %v, %v", stored, err)
					}
					return errRollback
				})
				if !errors.Is(err, errRollback) {
					t.Fatal(err)
				}
				if status, jobs := c.state(t); status != catalog.StatusPending || jobs != 0 {
					t.Errorf("after a rollback: recording %s with %d events queued, want pending with 0", status, jobs)
				}
			})
			t.Run("event insert refused", func(t *testing.T) {
				c := newOutboxCase(t, open(t))
				c.refuseEvents(t)
				if stored, _, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err == nil || stored {
					t.Fatalf("markStored with the event refused = %v, %v; want an error", stored, err)
				}
				if status, jobs := c.state(t); status != catalog.StatusPending || jobs != 0 {
					t.Errorf("event refused: recording %s with %d events queued, want pending with 0", status, jobs)
				}
			})
			t.Run("committed", func(t *testing.T) {
				c := newOutboxCase(t, open(t))
				if stored, _, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || !stored {
					t.Fatalf("markStored = %v, %v", stored, err)
				}
				if status, jobs := c.state(t); status != catalog.StatusStored || jobs != 1 {
					t.Errorf("committed: recording %s with %d events queued, want stored with 1", status, jobs)
				}
				if stored, _, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || stored {
					t.Fatalf("second markStored = %v, %v; want false", stored, err)
				}
				if _, jobs := c.state(t); jobs != 1 {
					t.Errorf("a second store queued another event: %d queued", jobs)
				}
			})
		})
	}
}

// A drain delivers each queued event to its sink and removes it; a sink
// that refuses it keeps its own copy, retried with a backoff that keeps an
// event about two days, and never gets it again from the sink that took
// it; the last attempt says so at error level, never silently, and keeps
// the event (discarded) until a replay queues it again.
func TestDrain_DeliversRetriesAndNeverDropsSilently(t *testing.T) {
	c := newOutboxCase(t, catalogtest.SQLite(t))
	ctx := context.Background()
	bucket, err := blobstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	c.tenant.Bucket = bucket
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer srv.Close()
	down, err := events.Open(ctx, srv.URL, events.Options{WebhookSecret: secret.New("k")})
	if err != nil {
		t.Fatal(err)
	}
	good := c.tenant.Events[0] // mem://
	c.tenant.Events = append(c.tenant.Events, down)
	var logs bytes.Buffer
	c.p.log = slog.New(slog.NewTextHandler(&logs, nil))

	sub := eventstest.Subscribe(t, good.String())
	if stored, _, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || !stored {
		t.Fatalf("markStored = %v, %v", stored, err)
	}
	if got := c.outbox(t); len(got) != 2 {
		t.Fatalf("outbox after the store: %+v, want one event per sink", got)
	}
	c.drain(t)
	var data events.RecordingStored
	ev, _ := sub.Next(t, &data)
	if ev.ID != "acme/g-1/callRecording/stored" || data.SHA256 != testObject.SHA256 || data.Bytes != testObject.Size || data.BlobKey != testObject.Key ||
		data.BlobURL != bucket.ObjectURL(testObject.Key) || data.SidecarKey != "acme/2024/03/04/g-1/interaction.json" {
		t.Errorf("event %s: %s", ev.ID, ev.Data)
	}
	got := c.outbox(t)
	if len(got) != 1 || got[0].Sink != down.ID() || got[0].Attempts != 1 || got[0].Discarded {
		t.Fatalf("outbox after one drain: %+v, want only the refusing sink's event, 1 attempt", got)
	}
	if c.p.progress.EventsPublished.Load() != 1 || c.p.progress.EventsFailed.Load() != 0 || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("published %d, failed %d; an attempt with attempts left was reported as lost:\n%s", c.p.progress.EventsPublished.Load(), c.p.progress.EventsFailed.Load(), logs.String())
	}
	// Backed off: a drain now leaves it alone.
	c.drain(t)
	if got := c.outbox(t); len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("a drain during the backoff tried again: %+v", got)
	}

	// The last attempt: discarded, loudly; the sink that took the event
	// does not get it again.
	if _, err := c.cat.DB().ExecContext(ctx, `UPDATE event_outbox SET attempts = ?, next_at = ''`, publishAttempts-1); err != nil {
		t.Fatal(err)
	}
	c.drain(t)
	if got := c.outbox(t); len(got) != 1 || !got[0].Discarded || got[0].Attempts != publishAttempts {
		t.Fatalf("outbox after the last attempt: %+v, want the event kept, discarded", got)
	}
	if c.p.progress.EventsFailed.Load() != 1 || !strings.Contains(logs.String(), "level=ERROR msg=\"EVENT NOT DELIVERED") || !strings.Contains(logs.String(), "events replay") {
		t.Errorf("the last attempt did not say at error level that the event is lost and how to replay it:\n%s", logs.String())
	}
	if c.p.progress.EventsPublished.Load() != 1 {
		t.Errorf("the sink that took the event got it %d times", c.p.progress.EventsPublished.Load())
	}
	sinks, err := SinkStatuses(ctx, c.cat, c.tenant, time.Now())
	if err != nil || len(sinks) != 2 || sinks[1].Pending != 0 {
		t.Errorf("sink status %+v (%v): a discarded event is not pending", sinks, err)
	}
	// A replay queues it again, afresh.
	err = c.cat.InTx(ctx, func(tx *catalog.Tx) error {
		d, err := tx.Detail(ctx, "acme", "g-1")
		if err != nil {
			return err
		}
		n, err := announceRecording(ctx, tx, c.tenant, events.TypeRecordingStored, d, "callRecording", time.Now())
		if n != 2 {
			t.Errorf("a replay queued %d events, want one per sink", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.outbox(t); len(got) != 2 || got[0].Discarded || got[0].Attempts != 0 {
		t.Errorf("outbox after a replay: %+v, want the discarded event queued afresh", got)
	}

	var total time.Duration
	for a := 1; a <= publishAttempts; a++ {
		d := publishBackoff(a)
		if d <= 0 || d > 15*time.Minute*11/10 {
			t.Fatalf("backoff after attempt %d is %s", a, d)
		}
		total += d
	}
	if first := publishBackoff(1); first > 3*time.Second {
		t.Errorf("first retry after %s; a blip should cost seconds", first)
	}
	if total < 36*time.Hour {
		t.Errorf("the attempts of an event span %s; a sink down for a day would lose events", total.Round(time.Minute))
	}
}

// A run's start names the events that wait for a sink the tenant no
// longer has (nothing delivers them), and only those.
func TestDrain_WarnsOfEventsForASinkNoLongerConfigured(t *testing.T) {
	c := newOutboxCase(t, catalogtest.SQLite(t))
	var logs bytes.Buffer
	c.p.log = slog.New(slog.NewTextHandler(&logs, nil))
	err := c.cat.InTx(c.ctx, func(tx *catalog.Tx) error {
		if _, err := tx.InsertOutbox(c.ctx, "acme", []string{"0123456789ab", c.tenant.Events[0].ID()}, "acme/g-1/callRecording/stored", events.TypeRecordingStored, []byte(`{}`)); err != nil {
			return err
		}
		_, err := tx.InsertOutbox(c.ctx, "acme", []string{"0123456789ab"}, "acme/g-2/callRecording/stored", events.TypeRecordingStored, []byte(`{}`))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.p.kickBacklog(c.ctx, c.tenant); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Count(out, "no longer has") != 1 || !strings.Contains(out, "sink_id=0123456789ab events=2") {
		t.Errorf("want one warning naming sink 0123456789ab and its 2 events, got:\n%s", out)
	}
	if strings.Contains(out, c.tenant.Events[0].ID()) {
		t.Errorf("the configured sink is named as gone:\n%s", out)
	}
}
