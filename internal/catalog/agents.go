package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Agent is a cached VCC user who handles calls.
type Agent struct {
	Tenant    string
	AgentID   string
	UserID    string
	Name      string
	Email     string
	AgentCode string
	Groups    []string
	// RefreshedAt is when the user list last showed the agent;
	// GroupsRefreshedAt when its groups were last read (zero: never).
	RefreshedAt       time.Time
	GroupsRefreshedAt time.Time
}

// UpsertAgents saves the agent cache of a tenant, stamped with at. An
// agent's GroupsRefreshedAt is kept as given (zero stores none).
//
// An agent whose name, email, agent code or groups (what a sidecar shows
// of it) are new or changed bumps the revision of each of its interactions
// that has a stored recording, so that their sidecars are written again
// and their recording.updated events queued; UpsertAgents returns those
// interactions' ids. Run it in a transaction with the events it calls for.
func (q querier) UpsertAgents(ctx context.Context, tenant string, agents []Agent, at time.Time) (changed []string, err error) {
	before := map[string]Agent{}
	old, err := q.Agents(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for _, a := range old {
		before[a.AgentID] = a
	}
	for _, a := range agents {
		groups, err := json.Marshal(nonNil(a.Groups))
		if err != nil {
			return nil, err
		}
		var groupsAt *string
		if !a.GroupsRefreshedAt.IsZero() {
			s := ts(a.GroupsRefreshedAt)
			groupsAt = &s
		}
		_, err = q.exec(ctx, `INSERT INTO agents (tenant, agent_id, user_id, name, email, agent_code, groups_json, refreshed_at, groups_refreshed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant, agent_id) DO UPDATE SET user_id = excluded.user_id, name = excluded.name, email = excluded.email,
				agent_code = excluded.agent_code, groups_json = excluded.groups_json, refreshed_at = excluded.refreshed_at,
				groups_refreshed_at = excluded.groups_refreshed_at`,
			tenant, a.AgentID, a.UserID, a.Name, a.Email, a.AgentCode, string(groups), ts(at), groupsAt)
		if err != nil {
			return nil, wrap(err, "save agent %s", a.AgentID)
		}
		if b, ok := before[a.AgentID]; ok && sameShown(a, b) {
			continue
		}
		guids, err := q.bumpAgentsInteractions(ctx, tenant, a.AgentID)
		if err != nil {
			return nil, err
		}
		changed = append(changed, guids...)
	}
	return changed, nil
}

// sameShown reports whether a sidecar shows agents a and b alike (groups in
// any order).
func sameShown(a, b Agent) bool {
	if a.Name != b.Name || a.Email != b.Email || a.AgentCode != b.AgentCode || len(a.Groups) != len(b.Groups) {
		return false
	}
	ga, gb := slices.Clone(a.Groups), slices.Clone(b.Groups)
	slices.Sort(ga)
	slices.Sort(gb)
	return slices.Equal(ga, gb)
}

// bumpAgentsInteractions bumps the revision of the agent's interactions
// that have a stored recording and returns their ids.
func (q querier) bumpAgentsInteractions(ctx context.Context, tenant, agentID string) ([]string, error) {
	const stored = `tenant = ? AND agent_id = ? AND EXISTS (
		SELECT 1 FROM recordings r WHERE r.tenant = interactions.tenant AND r.guid = interactions.guid AND r.status = 'stored')`
	guids, err := q.guids(ctx, "read the interactions of agent "+agentID, `SELECT guid FROM interactions WHERE `+stored+` ORDER BY guid`, tenant, agentID)
	if err != nil || len(guids) == 0 {
		return nil, err
	}
	if _, err := q.exec(ctx, `UPDATE interactions SET rev = rev + 1 WHERE `+stored, tenant, agentID); err != nil {
		return nil, wrap(err, "mark the sidecars of agent %s's interactions stale", agentID)
	}
	return guids, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const agentCols = `tenant, agent_id, user_id, name, email, agent_code, groups_json, refreshed_at, groups_refreshed_at`

func scanAgent(sc interface{ Scan(...any) error }) (Agent, error) {
	var a Agent
	var groups, refreshed string
	var groupsAt sql.NullString
	if err := sc.Scan(&a.Tenant, &a.AgentID, &a.UserID, &a.Name, &a.Email, &a.AgentCode, &groups, &refreshed, &groupsAt); err != nil {
		return Agent{}, err
	}
	if err := json.Unmarshal([]byte(groups), &a.Groups); err != nil {
		return Agent{}, fmt.Errorf("catalog: agent %s groups: %w", a.AgentID, err)
	}
	var err error
	if a.RefreshedAt, err = parseTS(refreshed); err != nil {
		return Agent{}, err
	}
	if groupsAt.Valid {
		if a.GroupsRefreshedAt, err = parseTS(groupsAt.String); err != nil {
			return Agent{}, err
		}
	}
	return a, nil
}

// Agent returns one agent from the cache; found is false if unknown.
func (q querier) Agent(ctx context.Context, tenant, agentID string) (a Agent, found bool, err error) {
	a, err = scanAgent(q.queryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE tenant = ? AND agent_id = ?`, tenant, agentID))
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, false, nil
	}
	if err != nil {
		return Agent{}, false, wrap(err, "read agent %s", agentID)
	}
	return a, true, nil
}

// Agents returns a tenant's agent cache.
func (q querier) Agents(ctx context.Context, tenant string) ([]Agent, error) {
	rows, err := q.query(ctx, `SELECT `+agentCols+` FROM agents WHERE tenant = ? ORDER BY agent_id`, tenant)
	if err != nil {
		return nil, wrap(err, "read agents")
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, wrap(err, "read agents")
		}
		out = append(out, a)
	}
	return out, wrap(rows.Err(), "read agents")
}

// BadRecord is one record VCC returned that vccingest could not use, or
// used only in part.
type BadRecord struct {
	API         string // content, users or stats
	WindowStart time.Time
	WindowEnd   time.Time
	RecordID    string
	Problem     string
	SeenAt      time.Time
}

// ReplaceBadRecords replaces what one listing of api over [start, end)
// found wrong with recs: what earlier listings of windows inside it found
// goes (a listing may span several windows), and a record an earlier
// overlapping listing found too is kept once, under this one.
func (q querier) ReplaceBadRecords(ctx context.Context, tenant, api string, start, end time.Time, recs []BadRecord) error {
	if _, err := q.exec(ctx, `DELETE FROM bad_records WHERE tenant = ? AND api = ? AND window_start >= ? AND window_end <= ?`, tenant, api, ts(start), ts(end)); err != nil {
		return wrap(err, "clear bad records")
	}
	now := ts(time.Now())
	for _, r := range recs {
		// The same record found by an overlapping listing (a span before,
		// one hour of it now) is one bad record: it moves to this listing.
		if _, err := q.exec(ctx, `DELETE FROM bad_records WHERE tenant = ? AND api = ? AND record_id = ? AND problem = ? AND window_start < ? AND window_end > ?`,
			tenant, api, r.RecordID, r.Problem, ts(end), ts(start)); err != nil {
			return wrap(err, "clear bad records")
		}
		if _, err := q.exec(ctx, `INSERT INTO bad_records (tenant, api, window_start, window_end, record_id, problem, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant, api, window_start, record_id, problem) DO UPDATE SET seen_at = excluded.seen_at, window_end = excluded.window_end`,
			tenant, api, ts(start), ts(end), r.RecordID, r.Problem, now); err != nil {
			return wrap(err, "save a bad record")
		}
	}
	return nil
}

// BadRecords lists the bad records of listings whose window starts in
// [from, to), and those of the user list (api "users"), which belong to no
// time range.
func (q querier) BadRecords(ctx context.Context, tenant string, from, to time.Time) ([]BadRecord, error) {
	rows, err := q.query(ctx, `SELECT api, window_start, window_end, record_id, problem, seen_at FROM bad_records
		WHERE tenant = ? AND (api = 'users' OR (window_start >= ? AND window_start < ?)) ORDER BY window_start, api, record_id, problem`, tenant, ts(from), ts(to))
	if err != nil {
		return nil, wrap(err, "read bad records")
	}
	defer rows.Close()
	var out []BadRecord
	for rows.Next() {
		var r BadRecord
		var ws, we, seen string
		if err := rows.Scan(&r.API, &ws, &we, &r.RecordID, &r.Problem, &seen); err != nil {
			return nil, wrap(err, "read bad records")
		}
		r.WindowStart, _ = parseTS(ws)
		r.WindowEnd, _ = parseTS(we)
		r.SeenAt, _ = parseTS(seen)
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "read bad records")
}
