package catalog

import (
	"context"
	"time"
)

// RecordingsWithStatus lists the recordings in status (StatusStored or
// StatusFailed) whose interaction started in [from, to), by start: what an
// event replay announces again.
func (q querier) RecordingsWithStatus(ctx context.Context, tenant, status string, from, to time.Time) ([]Recording, error) {
	return q.recordings(ctx, `SELECT `+recordingCols+` FROM recordings r
		JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
		WHERE r.tenant = ? AND r.status = ? AND i.start_at >= ? AND i.start_at < ?
		ORDER BY i.start_at, r.guid, r.content_key`, tenant, status, ts(from), ts(to))
}
