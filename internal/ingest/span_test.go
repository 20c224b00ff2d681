package ingest

import (
	"slices"
	"testing"
	"time"
)

func hours(t *testing.T, day string, spans ...[2]int) []Window {
	t.Helper()
	d := mustTime(t, day)
	var out []Window
	for _, s := range spans {
		out = append(out, Window{Start: d.Add(time.Duration(s[0]) * time.Hour), End: d.Add(time.Duration(s[1]) * time.Hour)})
	}
	return out
}

func TestSpans(t *testing.T) {
	const day = "2024-03-04T00:00:00Z"
	hourly := func(from, to int) []Window {
		var ws []Window
		for h := from; h < to; h++ {
			ws = append(ws, hours(t, day, [2]int{h, h + 1})...)
		}
		return ws
	}
	tests := []struct {
		name    string
		windows []Window
		max     time.Duration
		want    []Window
	}{
		{"consecutive windows are one span", hourly(0, 48), MaxSpan, hours(t, day, [2]int{0, 48})},
		{"a gap starts a new span", append(hourly(0, 3), hourly(5, 7)...), MaxSpan, hours(t, day, [2]int{0, 3}, [2]int{5, 7})},
		{"a span is at most max long", hourly(0, 10), 4 * time.Hour, hours(t, day, [2]int{0, 4}, [2]int{4, 8}, [2]int{8, 10})},
		{"31 days of backfill is one span", hourly(0, 31*24), MaxSpan, hours(t, day, [2]int{0, 31 * 24})},
		{"32 days are two", hourly(0, 32*24), MaxSpan, hours(t, day, [2]int{0, 31 * 24}, [2]int{31 * 24, 32 * 24})},
		{"a window of another size stands alone", append(append(hourly(0, 2), hours(t, day, [2]int{2, 4})...), hourly(4, 6)...), MaxSpan,
			hours(t, day, [2]int{0, 2}, [2]int{2, 4}, [2]int{4, 6})},
		{"none", nil, MaxSpan, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Spans(tt.windows, time.Hour, tt.max, nil)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Spans = %v, want %v", got, tt.want)
			}
			// Cut back, the spans are the windows again: each window is
			// recorded on its own.
			var back []Window
			for _, s := range got {
				size := time.Duration(0)
				if s.End.Sub(s.Start) > time.Hour {
					size = time.Hour
				}
				if tt.name == "a window of another size stands alone" && s.Start.Equal(mustTime(t, day).Add(2*time.Hour)) {
					size = 0 // queued as the one window it is
				}
				back = append(back, s.Split(size)...)
			}
			if len(tt.windows) > 0 && !slices.Equal(back, tt.windows) {
				t.Errorf("the spans cut back are %v, want %v", back, tt.windows)
			}
		})
	}
}

