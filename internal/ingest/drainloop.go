package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
)

// drainBatch is how many events of one sink a drain claims ahead of its
// deliveries: each claim is a catalog write (one a store may wait for), so
// one claim feeds several rounds of EventWorkers deliveries, and the
// deliveries of a batch are recorded together once they all ended, not one
// write per delivery. A claimed event waits behind at most three rounds,
// each within the sink's timeout, well inside drainLease; one that waited
// too long anyway is given back, not delivered late (dispatch).
const drainBatch = 4 * EventWorkers

// delivery is one event delivered (or not) to one sink.
type delivery struct {
	row  catalog.OutboxEvent
	sink *events.Sink
	err  error
	cut  bool // cut short by a stopping process, or never started: not an attempt
}

// claimedRow is an event claimed for a sink and not handed to a delivery
// yet.
type claimedRow struct {
	row catalog.OutboxEvent
	at  time.Time // when it was claimed: its lease runs from then
}

// drainState is one drain's events: claimed and waiting, in flight, and
// ended but not recorded yet.
type drainState struct {
	sinks    map[string]*events.Sink
	waiting  map[string][]claimedRow // per sink, oldest first
	inflight map[string]int
	more     map[string]bool // the sink's last claim took all it asked for: more may be due
	total    int             // deliveries in flight
	done     []delivery      // ended, to record
	results  chan delivery
}

func newDrainState(t *Tenant) *drainState {
	s := &drainState{sinks: map[string]*events.Sink{}, waiting: map[string][]claimedRow{}, inflight: map[string]int{}, more: map[string]bool{},
		results: make(chan delivery, EventWorkers*len(t.Events))}
	for _, sink := range t.Events {
		s.sinks[sink.ID()] = sink
	}
	return s
}

func (s *drainState) receive(r delivery) {
	s.done = append(s.done, r)
	s.inflight[r.sink.ID()]--
	s.total--
}

// collect receives the deliveries that ended, without waiting.
func (s *drainState) collect() {
	for {
		select {
		case r := <-s.results:
			s.receive(r)
		default:
			return
		}
	}
}

// idle: nothing claimed waits and nothing is in flight.
func (s *drainState) idle() bool {
	if s.total > 0 {
		return false
	}
	for _, w := range s.waiting {
		if len(w) > 0 {
			return false
		}
	}
	return true
}

// wantsClaim: a sink whose last claim was full will run out of claimed
// events within a round.
func (s *drainState) wantsClaim() bool {
	for id, more := range s.more {
		if more && len(s.waiting[id]) < EventWorkers {
			return true
		}
	}
	return false
}

// dispatch hands claimed events to deliveries, up to EventWorkers per
// sink. An event whose lease could end before its delivery does is given
// back instead (another drainer may take it then).
func (s *drainState) dispatch(ctx context.Context, p *pipeline, now time.Time) {
	for id, sink := range s.sinks {
		w := s.waiting[id]
		for len(w) > 0 && s.inflight[id] < EventWorkers {
			c := w[0]
			w = w[1:]
			if now.Sub(c.at)+sink.Timeout() >= drainLease {
				s.done = append(s.done, delivery{row: c.row, sink: sink, cut: true})
				continue
			}
			s.inflight[id]++
			s.total++
			go func() { s.results <- p.deliverOne(ctx, sink, c.row) }()
		}
		s.waiting[id] = w
	}
}

// giveBack makes every claimed event that waits a delivery cut short, so
// that recording it gives its claim back.
func (s *drainState) giveBack() {
	for id, w := range s.waiting {
		for _, c := range w {
			s.done = append(s.done, delivery{row: c.row, sink: s.sinks[id], cut: true})
		}
		s.waiting[id] = nil
	}
}

