package ingest

import (
	"context"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/jobqueue"
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
	// Pending events wait for the sink, the oldest since Oldest (the
	// catalog's count: every process of a shared catalog agrees).
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
	backlog, err := jobqueue.BacklogBy(ctx, cat, t.EventsQueue(), "sink")
	if err != nil {
		return nil, err
	}
	out := make([]SinkStatus, 0, len(t.Events))
	for _, s := range t.Events {
		c := s.Counts()
		st := SinkStatus{Name: s.String(), Published: c.Published, Failed: c.Failed, Failing: c.Failing}
		// A job without a sink is for every sink.
		for _, b := range []jobqueue.Backlog{backlog[""], backlog[s.ID()]} {
			if b.Jobs == 0 {
				continue
			}
			st.Pending += b.Jobs
			if st.Oldest.IsZero() || b.Oldest.Before(st.Oldest) {
				st.Oldest = b.Oldest
			}
		}
		st.Behind = c.Failing != nil || st.Pending > 0 && now.Sub(st.Oldest) > SinkBehindAfter
		out = append(out, st)
	}
	return out, nil
}
