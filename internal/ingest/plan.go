package ingest

import (
	"fmt"
	"time"
)

// Window is one unit of discovery work: interactions that started in
// [Start, End). Windows are aligned to multiples of their size since the Unix
// epoch (UTC), so that re-planning the same range yields the same windows and
// River's unique jobs and the catalog's window rows deduplicate them.
type Window struct {
	Start, End time.Time
}

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}

// Range is what one run covers.
type Range struct {
	From, To time.Time
	// Backfill is true for an explicit --from/--to range: the watermark is
	// only advanced when the range joins it.
	Backfill bool
}

// PlanRange computes the range of an incremental run: from the watermark
// minus the lookback (or now minus the lookback on a tenant's first run) to
// now minus the settle delay, both cut to window boundaries so only whole
// windows are synced.
func PlanRange(watermark, now time.Time, lookback, settle, size time.Duration) Range {
	to := alignDown(now.Add(-settle), size)
	from := now.Add(-lookback)
	if !watermark.IsZero() {
		from = watermark.Add(-lookback)
	}
	from = alignDown(from, size)
	if from.After(to) {
		from = to
	}
	return Range{From: from, To: to}
}

// Windows cuts [from, to) into aligned windows of size. A from or to that is
// not on a boundary widens the first or last window to the boundary, so every
// instant of the range is covered by exactly one window.
func Windows(from, to time.Time, size time.Duration) ([]Window, error) {
	if size <= 0 {
		return nil, fmt.Errorf("window size %s must be positive", size)
	}
	if !to.After(from) {
		return nil, nil
	}
	const maxWindows = 1 << 20
	start := alignDown(from, size)
	if n := to.Sub(start) / size; n > maxWindows {
		return nil, fmt.Errorf("range %s to %s is %d windows of %s; use a larger window or a shorter range", from.Format(time.RFC3339), to.Format(time.RFC3339), n, size)
	}
	var ws []Window
	for s := start; s.Before(to); s = s.Add(size) {
		ws = append(ws, Window{Start: s, End: s.Add(size)})
	}
	return ws, nil
}

// alignDown truncates t to a multiple of size since the Unix epoch, in UTC.
func alignDown(t time.Time, size time.Duration) time.Time {
	t = t.UTC()
	return t.Truncate(size) // Truncate works on absolute time since the zero time; size divides a day for sane sizes
}