// drain delivers t's outbox until there is nothing left to deliver for
// drainLinger, the process stops, or drainMaxRun (again: queue the
// successor). d.running is true on entry and false on return.
//
// Each turn of its loop is one transaction that records what deliveries
// did and claims what is due, up to drainBatch a sink; between them,
// deliveries run from what was claimed (await says when the next
// transaction is worth its write).
func (p *pipeline) drain(ctx context.Context, t *Tenant, d *drainer) (again bool, err error) {
	log := p.log.With("tenant", t.ID)
	stopping := p.eventsStopping()
	s := newDrainState(t)
	dctx, cancelDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliveries()
	linger := p.linger
	if linger <= 0 {
		linger = drainLinger
	}
	started := time.Now()
	lastActive := time.Time{} // the last claim that found events
	lastClaim := time.Time{}
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	for {
		s.collect()
		d.mu.Lock()
		gen, flush := d.gen, d.flush
		d.mu.Unlock()
		stop := isClosed(stopping) || ctx.Err() != nil
		again = time.Since(started) > drainMaxRun
		if stop || again {
			s.giveBack() // the events stay queued for the next drain
		}
		claimed := map[string][]catalog.OutboxEvent{}
		asked := map[string]int{}
		now := time.Now()
		fin := s.done
		err := p.cat.InTx(context.WithoutCancel(ctx), func(tx *catalog.Tx) error {
			clear(claimed)
			if err := p.finish(ctx, tx, fin); err != nil {
				return err
			}
			if stop || again {
				return nil
			}
			for id := range s.sinks {
				room := drainBatch - s.inflight[id] - len(s.waiting[id])
				if room <= 0 {
					continue
				}
				rows, err := tx.ClaimOutbox(ctx, t.ID, id, now, now.Add(drainLease), room)
				if err != nil {
					return err
				}
				claimed[id], asked[id] = rows, room
			}
			return nil
		})
		if err != nil {
			// The catalog failed us: what is claimed stays claimed until
			// its lease ends; River runs the job again.
			cancelDeliveries()
			for s.total > 0 {
				s.receive(<-s.results)
			}
			return false, fmt.Errorf("deliver tenant %s's events: %w", t.ID, err)
		}
		if len(fin) > 0 {
			p.report(log, fin)
			s.done = nil
			d.mu.Lock()
			close(d.progress)
			d.progress = make(chan struct{})
			d.mu.Unlock()
		}
		lastClaim = now
		found := 0
		for id, rows := range claimed {
			for _, row := range rows {
				s.waiting[id] = append(s.waiting[id], claimedRow{row: row, at: now})
			}
			s.more[id] = len(rows) == asked[id]
			found += len(rows)
		}
		if found > 0 {
			lastActive = now
		}
		s.dispatch(dctx, p, now)
		if stop || again {
			if stop {
				cancelDeliveries()
			}
			if s.total == 0 && len(s.done) == 0 {
				return again && !stop, nil
			}
			if s.total > 0 {
				s.receive(<-s.results)
			}
			continue
		}
		if s.idle() && found == 0 && len(s.done) == 0 {
			// Nothing in flight and nothing due: end, unless a kick came
			// after the claim started (its events may not have been
			// visible to it) or events came lately.
			if lastActive.IsZero() || time.Since(lastActive) >= linger {
				d.mu.Lock()
				if d.gen == gen {
					d.flush = false
					d.mu.Unlock()
					return false, nil
				}
				d.mu.Unlock()
				continue
			}
			if flush {
				d.mu.Lock()
				if d.gen == gen {
					d.flush = false
				}
				d.mu.Unlock()
			}
		}
		p.await(ctx, d, s, dctx, stopping, lastClaim, gen)
	}
}

// await runs deliveries (in dctx) from what is claimed until the next
// transaction is worth its write: a kick asks for the events now (d.flush)
// and there may be some to claim, or every delivery ended (record them:
// someone waits for them); drainGather passed since the last claim with
// something to record or claim; drainPoll passed (events other processes
// queued, or whose backoff ended); or the drain is to end (ctx, stopping).
func (p *pipeline) await(ctx context.Context, d *drainer, s *drainState, dctx context.Context, stopping <-chan struct{}, lastClaim time.Time, claimGen uint64) {
	for {
		d.mu.Lock()
		gen, flush, wake := d.gen, d.flush, d.wake
		d.mu.Unlock()
		due := gen != claimGen || s.wantsClaim() // events to claim, maybe
		since := time.Since(lastClaim)
		switch {
		case flush && (due || s.idle() && len(s.done) > 0),
			since >= drainGather && (due || len(s.done) > 0),
			since >= drainPoll:
			return
		}
		next := drainPoll - since
		if due || len(s.done) > 0 {
			next = drainGather - since
		}
		timer := time.NewTimer(next)
		select {
		case r := <-s.results:
			s.receive(r)
			s.dispatch(dctx, p, time.Now())
		case <-wake:
		case <-timer.C:
		case <-stopping:
		case <-ctx.Done():
		}
		timer.Stop()
		if isClosed(stopping) || ctx.Err() != nil {
			return
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
