-- vccingest catalog on PostgreSQL, version 1 (the same tables as
-- migrations/sqlite/0001_init.sql; keep the two in step). Timestamps are UTC text in a fixed-width
-- RFC 3339 form (see catalog.ts), so text order is time order.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    region      TEXT NOT NULL DEFAULT '',
    watermark   TEXT,                       -- end of the last fully synced window
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE sync_windows (
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    start_at      TEXT NOT NULL,
    end_at        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'planned',   -- planned, discovered, synced
    interactions  BIGINT NOT NULL DEFAULT 0,        -- seen through the Content API
    stats_rows    BIGINT NOT NULL DEFAULT 0,        -- seen through the Stats API
    discoveries   BIGINT NOT NULL DEFAULT 0,
    discovered_at TEXT,
    synced_at     TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant, start_at, end_at)
);

CREATE TABLE interactions (
    tenant           TEXT NOT NULL REFERENCES tenants (id),
    guid             TEXT NOT NULL,
    start_at         TEXT NOT NULL,
    duration_ms      BIGINT NOT NULL DEFAULT 0,
    direction        TEXT NOT NULL DEFAULT 'unknown',  -- inbound, outbound, internal, unknown
    direction_source TEXT NOT NULL DEFAULT 'unknown',  -- stats, unknown
    connect_from     TEXT NOT NULL DEFAULT '',
    connect_to       TEXT NOT NULL DEFAULT '',
    agent_id         TEXT NOT NULL DEFAULT '',
    first_seen       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    rev              BIGINT NOT NULL DEFAULT 1,       -- bumped whenever the sidecar's content changes
    sidecar_rev      BIGINT NOT NULL DEFAULT 0,       -- the rev the bucket's interaction.json shows
    PRIMARY KEY (tenant, guid)
);
CREATE INDEX interactions_by_start ON interactions (tenant, start_at);


CREATE TABLE recordings (
    tenant         TEXT NOT NULL,
    guid           TEXT NOT NULL,
    content_key    TEXT NOT NULL,
    type           TEXT NOT NULL DEFAULT '',
    media_type     TEXT NOT NULL DEFAULT '',
    expected_bytes BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL DEFAULT 'pending',    -- pending, stored, failed (for good)
    bytes          BIGINT NOT NULL DEFAULT 0,
    sha256         TEXT NOT NULL DEFAULT '',
    blob_key       TEXT NOT NULL DEFAULT '',
    duration_ms    BIGINT NOT NULL DEFAULT 0,         -- play time of stored audio, from its header
    attempts       BIGINT NOT NULL DEFAULT 0,         -- failed attempts
    last_error     TEXT NOT NULL DEFAULT '',
    stored_at      TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant, guid, content_key),
    FOREIGN KEY (tenant, guid) REFERENCES interactions (tenant, guid)
);
CREATE INDEX recordings_by_status ON recordings (tenant, status);


CREATE TABLE agents (
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    agent_id     TEXT NOT NULL,
    user_id      TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    agent_code   TEXT NOT NULL DEFAULT '',
    groups_json  TEXT NOT NULL DEFAULT '[]',
    refreshed_at TEXT NOT NULL,
    PRIMARY KEY (tenant, agent_id)
);

CREATE TABLE runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    range_from  TEXT NOT NULL,
    range_to    TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running',     -- running, done, failures, interrupted
    stored      BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0
);

-- What the Insights Stats API says happened: coverage compares it with what
-- the Content API showed, without calling VCC again.
CREATE TABLE stats_interactions (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    guid        TEXT NOT NULL,
    start_at    TEXT NOT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    direction   TEXT NOT NULL DEFAULT 'unknown',
    agent_id    TEXT NOT NULL DEFAULT '',
    medium      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, guid)
);
CREATE INDEX stats_by_start ON stats_interactions (tenant, start_at);

-- What the sidecar shows changed: it must be written again.
CREATE FUNCTION interactions_rev() RETURNS trigger AS $$
BEGIN
    IF OLD.direction IS DISTINCT FROM NEW.direction OR OLD.direction_source IS DISTINCT FROM NEW.direction_source
       OR OLD.duration_ms IS DISTINCT FROM NEW.duration_ms OR OLD.agent_id IS DISTINCT FROM NEW.agent_id
       OR OLD.connect_from IS DISTINCT FROM NEW.connect_from OR OLD.connect_to IS DISTINCT FROM NEW.connect_to
       OR OLD.start_at IS DISTINCT FROM NEW.start_at THEN
        NEW.rev := OLD.rev + 1;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER interactions_rev BEFORE UPDATE ON interactions FOR EACH ROW EXECUTE FUNCTION interactions_rev();

CREATE FUNCTION recordings_stored_rev() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 'stored' AND OLD.status IS DISTINCT FROM 'stored' THEN
        UPDATE interactions SET rev = rev + 1 WHERE tenant = NEW.tenant AND guid = NEW.guid;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER recordings_stored_rev AFTER UPDATE OF status ON recordings FOR EACH ROW EXECUTE FUNCTION recordings_stored_rev();
