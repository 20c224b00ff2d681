package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errNoLeases: worker leases exist only on a PostgreSQL catalog.
var errNoLeases = errors.New("catalog: worker leases need a PostgreSQL catalog (one process works an SQLite one)")

// WorkerShare is what a worker records with its lease: how many live
// workers it counted and the share of the tenant's budget it runs with.
type WorkerShare struct {
	Workers   int
	Rate      float64 // requests per second per API; 0 means no limit
	Downloads int
}

// Heartbeat renews the lease of worker id of tenant for ttl by the
// database's clock, recording the share it runs with, forgets leases that
// ran out, and returns the ids of the tenant's live workers in order.
func (c *Catalog) Heartbeat(ctx context.Context, tenant, id string, ttl time.Duration, share WorkerShare) ([]string, error) {
	if c.dialect != dialectPostgres {
		return nil, errNoLeases
	}
	if _, err := c.exec(ctx, `INSERT INTO workers (tenant, id, expires_at, workers, rate, downloads)
		VALUES (?, ?, now() + make_interval(secs => ?), ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET expires_at = excluded.expires_at,
			workers = excluded.workers, rate = excluded.rate, downloads = excluded.downloads`,
		tenant, id, ttl.Seconds(), share.Workers, share.Rate, share.Downloads); err != nil {
		return nil, fmt.Errorf("catalog: renew the lease of worker %s: %w", id, err)
	}
	if _, err := c.exec(ctx, `DELETE FROM workers WHERE expires_at < now()`); err != nil {
		return nil, fmt.Errorf("catalog: forget expired worker leases: %w", err)
	}
	rows, err := c.query(ctx, `SELECT id FROM workers WHERE tenant = ? AND expires_at >= now() ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("catalog: list live workers of %s: %w", tenant, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("catalog: list live workers of %s: %w", tenant, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: list live workers of %s: %w", tenant, err)
	}
	return ids, nil
}

// Leave drops the lease of worker id of tenant, so that the others take
// its share at their next heartbeat.
func (c *Catalog) Leave(ctx context.Context, tenant, id string) error {
	if c.dialect != dialectPostgres {
		return errNoLeases
	}
	if _, err := c.exec(ctx, `DELETE FROM workers WHERE tenant = ? AND id = ?`, tenant, id); err != nil {
		return fmt.Errorf("catalog: drop the lease of worker %s: %w", id, err)
	}
	return nil
}
