package catalog

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

// OutboxEvent is one event waiting in the outbox for one sink.
type OutboxEvent struct {
	ID       int64
	Tenant   string
	Sink     string
	EventID  string
	Type     string
	Payload  []byte // the whole CloudEvent, JSON
	Attempts int    // deliveries the sink refused so far
}

// InsertOutbox queues an event for each of sinks, in the caller's
// transaction: the outbox. An event already queued for a sink is left as it
// is, unless its attempts were spent (discarded), which queues it afresh.
// It returns how many rows it queued (the others were queued already).
func (q querier) InsertOutbox(ctx context.Context, tenant string, sinks []string, eventID, typ string, payload []byte) (int, error) {
	if len(sinks) == 0 {
		return 0, nil
	}
	now := ts(time.Now())
	var b strings.Builder
	b.WriteString(`INSERT INTO event_outbox (tenant, sink, event_id, type, payload, created_at, next_at) VALUES `)
	args := make([]any, 0, 7*len(sinks))
	for i, s := range sinks {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		args = append(args, tenant, s, eventID, typ, string(payload), now, now)
	}
	b.WriteString(` ON CONFLICT (tenant, sink, event_id) DO UPDATE SET
		type = excluded.type, payload = excluded.payload, created_at = excluded.created_at, next_at = excluded.next_at,
		attempts = 0, last_error = '', claimed_until = NULL, discarded_at = NULL
		WHERE event_outbox.discarded_at IS NOT NULL`)
	res, err := q.exec(ctx, b.String(), args...)
	if err != nil {
		return 0, wrap(err, "queue event %s", eventID)
	}
	n, err := res.RowsAffected()
	return int(n), wrap(err, "queue event %s", eventID)
}

// ClaimOutbox claims up to limit events of tenant due for sink at now (not
// discarded, not claimed by a drainer whose lease still runs) until until,
// oldest first. On PostgreSQL rows another drainer is claiming are skipped
// (FOR UPDATE SKIP LOCKED), so two drainers never deliver a row at once.
func (t *Tx) ClaimOutbox(ctx context.Context, tenant, sink string, now, until time.Time, limit int) ([]OutboxEvent, error) {
	lock := ""
	if t.pgxTx != nil {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := t.query(ctx, `UPDATE event_outbox SET claimed_until = ? WHERE id IN (
			SELECT id FROM event_outbox
			WHERE tenant = ? AND sink = ? AND discarded_at IS NULL AND next_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
			ORDER BY next_at, id LIMIT ?`+lock+`)
		RETURNING id, tenant, sink, event_id, type, payload, attempts`,
		ts(until), tenant, sink, ts(now), ts(now), limit)
	if err != nil {
		return nil, wrap(err, "claim events of tenant %s", tenant)
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		var e OutboxEvent
		var payload string
		if err := rows.Scan(&e.ID, &e.Tenant, &e.Sink, &e.EventID, &e.Type, &payload, &e.Attempts); err != nil {
			return nil, wrap(err, "claim events of tenant %s", tenant)
		}
		e.Payload = []byte(payload)
		out = append(out, e)
	}
	return out, wrap(rows.Err(), "claim events of tenant %s", tenant)
}

// DeleteOutbox removes events the sinks acknowledged, in statements of up
// to 500 ids (a drain's batch is one or two).
func (q querier) DeleteOutbox(ctx context.Context, ids []int64) error {
	for chunk := range slices.Chunk(ids, 500) {
		var b strings.Builder
		b.WriteString(`DELETE FROM event_outbox WHERE id IN (?`)
		args := make([]any, len(chunk))
		for i, id := range chunk {
			if i > 0 {
				b.WriteString(", ?")
			}
			args[i] = id
		}
		b.WriteString(")")
		if _, err := q.exec(ctx, b.String(), args...); err != nil {
			return wrap(err, "remove %d delivered events", len(chunk))
		}
	}
	return nil
}

// RetryOutbox records a refused delivery of an event: one more attempt,
// due again at next.
func (q querier) RetryOutbox(ctx context.Context, id int64, next time.Time, msg string) error {
	_, err := q.exec(ctx, `UPDATE event_outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, claimed_until = NULL WHERE id = ?`,
		ts(next), msg, id)
	return wrap(err, "record a refused delivery of event %d", id)
}

// DiscardOutbox records the last refused delivery of an event: it is kept,
// no longer delivered (a replay queues it again).
func (q querier) DiscardOutbox(ctx context.Context, id int64, msg string) error {
	now := ts(time.Now())
	_, err := q.exec(ctx, `UPDATE event_outbox SET attempts = attempts + 1, last_error = ?, claimed_until = NULL, discarded_at = ? WHERE id = ?`,
		msg, now, id)
	return wrap(err, "discard event %d", id)
}

// ReleaseOutbox gives a claimed event back, its attempts unchanged (its
// delivery was cut short by a stopping process).
func (q querier) ReleaseOutbox(ctx context.Context, id int64) error {
	_, err := q.exec(ctx, `UPDATE event_outbox SET claimed_until = NULL WHERE id = ?`, id)
	return wrap(err, "release event %d", id)
}

// ReleaseOutboxClaims gives back every claim on tenant's events (every
// tenant's with ""): only correct while no other process drains them (an
// SQLite catalog's lock holder, after a process was killed mid-delivery).
func (q querier) ReleaseOutboxClaims(ctx context.Context, tenant string) error {
	_, err := q.exec(ctx, `UPDATE event_outbox SET claimed_until = NULL WHERE (? = '' OR tenant = ?) AND claimed_until IS NOT NULL`, tenant, tenant)
	return wrap(err, "release the claims on tenant %s's events", tenant)
}

// OutboxDueNow makes tenant's events that wait for a retry due at once (a
// sink that came back gets its backlog now, not after its backoff).
func (q querier) OutboxDueNow(ctx context.Context, tenant string) error {
	now := ts(time.Now())
	_, err := q.exec(ctx, `UPDATE event_outbox SET next_at = ? WHERE tenant = ? AND discarded_at IS NULL AND next_at > ?`, now, tenant, now)
	return wrap(err, "retry tenant %s's events now", tenant)
}

// OutboxBacklog is the events waiting for one sink, and since when the
// oldest waits.
type OutboxBacklog struct {
	Events int64
	Oldest time.Time
}

// OutboxBacklogs counts tenant's events not delivered yet (discarded ones
// aside), by sink.
func (q querier) OutboxBacklogs(ctx context.Context, tenant string) (map[string]OutboxBacklog, error) {
	rows, err := q.query(ctx, `SELECT sink, COUNT(*), MIN(created_at) FROM event_outbox WHERE tenant = ? AND discarded_at IS NULL GROUP BY sink`, tenant)
	if err != nil {
		return nil, wrap(err, "count tenant %s's events", tenant)
	}
	defer rows.Close()
	out := map[string]OutboxBacklog{}
	for rows.Next() {
		var sink string
		var b OutboxBacklog
		var oldest sql.NullString
		if err := rows.Scan(&sink, &b.Events, &oldest); err != nil {
			return nil, wrap(err, "count tenant %s's events", tenant)
		}
		if b.Oldest, err = nullTS(oldest); err != nil {
			return nil, err
		}
		out[sink] = b
	}
	return out, wrap(rows.Err(), "count tenant %s's events", tenant)
}
