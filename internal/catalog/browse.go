package catalog

import (
	"context"
	"time"
)

// Listing is one interaction as `vccingest ls` shows it.
type Listing struct {
	Interaction
	AgentName  string
	Recordings int   // recordings known
	Stored     int   // recordings stored
	Failed     int   // recordings failed for good
	Bytes      int64 // bytes stored
}

// Filter selects interactions to list.
type Filter struct {
	Tenant   string
	From, To time.Time // start in [From, To); zero means unbounded
	Limit    int       // 0 means no limit
}

// ListInteractions lists interactions that have recordings, by start time.
func (q querier) ListInteractions(ctx context.Context, f Filter) ([]Listing, error) {
	from, to := "", "9999"
	if !f.From.IsZero() {
		from = ts(f.From)
	}
	if !f.To.IsZero() {
		to = ts(f.To)
	}
	limit, args := "", []any{f.Tenant, from, to}
	if f.Limit > 0 {
		limit, args = "LIMIT ?", append(args, f.Limit)
	}
	// The duration is the call's (Stats), or without Stats the longest
	// stored recording's play time (from its header).
	rows, err := q.query(ctx, `SELECT i.tenant, i.guid, i.start_at,
			CASE WHEN i.duration_ms > 0 THEN i.duration_ms ELSE COALESCE(MAX(r.duration_ms), 0) END,
			i.direction, i.direction_source,
			i.connect_from, i.connect_to, i.agent_id, COALESCE(MAX(a.name), ''),
			COUNT(r.content_key),
			CAST(COALESCE(SUM(CASE WHEN r.status = 'stored' THEN 1 ELSE 0 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT),
			CAST(COALESCE(SUM(r.bytes), 0) AS BIGINT)
		FROM interactions i
		JOIN recordings r ON r.tenant = i.tenant AND r.guid = i.guid
		LEFT JOIN agents a ON a.tenant = i.tenant AND a.agent_id = i.agent_id
		WHERE i.tenant = ? AND i.start_at >= ? AND i.start_at < ?
		GROUP BY i.tenant, i.guid
		ORDER BY i.start_at, i.guid
		`+limit, args...)
	if err != nil {
		return nil, wrap(err, "list interactions")
	}
	defer rows.Close()
	var out []Listing
	for rows.Next() {
		var l Listing
		var start string
		var ms int64
		if err := rows.Scan(&l.Tenant, &l.GUID, &start, &ms, &l.Direction, &l.DirectionSource, &l.ConnectFrom, &l.ConnectTo,
			&l.AgentID, &l.AgentName, &l.Recordings, &l.Stored, &l.Failed, &l.Bytes); err != nil {
			return nil, wrap(err, "list interactions")
		}
		l.Duration = time.Duration(ms) * time.Millisecond
		l.ContentVisible = true
		if l.Start, err = parseTS(start); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, wrap(rows.Err(), "list interactions")
}
