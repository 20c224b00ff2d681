package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CoverageGap is a permission gap of a tenant as last announced: diagnosed
// (Cleared false) or cleared since.
type CoverageGap struct {
	Tenant     string
	Permission string
	Hidden     int // calls it explained when last diagnosed
	Evidence   string
	Rev        int64 // how many times it was diagnosed or cleared
	Changed    time.Time
	Cleared    bool
}

// CoverageGaps lists a tenant's gaps, diagnosed and cleared.
func (q querier) CoverageGaps(ctx context.Context, tenant string) ([]CoverageGap, error) {
	rows, err := q.query(ctx, `SELECT tenant, permission, hidden_calls, evidence, rev, changed_at, cleared FROM coverage_gaps WHERE tenant = ? ORDER BY permission`, tenant)
	if err != nil {
		return nil, wrap(err, "list coverage gaps of %s", tenant)
	}
	defer rows.Close()
	var out []CoverageGap
	for rows.Next() {
		g, err := scanGap(rows)
		if err != nil {
			return nil, wrap(err, "list coverage gaps of %s", tenant)
		}
		out = append(out, g)
	}
	return out, wrap(rows.Err(), "list coverage gaps of %s", tenant)
}

// CoverageGap returns one gap of a tenant.
func (q querier) CoverageGap(ctx context.Context, tenant, permission string) (CoverageGap, error) {
	g, err := scanGap(q.queryRow(ctx, `SELECT tenant, permission, hidden_calls, evidence, rev, changed_at, cleared FROM coverage_gaps WHERE tenant = ? AND permission = ?`, tenant, permission))
	if errors.Is(err, sql.ErrNoRows) {
		return CoverageGap{}, fmt.Errorf("coverage gap %q of tenant %s: %w", permission, tenant, ErrNotFound)
	}
	return g, wrap(err, "read coverage gap %q of %s", permission, tenant)
}

// SetCoverageGap records g as the gap's current state.
func (q querier) SetCoverageGap(ctx context.Context, g CoverageGap) error {
	_, err := q.exec(ctx, `INSERT INTO coverage_gaps (tenant, permission, hidden_calls, evidence, rev, changed_at, cleared) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, permission) DO UPDATE SET hidden_calls = excluded.hidden_calls, evidence = excluded.evidence,
			rev = excluded.rev, changed_at = excluded.changed_at, cleared = excluded.cleared`,
		g.Tenant, g.Permission, g.Hidden, g.Evidence, g.Rev, ts(g.Changed), g.Cleared)
	return wrap(err, "record coverage gap %q of %s", g.Permission, g.Tenant)
}

func scanGap(sc interface{ Scan(...any) error }) (CoverageGap, error) {
	var g CoverageGap
	var changed string
	if err := sc.Scan(&g.Tenant, &g.Permission, &g.Hidden, &g.Evidence, &g.Rev, &changed, &g.Cleared); err != nil {
		return CoverageGap{}, err
	}
	var err error
	g.Changed, err = parseTS(changed)
	return g, err
}
