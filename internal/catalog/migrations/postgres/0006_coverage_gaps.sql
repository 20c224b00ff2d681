-- The permission gaps the coverage diagnosis found (package coverage), as
-- last announced: a run compares its diagnosis with them and, in the same
-- transaction, queues a tenant.coverage_gap event for each gap newly
-- diagnosed or cleared. rev counts those changes (the event's id); a
-- cleared gap keeps its row, with cleared_at set.
CREATE TABLE coverage_gaps (
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    permission   TEXT NOT NULL,
    hidden_calls INTEGER NOT NULL,
    evidence     TEXT NOT NULL,
    rev          INTEGER NOT NULL,
    changed_at   TEXT NOT NULL,
    cleared      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (tenant, permission)
);
