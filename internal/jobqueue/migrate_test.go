package jobqueue_test

import (
	"context"
	"sync"
	"testing"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/jobqueue"
)

// Processes starting together on a new PostgreSQL catalog (a fleet of
// workers deployed at once) each migrate it: the migration lock makes one
// do it and the others find it done, instead of failing on each other's
// half-made tables.
func TestMigrate_PostgresProcessesStartingTogether(t *testing.T) {
	url := catalogtest.PostgresSchema(t)
	ctx := context.Background()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		cat, err := catalog.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cat.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = cat.EnsureSchema(ctx); errs[i] == nil {
				errs[i] = jobqueue.Migrate(ctx, cat)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	cat, err := catalog.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if pending, err := cat.Pending(ctx); err != nil || len(pending) != 0 {
		t.Errorf("pending migrations after all started: %v, %v", pending, err)
	}
}
