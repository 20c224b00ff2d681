package ingest

import (
	"errors"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWindows(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		size     time.Duration
		want     []string
	}{
		{"aligned", "2024-03-04T00:00:00Z", "2024-03-04T03:00:00Z", time.Hour, []string{
			"2024-03-04T00:00:00Z/2024-03-04T01:00:00Z",
			"2024-03-04T01:00:00Z/2024-03-04T02:00:00Z",
			"2024-03-04T02:00:00Z/2024-03-04T03:00:00Z"}},
		{"unaligned ends widen", "2024-03-04T00:30:00Z", "2024-03-04T01:10:00Z", time.Hour, []string{
			"2024-03-04T00:00:00Z/2024-03-04T01:00:00Z",
			"2024-03-04T01:00:00Z/2024-03-04T02:00:00Z"}},
		{"empty", "2024-03-04T01:00:00Z", "2024-03-04T01:00:00Z", time.Hour, nil},
		{"reversed", "2024-03-04T02:00:00Z", "2024-03-04T01:00:00Z", time.Hour, nil},
		{"non-UTC input", "2024-03-04T01:00:00+01:00", "2024-03-04T01:00:00Z", 30 * time.Minute, []string{
			"2024-03-04T00:00:00Z/2024-03-04T00:30:00Z",
			"2024-03-04T00:30:00Z/2024-03-04T01:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := Windows(mustTime(t, tt.from), mustTime(t, tt.to), tt.size)
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != len(tt.want) {
				t.Fatalf("got %d windows %v, want %d", len(ws), ws, len(tt.want))
			}
			for i, w := range ws {
				if w.String() != tt.want[i] {
					t.Errorf("window %d = %s, want %s", i, w, tt.want[i])
				}
			}
		})
	}
	if _, err := Windows(time.Unix(0, 0), time.Unix(0, 0).Add(1000*24*time.Hour), time.Minute); !errors.Is(err, ErrRangeTooLong) {
		t.Fatalf("a range of over a million windows: %v, want ErrRangeTooLong", err)
	}
	if ws, err := Windows(time.Unix(0, 0), time.Unix(0, 0).Add(maxWindows*time.Minute), time.Minute); err != nil || len(ws) != maxWindows {
		t.Fatalf("a range of exactly maxWindows windows: %d windows, %v", len(ws), err)
	}
	if _, err := Windows(time.Unix(0, 0), time.Unix(3600, 0), 0); err == nil {
		t.Fatal("zero window size should be refused")
	}
}

func TestPlanRange(t *testing.T) {
	now := mustTime(t, "2024-03-10T12:40:00Z")
	// First run: the last lookback, up to now − settle cut to a window boundary.
	r := PlanRange(time.Time{}, now, 24*time.Hour, 15*time.Minute, time.Hour)
	if got, want := r.From, mustTime(t, "2024-03-09T12:00:00Z"); !got.Equal(want) {
		t.Errorf("first run from = %s, want %s", got, want)
	}
	if got, want := r.To, mustTime(t, "2024-03-10T12:00:00Z"); !got.Equal(want) {
		t.Errorf("first run to = %s, want %s", got, want)
	}
	// Later runs re-scan the lookback before the watermark.
	r = PlanRange(mustTime(t, "2024-03-10T11:00:00Z"), now, 24*time.Hour, 15*time.Minute, time.Hour)
	if got, want := r.From, mustTime(t, "2024-03-09T11:00:00Z"); !got.Equal(want) {
		t.Errorf("from = %s, want %s", got, want)
	}
	// A settle delay past the window boundary holds the last window back.
	r = PlanRange(time.Time{}, mustTime(t, "2024-03-10T12:10:00Z"), time.Hour, 15*time.Minute, time.Hour)
	if got, want := r.To, mustTime(t, "2024-03-10T11:00:00Z"); !got.Equal(want) {
		t.Errorf("to = %s, want %s (12:00–13:00 is not settled)", got, want)
	}
}
