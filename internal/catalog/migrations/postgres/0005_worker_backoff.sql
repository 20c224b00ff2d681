-- One VCC budget per account (issue 18): a worker's share is now requests
-- per minute across all VCC APIs, and each worker publishes the backoff
-- factor its own 429s hold it to, so that the tenant's other workers slow
-- down with it (see package fleet). The old rate column (requests per second
-- per API) is written only by workers of an older version; it gets a default
-- so that this one need not.
ALTER TABLE workers ADD COLUMN requests_per_minute DOUBLE PRECISION NOT NULL DEFAULT 0; -- its share (0: no limit)
ALTER TABLE workers ADD COLUMN backoff DOUBLE PRECISION NOT NULL DEFAULT 1;             -- (0, 1]; 1: no recent 429
ALTER TABLE workers ALTER COLUMN rate SET DEFAULT 0;
