package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vccingest/vccingest/internal/fleet"
	"github.com/vccingest/vccingest/internal/ingest"
)

// joinFleets takes, on a shared catalog, this process's share of the VCC
// budget of each tenant of want named in ids, all at once (each join waits
// for the others to make room), and returns their leaves.
func (s *Scheduler) joinFleets(ctx context.Context, want map[string]TenantSpec, ids []string) (map[string]func(), error) {
	joined := map[string]func(){}
	if s.cfg.Catalog.Dialect() == "sqlite" {
		return joined, nil
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, id := range ids {
		spec := want[id]
		wg.Go(func() {
			leave, err := ingest.JoinFleet(ctx, s.cfg.Catalog, spec.Tenant, fleet.Budget{RequestsPerMinute: spec.RequestsPerMinute, Downloads: spec.Downloads}, s.cfg.Logger)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
				return
			}
			joined[id] = leave
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, leave := range joined {
			leave()
		}
		return nil, errors.Join(errs...)
	}
	return joined, nil
}

// leaveAll gives back every tenant's share of its VCC budget.
func (s *Scheduler) leaveAll() {
	s.mu.Lock()
	leases := s.leases
	s.leases = map[string]func(){}
	s.mu.Unlock()
	for _, leave := range leases {
		leave()
	}
}
