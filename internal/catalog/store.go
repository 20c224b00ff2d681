package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Tenant is one VCC account.
type Tenant struct {
	ID        string
	Region    string
	Watermark time.Time
}

// Interaction is what the catalog knows about one interaction.
type Interaction struct {
	Tenant          string
	GUID            string
	Start           time.Time
	Duration        time.Duration
	Direction       string // inbound, outbound, internal or unknown
	DirectionSource string // stats or unknown
	ConnectFrom     string
	ConnectTo       string
	AgentID         string
	ContentVisible  bool  // seen through the Content API
	Rev             int64 // bumped whenever what the sidecar shows changes
	SidecarRev      int64 // the Rev the bucket's sidecar shows
}

// Recording is one recording of an interaction.
type Recording struct {
	Tenant        string
	GUID          string
	ContentKey    string
	Type          string
	MediaType     string
	ExpectedBytes int64
	Status        string // StatusPending, StatusStored or StatusFailed
	Bytes         int64
	SHA256        string
	BlobKey       string
	Duration      time.Duration // play time of stored audio; 0 if unknown
	Attempts      int
	LastError     string
	StoredAt      time.Time
	Start         time.Time // the interaction's start (filled by listings)
}

// StatsInteraction is one row of what the Stats API says happened.
type StatsInteraction struct {
	Tenant    string
	GUID      string
	Start     time.Time
	Duration  time.Duration
	Direction string
	AgentID   string
	Medium    string
	Outcome   string
}

// UpsertTenant creates the tenant or updates its region.
func (q querier) UpsertTenant(ctx context.Context, t Tenant) error {
	now := ts(time.Now())
	_, err := q.exec(ctx, `INSERT INTO tenants (id, region, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET region = excluded.region, updated_at = excluded.updated_at`, t.ID, t.Region, now, now)
	return wrap(err, "save tenant %s", t.ID)
}

