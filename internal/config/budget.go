package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The VCC budget: one per account, across all VCC APIs (vcc-api.md, "Rate
// limits": "the limit applies to all requests").
const (
	// DefaultRequestsPerMinute leaves room, below the ~160 a minute
	// Vonage's own samples pace themselves at, for the account's other
	// integrations (WFM, CRM, reporting), which share the limit.
	DefaultRequestsPerMinute = 120
	// MaxRequestsPerMinute (about 16,700 a second) is far above any VCC
	// account's limit; a budget that high is for simulators and benchmarks.
	MaxRequestsPerMinute = 1_000_000
)

func parseRequestsPerMinute(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of requests per minute", v)
	}
	if err := checkRequestsPerMinute(f); err != nil {
		return 0, err
	}
	return f, nil
}

func checkRequestsPerMinute(f float64) error {
	if math.IsNaN(f) || f <= 0 || f > MaxRequestsPerMinute {
		return fmt.Errorf("%g is out of range; use more than 0 and at most %d requests per minute (default %d)", f, MaxRequestsPerMinute, DefaultRequestsPerMinute)
	}
	return nil
}

// removedKey is a setting vccingest no longer has; setting it anywhere is
// an error that says what replaced it.
type removedKey struct {
	key, was, instead, why string
}

var removed = []removedKey{{
	key: "rate_limit", was: "requests per second per API", instead: "requests_per_minute",
	why: fmt.Sprintf("one budget for the whole VCC account, across all its APIs, default %d: "+
		"rate_limit N allowed up to 180×N requests a minute over the three APIs, while VCC's fair-usage limit is about 160 for the account; "+
		"set requests_per_minute to the part of that limit the account's other integrations leave you", DefaultRequestsPerMinute),
}}

// err is the error for r set as name (rate_limit, --rate-limit or
// VCCINGEST_RATE_LIMIT): it names the replacement the same way.
func (r removedKey) err(name string) error {
	instead := r.instead
	switch {
	case strings.HasPrefix(name, "--"):
		instead = "--" + strings.ReplaceAll(r.instead, "_", "-") + ", config " + r.instead
	case strings.HasPrefix(name, "VCCINGEST_"):
		instead = envName(r.instead) + ", config " + r.instead
	}
	return fmt.Errorf("%s (%s) was replaced by %s (%s)", name, r.was, instead, r.why)
}

// removedSetting returns the error for a removed setting named name (a
// key or a flag name), spelled as in its source; nil for any other name.
func removedSetting(name, as string) error {
	for _, r := range removed {
		if name == r.key || name == strings.ReplaceAll(r.key, "_", "-") {
			return r.err(as)
		}
	}
	return nil
}

// RemovedFlags are the flag names of removed settings: a command registers
// them, hidden, so that using one gets the error that names its
// replacement rather than "unknown flag".
func RemovedFlags() []string {
	out := make([]string, len(removed))
	for i, r := range removed {
		out[i] = strings.ReplaceAll(r.key, "_", "-")
	}
	return out
}
