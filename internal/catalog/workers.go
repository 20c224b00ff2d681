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
// workers it counted, the share of the tenant's budget it runs with, and
// the backoff its own 429s hold it to.
type WorkerShare struct {
	Workers           int
	RequestsPerMinute float64 // across all VCC APIs; 0 means no limit
	Downloads         int
	Backoff           float64 // in (0, 1]; 1: no recent 429
}

// WorkerLease is a live worker's lease.
type WorkerLease struct {
	ID      string
	Backoff float64 // as it last published it
}

// Heartbeat renews the lease of worker id of tenant for ttl by the
// database's clock, recording the share it runs with, forgets leases that
// ran out, and returns the tenant's live leases in id order.
func (c *Catalog) Heartbeat(ctx context.Context, tenant, id string, ttl time.Duration, share WorkerShare) ([]WorkerLease, error) {
	if c.dialect != dialectPostgres {
		return nil, errNoLeases
	}
	backoff := share.Backoff
	if !(backoff > 0) || backoff > 1 {
		backoff = 1
	}
	if _, err := c.exec(ctx, `INSERT INTO workers (tenant, id, expires_at, workers, requests_per_minute, downloads, backoff)
		VALUES (?, ?, now() + make_interval(secs => ?), ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET expires_at = excluded.expires_at, workers = excluded.workers,
			requests_per_minute = excluded.requests_per_minute, downloads = excluded.downloads, backoff = excluded.backoff`,
		tenant, id, ttl.Seconds(), share.Workers, share.RequestsPerMinute, share.Downloads, backoff); err != nil {
		return nil, fmt.Errorf("catalog: renew the lease of worker %s: %w", id, err)
	}
	if _, err := c.exec(ctx, `DELETE FROM workers WHERE expires_at < now()`); err != nil {
		return nil, fmt.Errorf("catalog: forget expired worker leases: %w", err)
	}
	rows, err := c.query(ctx, `SELECT id, backoff FROM workers WHERE tenant = ? AND expires_at >= now() ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("catalog: list live workers of %s: %w", tenant, err)
	}
	defer rows.Close()
	var live []WorkerLease
	for rows.Next() {
		var l WorkerLease
		if err := rows.Scan(&l.ID, &l.Backoff); err != nil {
			return nil, fmt.Errorf("catalog: list live workers of %s: %w", tenant, err)
		}
		live = append(live, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: list live workers of %s: %w", tenant, err)
	}
	return live, nil
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