// Tenants lists the catalog's tenants, by id.
func (q querier) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := q.query(ctx, `SELECT id, region, watermark FROM tenants ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "list tenants")
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		var t Tenant
		var wm sql.NullString
		if err := rows.Scan(&t.ID, &t.Region, &wm); err != nil {
			return nil, wrap(err, "list tenants")
		}
		if t.Watermark, err = nullTS(wm); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, wrap(rows.Err(), "list tenants")
}

// Watermark returns the tenant's watermark (zero if none yet).
func (q querier) Watermark(ctx context.Context, tenant string) (time.Time, error) {
	var wm sql.NullString
	err := q.queryRow(ctx, `SELECT watermark FROM tenants WHERE id = ?`, tenant).Scan(&wm)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap(err, "read watermark of %s", tenant)
	}
	return nullTS(wm)
}

// SetWatermark moves the watermark forward to t; it never moves back.
func (q querier) SetWatermark(ctx context.Context, tenant string, t time.Time) error {
	_, err := q.exec(ctx, `UPDATE tenants SET watermark = ?, updated_at = ? WHERE id = ? AND (watermark IS NULL OR watermark < ?)`,
		ts(t), ts(time.Now()), tenant, ts(t))
	return wrap(err, "advance watermark of %s", tenant)
}

// UpsertInteraction records an interaction. Later data enriches and never
// erases: a known direction is not replaced by "unknown", nor an agent by "".
// Once a recording of it is stored, its start stays: the start dates its
// blob keys, and a re-listing with a start on another day must not file a
// second sidecar under that day (nor move it out of its day in ls and
// coverage).
func (q querier) UpsertInteraction(ctx context.Context, it Interaction) error {
	now := ts(time.Now())
	_, err := q.exec(ctx, `INSERT INTO interactions
		(tenant, guid, start_at, duration_ms, direction, direction_source, connect_from, connect_to, agent_id, first_seen, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, guid) DO UPDATE SET
			start_at = CASE WHEN EXISTS (SELECT 1 FROM recordings r WHERE r.tenant = interactions.tenant AND r.guid = interactions.guid AND r.status = 'stored')
				THEN interactions.start_at ELSE excluded.start_at END,
			duration_ms = CASE WHEN excluded.duration_ms > 0 THEN excluded.duration_ms ELSE interactions.duration_ms END,
			direction = CASE WHEN excluded.direction_source = 'stats' OR interactions.direction_source <> 'stats' AND excluded.direction <> 'unknown'
				THEN excluded.direction ELSE interactions.direction END,
			direction_source = CASE WHEN excluded.direction_source = 'stats' THEN 'stats' ELSE interactions.direction_source END,
			connect_from = CASE WHEN excluded.connect_from <> '' THEN excluded.connect_from ELSE interactions.connect_from END,
			connect_to = CASE WHEN excluded.connect_to <> '' THEN excluded.connect_to ELSE interactions.connect_to END,
			agent_id = CASE WHEN excluded.agent_id <> '' THEN excluded.agent_id ELSE interactions.agent_id END,
			updated_at = excluded.updated_at`,
		it.Tenant, it.GUID, ts(it.Start), it.Duration.Milliseconds(), orUnknown(it.Direction), orUnknown(it.DirectionSource),
		it.ConnectFrom, it.ConnectTo, it.AgentID, now, now)
	return wrap(err, "save interaction %s", it.GUID)
}

// SidecarStale reports whether the interaction has a stored recording and
// its sidecar does not show its current state (never written, or written
// before the last change).
func (q querier) SidecarStale(ctx context.Context, tenant, guid string) (bool, error) {
	var stale bool
	err := q.queryRow(ctx, `SELECT i.rev > i.sidecar_rev AND EXISTS (
			SELECT 1 FROM recordings r WHERE r.tenant = i.tenant AND r.guid = i.guid AND r.status = 'stored')
		FROM interactions i WHERE i.tenant = ? AND i.guid = ?`, tenant, guid).Scan(&stale)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return stale, wrap(err, "read sidecar state of %s", guid)
}

// StaleSidecars lists up to limit interactions of the tenant that have a
// stored recording and whose sidecar does not show their current state
// (SidecarStale), oldest first.
func (q querier) StaleSidecars(ctx context.Context, tenant string, limit int) ([]string, error) {
	return q.guids(ctx, "read stale sidecars", `SELECT i.guid FROM interactions i WHERE i.tenant = ? AND i.rev > i.sidecar_rev AND EXISTS (
			SELECT 1 FROM recordings r WHERE r.tenant = i.tenant AND r.guid = i.guid AND r.status = 'stored')
		ORDER BY i.start_at, i.guid LIMIT ?`, tenant, limit)
}

// guids runs query, which selects one text column, and returns its values;
// errors say what was being read.
func (q querier) guids(ctx context.Context, what, query string, args ...any) ([]string, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, wrap(err, "%s", what)
		}
		out = append(out, g)
	}
	return out, wrap(rows.Err(), "%s", what)
}

// MarkSidecarWritten records that the bucket's sidecar shows rev, if rev is
// still the interaction's current rev, and reports whether it was. A false
// means the interaction changed while its sidecar was being built: the
// sidecar must be written again.
func (q querier) MarkSidecarWritten(ctx context.Context, tenant, guid string, rev int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE interactions SET sidecar_rev = ? WHERE tenant = ? AND guid = ? AND rev = ?`, rev, tenant, guid, rev)
	if err != nil {
		return false, wrap(err, "record sidecar of %s", guid)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err, "record sidecar of %s", guid)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Interaction returns one interaction.
func (q querier) Interaction(ctx context.Context, tenant, guid string) (Interaction, error) {
	it, _, err := q.interaction(ctx, tenant, guid)
	return it, err
}

// Detail is an interaction with its agent and recordings: what its sidecar
// and `vccingest show` present.
type Detail struct {
	Interaction
	Agent      *Agent // nil if the interaction has no agent or the cache does not know it
	Recordings []Recording
}

// Detail returns an interaction with its agent and recordings, in two
// queries.
func (q querier) Detail(ctx context.Context, tenant, guid string) (Detail, error) {
	it, agent, err := q.interaction(ctx, tenant, guid)
	if err != nil {
		return Detail{}, err
	}
	recs, err := q.RecordingsOf(ctx, tenant, guid)
	return Detail{Interaction: it, Agent: agent, Recordings: recs}, err
}

