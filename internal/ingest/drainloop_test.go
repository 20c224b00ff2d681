package ingest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
)

// A drain claims ahead of its deliveries: dispatch starts at most
// EventWorkers deliveries a sink and keeps the rest waiting, and an event
// claimed so long ago that its lease could end before its delivery does is
// given back (a cut delivery, not an attempt), not delivered.
func TestDrainState_DispatchKeepsTheBoundAndTheLease(t *testing.T) {
	ctx := context.Background()
	sink, err := events.Open(ctx, "mem://drainstate-dispatch", events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	tenant := &Tenant{ID: "acme", Events: []*events.Sink{sink}}
	p := &pipeline{log: slog.New(slog.DiscardHandler), progress: &Progress{}, now: time.Now}
	now := time.Now()
	for _, tc := range []struct {
		name                       string
		fresh, stale               int
		wantInFlight, wantWaiting  int
		wantGivenBack              int
		wantsClaimAfter, moreAfter bool
	}{
		{name: "a batch: one round in flight, the rest waits", fresh: drainBatch, wantInFlight: EventWorkers, wantWaiting: drainBatch - EventWorkers, moreAfter: true},
		{name: "less than a round: all in flight, a full claim wants more", fresh: 3, wantInFlight: 3, moreAfter: true, wantsClaimAfter: true},
		{name: "a claim that was not full wants no more", fresh: 3, wantInFlight: 3},
		{name: "stale claims are given back, fresh ones go", fresh: 2, stale: 5, wantInFlight: 2, wantGivenBack: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newDrainState(tenant)
			id := sink.ID()
			for i := range tc.stale {
				s.waiting[id] = append(s.waiting[id], claimedRow{row: catalog.OutboxEvent{ID: int64(100 + i), EventID: "stale", Type: "t", Payload: []byte(`{}`)}, at: now.Add(-drainLease + sink.Timeout()/2)})
			}
			for i := range tc.fresh {
				s.waiting[id] = append(s.waiting[id], claimedRow{row: catalog.OutboxEvent{ID: int64(i), EventID: "fresh", Type: "t", Payload: []byte(`{}`)}, at: now})
			}
			s.more[id] = tc.moreAfter
			s.dispatch(ctx, p, now)
			if s.total != tc.wantInFlight || s.inflight[id] != tc.wantInFlight {
				t.Errorf("%d in flight (%d for the sink); want %d", s.total, s.inflight[id], tc.wantInFlight)
			}
			if len(s.waiting[id]) != tc.wantWaiting {
				t.Errorf("%d wait; want %d", len(s.waiting[id]), tc.wantWaiting)
			}
			if len(s.done) != tc.wantGivenBack {
				t.Errorf("%d given back; want %d", len(s.done), tc.wantGivenBack)
			}
			for _, d := range s.done {
				if !d.cut || d.row.EventID != "stale" {
					t.Errorf("given back: %+v; want only stale claims, cut", d)
				}
			}
			for s.total > 0 {
				r := <-s.results
				s.receive(r)
				if r.err != nil || r.row.EventID != "fresh" {
					t.Errorf("delivered %s: %v; want only fresh claims, delivered", r.row.EventID, r.err)
				}
			}
			if got := s.wantsClaim(); got != tc.wantsClaimAfter {
				t.Errorf("wantsClaim = %t; want %t", got, tc.wantsClaimAfter)
			}
			s.giveBack()
			if !s.idle() {
				t.Errorf("not idle after giving back what waits")
			}
		})
	}
}
