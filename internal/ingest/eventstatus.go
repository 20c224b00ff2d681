package ingest

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
)

// SinkBehindAfter is how long an event may wait for a sink before the
// sink shows as behind.
const SinkBehindAfter = 5 * time.Minute

// SinkStatus is how one event sink of a tenant keeps up.
type SinkStatus struct {
	Name string // the sink's URL without its secrets
	// Published and Failed count this process's deliveries: events the
	// sink acknowledged, deliveries it refused (each is retried).
	Published, Failed int64
	// Pending events wait for the sink in the outbox, the oldest since
	// Oldest (the catalog's count: every process of a shared catalog
	// agrees); discarded ones are not counted.
	Pending int64
	Oldest  time.Time
	// Failing is the sink's last refusal, if no delivery worked since.
	Failing *events.Failure
	// Behind: an event has waited longer than SinkBehindAfter, or the
	// sink refuses deliveries.
	Behind bool
}

// SinkStatuses reports each event sink of t at now.
func SinkStatuses(ctx context.Context, cat *catalog.Catalog, t *Tenant, now time.Time) ([]SinkStatus, error) {
	if len(t.Events) == 0 {
		return nil, nil
	}
	backlog, err := cat.OutboxBacklogs(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	out := make([]SinkStatus, 0, len(t.Events))
	for _, s := range t.Events {
		c := s.Counts()
		st := SinkStatus{Name: s.String(), Published: c.Published, Failed: c.Failed, Failing: c.Failing}
		b := backlog[s.ID()]
		st.Pending, st.Oldest = b.Events, b.Oldest
		st.Behind = c.Failing != nil || st.Pending > 0 && now.Sub(st.Oldest) > SinkBehindAfter
		out = append(out, st)
	}
	return out, nil
}

// drainEvents gives the run's events up to EventsWait to be delivered,
// then returns how many still wait in the outbox: a sink that is down
// delays its events to the next run, never the run itself beyond the wait.
// Events waiting for a retry are retried at once (a sink that came back
// gets its backlog now, not after the backoff of its last attempt).
func (e *Engine) drainEvents(ctx context.Context) int64 {
	t := e.cfg.Tenant
	if len(t.Events) == 0 {
		return 0
	}
	if err := e.cfg.Catalog.OutboxDueNow(ctx, t.ID); err != nil {
		e.cfg.Logger.Warn("retry the events not delivered yet", "tenant", t.ID, "error", err)
	}
	n, err := e.p.waitEvents(ctx, t, time.Now().Add(e.cfg.EventsWait))
	if err != nil {
		e.cfg.Logger.Warn("count the events not delivered yet", "tenant", t.ID, "error", err)
	}
	if n > 0 {
		e.cfg.Logger.Warn("events not delivered yet; they stay queued and the next run sends them", "tenant", t.ID, "events", n)
	}
	return n
}

// DrainEvery is how often a runner that shares its catalog with other
// processes queues each tenant's drain job (DrainPeriodically).
const DrainEvery = time.Minute

// DrainPeriodically is the River periodic job that queues t's drain job
// every interval (DrainEvery): a runner that shares its catalog with other
// processes adds it, so that events no drain of its own would see (queued
// by another process, or due again after a backoff while no drain ran)
// wait that long at most.
func DrainPeriodically(t *Tenant, every time.Duration, opts *river.PeriodicJobOpts) *river.PeriodicJob {
	queue := t.EventsQueue()
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return DrainArgs{Tenant: t.ID}, &river.InsertOpts{Queue: queue}
	}, opts)
}
