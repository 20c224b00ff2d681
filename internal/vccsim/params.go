package vccsim

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// paramError is a query parameter the API refuses; its text names the
// parameter.
type paramError struct{ msg string }

func (e paramError) Error() string { return e.msg }

// isoLayouts are the ISO 8601 date-times the APIs take: with an offset or
// Z, or without one (read as UTC), to any fraction of a second. A date
// alone is not a date-time.
var isoLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

func parseTimeParam(v url.Values, name string, required bool, def time.Time) (time.Time, error) {
	if !v.Has(name) {
		if required {
			return time.Time{}, paramError{fmt.Sprintf("The '%s' parameter is required.", name)}
		}
		return def, nil
	}
	raw := v.Get(name)
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, raw); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, paramError{fmt.Sprintf("The value '%s' is not valid for '%s': use an ISO 8601 date-time.", raw, name)}
}

func parseIntParam(v url.Values, name string, def, lo, hi int) (int, error) {
	if !v.Has(name) {
		return def, nil
	}
	raw := v.Get(name)
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, paramError{fmt.Sprintf("The value '%s' is not valid for '%s': use a whole number from %d to %d.", raw, name, lo, hi)}
	}
	return n, nil
}

// checkWindow checks a [start, end] window against an API's limit.
func checkWindow(start, end time.Time, maxDays int) error {
	if end.Before(start) {
		return paramError{"The 'end' parameter must not be before 'start'."}
	}
	if end.Sub(start) > time.Duration(maxDays)*24*time.Hour {
		return paramError{fmt.Sprintf("Request window size limit exceeded %d days", maxDays)}
	}
	return nil
}

// firstErr runs checks in order and returns the first error.
func firstErr(checks ...func() error) error {
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}
