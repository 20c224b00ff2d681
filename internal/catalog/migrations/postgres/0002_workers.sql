-- Worker leases: each process that works a tenant's jobs on a shared
-- (PostgreSQL) queue renews its row every few seconds; the live rows of a
-- tenant split its VCC budget (see package fleet). Times are the database's
-- clock, so hosts need not agree on theirs. SQLite has no such table: one
-- process works an embedded catalog.
CREATE TABLE workers (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    workers    INTEGER NOT NULL,          -- live workers it counted last
    rate       DOUBLE PRECISION NOT NULL, -- its share: requests/s per API (0: no limit)
    downloads  INTEGER NOT NULL,          -- its share: concurrent downloads
    PRIMARY KEY (tenant, id)
);