// interaction reads an interaction and, if the cache knows it, its agent.
func (q querier) interaction(ctx context.Context, tenant, guid string) (Interaction, *Agent, error) {
	var it Interaction
	var start string
	var ms int64
	var agentID, userID, name, email, code, groups sql.NullString
	err := q.queryRow(ctx, `SELECT i.tenant, i.guid, i.start_at, i.duration_ms, i.direction, i.direction_source, i.connect_from, i.connect_to, i.agent_id, i.rev, i.sidecar_rev,
			a.agent_id, a.user_id, a.name, a.email, a.agent_code, a.groups_json
		FROM interactions i LEFT JOIN agents a ON a.tenant = i.tenant AND a.agent_id = i.agent_id AND i.agent_id <> ''
		WHERE i.tenant = ? AND i.guid = ?`, tenant, guid).
		Scan(&it.Tenant, &it.GUID, &start, &ms, &it.Direction, &it.DirectionSource, &it.ConnectFrom, &it.ConnectTo, &it.AgentID, &it.Rev, &it.SidecarRev,
			&agentID, &userID, &name, &email, &code, &groups)
	if errors.Is(err, sql.ErrNoRows) {
		return Interaction{}, nil, fmt.Errorf("interaction %s of tenant %s: %w", guid, tenant, ErrNotFound)
	}
	if err != nil {
		return Interaction{}, nil, wrap(err, "read interaction %s", guid)
	}
	it.Duration = time.Duration(ms) * time.Millisecond
	it.ContentVisible = true
	if it.Start, err = parseTS(start); err != nil {
		return Interaction{}, nil, err
	}
	if !agentID.Valid {
		return it, nil, nil
	}
	a := &Agent{Tenant: tenant, AgentID: agentID.String, UserID: userID.String, Name: name.String, Email: email.String, AgentCode: code.String}
	if err := json.Unmarshal([]byte(groups.String), &a.Groups); err != nil {
		return Interaction{}, nil, fmt.Errorf("catalog: agent %s groups: %w", a.AgentID, err)
	}
	return it, a, nil
}

// EnsureRecording records a recording as pending if the catalog does not
// have it yet, refreshes its listing metadata, and returns its current state.
func (q querier) EnsureRecording(ctx context.Context, r Recording) (Recording, error) {
	_, err := q.exec(ctx, `INSERT INTO recordings (tenant, guid, content_key, type, media_type, expected_bytes, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, guid, content_key) DO UPDATE SET
			type = excluded.type, media_type = excluded.media_type, expected_bytes = excluded.expected_bytes
		WHERE recordings.status <> 'stored'`,
		r.Tenant, r.GUID, r.ContentKey, r.Type, r.MediaType, r.ExpectedBytes, ts(time.Now()))
	if err != nil {
		return Recording{}, wrap(err, "save recording %s/%s", r.GUID, r.ContentKey)
	}
	return q.Recording(ctx, r.Tenant, r.GUID, r.ContentKey)
}

const recordingCols = `r.tenant, r.guid, r.content_key, r.type, r.media_type, r.expected_bytes, r.status, r.bytes, r.sha256, r.blob_key, r.duration_ms, r.attempts, r.last_error, r.stored_at, i.start_at`

func scanRecording(sc interface{ Scan(...any) error }) (Recording, error) {
	var r Recording
	var stored sql.NullString
	var start string
	var ms int64
	if err := sc.Scan(&r.Tenant, &r.GUID, &r.ContentKey, &r.Type, &r.MediaType, &r.ExpectedBytes, &r.Status, &r.Bytes, &r.SHA256, &r.BlobKey, &ms, &r.Attempts, &r.LastError, &stored, &start); err != nil {
		return Recording{}, err
	}
	r.Duration = time.Duration(ms) * time.Millisecond
	var err error
	if r.StoredAt, err = nullTS(stored); err != nil {
		return Recording{}, err
	}
	r.Start, err = parseTS(start)
	return r, err
}

// Recording returns one recording.
func (q querier) Recording(ctx context.Context, tenant, guid, contentKey string) (Recording, error) {
	r, err := scanRecording(q.queryRow(ctx, `SELECT `+recordingCols+` FROM recordings r
		JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
		WHERE r.tenant = ? AND r.guid = ? AND r.content_key = ?`, tenant, guid, contentKey))
	if errors.Is(err, sql.ErrNoRows) {
		return Recording{}, fmt.Errorf("recording %s/%s of tenant %s: %w", guid, contentKey, tenant, ErrNotFound)
	}
	return r, wrap(err, "read recording %s/%s", guid, contentKey)
}

// RecordingsOf returns an interaction's recordings, by content key.
func (q querier) RecordingsOf(ctx context.Context, tenant, guid string) ([]Recording, error) {
	return q.recordings(ctx, `SELECT `+recordingCols+` FROM recordings r
		JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
		WHERE r.tenant = ? AND r.guid = ? ORDER BY r.content_key`, tenant, guid)
}

func (q querier) recordings(ctx context.Context, query string, args ...any) ([]Recording, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "list recordings")
	}
	defer rows.Close()
	var out []Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, wrap(err, "list recordings")
		}
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "list recordings")
}

// MarkStored records that a recording's verified bytes are in the bucket. It
// reports whether this call stored it: of two racing callers exactly one
// gets true.
func (q querier) MarkStored(ctx context.Context, tenant, guid, contentKey string, size int64, sha256, blobKey string, duration time.Duration) (bool, error) {
	now := ts(time.Now())
	res, err := q.exec(ctx, `UPDATE recordings SET status = 'stored', bytes = ?, sha256 = ?, blob_key = ?, duration_ms = ?, stored_at = ?, last_error = '', updated_at = ?
		WHERE tenant = ? AND guid = ? AND content_key = ? AND status <> 'stored'`,
		size, sha256, blobKey, duration.Milliseconds(), now, now, tenant, guid, contentKey)
	if err != nil {
		return false, wrap(err, "mark %s/%s stored", guid, contentKey)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err, "mark %s/%s stored", guid, contentKey)
}

