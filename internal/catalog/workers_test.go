package catalog_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

// Worker leases: live until they run out or are dropped, per tenant.
func TestPostgresWorkerLeases(t *testing.T) {
	ctx := context.Background()
	c := catalogtest.Postgres(t)
	backoff := map[string]float64{}
	beat := func(tenant, id string, ttl time.Duration) []string {
		t.Helper()
		live, err := c.Heartbeat(ctx, tenant, id, ttl, catalog.WorkerShare{Workers: 1, RequestsPerMinute: 60, Downloads: 2, Backoff: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range live {
			ids = append(ids, l.ID)
			backoff[l.ID] = l.Backoff
		}
		return ids
	}
	beat("acme", "b", time.Minute)
	beat("other", "x", time.Minute)
	if live := beat("acme", "a", time.Minute); !slices.Equal(live, []string{"a", "b"}) {
		t.Errorf("live workers of acme: %v, want [a b]", live)
	}
	// A lease that ran out (a worker that died) is not live.
	beat("acme", "c", -time.Second)
	if live := beat("acme", "a", time.Minute); !slices.Equal(live, []string{"a", "b"}) {
		t.Errorf("after c's lease ran out: %v, want [a b]", live)
	}
	if err := c.Leave(ctx, "acme", "b"); err != nil {
		t.Fatal(err)
	}
	if live := beat("acme", "a", time.Minute); !slices.Equal(live, []string{"a"}) {
		t.Errorf("after b left: %v, want [a]", live)
	}
	if backoff["a"] != 0.5 {
		t.Errorf("a published backoff 0.5; its lease reads %v", backoff["a"])
	}
	// A backoff out of (0, 1] is stored as none.
	if _, err := c.Heartbeat(ctx, "acme", "d", time.Minute, catalog.WorkerShare{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	beat("acme", "a", time.Minute)
	if backoff["d"] != 1 {
		t.Errorf("a lease with no backoff reads %v, want 1", backoff["d"])
	}
}

func TestSQLiteHasNoWorkerLeases(t *testing.T) {
	c, err := catalog.Open(context.Background(), "sqlite://"+t.TempDir()+"/c.db")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Heartbeat(context.Background(), "acme", "a", time.Minute, catalog.WorkerShare{}); err == nil {
		t.Error("a worker lease on SQLite")
	}
}
