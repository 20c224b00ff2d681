-- Records VCC returned that vccingest could not use (a required field
-- missing, a value the API does not document), kept per listing window so
-- that coverage and the run summary can name them; a window listed again
-- replaces its own.
CREATE TABLE bad_records (
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    api          TEXT NOT NULL,                -- content, users or stats
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    record_id    TEXT NOT NULL DEFAULT '',
    problem      TEXT NOT NULL,
    seen_at      TEXT NOT NULL,
    PRIMARY KEY (tenant, api, window_start, record_id, problem)
);

-- When an agent's groups (GET /users/{userId}/groups, one request per agent)
-- were last read: they are refreshed at most daily.
ALTER TABLE agents ADD COLUMN groups_refreshed_at TEXT;

-- Why a window's listing failed for good (a discover job that gave up), so
-- the run that planned it can say so and fail; cleared when it is listed.
ALTER TABLE sync_windows ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
