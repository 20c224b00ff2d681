package ingest

import (
	"errors"
	"fmt"
	"slices"
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

// maxWindows is the most windows one range may hold (planning the 228,000
// hour windows of 2000 to 2026 took 6.5 s on SQLite); Windows refuses more
// with ErrRangeTooLong.
const maxWindows = 1 << 20

// ErrRangeTooLong says a range holds more than maxWindows windows: a
// setting to fix (a larger window or a shorter range), not a VCC failure.
var ErrRangeTooLong = errors.New("range too long")

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
	start := alignDown(from, size)
	if n := to.Sub(start) / size; n > maxWindows {
		return nil, fmt.Errorf("%w: %s to %s is %d windows of %s, more than %d; use a larger window or a shorter range", ErrRangeTooLong, from.Format(time.RFC3339), to.Format(time.RFC3339), n, size, maxWindows)
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

// MaxSpan is the longest time one discover job lists: the 31 days a Stats
// listing request may cover (vcc-api.md; the VCC client cuts Content into
// its 7-day pieces). Windows stay the unit of progress: a span records what
// it found per window, and a failure fails each of its windows.
const MaxSpan = 31 * 24 * time.Hour

// Spans groups windows, in order, into spans of consecutive windows of size
// (each starting where the one before ends), each at most max long; a
// window of another size (planned with another --window) is a span of its
// own, and so is a window alone says must be (nil: none), such as one whose
// last listing failed: it fails no span. A span is listed with as few
// requests as the APIs allow, whatever its number of windows.
func Spans(windows []Window, size, max time.Duration, alone func(Window) bool) []Window {
	var out []Window
	open := false // the last span is of windows of size: it may grow
	for _, w := range windows {
		ofSize := w.End.Sub(w.Start) == size && (alone == nil || !alone(w))
		if n := len(out); n > 0 && open && ofSize && out[n-1].End.Equal(w.Start) && w.End.Sub(out[n-1].Start) <= max {
			out[n-1].End = w.End
			continue
		}
		out = append(out, w)
		open = ofSize
	}
	return out
}

// Listing page sizes and bounds (vcc-api.md), for what a listing costs.
const (
	contentPage  = 1000
	statsPage    = 5000
	contentPiece = 7 * 24 * time.Hour
)

// ListingCost is how many requests listing span costs, Content and Stats,
// when it holds content interactions and stats Stats rows: a page per
// limit's worth, at least one per piece of the API's longest window.
func ListingCost(span Window, content, stats int) int {
	d := span.End.Sub(span.Start)
	pieces := func(max time.Duration) int { return int((d + max - 1) / max) }
	pages := func(n, limit int) int { return (n + limit - 1) / limit }
	return max(pages(content, contentPage), pieces(contentPiece)) + max(pages(stats, statsPage), pieces(MaxSpan))
}

// Bridge joins spans (in order) across the gaps between them where listing
// the whole costs no more requests than listing each (ListingCost, by the
// sizes of windows of size as their last listing found, size of a window
// start; unknown: empty): re-scans a few hours apart of a quiet account
// are one listing, not one each. The joined span is at most max long; the
// gap's windows are listed with it (they were listed before, and listing
// one early does not move its next scan, see NextScan). A span that is a
// window alone says must be (see Spans) is never joined.
func Bridge(spans []Window, size, max time.Duration, sizes func(Window) (content, stats int), alone func(Window) bool) []Window {
	count := func(span Window) (c, s int) {
		for _, w := range span.Split(size) {
			wc, ws := sizes(w)
			c, s = c+wc, s+ws
		}
		return c, s
	}
	var out []Window
	for _, sp := range spans {
		n := len(out)
		isAlone := func(w Window) bool { return alone != nil && alone(w) }
		if n == 0 || sp.End.Sub(out[n-1].Start) > max || out[n-1].End.Sub(out[n-1].Start)%size != 0 || sp.End.Sub(sp.Start)%size != 0 ||
			isAlone(sp) || isAlone(out[n-1]) {
			out = append(out, sp)
			continue
		}
		last := out[n-1]
		joined := Window{Start: last.Start, End: sp.End}
		lc, ls := count(last)
		sc, ss := count(sp)
		jc, js := count(joined)
		if ListingCost(joined, jc, js) <= ListingCost(last, lc, ls)+ListingCost(sp, sc, ss) {
			out[n-1] = joined
			continue
		}
		out = append(out, sp)
	}
	return out
}

// Split cuts a span back into its windows of size; a size of 0 (a job of
// an older vccingest) is the span as one window.
func (w Window) Split(size time.Duration) []Window {
	if size <= 0 || w.End.Sub(w.Start) <= size {
		return []Window{w}
	}
	var out []Window
	for s := w.Start; s.Before(w.End); s = s.Add(size) {
		out = append(out, Window{Start: s, End: minTime(s.Add(size), w.End)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// DefaultRescan is when a window is listed again for late content, after
// it became due (its end + settle): late content is rare after a day.
var DefaultRescan = []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour}

// ScanOffsets are the times after a window's end at which it is listed
// again: each of rescan after it became due (end + settle), those within
// the lookback only, and a last one at the lookback, so that content that
// turns up within the lookback is found whatever rescan says. Counted from
// the due time, one window's re-scan falls in the run that first lists a
// later window: a re-scan at 1h lists in one span with the window that has
// just become due.
func ScanOffsets(rescan []time.Duration, lookback, settle time.Duration) []time.Duration {
	var out []time.Duration
	for _, o := range rescan {
		if o > 0 && o < lookback {
			out = append(out, settle+o)
		}
	}
	if lookback > 0 {
		out = append(out, settle+lookback)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// NextScan is when a window that ends at end, listed at now, is to be
// listed again: the first of offsets after its end that is after now; zero
// if none is (its schedule is done).
func NextScan(end time.Time, offsets []time.Duration, now time.Time) time.Time {
	for _, o := range offsets {
		if at := end.Add(o); at.After(now) {
			return at
		}
	}
	return time.Time{}
}
