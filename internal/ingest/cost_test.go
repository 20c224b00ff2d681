package ingest

import (
	"math"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vcc"
)

// The ETA of pending work is its requests (a download each, and the
// listing of the time still to list, a request per API's longest window at
// the least) at the rate in force; unknown without a budget or work.
func TestBudgetETA(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		downloads int64
		unlisted  time.Duration
		perMinute float64
		want      time.Duration
	}{
		{120, 0, 120, time.Minute},
		{0, day, 120, time.Second},           // a Content and a Stats request
		{0, 30 * day, 120, 3 * time.Second},  // 5 Content pieces of 7 days, 1 of Stats: 6 at 2 a second
		{118, day, 120, 60 * time.Second},    // 118 + 2 requests
		{2000, day, 120, 1001 * time.Second}, // 2002 requests at 2 a second
		{90, 0, 6, 15 * time.Minute},         // at the floor after 429s
		{1, 0, 7, 9 * time.Second},           // rounded to the second
		{0, 0, 120, 0},                       // nothing pending
		{100, time.Hour, math.Inf(1), 0},     // no budget: unknown
		{100, time.Hour, 0, 0},
		{-3, -time.Hour, 120, 0}, // nonsense counts are no work
	} {
		if got := BudgetETA(c.downloads, c.unlisted, c.perMinute); got != c.want {
			t.Errorf("BudgetETA(%d downloads, %s to list, %v a minute) = %s, want %s", c.downloads, c.unlisted, c.perMinute, got, c.want)
		}
	}
}

// A run's cost is what the client spent while it went on, by purpose,
// said in one line for the summary and the log.
func TestCost_SinceAndString(t *testing.T) {
	before := Cost{Requests: map[vcc.Purpose]int64{vcc.PurposeList: 5, vcc.PurposeDownload: 10}, Throttled: 1, PerMinute: 120}
	after := Cost{Requests: map[vcc.Purpose]int64{vcc.PurposeList: 9, vcc.PurposeRescan: 2, vcc.PurposeStats: 4, vcc.PurposeUsers: 1, vcc.PurposeGroups: 3, vcc.PurposeDownload: 30, vcc.PurposeRetry: 2},
		Throttled: 3, PerMinute: 60}
	got := after.Since(before)
	if got.Total() != 4+2+4+1+3+20+2 || got.Throttled != 2 || got.PerMinute != 60 {
		t.Errorf("cost since: %+v", got)
	}
	const want = "36 requests (list 4, rescan 2, stats 4, users 1, groups 3, download 20, retry 2), 2 × 429, 60 a minute now"
	if s := got.String(); s != want {
		t.Errorf("cost reads %q, want %q", s, want)
	}
	none := Cost{Requests: map[vcc.Purpose]int64{}, PerMinute: math.Inf(1)}
	if s := none.String(); s != "0 requests, 0 × 429" {
		t.Errorf("no cost without a budget reads %q", s)
	}
}
