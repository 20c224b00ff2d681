package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
	"github.com/vccingest/vccingest/internal/jobqueue"
	"github.com/vccingest/vccingest/internal/secret"
)

// outboxCase is a catalog with one pending recording and a tenant with one
// sink, and a context as a running job's (its River client inserts).
type outboxCase struct {
	cat    *catalog.Catalog
	tenant *Tenant
	p      *pipeline
	ctx    context.Context
	// refuseEvents makes the database refuse the insert of any publish job.
	refuseEvents func(t *testing.T)
}

func newOutboxCase(t *testing.T, cat *catalog.Catalog) *outboxCase {
	t.Helper()
	ctx := context.Background()
	if err := jobqueue.Migrate(ctx, cat); err != nil {
		t.Fatal(err)
	}
	sink, err := events.Open(ctx, "mem://outbox-"+strings.ToLower(strings.NewReplacer("/", "-").Replace(t.Name())), events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	c := &outboxCase{cat: cat, tenant: &Tenant{ID: "acme", Events: []*events.Sink{sink}}}
	c.p = &pipeline{cat: cat, log: slog.New(slog.DiscardHandler), progress: &Progress{}, now: time.Now, tenants: map[string]*Tenant{"acme": c.tenant}}
	if pool := cat.Pool(); pool != nil {
		client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		c.ctx = rivertest.WorkContext[pgx.Tx](ctx, client)
		c.refuseEvents = func(t *testing.T) {
			_, err := cat.DB().ExecContext(ctx, `CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'event insert refused by the test'; END $$ LANGUAGE plpgsql;
				CREATE TRIGGER refuse_events BEFORE INSERT ON river_job FOR EACH ROW WHEN (NEW.queue LIKE '%\_events') EXECUTE FUNCTION refuse_event()`)
			if err != nil {
				t.Fatal(err)
			}
		}
	} else {
		client, err := river.NewClient(riversqlite.New(cat.DB()), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		c.ctx = rivertest.WorkContext[*sql.Tx](ctx, client)
		c.refuseEvents = func(t *testing.T) {
			_, err := cat.DB().ExecContext(ctx, `CREATE TRIGGER refuse_events BEFORE INSERT ON river_job WHEN NEW.queue LIKE '%_events'
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

var testObject = blobstore.Object{Key: "acme/2024/03/04/g-1/callRecording.wav", Size: 4, SHA256: strings.Repeat("ab", 32)}

// state is the recording's status and the number of its publish jobs.
func (c *outboxCase) state(t *testing.T) (string, int64) {
	t.Helper()
	rec, err := c.cat.Recording(context.Background(), "acme", "g-1", "callRecording")
	if err != nil {
		t.Fatal(err)
	}
	n, err := jobqueue.Active(context.Background(), c.cat, c.tenant.EventsQueue())
	if err != nil {
		t.Fatal(err)
	}
	return rec.Status, n
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
					stored, err := storeAndAnnounce(c.ctx, tx, jobqueue.InsertFromJob, c.tenant, "g-1", "callRecording", testObject)
					if err != nil || !stored {
						t.Fatalf("storeAndAnnounce = %v, %v", stored, err)
					}
					return errRollback
				})
				if !errors.Is(err, errRollback) {
					t.Fatal(err)
				}
				if status, jobs := c.state(t); status != catalog.StatusPending || jobs != 0 {
					t.Errorf("after a rollback: recording %s with %d event jobs, want pending with 0", status, jobs)
				}
			})
			t.Run("event insert refused", func(t *testing.T) {
				c := newOutboxCase(t, open(t))
				c.refuseEvents(t)
				if stored, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err == nil || stored {
					t.Fatalf("markStored with the event refused = %v, %v; want an error", stored, err)
				}
				if status, jobs := c.state(t); status != catalog.StatusPending || jobs != 0 {
					t.Errorf("event refused: recording %s with %d event jobs, want pending with 0", status, jobs)
				}
			})
			t.Run("committed", func(t *testing.T) {
				c := newOutboxCase(t, open(t))
				if stored, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || !stored {
					t.Fatalf("markStored = %v, %v", stored, err)
				}
				if status, jobs := c.state(t); status != catalog.StatusStored || jobs != 1 {
					t.Errorf("committed: recording %s with %d event jobs, want stored with 1", status, jobs)
				}
				if stored, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || stored {
					t.Fatalf("second markStored = %v, %v; want false", stored, err)
				}
				if _, jobs := c.state(t); jobs != 1 {
					t.Errorf("a second store queued another event: %d jobs", jobs)
				}
			})
		})
	}
}

// The publish job builds the event from the catalog and delivers it; a
// sink that refuses it is retried with a backoff that keeps an event about
// two days; the last attempt says so at error level, never silently; a job
// whose sink is gone is cancelled, loudly too.
func TestPublish_DeliversRetriesAndNeverDropsSilently(t *testing.T) {
	c := newOutboxCase(t, catalogtest.SQLite(t))
	ctx := context.Background()
	bucket, err := blobstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	c.tenant.Bucket = bucket
	if stored, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || !stored {
		t.Fatalf("markStored = %v, %v", stored, err)
	}
	var logs bytes.Buffer
	c.p.log = slog.New(slog.NewTextHandler(&logs, nil))
	w := &publishWorker{p: c.p}
	job := func(sink string, attempt int) *river.Job[PublishArgs] {
		return &river.Job[PublishArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: publishAttempts},
			Args: PublishArgs{Tenant: "acme", Sink: sink, Type: events.TypeRecordingStored, GUID: "g-1", ContentKey: "callRecording"}}
	}

	good := c.tenant.Events[0] // mem://
	sub := eventstest.Subscribe(t, good.String())
	if err := w.Work(ctx, job(good.ID(), 1)); err != nil {
		t.Fatal(err)
	}
	var data events.RecordingStored
	ev, _ := sub.Next(t, &data)
	if ev.ID != "acme/g-1/callRecording/stored" || data.SHA256 != testObject.SHA256 || data.Bytes != testObject.Size || data.BlobKey != testObject.Key ||
		data.BlobURL != bucket.ObjectURL(testObject.Key) || data.SidecarKey != "acme/2024/03/04/g-1/interaction.json" {
		t.Errorf("event %s: %s", ev.ID, ev.Data)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer srv.Close()
	down, err := events.Open(ctx, srv.URL, events.Options{WebhookSecret: secret.New("k")})
	if err != nil {
		t.Fatal(err)
	}
	c.tenant.Events = append(c.tenant.Events, down)
	if err := w.Work(ctx, job(down.ID(), 3)); err == nil {
		t.Fatal("a refused delivery succeeded")
	}
	if c.p.progress.EventsFailed.Load() != 0 || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an attempt with attempts left was reported as lost:\n%s", logs.String())
	}
	if err := w.Work(ctx, job(down.ID(), publishAttempts)); err == nil {
		t.Fatal("the last refused delivery succeeded")
	}
	if c.p.progress.EventsFailed.Load() != 1 || !strings.Contains(logs.String(), "level=ERROR msg=\"EVENT NOT DELIVERED") || !strings.Contains(logs.String(), "events replay") {
		t.Errorf("the last attempt did not say at error level that the event is lost and how to replay it:\n%s", logs.String())
	}

	// One job for every sink: the sink that took it is done, the one that
	// refused it gets a job of its own (in the job's transaction), so its
	// retries never send the event again to the first.
	before, err := jobqueue.Active(ctx, c.cat, c.tenant.EventsQueue())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Work(c.ctx, job("", 1)); err != nil {
		t.Fatalf("a delivery that reached one of two sinks: %v", err)
	}
	sub.Next(t, nil) // the good sink got it
	after, err := jobqueue.Active(ctx, c.cat, c.tenant.EventsQueue())
	if err != nil || after != before+1 {
		t.Errorf("split queued %d jobs (%v), want 1 for the sink that refused", after-before, err)
	}

	logs.Reset()
	var cancelled *river.JobCancelError
	if err := w.Work(ctx, job("no-such-sink", 1)); !errors.As(err, &cancelled) || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a job of a sink no longer configured: %v\n%s", err, logs.String())
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
		t.Errorf("the attempts of a publish job span %s; a sink down for a day would lose events", total.Round(time.Minute))
	}
}