func TestScanOffsets(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name             string
		rescan           []time.Duration
		lookback, settle time.Duration
		want             []time.Duration
	}{
		{"default", DefaultRescan, 24 * h, 15 * time.Minute, []time.Duration{h + 15*time.Minute, 6*h + 15*time.Minute, 24*h + 15*time.Minute}},
		{"the lookback is always the last", []time.Duration{h}, 48 * h, 0, []time.Duration{h, 48 * h}},
		{"none past the lookback", []time.Duration{h, 6 * h, 24 * h}, 3 * h, 0, []time.Duration{h, 3 * h}},
		{"unsorted and repeated", []time.Duration{6 * h, h, 6 * h}, 24 * h, 0, []time.Duration{h, 6 * h, 24 * h}},
		{"no re-scan but the lookback", []time.Duration{}, 24 * h, 0, []time.Duration{24 * h}},
		{"no lookback: listed once", DefaultRescan, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ScanOffsets(tt.rescan, tt.lookback, tt.settle); !slices.Equal(got, tt.want) {
				t.Errorf("ScanOffsets = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextScan(t *testing.T) {
	end := mustTime(t, "2024-03-04T10:00:00Z")
	offsets := ScanOffsets(DefaultRescan, 24*time.Hour, 15*time.Minute)
	tests := []struct {
		listed time.Duration // after end
		want   time.Duration // after end; 0: not again
	}{
		{15 * time.Minute, time.Hour + 15*time.Minute},             // first listing: the +1h re-scan next
		{time.Hour + 15*time.Minute, 6*time.Hour + 15*time.Minute}, // that re-scan: +6h next
		{2 * time.Hour, 6*time.Hour + 15*time.Minute},              // a late run does not skip one
		{7 * time.Hour, 24*time.Hour + 15*time.Minute},             // the last, at the lookback
		{24*time.Hour + 15*time.Minute, 0},                         // done: not again
		{72 * time.Hour, 0},                                        // a backfill of old windows lists them once
	}
	for _, tt := range tests {
		got := NextScan(end, offsets, end.Add(tt.listed))
		want := time.Time{}
		if tt.want > 0 {
			want = end.Add(tt.want)
		}
		if !got.Equal(want) {
			t.Errorf("listed at end+%s: next scan %v, want %v", tt.listed, got, want)
		}
	}
}

func TestListingCost(t *testing.T) {
	const day = "2024-03-04T00:00:00Z"
	tests := []struct {
		name           string
		span           Window
		content, stats int
		want           int
	}{
		{"an hour", hours(t, day, [2]int{0, 1})[0], 40, 40, 2},
		{"two quiet days", hours(t, day, [2]int{0, 48})[0], 53, 53, 2},
		{"a busy day pages Content", hours(t, day, [2]int{0, 24})[0], 2500, 2500, 4},
		{"30 days: five Content pieces, one Stats", hours(t, day, [2]int{0, 30 * 24})[0], 100, 100, 6},
	}
	for _, tt := range tests {
		if got := ListingCost(tt.span, tt.content, tt.stats); got != tt.want {
			t.Errorf("%s: ListingCost = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestBridge(t *testing.T) {
	const day = "2024-03-04T00:00:00Z"
	// Re-scans of a steady day: the hour just due with the one before
	// (its +1h), +6h and +24h.
	spans := hours(t, day, [2]int{0, 1}, [2]int{18, 19}, [2]int{22, 24})
	quiet := func(Window) (int, int) { return 10, 10 }
	if got, want := Bridge(spans, time.Hour, MaxSpan, quiet, nil), hours(t, day, [2]int{0, 24}); !slices.Equal(got, want) {
		t.Errorf("a quiet account: Bridge = %v, want one listing %v", got, want)
	}
	// 200 interactions an hour: a day is 5 Content pages, more than the
	// three spans' one each.
	busy := func(Window) (int, int) { return 200, 200 }
	got := Bridge(spans, time.Hour, MaxSpan, busy, nil)
	var cost, sep int
	for _, s := range got {
		n := int(s.End.Sub(s.Start) / time.Hour)
		cost += ListingCost(s, 200*n, 200*n)
	}
	for _, s := range spans {
		n := int(s.End.Sub(s.Start) / time.Hour)
		sep += ListingCost(s, 200*n, 200*n)
	}
	if cost > sep {
		t.Errorf("a busy account: Bridge = %v costs %d requests, the spans alone %d", got, cost, sep)
	}
	if len(got) < 2 {
		t.Errorf("a busy account: Bridge joined everything (%v), listing the gaps' interactions for nothing", got)
	}
	// Never longer than max.
	if got := Bridge(spans, time.Hour, 12*time.Hour, quiet, nil); len(got) != 2 || got[0] != spans[0] {
		t.Errorf("max 12h: Bridge = %v, want the first span alone", got)
	}
	// A window of another size is never joined.
	odd := []Window{hours(t, day, [2]int{0, 1})[0], {Start: mustTime(t, day).Add(2 * time.Hour), End: mustTime(t, day).Add(2*time.Hour + 30*time.Minute)}}
	if got := Bridge(odd, time.Hour, MaxSpan, quiet, nil); len(got) != 2 {
		t.Errorf("a 30-minute window: Bridge = %v, want it alone", got)
	}
}

// A window whose last listing failed is listed alone: it fails no span.
func TestSpans_AFailedWindowIsAlone(t *testing.T) {
	const day = "2024-03-04T00:00:00Z"
	var ws []Window
	for h := 0; h < 6; h++ {
		ws = append(ws, hours(t, day, [2]int{h, h + 1})...)
	}
	failed := hours(t, day, [2]int{2, 3})[0]
	alone := func(w Window) bool { return w == failed }
	spans := Spans(ws, time.Hour, MaxSpan, alone)
	if want := hours(t, day, [2]int{0, 2}, [2]int{2, 3}, [2]int{3, 6}); !slices.Equal(spans, want) {
		t.Fatalf("Spans = %v, want %v", spans, want)
	}
	quiet := func(Window) (int, int) { return 1, 1 }
	if got := Bridge(spans, time.Hour, MaxSpan, quiet, alone); !slices.Equal(got, spans) {
		t.Errorf("Bridge = %v joined the failed window, want %v", got, spans)
	}
}
