-- The events outbox (issue 20): one row per event and sink, written in the
-- transaction that makes the event true (a recording marked stored or
-- failed, a run's end, a coverage gap), so that a crash leaves both or
-- neither. A tenant's drain job (a River job) claims due rows with a lease
-- (claimed_until), delivers them and deletes what the sink acknowledged; a
-- refusal counts an attempt and backs the row off (next_at); a row whose
-- attempts are spent is kept, discarded (discarded_at), until a replay
-- revives it. payload is the whole CloudEvent, built at insert time; event_id
-- its deterministic id, so that an event is queued at most once per sink.
CREATE TABLE event_outbox (
    id            INTEGER PRIMARY KEY,
    tenant        TEXT NOT NULL,
    sink          TEXT NOT NULL,             -- events.SinkID: the sink URL's hash (the URL may hold a password)
    event_id      TEXT NOT NULL,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    next_at       TEXT NOT NULL,             -- due from then on
    attempts      INTEGER NOT NULL DEFAULT 0, -- deliveries the sink refused
    last_error    TEXT NOT NULL DEFAULT '',
    claimed_until TEXT,                      -- a drainer delivers it until then
    discarded_at  TEXT                       -- attempts spent: kept for the record, not delivered
);
CREATE UNIQUE INDEX event_outbox_event ON event_outbox (tenant, sink, event_id);
CREATE INDEX event_outbox_due ON event_outbox (tenant, sink, next_at);
