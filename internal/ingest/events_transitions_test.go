package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
)

// queued returns the events of type typ queued so far, in order.
func (c *outboxCase) queued(t *testing.T, typ string) []events.Event {
	t.Helper()
	rows, err := c.cat.DB().QueryContext(context.Background(), `SELECT payload FROM event_outbox WHERE tenant = 'acme' AND type = '`+typ+`' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var raw string
		var ev events.Event
		if err := rows.Scan(&raw); err != nil || json.Unmarshal([]byte(raw), &ev) != nil || ev.Validate() != nil {
			t.Fatalf("queued event %q: %v", raw, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// deliver drains the outbox and returns the event of id the tenant's
// mem:// sink received (in this drain or an earlier one), its data decoded
// into data.
func (c *outboxCase) deliver(t *testing.T, id string, data any) events.Event {
	t.Helper()
	if n := len(c.outbox(t)); n > 0 {
		sub := eventstest.Subscribe(t, c.tenant.Events[0].String())
		c.drain(t)
		for range n {
			ev, _ := sub.Next(t, nil)
			if c.received == nil {
				c.received = map[string]events.Event{}
			}
			c.received[ev.ID] = ev
		}
	}
	found, ok := c.received[id]
	if !ok {
		t.Fatalf("no event %s was delivered", id)
	}
	if data != nil {
		if err := json.Unmarshal(found.Data, data); err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// A stored recording whose interaction changes (direction from Stats, an
// agent that arrived later) gets a recording.updated event, queued in the
// transaction of the change and carrying the new state, with the id of
// the revision it shows; a listing again that changes nothing queues
// none, and neither does a change to an interaction with nothing stored.
func TestOutbox_RecordingUpdatedOnEachChangeOfAStoredRecording(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *catalog.Catalog{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			c := newOutboxCase(t, open(t))
			bucket, err := blobstore.Open(context.Background(), "file://"+t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer bucket.Close()
			c.tenant.Bucket = bucket
			base := catalog.Interaction{Tenant: "acme", GUID: "g-1", Start: outboxStart, Direction: "unknown", DirectionSource: "unknown", ContentVisible: true}
			// upsert is what discovery does: the change and its events in one
			// transaction.
			upsert := func(it catalog.Interaction) {
				t.Helper()
				err := c.cat.InTx(c.ctx, func(tx *catalog.Tx) error {
					before, err := tx.Interaction(c.ctx, "acme", it.GUID)
					if err != nil {
						return err
					}
					if err := tx.UpsertInteraction(c.ctx, it); err != nil {
						return err
					}
					_, err = announceUpdated(c.ctx, tx, c.tenant, it.GUID, before.Rev, time.Now())
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			upsert(catalog.Interaction{Tenant: "acme", GUID: "g-1", Start: base.Start, AgentID: "67833", Direction: "unknown", DirectionSource: "unknown"})
			if got := c.queued(t, events.TypeRecordingUpdated); len(got) != 0 {
				t.Fatalf("a change before anything was stored queued %v", got)
			}
			if stored, _, err := c.p.markStored(c.ctx, c.tenant, "g-1", "callRecording", testObject); err != nil || !stored {
				t.Fatalf("markStored = %v, %v", stored, err)
			}
			upsert(catalog.Interaction{Tenant: "acme", GUID: "g-1", Start: base.Start, Direction: "unknown", DirectionSource: "unknown"})
			if got := c.queued(t, events.TypeRecordingUpdated); len(got) != 0 {
				t.Fatalf("a listing that changed nothing queued %v", got)
			}
			upsert(catalog.Interaction{Tenant: "acme", GUID: "g-1", Start: base.Start, Direction: "outbound", DirectionSource: "stats"})
			got := c.queued(t, events.TypeRecordingUpdated)
			it, err := c.cat.Interaction(c.ctx, "acme", "g-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != events.RecordingID("acme", "g-1", "callRecording", "updated", it.Rev) {
				t.Fatalf("direction from Stats queued %+v, want one recording.updated of revision %d", got, it.Rev)
			}
			var data events.RecordingUpdated
			ev := c.deliver(t, got[0].ID, &data)
			if ev.Type != events.TypeRecordingUpdated ||
				data.Direction != "outbound" || data.DirectionSource != "stats" || data.Agent == nil || data.Agent.ID != "67833" || data.SHA256 != testObject.SHA256 {
				t.Errorf("recording.updated %s: %s", ev.ID, ev.Data)
			}
		})
	}
}

// A run's end queues tenant.health exactly when the tenant's health
// changes: the first failed run, the first run that did not fail after
// failed ones; never for a run like the one before, nor for an
// interrupted run (a stopped process says nothing of the tenant).
func TestOutbox_TenantHealthOnTransitionsOnly(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *catalog.Catalog{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			c := newOutboxCase(t, open(t))
			var runs []int64
			for _, status := range []string{catalog.RunDone, catalog.RunFailed, catalog.RunFailed, catalog.RunInterrupted, catalog.RunFailures, catalog.RunDone, catalog.RunFailed} {
				id, err := c.cat.StartRun(c.ctx, "acme", outboxStart, outboxStart)
				if err != nil {
					t.Fatal(err)
				}
				runs = append(runs, id)
				err = c.p.endRun(c.ctx, c.tenant, id, status, func(tx *catalog.Tx) error {
					return tx.FinishRun(c.ctx, id, status, 0, 0, 0, map[bool]string{true: "VCC refused the credential"}[status == catalog.RunFailed])
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			got := c.queued(t, events.TypeTenantHealth)
			if len(got) != 3 || got[0].ID != events.TenantID("acme", "health", runs[1]) || got[1].ID != events.TenantID("acme", "health", runs[4]) || got[2].ID != events.TenantID("acme", "health", runs[6]) {
				t.Fatalf("health events for runs %+v of runs %v; want runs 2, 5 and 7 (failed, healthy again, failed)", got, runs)
			}
			// The events wait (nothing drains here): the sink's backlog
			// counts them, on either catalog.
			sinks, err := SinkStatuses(c.ctx, c.cat, c.tenant, time.Now().Add(time.Hour))
			if err != nil || len(sinks) != 1 || sinks[0].Pending != 3 || !sinks[0].Behind || sinks[0].Oldest.IsZero() {
				t.Errorf("sink status %+v (%v), want 3 pending, behind an hour later", sinks, err)
			}
			var down, up events.TenantHealth
			ev := c.deliver(t, got[0].ID, &down)
			if ev.ID != events.TenantID("acme", "health", runs[1]) || down.Health != "unhealthy" || down.Error != "VCC refused the credential" || down.RunStatus != catalog.RunFailed {
				t.Errorf("unhealthy event %s: %s", ev.ID, ev.Data)
			}
			if ev := c.deliver(t, got[1].ID, &up); up.Health != "healthy" || up.Error != "" || up.Run != runs[4] {
				t.Errorf("healthy event %s: %s", ev.ID, ev.Data)
			}
		})
	}
}

// outboxStart is when the call of newOutboxCase started.
var outboxStart = time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)

// A run's diagnosis records the permission gaps and queues
// tenant.coverage_gap exactly when one is newly diagnosed or cleared:
// outbound calls hidden, then (the permission enabled) visible again.
func TestOutbox_CoverageGapWhenDiagnosedAndWhenCleared(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *catalog.Catalog{"sqlite": catalogtest.SQLite, "postgres": catalogtest.Postgres} {
		t.Run(name, func(t *testing.T) { coverageGapEvents(t, newOutboxCase(t, open(t))) })
	}
}

func coverageGapEvents(t *testing.T, c *outboxCase) {
	from, to := outboxStart.Add(time.Hour), outboxStart.Add(3*time.Hour)
	var stats []catalog.StatsInteraction
	show := func(guids ...string) {
		t.Helper()
		for _, g := range guids {
			if err := c.cat.UpsertInteraction(c.ctx, catalog.Interaction{Tenant: "acme", GUID: g, Start: from.Add(time.Minute), ContentVisible: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var outbound []string
	for i := range 10 {
		dir := []string{"inbound", "outbound"}[i%2]
		g := fmt.Sprintf("%s-%d", dir, i)
		stats = append(stats, catalog.StatsInteraction{Tenant: "acme", GUID: g, Start: from.Add(time.Duration(i) * time.Minute), Duration: time.Minute, Direction: dir})
		if dir == "inbound" {
			show(g)
		} else {
			outbound = append(outbound, g)
		}
	}
	if err := c.cat.UpsertStatsInteractions(c.ctx, stats); err != nil {
		t.Fatal(err)
	}
	// seen are the coverage gap events queued so far (a delivery removes
	// them from the outbox).
	var seen []events.Event
	run := func() []events.Event {
		t.Helper()
		if _, err := c.p.recordGaps(c.ctx, c.tenant, from, to, 0); err != nil {
			t.Fatal(err)
		}
		for _, ev := range c.queued(t, events.TypeCoverageGap) {
			if !slices.ContainsFunc(seen, func(s events.Event) bool { return s.ID == ev.ID }) {
				seen = append(seen, ev)
			}
		}
		return seen
	}
	gapID := func(rev int64) string {
		return events.TenantID("acme", "coverage_gap/"+url.PathEscape(coverage.PermViewOutbound), rev)
	}
	got := run()
	if len(got) != 1 || got[0].ID != gapID(1) {
		t.Fatalf("outbound calls hidden: queued %+v, want one gap of %q", got, coverage.PermViewOutbound)
	}
	var diagnosed events.CoverageGap
	if ev := c.deliver(t, got[0].ID, &diagnosed); diagnosed.State != "diagnosed" || diagnosed.Hidden != 5 || !strings.Contains(diagnosed.Advice, "enable") {
		t.Errorf("diagnosed gap %s: %s", ev.ID, ev.Data)
	}
	if got := run(); len(got) != 1 {
		t.Fatalf("the same diagnosis again queued %d events, want none more", len(got)-1)
	}
	if _, err := c.p.recordGaps(c.ctx, c.tenant, to, to.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if got := c.queued(t, events.TypeCoverageGap); len(got) != 0 {
		t.Fatalf("a range without Stats data (nothing to judge) cleared the gap: %+v", got)
	}
	show(outbound...)
	got = run()
	if len(got) != 2 || got[1].ID != gapID(2) {
		t.Fatalf("outbound calls visible again: queued %+v, want the gap cleared", got)
	}
	var cleared events.CoverageGap
	if ev := c.deliver(t, got[1].ID, &cleared); cleared.State != "cleared" || cleared.Permission != coverage.PermViewOutbound || ev.ID == "" {
		t.Errorf("cleared gap %s: %s", ev.ID, ev.Data)
	}
}
