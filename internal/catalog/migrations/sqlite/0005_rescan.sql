-- Re-scans on a decaying schedule (issue 18): a window is listed when it is
-- due, then listed again for late content a few times, and not again.
-- listed_at is when it was last listed and next_scan_at when it is to be
-- listed again (NULL: its schedule is done), both on the clock of the
-- process that listed it; discoveries counts its listings.
ALTER TABLE sync_windows ADD COLUMN listed_at TEXT;
ALTER TABLE sync_windows ADD COLUMN next_scan_at TEXT;
-- Windows listed before this version re-scan once, when a run's re-scan
-- horizon (about two lookbacks before its range) reaches them.
UPDATE sync_windows SET next_scan_at = end_at, listed_at = discovered_at WHERE status IN ('discovered', 'synced');
CREATE INDEX sync_windows_next_scan ON sync_windows (tenant, next_scan_at);