// MarkFailed records a failed attempt; permanent marks it failed for good.
// A stored recording is never marked failed.
func (q querier) MarkFailed(ctx context.Context, tenant, guid, contentKey, msg string, permanent bool) error {
	status := StatusPending
	if permanent {
		status = StatusFailed
	}
	_, err := q.exec(ctx, `UPDATE recordings SET status = ?, attempts = attempts + 1, last_error = ?, updated_at = ?
		WHERE tenant = ? AND guid = ? AND content_key = ? AND status <> 'stored'`,
		status, msg, ts(time.Now()), tenant, guid, contentKey)
	return wrap(err, "mark %s/%s failed", guid, contentKey)
}

// FailedRecordings lists recordings failed for good whose interaction started
// in [from, to), and those that failed for good at or after since (zero:
// none) wherever their interaction started: a run's failures include the
// recordings of its widened first and last windows, of the windows it
// re-scanned before its range and of interactions that keep the key date of
// an earlier start.
func (q querier) FailedRecordings(ctx context.Context, tenant string, from, to, since time.Time) ([]Recording, error) {
	after := "9999" // later than any timestamp: no recording failed since
	if !since.IsZero() {
		after = ts(since)
	}
	return q.recordings(ctx, `SELECT `+recordingCols+` FROM recordings r
		JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
		WHERE r.tenant = ? AND r.status = 'failed' AND ((i.start_at >= ? AND i.start_at < ?) OR r.updated_at >= ?)
		ORDER BY i.start_at, r.guid, r.content_key`, tenant, ts(from), ts(to), after)
}

// UpsertStatsInteractions saves Stats rows.
func (q querier) UpsertStatsInteractions(ctx context.Context, rows []StatsInteraction) error {
	now := ts(time.Now())
	for _, s := range rows {
		_, err := q.exec(ctx, `INSERT INTO stats_interactions (tenant, guid, start_at, duration_ms, direction, agent_id, medium, outcome, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant, guid) DO UPDATE SET start_at = excluded.start_at, duration_ms = excluded.duration_ms, direction = excluded.direction,
				agent_id = excluded.agent_id, medium = excluded.medium, outcome = excluded.outcome, updated_at = excluded.updated_at`,
			s.Tenant, s.GUID, ts(s.Start), s.Duration.Milliseconds(), orUnknown(s.Direction), s.AgentID, s.Medium, s.Outcome, now)
		if err != nil {
			return wrap(err, "save stats row %s", s.GUID)
		}
	}
	return nil
}

// HasStatsDirection reports whether the catalog already has the Stats row
// (and so the direction) of an interaction.
func (q querier) HasStatsDirection(ctx context.Context, tenant, guid string) (bool, error) {
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM stats_interactions WHERE tenant = ? AND guid = ?`, tenant, guid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, wrap(err, "read stats row %s", guid)
}

// StartRun records the start of a run and returns its id.
func (q querier) StartRun(ctx context.Context, tenant string, from, to time.Time) (int64, error) {
	var id int64
	err := q.queryRow(ctx, `INSERT INTO runs (tenant, range_from, range_to, started_at) VALUES (?, ?, ?, ?) RETURNING id`,
		tenant, ts(from), ts(to), ts(time.Now())).Scan(&id)
	return id, wrap(err, "record run")
}

// AbortRun records that a run still open ended early: status "failed" (with
// the error) or "interrupted". A run already finished is left as it is.
func (q querier) AbortRun(ctx context.Context, id int64, status, msg string) error {
	_, err := q.exec(ctx, `UPDATE runs SET finished_at = ?, status = ?, error = ? WHERE id = ? AND finished_at IS NULL`, ts(time.Now()), status, msg, id)
	return wrap(err, "record the end of run %d", id)
}

// FinishRun records the end of a run; msg, if not empty, says what it did
// not do (windows it could not list).
func (q querier) FinishRun(ctx context.Context, id int64, status string, stored, failed, bytes int64, msg string) error {
	_, err := q.exec(ctx, `UPDATE runs SET finished_at = ?, status = ?, stored = ?, failed = ?, bytes = ?, error = ? WHERE id = ?`,
		ts(time.Now()), status, stored, failed, bytes, msg, id)
	return wrap(err, "record run end")
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("catalog: "+format+": %w", append(args, err)...)
}
