package catalog

import (
	"context"
	"encoding/json"
	"sort"
	"time"
)

// CallRow is one interaction of a range as coverage needs it: what Stats
// reported, whether Content showed it, and its recordings' states.
type CallRow struct {
	GUID       string
	Start      time.Time
	Duration   time.Duration
	Direction  string
	AgentID    string
	AgentName  string
	Groups     []string
	InStats    bool
	InContent  bool
	Recordings int
	Stored     int
	Failed     int
	LastError  string    // of a recording failed for good
	CheckedAt  time.Time // when its window was last discovered; zero if never
}

// Calls lists every interaction that started in [from, to) that Stats
// reported or Content showed, by start time. It answers from the catalog
// alone: coverage of a synced range needs no VCC call. Three range scans
// merged here are much cheaper than one query joining per row.
func (q querier) Calls(ctx context.Context, tenant string, from, to time.Time) ([]CallRow, error) {
	f, t := ts(from), ts(to)
	agents := map[string]struct {
		name   string
		groups []string
	}{}
	arows, err := q.query(ctx, `SELECT agent_id, name, groups_json FROM agents WHERE tenant = ?`, tenant)
	if err != nil {
		return nil, wrap(err, "read agents")
	}
	defer arows.Close()
	for arows.Next() {
		var id, name, groups string
		if err := arows.Scan(&id, &name, &groups); err != nil {
			return nil, wrap(err, "read agents")
		}
		a := agents[id]
		a.name = name
		_ = json.Unmarshal([]byte(groups), &a.groups)
		agents[id] = a
	}
	if err := arows.Err(); err != nil {
		return nil, wrap(err, "read agents")
	}

	byGUID := map[string]*CallRow{}
	var out []*CallRow
	row := func(guid string) *CallRow {
		c := byGUID[guid]
		if c == nil {
			c = &CallRow{GUID: guid}
			byGUID[guid] = c
			out = append(out, c)
		}
		return c
	}
	scan := func(c *CallRow, start string, ms int64, dir, agent string) error {
		var err error
		if c.Start, err = parseTS(start); err != nil {
			return err
		}
		c.Duration, c.Direction, c.AgentID = time.Duration(ms)*time.Millisecond, dir, agent
		return nil
	}

	srows, err := q.query(ctx, `SELECT guid, start_at, duration_ms, direction, agent_id FROM stats_interactions
		WHERE tenant = ? AND start_at >= ? AND start_at < ?`, tenant, f, t)
	if err != nil {
		return nil, wrap(err, "read stats")
	}
	defer srows.Close()
	for srows.Next() {
		var guid, start, dir, agent string
		var ms int64
		if err := srows.Scan(&guid, &start, &ms, &dir, &agent); err != nil {
			return nil, wrap(err, "read stats")
		}
		c := row(guid)
		c.InStats = true
		if err := scan(c, start, ms, dir, agent); err != nil {
			return nil, err
		}
	}
	if err := srows.Err(); err != nil {
		return nil, wrap(err, "read stats")
	}

	irows, err := q.query(ctx, `SELECT i.guid, i.start_at, i.duration_ms, i.direction, i.agent_id, r.status, r.last_error
		FROM interactions i LEFT JOIN recordings r ON r.tenant = i.tenant AND r.guid = i.guid
		WHERE i.tenant = ? AND i.start_at >= ? AND i.start_at < ?`, tenant, f, t)
	if err != nil {
		return nil, wrap(err, "read interactions")
	}
	defer irows.Close()
	for irows.Next() {
		var guid, start, dir, agent string
		var status, lastErr *string
		var ms int64
		if err := irows.Scan(&guid, &start, &ms, &dir, &agent, &status, &lastErr); err != nil {
			return nil, wrap(err, "read interactions")
		}
		c := row(guid)
		if !c.InStats && !c.InContent {
			if err := scan(c, start, ms, dir, agent); err != nil {
				return nil, err
			}
		}
		c.InContent = true
		if status == nil {
			continue
		}
		c.Recordings++
		switch *status {
		case StatusStored:
			c.Stored++
		case StatusFailed:
			c.Failed++
			if lastErr != nil {
				c.LastError = *lastErr
			}
		}
	}
	if err := irows.Err(); err != nil {
		return nil, wrap(err, "read interactions")
	}

	calls := make([]CallRow, len(out))
	for i, c := range out {
		if a, ok := agents[c.AgentID]; ok {
			c.AgentName, c.Groups = a.name, a.groups
		}
		calls[i] = *c
	}
	sort.Slice(calls, func(i, j int) bool {
		if !calls[i].Start.Equal(calls[j].Start) {
			return calls[i].Start.Before(calls[j].Start)
		}
		return calls[i].GUID < calls[j].GUID
	})
	return calls, q.checkedAt(ctx, tenant, calls)
}

// checkedAt fills CheckedAt from the windows' discovery times.
func (q querier) checkedAt(ctx context.Context, tenant string, calls []CallRow) error {
	if len(calls) == 0 {
		return nil
	}
	rows, err := q.query(ctx, `SELECT start_at, end_at, discovered_at FROM sync_windows
		WHERE tenant = ? AND end_at > ? AND start_at <= ? AND discovered_at IS NOT NULL ORDER BY start_at`,
		tenant, ts(calls[0].Start), ts(calls[len(calls)-1].Start))
	if err != nil {
		return wrap(err, "read windows")
	}
	defer rows.Close()
	type win struct{ start, end, at time.Time }
	var wins []win
	for rows.Next() {
		var s, e, a string
		if err := rows.Scan(&s, &e, &a); err != nil {
			return wrap(err, "read windows")
		}
		var w win
		var err error
		if w.start, err = parseTS(s); err != nil {
			return err
		}
		if w.end, err = parseTS(e); err != nil {
			return err
		}
		if w.at, err = parseTS(a); err != nil {
			return err
		}
		wins = append(wins, w)
	}
	if err := rows.Err(); err != nil {
		return wrap(err, "read windows")
	}
	for i := range calls {
		c := &calls[i]
		// Windows are sorted by start; any window holding c may have checked it.
		n := sort.Search(len(wins), func(j int) bool { return wins[j].start.After(c.Start) })
		for j := n - 1; j >= 0 && j >= n-8; j-- {
			if w := wins[j]; !c.Start.Before(w.start) && c.Start.Before(w.end) && w.at.After(c.CheckedAt) {
				c.CheckedAt = w.at
			}
		}
	}
	return nil
}
