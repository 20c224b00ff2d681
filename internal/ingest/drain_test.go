package ingest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
	"github.com/vccingest/vccingest/internal/jobqueue"
	"github.com/vccingest/vccingest/internal/secret"
)

// A stopping process cuts its drain's deliveries in flight short and gives
// the events back as they were: still queued, no longer claimed (the next
// drain need not wait for the lease), their attempts unchanged, nothing
// counted failed or logged as lost; the drain ends at once, not after the
// sink's timeout; and the next drain delivers them.
func TestDrain_AShutdownGivesDeliveriesInFlightBackUnattempted(t *testing.T) {
	c := newOutboxCase(t, catalogtest.SQLite(t))
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	var answer atomic.Bool // false: hold the request until the sender gives up
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answer.Load() {
			return // 200
		}
		// Read the body: only then does the server notice the client
		// hanging up and end r's context.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before srv.Close, should a test fail
	hook, err := events.Open(c.ctx, srv.URL, events.Options{WebhookSecret: secret.New("k")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hook.Close() })
	c.tenant.Events = []*events.Sink{hook}
	var logs bytes.Buffer
	c.p.log = slog.New(slog.NewTextHandler(&logs, nil))
	c.p.resumeEvents()
	if stored, _, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || !stored {
		t.Fatalf("markStored = %v, %v", stored, err)
	}

	done := make(chan time.Time, 1)
	go func() {
		c.drain(t)
		done <- time.Now()
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the drain never sent the event")
	}
	stopped := time.Now()
	c.p.stopEvents()
	select {
	case end := <-done:
		if took := end.Sub(stopped); took > 5*time.Second {
			t.Errorf("the drain took %s to end after the stop; its delivery should be cut at once", took.Round(time.Millisecond))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the drain did not end after the stop")
	}
	got := c.outbox(t)
	if len(got) != 1 || got[0].Attempts != 0 || got[0].Discarded {
		t.Fatalf("outbox after the cut: %+v, want the event queued, 0 attempts", got)
	}
	var claimed bool
	if err := c.cat.DB().QueryRowContext(c.ctx, `SELECT claimed_until IS NOT NULL FROM event_outbox`).Scan(&claimed); err != nil {
		t.Fatal(err)
	}
	if claimed {
		t.Error("the cut event is still claimed: the next drain would wait for the lease to end")
	}
	if n, f := c.p.progress.EventsPublished.Load(), c.p.progress.EventsFailed.Load(); n != 0 || f != 0 {
		t.Errorf("published %d, failed %d after a cut delivery; want 0, 0", n, f)
	}
	if f := hook.Counts().Failed; f != 0 {
		t.Errorf("the sink counts %d failures after a cut delivery; want 0 (/metrics would show a shutdown as a failing sink)", f)
	}
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a cut delivery was reported as a refusal:\n%s", logs.String())
	}

	answer.Store(true)
	c.p.resumeEvents()
	c.drain(t)
	if got := c.outbox(t); len(got) != 0 {
		t.Errorf("outbox after the next drain: %+v, want it delivered", got)
	}
	if n := c.p.progress.EventsPublished.Load(); n != 1 {
		t.Errorf("published %d, want 1", n)
	}
}

// On a shared (PostgreSQL) catalog, the periodic drain job delivers events
// that no drain of this process was told of: queued by another process
// that stopped before delivering them. Its interval is shortened here; a
// runner uses DrainEvery.
func TestDrain_PeriodicJobDeliversEventsAnotherProcessQueued(t *testing.T) {
	cat := catalogtest.Postgres(t)
	ctx := context.Background()
	if err := jobqueue.Migrate(ctx, cat); err != nil {
		t.Fatal(err)
	}
	c := newOutboxCase(t, cat)
	sub := eventstest.Subscribe(t, c.tenant.Events[0].String())
	workers := river.NewWorkers()
	river.AddWorker(workers, &drainWorker{p: c.p})
	q, err := jobqueue.New(cat, &river.Config{
		Logger:       jobqueue.Logger(slog.New(slog.DiscardHandler)),
		Workers:      workers,
		Queues:       map[string]river.QueueConfig{c.tenant.EventsQueue(): EventsQueueConfig()},
		PeriodicJobs: []*river.PeriodicJob{DrainPeriodically(c.tenant, 300*time.Millisecond, nil)},
		JobTimeout:   time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.p.setQueue(q)
	c.p.resumeEvents()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.p.stopEvents()
		_ = q.Stop(stop)
	})
	// Another process's events: in the outbox, and nothing told of them.
	for _, id := range []string{"acme/g-1/callRecording/stored", "acme/g-2/callRecording/stored"} {
		err := cat.InTx(ctx, func(tx *catalog.Tx) error {
			_, err := tx.InsertOutbox(ctx, "acme", sinkIDs(c.tenant), id, events.TypeRecordingStored, []byte(`{"specversion":"1.0","id":"`+id+`","source":"vccingest/acme","type":"`+events.TypeRecordingStored+`","data":{}}`))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := sub.Next(t, nil)
		if ev.ID != id {
			t.Fatalf("delivered %q, want %q", ev.ID, id)
		}
		if d := waitOutboxEmpty(t, c); d > 0 {
			t.Fatalf("%d events still in the outbox after their delivery", d)
		}
	}
}

// waitOutboxEmpty waits a while for the drain to record its deliveries and
// returns how many events are left.
func waitOutboxEmpty(t *testing.T, c *outboxCase) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := len(c.outbox(t))
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}
