package catalog

import (
	"context"
	"time"
)

// UpsertWindow records a planned window (idempotent).
func (q querier) UpsertWindow(ctx context.Context, tenant string, start, end time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO sync_windows (tenant, start_at, end_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant, start_at, end_at) DO NOTHING`, tenant, ts(start), ts(end), ts(time.Now()))
	return wrap(err, "save window")
}

// MarkWindowDiscovered records that a window's discovery finished, with how
// many interactions Content listed and how many rows Stats did (statsRows
// is NoStats when Stats was not asked: the credential lacks the scope),
// listed now on this machine's clock and not to be listed again.
func (q querier) MarkWindowDiscovered(ctx context.Context, tenant string, start, end time.Time, interactions, statsRows int) error {
	return q.MarkWindowListed(ctx, WindowListing{Tenant: tenant, Start: start, End: end, Interactions: interactions, StatsRows: statsRows, ListedAt: time.Now()})
}

// WindowListing is what one listing of a window found, and when the window
// is to be listed again.
type WindowListing struct {
	Tenant                  string
	Start, End              time.Time
	Interactions, StatsRows int
	// ListedAt is when it was listed, on the planner's clock; NextScan when
	// it is to be listed again for late content (zero: not again).
	ListedAt, NextScan time.Time
}

// MarkWindowListed records that a window's listing finished: its counts,
// its listing (discoveries counts them) and its next scan.
func (q querier) MarkWindowListed(ctx context.Context, l WindowListing) error {
	now := ts(time.Now())
	var next any // NULL: the window's schedule is done
	if !l.NextScan.IsZero() {
		next = ts(l.NextScan)
	}
	_, err := q.exec(ctx, `INSERT INTO sync_windows (tenant, start_at, end_at, status, interactions, stats_rows, discoveries, discovered_at, listed_at, next_scan_at, updated_at)
		VALUES (?, ?, ?, 'discovered', ?, ?, 1, ?, ?, ?, ?)
		ON CONFLICT (tenant, start_at, end_at) DO UPDATE SET
			status = CASE WHEN sync_windows.status = 'synced' THEN 'synced' ELSE 'discovered' END,
			interactions = excluded.interactions, stats_rows = excluded.stats_rows,
			discoveries = sync_windows.discoveries + 1, discovered_at = excluded.discovered_at, updated_at = excluded.updated_at,
			listed_at = excluded.listed_at, next_scan_at = excluded.next_scan_at,
			last_error = ''`,
		l.Tenant, ts(l.Start), ts(l.End), l.Interactions, l.StatsRows, now, ts(l.ListedAt), next, now)
	return wrap(err, "mark window discovered")
}

// NoStats is the statsRows of a window listed without asking Stats.
const NoStats = -1

// StatsListed reports whether Stats was asked for any listed window that
// overlaps [from, to): if not, a range without Stats rows says nothing of
// what happened in it.
func (q querier) StatsListed(ctx context.Context, tenant string, from, to time.Time) (bool, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM sync_windows
		WHERE tenant = ? AND status IN ('discovered', 'synced') AND stats_rows >= 0 AND start_at < ? AND end_at > ?`,
		tenant, ts(to), ts(from)).Scan(&n)
	return n > 0, wrap(err, "read which windows Stats was asked for")
}

// WindowsToRescan lists the tenant's listed windows that start at or after
// from and whose next scan for late content is due by now, in order.
func (q querier) WindowsToRescan(ctx context.Context, tenant string, from, now time.Time) ([]UnlistedWindow, error) {
	rows, err := q.query(ctx, `SELECT start_at, end_at FROM sync_windows
		WHERE tenant = ? AND next_scan_at IS NOT NULL AND next_scan_at <= ? AND start_at >= ? AND status IN ('discovered', 'synced')
		ORDER BY start_at`, tenant, ts(now), ts(from))
	if err != nil {
		return nil, wrap(err, "read windows to re-scan")
	}
	defer rows.Close()
	var out []UnlistedWindow
	for rows.Next() {
		var w UnlistedWindow
		var s, e string
		if err := rows.Scan(&s, &e); err != nil {
			return nil, wrap(err, "read windows to re-scan")
		}
		if w.Start, err = parseTS(s); err != nil {
			return nil, wrap(err, "read windows to re-scan")
		}
		if w.End, err = parseTS(e); err != nil {
			return nil, wrap(err, "read windows to re-scan")
		}
		out = append(out, w)
	}
	return out, wrap(rows.Err(), "read windows to re-scan")
}

// FailedListings returns the start of each window inside [from, to) whose
// last listing failed for good (listed before or not).
func (q querier) FailedListings(ctx context.Context, tenant string, from, to time.Time) (map[time.Time]bool, error) {
	return q.windowStarts(ctx, "read windows whose listing failed", `last_error <> ''`, tenant, from, to)
}

// ListedSizes returns, for each window inside [from, to) that has been
// listed, how many interactions and Stats rows its last listing found: what
// listing it again costs.
func (q querier) ListedSizes(ctx context.Context, tenant string, from, to time.Time) (map[time.Time][2]int, error) {
	rows, err := q.query(ctx, `SELECT start_at, interactions, stats_rows FROM sync_windows
		WHERE tenant = ? AND status IN ('discovered', 'synced') AND start_at >= ? AND end_at <= ?`, tenant, ts(from), ts(to))
	if err != nil {
		return nil, wrap(err, "read window sizes")
	}
	defer rows.Close()
	out := map[time.Time][2]int{}
	for rows.Next() {
		var s string
		var n [2]int
		if err := rows.Scan(&s, &n[0], &n[1]); err != nil {
			return nil, wrap(err, "read window sizes")
		}
		start, err := parseTS(s)
		if err != nil {
			return nil, wrap(err, "read window sizes")
		}
		out[start] = [2]int{n[0], max(n[1], 0)} // NoStats: no Stats rows to page
	}
	return out, wrap(rows.Err(), "read window sizes")
}

// MarkWindowFailed records why a window's listing failed for good; the
// window stays planned.
func (q querier) MarkWindowFailed(ctx context.Context, tenant string, start, end time.Time, msg string) error {
	_, err := q.exec(ctx, `UPDATE sync_windows SET last_error = ?, updated_at = ? WHERE tenant = ? AND start_at = ? AND end_at = ?`,
		msg, ts(time.Now()), tenant, ts(start), ts(end))
	return wrap(err, "mark window failed")
}

// UnlistedWindow is a window whose listing has not succeeded.
type UnlistedWindow struct {
	Start, End time.Time
	LastError  string // why its last listing failed for good, if one did
}

// UnlistedWindows lists the windows inside [from, to) that were planned but
// never listed.
func (q querier) UnlistedWindows(ctx context.Context, tenant string, from, to time.Time) ([]UnlistedWindow, error) {
	rows, err := q.query(ctx, `SELECT start_at, end_at, last_error FROM sync_windows
		WHERE tenant = ? AND status = 'planned' AND start_at >= ? AND end_at <= ? ORDER BY start_at`, tenant, ts(from), ts(to))
	if err != nil {
		return nil, wrap(err, "read unlisted windows")
	}
	defer rows.Close()
	var out []UnlistedWindow
	for rows.Next() {
		var w UnlistedWindow
		var s, e string
		if err := rows.Scan(&s, &e, &w.LastError); err != nil {
			return nil, wrap(err, "read unlisted windows")
		}
		w.Start, _ = parseTS(s)
		w.End, _ = parseTS(e)
		out = append(out, w)
	}
	return out, wrap(rows.Err(), "read unlisted windows")
}

// MarkWindowSyncedIfDone marks a window synced if it was discovered and none
// of its recordings is still pending, and reports whether it is synced.
func (q querier) MarkWindowSyncedIfDone(ctx context.Context, tenant string, start, end time.Time) (bool, error) {
	now := ts(time.Now())
	res, err := q.exec(ctx, `UPDATE sync_windows SET status = 'synced', synced_at = ?, updated_at = ?
		WHERE tenant = ? AND start_at = ? AND end_at = ? AND status IN ('discovered', 'synced')
		AND NOT EXISTS (
			SELECT 1 FROM recordings r JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
			WHERE r.tenant = ? AND r.status = 'pending' AND i.start_at >= ? AND i.start_at < ?)`,
		now, now, tenant, ts(start), ts(end), tenant, ts(start), ts(end))
	if err != nil {
		return false, wrap(err, "mark window synced")
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err, "mark window synced")
}

// SyncedWindows returns the start of each window inside [from, to) that is
// synced: listed, and every recording of it stored or failed for good.
func (q querier) SyncedWindows(ctx context.Context, tenant string, from, to time.Time) (map[time.Time]bool, error) {
	return q.windowStarts(ctx, "read synced windows", `status = 'synced'`, tenant, from, to)
}

// ListedWindows returns the start of each window inside [from, to) that
// was listed at least once (discovered or synced).
func (q querier) ListedWindows(ctx context.Context, tenant string, from, to time.Time) (map[time.Time]bool, error) {
	return q.windowStarts(ctx, "read listed windows", `status IN ('discovered', 'synced')`, tenant, from, to)
}

// windowStarts returns the start of each window inside [from, to) whose
// row matches cond (a constant SQL condition).
func (q querier) windowStarts(ctx context.Context, what, cond, tenant string, from, to time.Time) (map[time.Time]bool, error) {
	rows, err := q.query(ctx, `SELECT start_at FROM sync_windows
		WHERE tenant = ? AND `+cond+` AND start_at >= ? AND end_at <= ?`, tenant, ts(from), ts(to))
	if err != nil {
		return nil, wrap(err, what)
	}
	defer rows.Close()
	out := map[time.Time]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, wrap(err, what)
		}
		start, err := parseTS(s)
		if err != nil {
			return nil, wrap(err, what)
		}
		out[start] = true
	}
	return out, wrap(rows.Err(), what)
}

// CountFailedWindows counts the tenant's windows whose last listing failed
// for good and that no listing has succeeded for since.
func (q querier) CountFailedWindows(ctx context.Context, tenant string) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM sync_windows WHERE tenant = ? AND status = 'planned' AND last_error <> ''`, tenant).Scan(&n)
	return n, wrap(err, "count windows not listed")
}

// WindowCounts counts a range's windows by how far they got.
type WindowCounts struct {
	Planned int // every window recorded in the range
	Listed  int // of them, listed (discovered or synced)
	Synced  int // of them, synced
}

// CountWindows counts the tenant's windows inside [from, to).
func (q querier) CountWindows(ctx context.Context, tenant string, from, to time.Time) (WindowCounts, error) {
	var c WindowCounts
	err := q.queryRow(ctx, `SELECT COUNT(*),
			COALESCE(SUM(CASE WHEN status IN ('discovered', 'synced') THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'synced' THEN 1 ELSE 0 END), 0)
		FROM sync_windows WHERE tenant = ? AND start_at >= ? AND end_at <= ?`, tenant, ts(from), ts(to)).Scan(&c.Planned, &c.Listed, &c.Synced)
	return c, wrap(err, "count windows")
}
